import { z } from 'zod';

/**
 * The RESTful interactions the gateway can serve, by route method and shape
 * (docs/fhir.md, "CapabilityStatement"): never `delete` (no policy action),
 * `vread` or history (no route reads past versions).
 */
export const CAPABILITY_INTERACTIONS = ['read', 'search-type', 'create', 'update', 'patch'] as const;
/** One of CAPABILITY_INTERACTIONS. */
export type CapabilityInteraction = (typeof CAPABILITY_INTERACTIONS)[number];

/**
 * What the gateway serves at one FHIR base: for each routed R4 type, the
 * interactions its routes allow and the search parameters it will accept.
 *
 * @example
 * const scope: CapabilityScope = new Map([['Patient', { interactions: new Set(['read']), searchParams: new Set() }]]);
 */
export type CapabilityScope = ReadonlyMap<string, { interactions: ReadonlySet<CapabilityInteraction>; searchParams: ReadonlySet<string> }>;

/** The restricted statement: only the keys `restrictCapability` keeps. */
export interface RestrictedCapability {
  resourceType: 'CapabilityStatement';
  status: string;
  date: string;
  kind: string;
  fhirVersion: string;
  format: string[];
  software?: { name: string; version?: string | undefined } | undefined;
  implementation?: { description: string } | undefined;
  rest: [RestrictedRest];
}

interface RestrictedRest {
  mode: 'server';
  security?:
    | {
        cors?: boolean | undefined;
        service?: { coding?: Coding[] | undefined; text?: string | undefined }[] | undefined;
        description?: string | undefined;
        extension?: { url: string; extension: { url: string; valueUri: string }[] }[] | undefined;
      }
    | undefined;
  resource?: {
    type: string;
    profile?: string | undefined;
    supportedProfile?: string[] | undefined;
    interaction: { code: CapabilityInteraction }[];
    searchParam?: { name: string; type: string }[] | undefined;
  }[];
}

type Resource = NonNullable<RestrictedRest['resource']>[number];

interface Coding {
  system?: string | undefined;
  code?: string | undefined;
  display?: string | undefined;
}

/** The SMART App Launch extension that carries the OAuth endpoints clients need to get a token. */
export const SMART_OAUTH_URIS = 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris';
const SMART_ENDPOINTS = ['authorize', 'token', 'register', 'manage', 'introspect', 'revoke'] as const;

// The only formats the gateway reads and answers: it asks the upstream for JSON and redacts JSON.
const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json']);

/** A FHIR `code`: no leading, trailing or doubled whitespace. */
const code = z.string().regex(/^\S+( \S+)*$/);
const text = z.string().min(1);
const url = z.url();
// FHIR JSON has no empty objects: a coding or concept left with none of the kept keys is malformed here.
const nonEmpty = (o: object) => Object.keys(o).length > 0;
const coding = z.object({ system: url.optional(), code: code.optional(), display: text.optional() }).refine(nonEmpty);
const codeableConcept = z.object({ coding: z.array(coding).min(1).optional(), text: text.optional() }).refine(nonEmpty);
const extensionList = z.array(z.object({ url: z.string() }).loose());

// Each schema lists what is kept; zod drops every other key (deny by default), and a kept key of the wrong
// shape refuses the whole statement: what is passed on is exactly what was checked.
const statementSchema = z.object({
  resourceType: z.literal('CapabilityStatement'),
  status: z.enum(['draft', 'active', 'retired', 'unknown']),
  date: z.string().regex(/^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/),
  // A statement of requirements describes no server; one of another FHIR version describes searches the R4 table does not map.
  kind: z.enum(['instance', 'capability']),
  fhirVersion: z.string().regex(/^4\.0\.\d+$/, 'is not an R4 version (4.0.x)'),
  format: z.array(code).min(1),
  software: z.object({ name: text, version: text.optional() }).optional(),
  // Never `url`: the upstream's own address, which the gateway exists to stand in front of.
  implementation: z.object({ description: text }).optional(),
  rest: z.array(z.object({ mode: z.string() }).loose()).min(1),
});
const serverSchema = z.object({
  security: z
    .object({
      cors: z.boolean().optional(),
      service: z.array(codeableConcept).min(1).optional(),
      description: text.optional(),
      extension: extensionList.optional(),
    })
    .optional(),
  resource: z.array(z.object({ type: code }).loose()).optional(),
});
const smartSchema = z.object({ url: z.literal(SMART_OAUTH_URIS), extension: extensionList.min(1) });
// An endpoint a client is sent to: http(s) only (never `javascript:` or `data:`), and never with credentials in it.
const endpointUri = z.httpUrl().refine((u) => {
  const parsed = URL.parse(u);
  return parsed !== null && parsed.username === '' && parsed.password === '';
});
const endpointSchema = z.object({ url: z.enum(SMART_ENDPOINTS), valueUri: endpointUri });
const resourceSchema = z.object({
  type: code,
  profile: url.optional(),
  supportedProfile: z.array(url).min(1).optional(),
  interaction: z.array(z.object({ code })).optional(),
  searchParam: z
    .array(
      z.object({ name: code, type: z.enum(['number', 'date', 'string', 'token', 'reference', 'composite', 'quantity', 'uri', 'special']) }),
    )
    .optional(),
});

/**
 * The upstream's CapabilityStatement as the gateway may publish it, or why
 * it cannot be. Deny by default: kept are the statement's identity (`status`,
 * `date`, `kind`, `fhirVersion`), its JSON formats, `software` (name,
 * version), `implementation.description`, and its one `rest` entry of mode
 * `server`, with `security` (`cors`, `service`, `description`, the SMART
 * oauth-uris extension) and the resources of `scope`, each with `type`,
 * `profile`, `supportedProfile`, the interactions both the upstream lists
 * and the routes allow, and the search parameters both the upstream lists
 * and the gateway accepts. Everything else is dropped. A type the upstream
 * does not list stays out (the statement is the upstream's, restricted); so
 * does a type left with no interaction. Reasons name keys, never values.
 *
 * @example
 * const out = restrictCapability(await upstreamStatement(), scope);
 * if (!out.ok) throw upstreamInvalid(out.reason); // 502: nothing of it is passed on
 */
