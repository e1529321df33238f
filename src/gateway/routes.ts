import { readFile } from 'node:fs/promises';
import { match, parse, type MatchFunction, type Token } from 'path-to-regexp';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { FieldmeshError } from '../lib/errors.js';
import { selectableField } from '../http/query.js';
import type { PolicySet } from '../engine/policy-set.js';
import { parseListKey } from '../engine/body-shape.js';
import { lineBreakHazard } from '../policy/line-breaks.js';
import { isResourceType } from '../fhir/definitions.js';
import { FHIR_ROUTE_OPTIONS } from '../fhir/route-options.js';
import { metadataProblems } from './fhir-base.js';
import { fhirDialect, searchProblems } from '../fhir/search.js';
import type { QueryDialect } from '../engine/query-dialect.js';

/**
 * Methods a route may allow: each maps to a policy action (read, create, update).
 *
 * @example
 * ROUTE_METHODS.includes('DELETE' as RouteMethod); // false: no policy action says who may delete
 */
export const ROUTE_METHODS = ['GET', 'POST', 'PUT', 'PATCH'] as const;
/**
 * One of ROUTE_METHODS.
 */
export type RouteMethod = (typeof ROUTE_METHODS)[number];

const routeSchema = z.strictObject({
  path: z
    .string()
    .startsWith('/', 'must start with "/"')
    .refine(compiles, 'is not a valid express-style path pattern (e.g. /patients/:id)'),
  resource: z.string().min(1),
  list: z
    .string()
    .refine(
      listKeyValid,
      'must be "" (the body is the array), a dotted key such as "items", or "entry.resource" (a FHIR Bundle); leave it out for one record',
    )
    .optional(),
  methods: z
    .array(
      z
        .string()
        .transform((m) => m.toUpperCase())
        .pipe(
          // DELETE and others have no policy action: fieldmesh cannot say who may do them, so it never forwards them.
          z.enum(ROUTE_METHODS, { message: `must be one of ${ROUTE_METHODS.join(', ')} (no other method has a policy action)` }),
        ),
    )
    .min(1)
    .default(['GET']),
  /** The field each path parameter selects records by (`nhs: nhsNumber`); `id` defaults to the resource's id path. */
  params: z.record(z.string(), z.string().min(1)).optional(),
  /** FHIR: `fhir`, `search` and `markWithheld` (docs/fhir.md). */
  ...FHIR_ROUTE_OPTIONS,
});
const routesFileSchema = z.strictObject({ routes: z.array(routeSchema).min(1, 'at least one route is needed') });

/**
 * One route of the routes file (docs/gateway.md, "Routes file"), checked.
 */
export type RouteDef = z.output<typeof routeSchema>;

/**
 * A route ready to match request paths.
 *
 * @example
 * const found = routes.find(pathname); // { route, params } or undefined
 */
export interface Route extends RouteDef {
  matches: MatchFunction<Record<string, string | string[]>>;
  /** The R4 resource type the route serves, when it is a FHIR route (see `fhirTypeOf`). */
  fhirType?: string | undefined;
  /** How the route's query is read: its search parameters on a FHIR route (src/fhir/search.ts), json-server's otherwise. */
  dialect?: QueryDialect | undefined;
}

/**
 * The routes of a gateway, matched in file order.
 *
 * @example
 * const table = parseRoutes(yamlText, 'routes.yaml', policies.resourceNames());
 * table.find('/patients/pat-001')?.route.resource; // 'Patient'
 */
export interface RouteTable {
  routes: Route[];
  find(pathname: string): { route: Route; params: Record<string, string | string[]> } | undefined;
}

function listKeyValid(list: string): boolean {
  try {
    parseListKey(list);
    return true;
  } catch {
    return false;
  }
}

// Exact paths: a route covers what its pattern says, with no case folding or
// trailing slash that the upstream might read as a different endpoint.
const MATCH_OPTIONS = { sensitive: true, trailing: false } as const;

function compiles(path: string): boolean {
  try {
    match(path, MATCH_OPTIONS);
    return true;
  } catch {
    return false;
  }
}

