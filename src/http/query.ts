import { FieldmeshError } from '../lib/errors.js';
import { longestPrefix } from '../lib/paths.js';
import type { PolicySet } from '../engine/policy-set.js';
import type { Plan } from '../engine/plan.js';
import { checkEntries, type QueryEntries, type RouteParam } from '../engine/query-check.js';

// The rule itself is the engine's (fixture filter cases call it too); the shells keep their imports from here.
export { checkEntries, DEFAULT_PAGING_KEYS, type QueryEntries, type RouteParam } from '../engine/query-check.js';

/**
 * The most query parameters a request may carry: express's parsers (node's
 * querystring and qs) keep the first 1,000 and silently drop the rest, so a
 * longer query would be checked in one form and read by a handler in another.
 *
 * @example
 * checkQuery(policies, plan, '_page=1&'.repeat(MAX_QUERY_PARAMETERS), DEFAULT_PAGING_KEYS); // throws 414 query_too_long
 */
export const MAX_QUERY_PARAMETERS = 1000;

/**
 * A request's query as a shell has it: the raw string (both shells pass
 * it), URLSearchParams, or an object a query parser built.
 */
export type QueryInput = URLSearchParams | Record<string, unknown> | string | undefined;

/**
 * Refuse (403 `filter_forbidden`) every query key that is neither a paging
 * key nor a field the user may filter by, every sort naming such a field,
 * and every route parameter that looks records up by such a field (docs/middleware.md,
 * "Route parameters": a path parameter that selects records is a filter). Keys outside the policy
 * (`q`, `_embed`) and parameters that name no field are refused too: deny by
 * default. A raw query is read as URLSearchParams reads it and, where it
 * holds a `;`, also as a parser splitting on `;` would: both readings are
 * checked. More than MAX_QUERY_PARAMETERS parameters is 414 `query_too_long`.
 * Messages name keys, never their values.
 *
 * @example
 * checkQuery(policies, plan, { nhsNumber: '9990000018' }, DEFAULT_PAGING_KEYS); // throws for a receptionist
 * checkQuery(policies, plan, '', DEFAULT_PAGING_KEYS, [{ name: 'id' }]);         // throws for an analyst (id is pseudonymised)
 */
export function checkQuery(
  policies: PolicySet,
  plan: Plan,
  query: QueryInput,
  pagingKeys: readonly string[],
  params: readonly RouteParam[] = [],
): { filtered: boolean } {
  return checkEntries(policies, plan, readQuery(query), pagingKeys, params);
}

/**
 * Whether a route may name `field` as what a parameter selects records by:
 * the resource's id path, or a declared field or a path under one. Checked
 * where routes are declared, so a typo fails at load, not per request.
 *
 * @example
 * selectableField(policies, 'Patient', 'nhsNumber'); // true
 * selectableField(policies, 'Patient', 'nhs');       // false
 */
export function selectableField(policies: PolicySet, resource: string, field: string): boolean {
  const r = policies.compiled.resources.get(resource);
  return r !== undefined && (field === r.def.id || longestPrefix(r.paths, field) !== undefined);
}

/**
 * Whether an answer the record API paged by itself may be passed on as the
 * page it is. Not when rows may be hidden from the caller, filtered or not:
 * whether the record API paged at all, and where it cut the page, depend on
 * the hidden rows (an empty or short page shows where they sit); nor for a de-identified purpose,
 * whose page is a window on the record API's order. The gateway then
 * gathers every page and answers the result whole (src/gateway/exchange.ts);
 * the middleware refuses (docs/middleware.md).
 *
 * @example
 * redactBody(policies, admitted.plan, bundle, 'entry.resource', { pagedAllowed: admitted.pagedAnswerAllowed });
 */
export function pagedAnswerAllowed(plan: Plan): boolean {
  return !plan.deidentified && !plan.mayHideRows;
}

/**
 * Ids a lookup by the id path in the query names (`?id=pat-001`), bounded:
 * the caller chose them.
 *
 * @example
 * queryIds(readQuery('id=pat-001'), 'id'); // ['pat-001']
 */
export function queryIds(query: QueryEntries, idPath: string | undefined): string[] {
  if (idPath === undefined) return [];
  return query
    .filter(([key]) => key === idPath)
    .flatMap(([, values]) => values)
    .filter((v) => v !== '')
    .slice(0, 10)
    .map((v) => v.slice(0, 200));
}

/**
 * A query read into keys and their values; throws 414 `query_too_long`
 * past MAX_QUERY_PARAMETERS.
 *
 * @example
 * readQuery('a=1&a=2'); // [['a', ['1', '2']]]
 */
export function readQuery(query: QueryInput): QueryEntries {
  if (query === undefined || query === '') return [];
  const params = typeof query === 'string' ? rawParams(query) : query;
  if (params instanceof URLSearchParams) {
    if (typeof query !== 'string' && params.size > MAX_QUERY_PARAMETERS) throw tooLong();
    const out = new Map<string, string[]>();
    for (const [k, v] of params) out.set(k, [...(out.get(k) ?? []), v]);
    return [...out];
  }
  // A nested value (`a[b]=1` with an extended parser) has no field name to check: its key is checked whole.
  const out = Object.entries(params).map(([k, v]): [string, string[]] => [
    k,
    (Array.isArray(v) ? v : [v]).map((x) => (typeof x === 'string' ? x : '')),
  ]);
  if (out.reduce((n, [, v]) => n + Math.max(v.length, 1), 0) > MAX_QUERY_PARAMETERS) throw tooLong();
  return out;
}

/**
 * A raw query string as URLSearchParams reads it, plus, where it holds a
 * `;`, the pairs a parser that also splits on `;` would see: a handler that
 * reads the raw string with such a parser must find nothing unchecked.
 */
function rawParams(raw: string): URLSearchParams {
  // Counted as qs counts (empty pieces too), and with `;` as a separator: the most any parser could see.
  if (raw.split(/[&;]/).length > MAX_QUERY_PARAMETERS) throw tooLong();
  const params = new URLSearchParams(raw);
  if (raw.includes(';')) for (const [k, v] of new URLSearchParams(raw.replaceAll(';', '&'))) params.append(k, v);
  return params;
}

function tooLong(): FieldmeshError {
  return new FieldmeshError(
    'query_too_long',
    `The query has more than ${MAX_QUERY_PARAMETERS} parameters: the record API would read only part of what fieldmesh checked`,
  );
}
