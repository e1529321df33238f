import type { AuditEntry } from '../audit/event.js';
import { entryFromDecision } from '../audit/event.js';
import { asRefusal, type Decision } from '../engine/decision.js';
import { AccessError, FieldmeshError } from '../lib/errors.js';
import { statusOf } from '../lib/error-codes.js';
import { longestPrefix } from '../lib/paths.js';
import type { PolicySet } from '../engine/policy-set.js';
import { BREAK_GLASS_MAX_REASON, refusedDecision, rolesOf, type Action, type Plan, type RequestContext } from '../engine/plan.js';
import { withoutControls } from '../lib/text.js';
import { isPurposeName, readRequestContext, requestIdFrom, type RequestHeaders } from './context.js';
import type { VerifiedUser, Verifier } from './identity.js';

/**
 * Query keys that page through rows without looking at any field, allowed
 * for everyone (json-server, FHIR and common REST spellings).
 *
 * @example
 * admit(req, 'Patient', 'read', { policies, verifier, pagingKeys: [...DEFAULT_PAGING_KEYS, 'pageToken'] });
 */
export const DEFAULT_PAGING_KEYS: readonly string[] = ['_page', '_limit', '_count', '_offset', '_start', '_end', 'page', 'limit', 'offset', 'cursor'];
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
 * What the guard needs: the engine, a verifier and the request-context settings.
 *
 * @example
 * const deps: GuardDeps = { policies, verifier: createVerifier({ secret }), trainingMaxAgeDays: 365 };
 */
export interface GuardDeps {
  policies: PolicySet;
  verifier: Verifier;
  trainingMaxAgeDays?: number | undefined;
  /** Query keys allowed without a field check (default DEFAULT_PAGING_KEYS). */
  pagingKeys?: readonly string[] | undefined;
  /** The clock (tests inject one). */
  now?: (() => Date) | undefined;
  /** Counts what the guard refuses to record as such (see GuardCounters). */
  counters?: GuardCounters | undefined;
}

/**
 * What the guard counts instead of recording: a break-glass declaration
 * from a caller whose token did not verify is not a break-glass event (it
 * would fill the guardian's review queue and fire alerts with any text), so
 * only its number is kept, never its text.
 *
 * @example
 * const counters: GuardCounters = { unverifiedBreakGlass: 0 };
 */
export interface GuardCounters {
  unverifiedBreakGlass: number;
}

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
 * A request as both shells see it: headers, the query as parsed (express) or
 * raw (both shells pass the raw string), and the route parameters that
 * select records.
 *
 * @example
 * const req: GuardRequest = { headers: req.headers, query: 'gp=B86001', params: [{ name: 'id' }] };
 */
export interface GuardRequest {
  headers: RequestHeaders;
  query?: URLSearchParams | Record<string, unknown> | string | undefined;
  params?: readonly RouteParam[] | undefined;
}

/**
 * What is known about a request so far: enough to audit it whatever happens next.
 *
 * @example
 * const entry = refusalEntry(err, facts);
 */
export interface RequestFacts {
  requestId: string;
  resource: string;
  action: Action;
  policyVersion: string;
  verified?: VerifiedUser | undefined;
  ctx?: RequestContext | undefined;
  /** The X-Purpose a verified caller declared, when it is a purpose name: recorded even when the request context is refused. */
  purpose?: string | undefined;
  /** The declared break-glass reason of a verified caller, kept even when the declaration was refused (control characters removed). */
  breakGlass?: string | undefined;
  /** A break-glass header came with a token that did not verify: counted, never recorded as break-glass. */
  unverifiedBreakGlass?: true | undefined;
  /** Ids the route parameters select by the resource's id path: a refusal names them, read or not, so a subject access report lists the attempt. */
  targetIds?: string[] | undefined;
}

/**
 * An admitted request: who, why, and the plans that will redact its rows.
 *
 * @example
 * const { body, decision } = redactBody(policies, admitted.plan, upstreamBody, route.list);
 */
export interface Admitted extends RequestFacts {
  ok: true;
  verified: VerifiedUser;
  ctx: RequestContext;
  /** The read plan: query filters are checked against it and answers redacted with it. */
  plan: Plan;
  /** For a write, the plan its body is checked against. */
  writePlan?: Plan | undefined;
  /**
   * Whether an answer the record API paged by itself (a FHIR Bundle with a
   * `next` link) may be passed on: not when rows may be hidden and the
   * request filters, sorts or looks up, nor for a de-identified purpose (see `pagedAnswerAllowed`).
   */
  pagedAnswerAllowed: boolean;
}
/**
 * A refused request: the error to answer with and what is known for its audit event.
 *
 * @example
 * if (!a.ok) sendError(res, a.error, a.requestId);
 */
export interface Refused extends RequestFacts {
  ok: false;
  error: unknown;
}

