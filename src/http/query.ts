import { FieldmeshError } from '../lib/errors.js';
import { AccessError } from '../engine/access-error.js';
import { longestPrefix } from '../lib/paths.js';
import type { PolicySet } from '../engine/policy-set.js';
import { refusedDecision, type Plan } from '../engine/plan.js';

/**
 * Query keys that page through rows without looking at any field, allowed
 * for everyone (json-server, FHIR and common REST spellings).
 *
 * @example
 * admit(req, 'Patient', 'read', { policies, verifier, pagingKeys: [...DEFAULT_PAGING_KEYS, 'pageToken'] });
 */
export const DEFAULT_PAGING_KEYS: readonly string[] = [
  '_page',
  '_limit',
  '_count',
  '_offset',
  '_start',
  '_end',
  'page',
  'limit',
  'offset',
  'cursor',
];
/** Query keys whose values name the fields rows are sorted by. */
const SORT_KEYS = new Set(['_sort', 'sort', '_order']);
/** json-server operators: `dateOfBirth_gte` filters by `dateOfBirth`. */
const OPERATOR = /_(like|ne|gte|lte)$/;
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
 * A route parameter present in a request, with the field it selects records
 * by when the route names one. A parameter called `id` with no field selects
 * by the resource's id path; any other parameter without a field is refused.
 *
 * @example
 * const param: RouteParam = { name: 'nhs', field: 'nhsNumber' }; // GET /patients/by-nhs/:nhs
 */
export interface RouteParam {
  name: string;
  field?: string | undefined;
  /** The value in this request: one on the id path names the record a refusal is about. */
  value?: string | undefined;
}

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

/** A query read into keys and their values (see `readQuery`). */
export type QueryEntries = [string, string[]][];

/**
 * The query checks on a query already read (see `checkQuery`).
 */
export function checkEntries(
  policies: PolicySet,
  plan: Plan,
  keys: QueryEntries,
  pagingKeys: readonly string[],
  params: readonly RouteParam[],
): { filtered: boolean } {
  const forbidden: string[] = [];
  // The one rule for every way of choosing rows: only a field the user may read, untransformed, in every row.
  const mayUse = (field: string) => policies.mayFilterBy(plan, field);
  for (const [key, values] of keys) {
    if (pagingKeys.includes(key)) continue;
    if (SORT_KEYS.has(key)) {
      for (const field of sortFields(key, values)) if (!mayUse(field)) forbidden.push(`${key}=${field}`);
    } else if (!mayUse(key.replace(OPERATOR, ''))) {
      forbidden.push(key);
    }
  }
  for (const param of params) {
    const field = param.field ?? (param.name === 'id' ? plan.resource.def.id : undefined);
    if (field === undefined || !mayUse(field))
      forbidden.push(`:${param.name}${field === undefined || field === param.name ? '' : ` (${field})`}`);
  }
  const code = 'filter_forbidden';
  const refuse = (message: string): never => {
    throw new AccessError(code, message, refusedDecision(policies.compiled, plan.ctx, plan.action, plan.roles, code));
  };
  if (forbidden.length === 0) {
    // The record API pages before fieldmesh drops hidden rows: with a filter or
    // a sort, an empty or short page would show that a hidden row matched.
    const names = keys.map(([k]) => k);
    const filtered = params.length > 0 || names.some((k) => !pagingKeys.includes(k));
    // De-identified rows come in the record API's order (often by id): a page's position would name its row.
    if (plan.deidentified && names.some((k) => pagingKeys.includes(k))) {
      refuse(
        `Paging is not available for purpose "${plan.purpose.name}": its rows are de-identified, and a row's position in the record API's order (often by id) would identify it. Ask for the whole list.`,
      );
    }
    if (plan.mayHideRows && names.some((k) => pagingKeys.includes(k)) && filtered) {
      refuse(
        'Paging cannot be combined with filters or sorting here: some rows are hidden from you, and a page cut before they are removed would show that they matched. Filter without paging, or page without filters.',
      );
    }
    return { filtered };
  }
  const named = [...new Set(forbidden)]
    .slice(0, 10)
    .map((k) => JSON.stringify(k.slice(0, 80)))
    .join(', ');
  return refuse(`You may not filter, sort or look records up by ${named}: only fields you may read in every row can be queried`);
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
 * Whether an answer the record API paged by itself may be passed on. A FHIR
 * server pages a search even when nobody asked (a default page size): with a
 * filter and rows that may be hidden, a short page with a `next` link shows
 * that hidden rows matched, exactly as explicit paging would; and a
 * de-identified purpose's page is a window on the record API's order.
 *
 * @example
 * redactBody(policies, admitted.plan, bundle, 'entry.resource', { pagedAllowed: admitted.pagedAnswerAllowed });
 */
export function pagedAnswerAllowed(plan: Plan, filtered: boolean): boolean {
  return !plan.deidentified && !(filtered && plan.mayHideRows);
}

/** Field names in sort values: `a,-b`, `+c`, `d:desc`. `_order` also takes the directions asc and desc. */
function sortFields(key: string, values: string[]): string[] {
  const fields = values
    .flatMap((v) => v.split(','))
    .map((f) =>
      f
        .trim()
        .replace(/^[+-]/, '')
        .replace(/[: ](asc|desc)$/i, ''),
    );
  return fields.filter((f) => f !== '' && !(key === '_order' && /^(asc|desc)$/i.test(f)));
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
