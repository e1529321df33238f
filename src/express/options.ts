import type { Registry } from 'prom-client';
import { z } from 'zod';
import { FHIR_ROUTE_OPTIONS } from '../fhir/route-options.js';
import type { AuditEvent } from '../audit/event.js';
import type { AuditStore } from '../audit/types.js';
import type { IdentityOptions } from '../http/identity.js';
import { PolicySet } from '../engine/policy-set.js';
import { pseudonymKeyProblem } from '../engine/transforms.js';
import { keyProblem } from '../lib/keys.js';
import { trainingMaxAgeProblem } from '../engine/plan.js';
import { purposeClaimProblem } from '../http/purpose-of-use.js';

const isFunction = (v: unknown): boolean => typeof v === 'function';
const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStore = (v: unknown): boolean =>
  isObject(v) && ['append', 'query', 'verify', 'close'].every((m) => typeof (v as Record<string, unknown>)[m] === 'function');

/**
 * Options of `fieldmesh()`, checked once when the mesh is created. Unknown
 * keys are refused: a misspelt option must not silently weaken a check.
 */
/** A secret key option, checked by the one rule every entry point shares (src/lib/keys.ts). */
const secretKey = (name: string) =>
  z
    .union([z.string(), z.instanceof(Buffer)])
    .superRefine((key, ctx) => {
      const problem = keyProblem(key);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${name} ${problem}` });
    })
    .optional();

export const meshOptionsSchema = z.strictObject({
  /** A policy directory, or a policy set already loaded. */
  policies: z.union([z.string().min(1), z.instanceof(PolicySet)], {
    error: 'policies must be a policy directory or a PolicySet from loadPolicies()',
  }),
  /** How bearer tokens are verified (see docs/identity.md): exactly one of secret, publicKey, jwksUrl. */
  jwt: z.custom<IdentityOptions>(
    isObject,
    'jwt is required: { secret } | { publicKey } | { jwksUrl }, with issuer and audience when you have them',
  ),
  /** The audit trail: a SQLite path or postgres:// URL, { sqlite }, { postgres }, or an open AuditStore (default ./fieldmesh-audit.db). */
  audit: z
    .union(
      [
        z.string().min(1),
        z.strictObject({ sqlite: z.string().min(1) }),
        z.strictObject({ postgres: z.string().min(1) }),
        z.custom<AuditStore>(isStore),
      ],
      {
        error: 'audit must be a path, a postgres:// URL, { sqlite: path }, { postgres: url } or an AuditStore',
      },
    )
    .optional(),
  /** When set, the trail stores keyed pseudonyms of record ids instead of the ids (the audit CLI reads FIELDMESH_AUDIT_RECORD_KEY to search them). */
  auditRecordIdKey: secretKey('auditRecordIdKey'),
  /** When set, the trail's chain is HMAC-SHA256 under this key, so events cannot be forged without it (see docs/audit.md; the CLI reads FIELDMESH_AUDIT_CHAIN_KEY). */
  auditChainKey: secretKey('auditChainKey'),
  /** Key of the `pseudonym` transform; required when a purpose uses it (at least 16 characters). */
  pseudonymKey: z
    .union([z.string(), z.instanceof(Buffer)])
    .superRefine((key, ctx) => {
      const problem = pseudonymKeyProblem(key, false);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `pseudonymKey ${problem}` });
    })
    .optional(),
  /** Caldicott 5: training older than this many days gets no personal data. */
  trainingMaxAgeDays: z
    .custom<number>((days) => trainingMaxAgeProblem(days) === undefined, {
      error: (issue) => `trainingMaxAgeDays ${trainingMaxAgeProblem(issue.input)}`,
    })
    .default(365),
  /** Query keys allowed without a field check (default DEFAULT_PAGING_KEYS). */
  pagingKeys: z.array(z.string().min(1)).optional(),
  /** The token claim carrying HL7 PurposeOfUse codes (a name or dotted path): its codes select the purpose (docs/fhir.md). */
  purposeClaim: z
    .custom<string>((name) => purposeClaimProblem(name) === undefined, {
      error: (issue) => `purposeClaim ${purposeClaimProblem(issue.input)}`,
    })
    .optional(),
  /** The prom-client Registry to put the mesh's metrics in (default: one of its own, as `mesh.metrics`). */
  metrics: z
    .custom<Registry>(
      (v) =>
        isObject(v) &&
        isFunction((v as Record<string, unknown>)['registerMetric']) &&
        isFunction((v as Record<string, unknown>)['metrics']),
      'metrics must be a prom-client Registry',
    )
    .optional(),
  /** Called with each break-glass event once it is durable. */
  onBreakGlass: z.custom<(event: AuditEvent) => void | Promise<void>>(isFunction, 'onBreakGlass must be a function').optional(),
  /** POSTed each break-glass event as JSON. */
  breakGlassWebhook: z.url({ protocol: /^https?$/ }).optional(),
  /** Largest write body fieldmesh parses itself (default 1 MiB): larger is 413. */
  maxBodyBytes: z.number().int().positive().default(1_048_576),
  /** Largest answer buffered for redaction (default 16 MiB): larger is 500, nothing sent. */
  maxResponseBytes: z
    .number()
    .int()
    .positive()
    .default(16 * 1_048_576),
  /** The clock (tests inject one): tokens, training, review dates, age bands. */
  now: z.custom<() => Date>(isFunction, 'now must be a function returning a Date').optional(),
});

/**
 * What `fieldmesh()` accepts.
 *
 * @example
 * const options: MeshOptions = { policies: './policies', jwt: { secret: process.env.FIELDMESH_JWT_SECRET! } };
 */
export type MeshOptions = z.input<typeof meshOptionsSchema>;
/**
 * The options after defaults.
 *
 * @example
 * resolveMeshOptions({ policies: './policies', jwt: { secret } }).trainingMaxAgeDays; // 365
 */
export type ResolvedMeshOptions = z.output<typeof meshOptionsSchema>;

/**
 * Parse mesh options or throw one TypeError listing every problem.
 */
export function resolveMeshOptions(input: unknown): ResolvedMeshOptions {
  const parsed = meshOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.length > 0 ? `${i.path.join('.')}: ` : ''}${unknownKeys(i) ?? i.message}`);
    throw new TypeError(`fieldmesh: invalid options:\n${lines.join('\n')}`);
  }
  if (parsed.data.policies instanceof PolicySet && parsed.data.pseudonymKey !== undefined) {
    throw new TypeError('fieldmesh: invalid options:\n  pseudonymKey: give it to loadPolicies() when you pass a PolicySet');
  }
  return parsed.data;
}