/**
 * The front half of every request, in one place for the middleware and the
 * gateway: verify the token, read the declared purpose, break-glass reason,
 * acting role and training, plan with the engine, and refuse any query key
 * or route parameter that filters, sorts or looks up by a field the user may
 * not read (a filter on a hidden field would reveal it through which rows
 * come back). A break-glass reason is kept for the audit trail only once the
 * token has verified: a stranger's text never reaches the guardian's review
 * queue or the alerts. Never throws.
 *
 * @example
 * const a = await admit({ headers: req.headers, query: req.query }, 'Patient', 'read', deps);
 * if (!a.ok) { await audit.append(refusalEntry(a.error, a)); return sendError(res, a.error, a.requestId); }
 */
export async function admit(req: GuardRequest, resource: string, action: Action, deps: GuardDeps): Promise<Admitted | Refused> {
  const { policies } = deps;
  const facts: RequestFacts = { requestId: requestIdFrom(req.headers), resource, action, policyVersion: policies.version };
  // The query is read once: its keys are checked, and a lookup by id in it names its record.
  let query: QueryEntries | FieldmeshError;
  try {
    query = entries(req.query);
  } catch (e) {
    query = e as FieldmeshError; // too long to read: refused below, once the caller is known
  }
  const idPath = policies.compiled.resources.get(resource)?.def.id;
  const targetIds = (req.params ?? []).filter((p) => idPath !== undefined && (p.field ?? (p.name === 'id' ? idPath : undefined)) === idPath)
    .flatMap((p) => (p.value === undefined ? [] : [p.value]));
  // A lookup by id in the query (`?id=pat-001`) names its record as surely as the path does:
  // a refusal is listed in that record's subject access report too (bounded: the caller chose them).
  if (Array.isArray(query)) targetIds.push(...queryIds(query, idPath));
  if (targetIds.length > 0) facts.targetIds = [...new Set(targetIds)];
  const declared = header(req.headers, 'x-break-glass')?.trim();
  try {
    try {
      facts.verified = await deps.verifier.verify(header(req.headers, 'authorization'));
    } catch (error) {
      if (declared !== undefined && declared !== '') {
        facts.unverifiedBreakGlass = true;
        if (deps.counters !== undefined) deps.counters.unverifiedBreakGlass += 1;
      }
      throw error;
    }
    // Control characters could rewrite a terminal or a log line when the reason is shown: never kept.
    if (declared !== undefined && declared !== '') facts.breakGlass = withoutControls(declared).slice(0, BREAK_GLASS_MAX_REASON);
    // Why the data was wanted belongs in the trail even when the request is refused (a malformed break-glass reason).
    const purpose = header(req.headers, 'x-purpose')?.trim();
    if (purpose !== undefined && isPurposeName(purpose)) facts.purpose = purpose;
    const now = deps.now?.();
    const declaredCtx = readRequestContext(req.headers, facts.verified.user, {
      ...(deps.trainingMaxAgeDays === undefined ? {} : { trainingMaxAgeDays: deps.trainingMaxAgeDays }),
      ...(now === undefined ? {} : { now: () => now }),
    });
    const ctx: RequestContext = { resource, purpose: declaredCtx.purpose, user: declaredCtx.user, breakGlass: declaredCtx.breakGlass, now };
    facts.ctx = ctx;
    const writePlan = action === 'read' ? undefined : policies.plan(ctx, action);
    const plan = policies.plan(ctx, 'read');
    if (!Array.isArray(query)) throw query;
    // A write names its record in the path; a query could make the record API pick others (a conditional update).
    if (action !== 'read' && query.length > 0) {
      throw new AccessError('bad_request', 'A write takes no query string: name the record in the path (a query could let the record API choose which records to change)', refusedDecision(policies.compiled, ctx, action, plan.roles, 'bad_request'));
    }
    const { filtered } = checkEntries(policies, plan, query, deps.pagingKeys ?? DEFAULT_PAGING_KEYS, req.params ?? []);
    return { ...facts, ok: true, verified: facts.verified, ctx, plan, writePlan, pagedAnswerAllowed: pagedAnswerAllowed(plan, filtered) };
  } catch (error) {
    return { ...facts, ok: false, error };
  }
}

/**
 * Refuse (403 `filter_forbidden`) every query key that is neither a paging
 * key nor a field the user may filter by, every sort naming such a field,
 * and every route parameter that looks records up by such a field (SPEC: a
 * path parameter that selects records is a filter). Keys outside the policy
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
export function checkQuery(policies: PolicySet, plan: Plan, query: GuardRequest['query'], pagingKeys: readonly string[], params: readonly RouteParam[] = []): { filtered: boolean } {
  return checkEntries(policies, plan, entries(query), pagingKeys, params);
}

/** A query read into keys and their values (see `entries`). */
type QueryEntries = [string, string[]][];

