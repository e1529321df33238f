import { AccessError } from './access-error.js';
import type { PolicySet } from './policy-set.js';
import { refusedDecision, type Plan } from './plan.js';
import { DEFAULT_PAGING_KEYS, jsonDialect, type QueryDialect } from './query-dialect.js';

export { DEFAULT_PAGING_KEYS, jsonDialect, type KeyReading, type QueryDialect } from './query-dialect.js';

/**
 * Which rows a request may choose: the one rule behind every query filter,
 * sort and record-selecting route parameter (docs/middleware.md, "Route
 * parameters"). Both HTTP shells (through src/http/query.ts) and fixture
 * filter cases (`fieldmesh test`) call `checkEntries`, so a query a case
 * proves refused is refused over HTTP too.
 */

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
 * refused too: deny by default. How a key is read into fields is the
 * dialect's (json-server's by default, or a list of its paging keys; FHIR's
 * on a FHIR route, src/fhir/search.ts): a key that reads several fields
 * (FHIR `date` reads `effectiveDateTime`, `effectivePeriod`…) needs every
 * one, and a key the dialect refuses is refused with its reason. The
 * refusal's message names the keys as sent and its `fields` the field each
 * key filters by (`dateOfBirth_gte` → `dateOfBirth`, `_sort=-name` →
 * `name`), never a value.
 *
 * @example
 * checkEntries(policies, plan, [['nhsNumber', ['9990000018']]], DEFAULT_PAGING_KEYS, []); // throws for a receptionist
 * checkEntries(policies, plan, [['birthdate', ['ge1980']]], fhirDialect('Patient'), []);  // FHIR: checks birthDate
 */
export function checkEntries(
  policies: PolicySet,
  plan: Plan,
  keys: QueryEntries,
  dialect: QueryDialect | readonly string[],
  params: readonly RouteParam[],
): { filtered: boolean } {
  const reading = isDialect(dialect) ? dialect : dialect === DEFAULT_PAGING_KEYS ? DEFAULT_DIALECT : jsonDialect(dialect);
  const { pagingKeys } = reading;
  const forbidden: string[] = [];
  const fields: string[] = [];
  const reasons: string[] = [];
  const forbid = (key: string, field: string) => {
    forbidden.push(key);
    if (!fields.includes(field)) fields.push(field);
  };
  // The one rule for every way of choosing rows: only a field the user may read, untransformed, in every row.
  const mayUse = (field: string) => policies.mayFilterBy(plan, field);
  let chooses = false;
  for (const [key, values] of keys) {
    if (pagingKeys.includes(key)) continue;
    for (const use of reading.fieldsOf(key, values)) {
      chooses = true;
      if ('refused' in use) reasons.push(`${JSON.stringify(use.name.slice(0, 80))}: ${use.refused}`);
      // Every field the key reads: a match in any of them picks the row.
      else for (const field of use.fields) if (!mayUse(field)) forbid(use.name, field);
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
  if (forbidden.length === 0 && reasons.length === 0) {
    // The record API pages before fieldmesh drops hidden rows: with a filter or
    // a sort, an empty or short page would show that a hidden row matched.
    const names = keys.map(([k]) => k);
    const filtered = params.length > 0 || chooses;
    // De-identified rows come in the record API's order (often by id): a page's position would name its row.
    if (plan.deidentified && names.some((k) => pagingKeys.includes(k))) {
      refuse(
        `Paging is not available for purpose "${plan.purpose.name}": its rows are de-identified, and a row's position in the record API's order (often by id) would identify it. Ask for the whole list.`,
      );
    }
    // A page is cut before hidden rows are removed: a short or empty page shows where they sit in the record API's
    // order (an empty page at an offset names a hidden record there), and with a filter that they matched.
    if (plan.mayHideRows && names.some((k) => pagingKeys.includes(k))) {
      refuse(
        'Paging is not available here: some rows are hidden from you, and a page cut before they are removed would show where they are, or that they matched. Ask for the whole result.',
      );
    }
    return { filtered };
  }
  const parts: string[] = [];
  if (reasons.length > 0) parts.push(`This query cannot be checked: ${[...new Set(reasons)].slice(0, 10).join('; ')}`);
  if (forbidden.length > 0) {
    const named = [...new Set(forbidden)]
      .slice(0, 10)
      .map((k) => JSON.stringify(k.slice(0, 80)))
      .join(', ');
    parts.push(`You may not filter, sort or look records up by ${named}: only fields you may read in every row can be queried`);
  }
  return refuse(parts.join('. '), fields);
}

const DEFAULT_DIALECT = jsonDialect();

function isDialect(d: QueryDialect | readonly string[]): d is QueryDialect {
  return !Array.isArray(d);
}