/**
 * Parse and check a routes file. Every route's resource must exist in the
 * policy set: a route to a resource with no policy could only ever refuse,
 * and a typo must not go unnoticed until the first request. Every path
 * parameter must name the field it selects by (`id` selects by the id path
 * unless mapped); given the policy set, each named field must be declared.
 * A route that would answer a `<base>/metadata` of the FHIR routes is
 * refused: the gateway answers it itself (src/gateway/fhir-base.ts).
 * Throws a FieldmeshError (`routes_invalid`) listing every problem with its place.
 *
 * @example
 * const table = parseRoutes('routes:\n  - { path: /patients, resource: Patient, list: "" }', 'routes.yaml', ['Patient']);
 * parseRoutes('routes:\n  - { path: /by-nhs/:nhs, resource: Patient, params: { nhs: nhsNumber } }', 'routes.yaml', ['Patient'], policies);
 */
export function parseRoutes(text: string, file: string, resources: readonly string[], policies?: PolicySet): RouteTable {
  // The rule policy and case files follow: a character that hides or redraws a line could hide a route's params.
  const hazard = lineBreakHazard(text);
  if (hazard) throw routesError(file, [`line ${hazard.line}, column ${hazard.col}: ${hazard.message}`]);
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw routesError(file, [`not valid YAML: ${(e as Error).message.split('\n')[0]}`]);
  }
  const parsed = routesFileSchema.safeParse(doc);
  if (!parsed.success) {
    throw routesError(
      file,
      parsed.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(file)'}: ${i.message}`),
    );
  }
  const problems: string[] = [];
  const seen = new Set<string>();
  parsed.data.routes.forEach((r, i) => {
    if (!resources.includes(r.resource))
      problems.push(`routes.${i}.resource: unknown resource "${r.resource}" (the policies define: ${resources.join(', ')})`);
    if (seen.has(r.path)) problems.push(`routes.${i}.path: "${r.path}" is defined twice`);
    seen.add(r.path);
    problems.push(...paramProblems(r, `routes.${i}`, resources.includes(r.resource) ? policies : undefined));
    problems.push(...writeProblems(r, `routes.${i}`, resources.includes(r.resource) ? policies : undefined));
    problems.push(...fhirProblems(r, `routes.${i}`));
    const known = resources.includes(r.resource) ? policies : undefined;
    for (const p of searchProblems(fhirTypeOf(r), r.resource, r.search ?? {}, known && ((f) => selectableField(known, r.resource, f))))
      problems.push(`routes.${i}.search${p.name === undefined ? '' : `.${p.name}`}: ${p.message}`);
    problems.push(...markProblems(r, `routes.${i}`));
  });
  const table = routeTable(parsed.data.routes);
  problems.push(...metadataProblems(table.routes));
  if (problems.length > 0) throw routesError(file, problems);
  return table;
}

/**
 * A path parameter selects records, so it is a filter (docs/gateway.md, "Routes file"): each must say
 * which field it selects by, `id` by default, and that field must be one the
 * resource declares. A parameter nobody mapped could select by any field.
 */
function paramProblems(r: RouteDef, at: string, policies: PolicySet | undefined): string[] {
  const names = paramNames(parse(r.path).tokens);
  const problems: string[] = [];
  for (const name of names) {
    if (name !== 'id' && fieldOf(r, name) === undefined) {
      problems.push(
        `${at}.path: parameter ":${name}" selects records by no named field; say which under params (params: { ${name}: <field> })`,
      );
    }
  }
  for (const [name, field] of Object.entries(r.params ?? {})) {
    if (!names.includes(name)) problems.push(`${at}.params.${name}: the path "${r.path}" has no parameter ":${name}"`);
    else if (policies !== undefined && !selectableField(policies, r.resource, field))
      problems.push(`${at}.params.${name}: unknown field "${field}" of resource "${r.resource}"`);
  }
  return problems;
}

/**
 * Writes must name what they write. An update (PUT, PATCH) addresses one
 * record, which the gateway reads first to check the caller may see it: on a
 * list route the record API would pick the records (a conditional update by
 * query) and the gateway could read none of them. A create (POST) on a path
 * that names the record by id could replace one the caller may not see, on a
 * record API that creates or replaces by id (an upsert).
 */
function writeProblems(r: RouteDef, at: string, policies: PolicySet | undefined): string[] {
  const problems: string[] = [];
  const updates = r.methods.filter((m) => m === 'PUT' || m === 'PATCH');
  if (updates.length > 0 && r.list !== undefined) {
    problems.push(
      `${at}.methods: ${updates.join(' and ')} update one record, which the gateway must read first: put them on a single-record route (no list key), such as /patients/:id`,
    );
  }
  const idPath = policies?.compiled.resources.get(r.resource)?.def.id ?? 'id';
  const names = paramNames(parse(r.path).tokens);
  const byId = names.filter((name) => (fieldOf(r, name) ?? (name === 'id' ? idPath : undefined)) === idPath);
  if (r.methods.includes('POST') && byId.length > 0) {
    problems.push(
      `${at}.methods: POST creates a record, and this path names one by its id (:${byId[0]}): a record API that creates or replaces by id could overwrite a record the caller may not see; use PUT or PATCH to change a record`,
    );
  }
  return problems;
}