function checkEntries(policies: PolicySet, plan: Plan, keys: QueryEntries, pagingKeys: readonly string[], params: readonly RouteParam[]): { filtered: boolean } {
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
    if (field === undefined || !mayUse(field)) forbidden.push(`:${param.name}${field === undefined || field === param.name ? '' : ` (${field})`}`);
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
    if (plan.purpose.def.identifiable === false && names.some((k) => pagingKeys.includes(k))) {
      refuse(`Paging is not available for purpose "${plan.purpose.name}": its rows are de-identified, and a row's position in the record API's order (often by id) would identify it. Ask for the whole list.`);
    }
    if (plan.mayHideRows && names.some((k) => pagingKeys.includes(k)) && filtered) {
      refuse('Paging cannot be combined with filters or sorting here: some rows are hidden from you, and a page cut before they are removed would show that they matched. Filter without paging, or page without filters.');
    }
    return { filtered };
  }
  const named = [...new Set(forbidden)].slice(0, 10).map((k) => JSON.stringify(k.slice(0, 80))).join(', ');
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
  return plan.purpose.def.identifiable !== false && !(filtered && plan.mayHideRows);
}

/** Field names in sort values: `a,-b`, `+c`, `d:desc`. `_order` also takes the directions asc and desc. */
function sortFields(key: string, values: string[]): string[] {
  const fields = values.flatMap((v) => v.split(',')).map((f) => f.trim().replace(/^[+-]/, '').replace(/[: ](asc|desc)$/i, ''));
  return fields.filter((f) => f !== '' && !(key === '_order' && /^(asc|desc)$/i.test(f)));
}

function queryIds(query: QueryEntries, idPath: string | undefined): string[] {
  if (idPath === undefined) return [];
  return query.filter(([key]) => key === idPath).flatMap(([, values]) => values).filter((v) => v !== '').slice(0, 10).map((v) => v.slice(0, 200));
}

function entries(query: GuardRequest['query']): QueryEntries {
  if (query === undefined || query === '') return [];
  const params = typeof query === 'string' ? rawParams(query) : query;
  if (params instanceof URLSearchParams) {
    if (typeof query !== 'string' && params.size > MAX_QUERY_PARAMETERS) throw tooLong();
    const out = new Map<string, string[]>();
    for (const [k, v] of params) out.set(k, [...(out.get(k) ?? []), v]);
    return [...out];
  }
  // A nested value (`a[b]=1` with an extended parser) has no field name to check: its key is checked whole.
  const out = Object.entries(params).map(([k, v]): [string, string[]] => [k, (Array.isArray(v) ? v : [v]).map((x) => (typeof x === 'string' ? x : ''))]);
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
  return new FieldmeshError('query_too_long', `The query has more than ${MAX_QUERY_PARAMETERS} parameters: the record API would read only part of what fieldmesh checked`);
}

function header(headers: RequestHeaders, name: string): string | undefined {
  let value = headers[name];
  // node and express give lower-case names; only a hand-built object needs the search (without a copy per miss).
  if (value === undefined) {
    for (const key of Object.keys(headers)) {
      if (key.toLowerCase() === name) {
        value = headers[key];
        break;
      }
    }
  }
  return typeof value === 'string' ? value : undefined;
}

/**
 * The audit entry of a decision that disclosed (or wrote) something.
 *
 * @example
 * await audit.append(disclosureEntry(decision, admitted, 200));
 */
export function disclosureEntry(decision: Decision, facts: RequestFacts, status: number): AuditEntry {
  return entryFromDecision(decision, { requestId: facts.requestId, user: facts.verified?.sub ?? 'anonymous', status });
}

/**
 * The audit entry of any failure: the engine's refused decision when the
 * error carries one, otherwise what the facts say (an unauthenticated caller
 * is `anonymous`). The record a route parameter selects by id is named
 * among the withheld ids even when the refusal came before it was read.
 * Field names only, never values.
 *
 * @example
 * await audit.append(refusalEntry(err, facts));
 */
export function refusalEntry(error: unknown, facts: RequestFacts): AuditEntry {
  const known = error instanceof FieldmeshError && error.status >= 400 && error.status <= 599;
  const status = known ? error.status : statusOf('internal');
  const code = known ? error.code : 'internal';
  const carried = error instanceof AccessError ? error.decision : undefined;
  const decision: Decision = asRefusal(carried ?? {
    action: facts.action, resource: facts.resource, purpose: facts.ctx?.purpose ?? facts.purpose ?? '',
    roles: facts.ctx ? rolesOf(facts.ctx.user) : [...(facts.verified?.roles ?? [])], policyVersion: facts.policyVersion,
  }, carried?.code ?? code);
  const entry = entryFromDecision(decision, { requestId: facts.requestId, user: facts.verified?.sub ?? 'anonymous', status, breakGlass: facts.breakGlass });
  for (const id of facts.targetIds ?? []) if (!entry.recordIds.includes(id) && !entry.withheldRecordIds.includes(id)) entry.withheldRecordIds.push(id);
  return entry;
}