export function restrictCapability(
  upstream: unknown,
  scope: CapabilityScope,
): { ok: true; statement: RestrictedCapability } | { ok: false; reason: string } {
  try {
    return { ok: true, statement: restrict(upstream, scope) };
  } catch (e) {
    if (e instanceof Refusal) return { ok: false, reason: e.message };
    throw e;
  }
}

/** A statement the gateway will not restrict: the reason names keys only. */
class Refusal extends Error {}

function restrict(upstream: unknown, scope: CapabilityScope): RestrictedCapability {
  const statement = checked(statementSchema, upstream, '');
  const format = statement.format.filter((f) => JSON_FORMATS.has(f.split(';')[0]!.trim().toLowerCase()));
  if (format.length === 0) throw new Refusal('the CapabilityStatement lists no JSON format');
  const servers = [...statement.rest.keys()].filter((i) => statement.rest[i]?.mode === 'server');
  // Two server entries would describe one endpoint twice, maybe differently: which one holds is a guess.
  if (servers.length !== 1) throw new Refusal(`the CapabilityStatement has ${servers.length} rest entries of mode server, not one`);
  const at = `rest.${servers[0]}`;
  const server = checked(serverSchema, statement.rest[servers[0]!], at);
  const rest: RestrictedRest = { mode: 'server' };
  const secured = server.security === undefined ? undefined : security(server.security, `${at}.security`);
  if (secured !== undefined && Object.keys(secured).length > 0) rest.security = secured;
  const resource = resources(server.resource ?? [], scope, `${at}.resource`);
  // FHIR JSON has no empty arrays: a base whose types the upstream does not list gets a rest entry without any.
  if (resource.length > 0) rest.resource = resource;
  // In the order R4 lists the elements, so the answer reads like any other statement.
  const out: RestrictedCapability = {
    resourceType: 'CapabilityStatement',
    status: statement.status,
    date: statement.date,
    kind: statement.kind,
    fhirVersion: statement.fhirVersion,
    format,
    ...(statement.software === undefined ? {} : { software: statement.software }),
    ...(statement.implementation === undefined ? {} : { implementation: statement.implementation }),
    rest: [rest],
  };
  return out;
}

function security(s: NonNullable<z.output<typeof serverSchema>['security']>, at: string): NonNullable<RestrictedRest['security']> {
  const { extension = [], ...kept } = s;
  const smart = [...extension.keys()].filter((i) => extension[i]?.url === SMART_OAUTH_URIS);
  if (smart.length > 1) throw new Refusal('the CapabilityStatement has more than one SMART oauth-uris extension');
  const out: NonNullable<RestrictedRest['security']> = kept;
  if (smart[0] === undefined) return out;
  const ext = `${at}.extension.${smart[0]}`;
  const uris = checked(smartSchema, extension[smart[0]], ext).extension;
  const endpoints = [...uris.keys()]
    .filter((i) => (SMART_ENDPOINTS as readonly string[]).includes(uris[i]!.url))
    .map((i) => checked(endpointSchema, uris[i], `${ext}.extension.${i}`));
  if (endpoints.length > 0) out.extension = [{ url: SMART_OAUTH_URIS, extension: endpoints }];
  return out;
}

function resources(listed: readonly { type: string }[], scope: CapabilityScope, at: string): Resource[] {
  const out: Resource[] = [];
  const seen = new Set<string>();
  for (const [index, entry] of listed.entries()) {
    const allowed = scope.get(entry.type);
    if (allowed === undefined) continue;
    // R4 (cpb-9): a type is described once per mode; a second description could contradict the first.
    if (seen.has(entry.type)) throw new Refusal(`the CapabilityStatement describes the resource type ${entry.type} twice`);
    seen.add(entry.type);
    const r = checked(resourceSchema, entry, `${at}.${index}`);
    const interaction = unique((r.interaction ?? []).map((i) => i.code))
      .filter((c): c is CapabilityInteraction => allowed.interactions.has(c as CapabilityInteraction))
      .map((c) => ({ code: c }));
    if (interaction.length === 0) continue;
    const kept: Resource = {
      type: r.type,
      ...(r.profile === undefined ? {} : { profile: r.profile }),
      ...(r.supportedProfile === undefined ? {} : { supportedProfile: r.supportedProfile }),
      interaction,
    };
    // Searching is what the parameters are for: without search-type, none of them can be used here.
    const searchParam = interaction.some((i) => i.code === 'search-type')
      ? uniqueBy(r.searchParam ?? [], (p) => p.name).filter((p) => allowed.searchParams.has(p.name))
      : [];
    if (searchParam.length > 0) kept.searchParam = searchParam;
    out.push(kept);
  }
  return out;
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}

function uniqueBy<T>(items: readonly T[], key: (t: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((t) => !seen.has(key(t)) && seen.add(key(t)) !== undefined);
}

/**
 * A part of the statement parsed by its schema, or a Refusal naming where it failed by key paths only:
 * a zod message may quote the value it refused.
 */
function checked<S extends z.ZodType>(schema: S, value: unknown, at: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const paths = unique(parsed.error.issues.map((i) => [at, ...i.path.map(String)].filter((p) => p !== '').join('.') || '(statement)'));
  throw new Refusal(`the CapabilityStatement is malformed at ${paths.slice(0, 5).join(', ')}`);
}
