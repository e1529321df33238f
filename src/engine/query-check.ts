import { AccessError } from './access-error.js';
import type { PolicySet } from './policy-set.js';
import { refusedDecision, type Plan } from './plan.js';

/**
 * Which rows a request may choose: the one rule behind every query filter,
 * sort and record-selecting route parameter (docs/middleware.md, "Route
 * parameters"). Both HTTP shells (through src/http/query.ts) and fixture
 * filter cases (`fieldmesh test`) call `checkEntries`, so a query a case
 * proves refused is refused over HTTP too.
 */

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
/** The most refused names a refusal carries: the caller chose them, so they are bounded. */
const MAX_NAMED = 50;

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

/** A query read into keys and their values (see `readQuery` in src/http/query.ts). */
export type QueryEntries = [string, string[]][];

/**
 * Refuse (403 `filter_forbidden`) every query key that is neither a paging
 * key nor a field the user may filter by, every sort naming such a field,
 * and every route parameter that looks records up by such a field. Keys
 * outside the policy (`q`, `_embed`) and parameters that name no field are
 * refused too: deny by default. The refusal's message names the keys as sent
 * and its `fields` the field each key filters by (`dateOfBirth_gte` →
 * `dateOfBirth`, `_sort=-name` → `name`), never a value.
 *
 * @example
 * checkEntries(policies, plan, [['nhsNumber', ['9990000018']]], DEFAULT_PAGING_KEYS, []); // throws for a receptionist
 */
export function checkEntries(
  policies: PolicySet,
  plan: Plan,
  keys: QueryEntries,
  pagingKeys: readonly string[],
  params: readonly RouteParam[],
): { filtered: boolean } {
  const forbidden: string[] = [];
  const fields: string[] = [];
  const forbid = (key: string, field: string) => {
    forbidden.push(key);
    if (!fields.includes(field)) fields.push(field);
  };
  // The one rule for every way of choosing rows: only a field the user may read, untransformed, in every row.
  const mayUse = (field: string) => policies.mayFilterBy(plan, field);
  for (const [key, values] of keys) {
    if (pagingKeys.includes(key)) continue;
    if (SORT_KEYS.has(key)) {
      for (const field of sortFields(key, values)) if (!mayUse(field)) forbid(`${key}=${field}`, field);
    } else {
      const field = key.replace(OPERATOR, '');
      if (!mayUse(field)) forbid(key, field);
    }
  }
  for (const param of params) {
    const field = param.field ?? (param.name === 'id' ? plan.resource.def.id : undefined);
    if (field === undefined || !mayUse(field))
      forbid(`:${param.name}${field === undefined || field === param.name ? '' : ` (${field})`}`, field ?? `:${param.name}`);
  }
  const code = 'filter_forbidden';
  const refuse = (message: string, named: string[] = []): never => {
    const bounded = named.slice(0, MAX_NAMED).map((f) => f.slice(0, 200));
    throw new AccessError(code, message, refusedDecision(policies.compiled, plan.ctx, plan.action, plan.roles, code), bounded);
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
  return refuse(`You may not filter, sort or look records up by ${named}: only fields you may read in every row can be queried`, fields);
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
