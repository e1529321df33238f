import type { AuditEntry } from '../audit/event.js';
import { entryFromDecision } from '../audit/event.js';
import { emptyDecision, type Decision } from '../decision.js';
import { AccessError, FieldmeshError } from '../errors.js';
import type { PolicySet } from '../policy-set.js';
import { BREAK_GLASS_MAX_REASON, refusedDecision, rolesOf, type Action, type Plan, type RequestContext } from '../request.js';
import { readRequestContext, requestIdFrom, type RequestHeaders } from './context.js';
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
}

/**
 * A request as both shells see it: headers, and the query as parsed (express) or raw (a gateway).
 *
 * @example
 * const req: GuardRequest = { headers: req.headers, query: new URL(req.url!, 'http://x').searchParams };
 */
export interface GuardRequest {
  headers: RequestHeaders;
  query?: URLSearchParams | Record<string, unknown> | string | undefined;
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
  /** The declared break-glass reason, kept even when the declaration was refused. */
  breakGlass?: string | undefined;
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
 * that filters or sorts by a field the user may not read (a filter on a
 * hidden field would reveal it through which rows come back). Never throws.
 *
 * @example
 * const a = await admit({ headers: req.headers, query: req.query }, 'Patient', 'read', deps);
 * if (!a.ok) { await audit.append(refusalEntry(a.error, a)); return sendError(res, a.error, a.requestId); }
 */
export async function admit(req: GuardRequest, resource: string, action: Action, deps: GuardDeps): Promise<Admitted | Refused> {
  const { policies } = deps;
  const facts: RequestFacts = { requestId: requestIdFrom(req.headers), resource, action, policyVersion: policies.version };
  const declared = header(req.headers, 'x-break-glass')?.trim();
  if (declared !== undefined && declared !== '') facts.breakGlass = declared.slice(0, BREAK_GLASS_MAX_REASON);
  try {
    facts.verified = await deps.verifier.verify(header(req.headers, 'authorization'));
    const now = deps.now?.();
    const declaredCtx = readRequestContext(req.headers, facts.verified.user, {
      ...(deps.trainingMaxAgeDays === undefined ? {} : { trainingMaxAgeDays: deps.trainingMaxAgeDays }),
      ...(now === undefined ? {} : { now: () => now }),
    });
    const ctx: RequestContext = { resource, purpose: declaredCtx.purpose, user: declaredCtx.user, breakGlass: declaredCtx.breakGlass, now };
    facts.ctx = ctx;
    const writePlan = action === 'read' ? undefined : policies.plan(ctx, action);
    const plan = policies.plan(ctx, 'read');
    checkQuery(policies, plan, req.query, deps.pagingKeys ?? DEFAULT_PAGING_KEYS);
    return { ...facts, ok: true, verified: facts.verified, ctx, plan, writePlan };
  } catch (error) {
    return { ...facts, ok: false, error };
  }
}

/**
 * Refuse (403 `filter_forbidden`) every query key that is neither a paging
 * key nor a field the user may filter by, and every sort naming such a field.
 * Keys outside the policy (`q`, `_embed`) are refused too: deny by default.
 * The message names keys, never their values.
 *
 * @example
 * checkQuery(policies, plan, { nhsNumber: '9990000018' }, DEFAULT_PAGING_KEYS); // throws for a receptionist
 */
export function checkQuery(policies: PolicySet, plan: Plan, query: GuardRequest['query'], pagingKeys: readonly string[]): void {
  const forbidden: string[] = [];
  const mayUse = (field: string) => policies.mayFilterBy(plan, field);
  for (const [key, values] of entries(query)) {
    if (pagingKeys.includes(key)) continue;
    if (SORT_KEYS.has(key)) {
      for (const field of sortFields(key, values)) if (!mayUse(field)) forbidden.push(`${key}=${field}`);
    } else if (!mayUse(key.replace(OPERATOR, ''))) {
      forbidden.push(key);
    }
  }
  const code = 'filter_forbidden';
  const refuse = (message: string): never => {
    throw new AccessError(code, message, refusedDecision(policies.compiled, plan.ctx, plan.action, plan.roles, code));
  };
  if (forbidden.length === 0) {
    // The record API pages before fieldmesh drops hidden rows: with a filter or
    // a sort, an empty or short page would show that a hidden row matched.
    const keys = entries(query).map(([k]) => k);
    if (mayHideRows(plan) && keys.some((k) => pagingKeys.includes(k)) && keys.some((k) => !pagingKeys.includes(k))) {
      refuse('Paging cannot be combined with filters or sorting here: some rows are hidden from you, and a page cut before they are removed would show that they matched. Filter without paging, or page without filters.');
    }
    return;
  }
  const named = [...new Set(forbidden)].slice(0, 10).map((k) => JSON.stringify(k.slice(0, 80))).join(', ');
  refuse(`You may not filter or sort by ${named}: only fields you may read in every row can be queried`);
}

/** Whether some rows of this request may be withheld whole: conditional grants only, whole-record restrictions, consent or opt-out. */
function mayHideRows(plan: Plan): boolean {
  const { consent, optOut } = plan.purpose.def;
  if (consent === 'required' || optOut === 'respect') return true;
  if (plan.restrictions.some((r) => r.restriction.record)) return true;
  return !plan.grants.some((g) => g.grant.where === undefined);
}

/** Field names in sort values: `a,-b`, `+c`, `d:desc`. `_order` also takes the directions asc and desc. */
function sortFields(key: string, values: string[]): string[] {
  const fields = values.flatMap((v) => v.split(',')).map((f) => f.trim().replace(/^[+-]/, '').replace(/[: ](asc|desc)$/i, ''));
  return fields.filter((f) => f !== '' && !(key === '_order' && /^(asc|desc)$/i.test(f)));
}

function entries(query: GuardRequest['query']): [string, string[]][] {
  if (query === undefined || query === '') return [];
  const params = typeof query === 'string' ? new URLSearchParams(query) : query;
  if (params instanceof URLSearchParams) {
    const out = new Map<string, string[]>();
    for (const [k, v] of params) out.set(k, [...(out.get(k) ?? []), v]);
    return [...out];
  }
  // A nested value (`a[b]=1` with an extended parser) has no field name to check: its key is checked whole.
  return Object.entries(params).map(([k, v]) => [k, (Array.isArray(v) ? v : [v]).map((x) => (typeof x === 'string' ? x : ''))]);
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
 * is `anonymous`). Field names only, never values.
 *
 * @example
 * await audit.append(refusalEntry(err, facts));
 */
export function refusalEntry(error: unknown, facts: RequestFacts): AuditEntry {
  const known = error instanceof FieldmeshError && error.status >= 400 && error.status <= 599;
  const status = known ? error.status : 500;
  const code = known ? error.code : 'internal';
  const carried = error instanceof AccessError && isDecision(error.decision) ? error.decision : undefined;
  const decision: Decision = carried
    ? { ...carried, outcome: 'refused', code: carried.code ?? code }
    : emptyDecision({
        outcome: 'refused', code, action: facts.action, resource: facts.resource, purpose: facts.ctx?.purpose ?? '',
        roles: facts.ctx ? rolesOf(facts.ctx.user) : [...(facts.verified?.roles ?? [])], policyVersion: facts.policyVersion,
      });
  return entryFromDecision(decision, { requestId: facts.requestId, user: facts.verified?.sub ?? 'anonymous', status, breakGlass: facts.breakGlass });
}

function isDecision(value: unknown): value is Decision {
  return typeof value === 'object' && value !== null && 'outcome' in value && 'policyVersion' in value && Array.isArray((value as Decision).disclosed);
}