function unknownKeys(issue: z.core.$ZodIssue): string | undefined {
  return issue.code === 'unrecognized_keys'
    ? `unknown option${issue.keys.length === 1 ? '' : 's'} ${issue.keys.map((k) => `"${k}"`).join(', ')}`
    : undefined;
}

/**
 * Options of `mesh.read()`.
 *
 * @example
 * app.get('/fhir/Patient', mesh.read('Patient', { list: 'entry.resource' }), search);
 */
export const readOptionsSchema = z.strictObject({
  /** Where the rows are (see ListKey in engine/body-shape.ts). Default: an array body is a list, an object body one record. */
  list: z.string().optional(),
  /** The field each route parameter selects records by (`{ nhs: 'nhsNumber' }`); `id` defaults to the id path, any other parameter must be named. */
  params: z.record(z.string(), z.string().min(1)).optional(),
  /** FHIR: `fhir` (the R4 type served, or true for the resource's own name), `search`, `markWithheld` (docs/fhir.md). */
  ...FHIR_ROUTE_OPTIONS,
});
/** The options of `mesh.read()`, as a caller writes them. */
export type ReadOptions = z.input<typeof readOptionsSchema>;

/**
 * Options of `mesh.write()`.
 *
 * @example
 * app.patch('/patients/:id', mesh.write('Patient', { load: (req) => db.patients.get(req.params.id) }), update);
 */
export const writeOptionsSchema = readOptionsSchema.extend({
  /**
   * The record as it is before an update (`undefined` or `null`: no such record). Required for PUT and
   * PATCH: the caller must be able to see the record to change it; without it every update is refused (500 `write_needs_load`).
   */
  // Typed by the entry that takes it (WriteOptionsFor, src/express/mesh-types.ts): express's Request or a structural one.
  load: z.custom<(req: never) => unknown>(isFunction, 'load must be a function').optional(),
});