/** A route said to be FHIR must serve an R4 resource type. */
function fhirProblems(r: RouteDef, at: string): string[] {
  if (r.fhir === undefined || r.fhir === false) return [];
  const type = r.fhir === true ? r.resource : r.fhir;
  return isResourceType(type)
    ? []
    : [
        `${at}.fhir: "${type}" is not an R4 resource type; write fhir: <type> (such as fhir: Patient) when the policy names the resource otherwise`,
      ];
}

/** Withheld markers are FHIR's (docs/fhir.md): asked on a route that is not FHIR, they would silently never come. */
function markProblems(r: RouteDef, at: string): string[] {
  if (r.markWithheld !== true || fhirTypeOf(r) !== undefined) return [];
  return [`${at}.markWithheld: only FHIR routes are marked, and "${r.path}" is not one; say which R4 type it serves (fhir: <type>)`];
}

/**
 * The R4 resource type a route serves, or undefined when it is not a FHIR
 * route: `fhir` in the routes file decides; unset, a route is FHIR when its
 * resource is an R4 type that its path names as a segment (`/Patient`,
 * `/fhir/Patient/:id`), so a JSON API's `/patients` with a resource called
 * Patient stays a JSON route.
 *
 * @example
 * fhirTypeOf({ path: '/fhir/Observation/:id', resource: 'Observation', methods: ['GET'] }); // 'Observation'
 * fhirTypeOf({ path: '/patients', resource: 'Patient', methods: ['GET'] });                 // undefined
 */
export function fhirTypeOf(route: RouteDef): string | undefined {
  if (route.fhir === false) return undefined;
  if (route.fhir === true) return route.resource;
  if (typeof route.fhir === 'string') return route.fhir;
  return isResourceType(route.resource) && route.path.split('/').includes(route.resource) ? route.resource : undefined;
}

/**
 * The field a route's parameter selects by, when the routes file names one.
 *
 * @example
 * fieldOf(route, 'nhs'); // 'nhsNumber'
 */
export function fieldOf(route: RouteDef, name: string): string | undefined {
  return route.params !== undefined && Object.hasOwn(route.params, name) ? route.params[name] : undefined;
}

function paramNames(tokens: Token[]): string[] {
  return tokens.flatMap((t) => (t.type === 'param' || t.type === 'wildcard' ? [t.name] : t.type === 'group' ? paramNames(t.tokens) : []));
}

/**
 * Check that every route still names a resource of a (reloaded) policy set.
 *
 * @example
 * unknownResources(table, policies.resourceNames()); // ['Observation'] when the new set dropped it
 */
export function unknownResources(table: RouteTable, resources: readonly string[]): string[] {
  return [...new Set(table.routes.map((r) => r.resource).filter((r) => !resources.includes(r)))];
}

/**
 * Read and check a routes file.
 */
export async function loadRoutes(file: string, resources: readonly string[], policies?: PolicySet): Promise<RouteTable> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw routesError(file, [`cannot read the file (${(e as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  return parseRoutes(text, file, resources, policies);
}

/**
 * A route table from routes already checked.
 */
export function routeTable(defs: RouteDef[]): RouteTable {
  const routes = defs.map((d): Route => {
    const fhirType = fhirTypeOf(d);
    // The search parameters are read into fields once, here: per request a key is only looked up.
    const dialect = fhirType === undefined ? undefined : fhirDialect(fhirType, d.search);
    return { ...d, matches: match<Record<string, string | string[]>>(d.path, MATCH_OPTIONS), fhirType, dialect };
  });
  return {
    routes,
    find(pathname) {
      for (const route of routes) {
        const m = route.matches(pathname);
        if (m) return { route, params: m.params };
      }
      return undefined;
    },
  };
}

function routesError(file: string, problems: string[]): FieldmeshError {
  return new FieldmeshError(
    'routes_invalid',
    `${problems.length} problem${problems.length === 1 ? '' : 's'} in the routes file:\n${problems.map((p) => `${file} › ${p}`).join('\n')}`,
  );
}
