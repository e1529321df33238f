import { FieldmeshError } from '../lib/errors.js';
import { AccessError } from '../engine/access-error.js';
import type { PolicySet } from '../engine/policy-set.js';
import { BREAK_GLASS_MAX_REASON, refusedDecision, type Action, type Plan, type RequestContext } from '../engine/plan.js';
import { withoutControls } from '../lib/text.js';
import { isPurposeName, readDeclaredContext, requestIdFrom, type RequestHeaders } from './context.js';
import type { VerifiedUser, Verifier } from './identity.js';
import { declared as declaredLabel } from './labels.js';
import { purposeFromToken, tokenPurposeRefusal } from './purpose-of-use.js';
import { inSpan, spanAttributes } from './spans.js';
import {
  checkEntries,
  DEFAULT_PAGING_KEYS,
  pagedAnswerAllowed,
  queryIds,
  readQuery,
  type QueryEntries,
  type QueryInput,
  type RouteParam,
} from './query.js';
import type { QueryDialect } from '../engine/query-dialect.js';

/**
 * What admission needs: the engine, a verifier and the request-context settings.
 */
export interface AdmissionDeps {
  policies: PolicySet;
  verifier: Verifier;
  trainingMaxAgeDays?: number | undefined;
  /** Query keys allowed without a field check (default DEFAULT_PAGING_KEYS). */
  pagingKeys?: readonly string[] | undefined;
  /** The clock (tests inject one). */
  now?: (() => Date) | undefined;
  /** Counts what admission refuses to record as such (see AdmissionCounters). */
  counters?: AdmissionCounters | undefined;
  /** The token claim carrying HL7 PurposeOfUse (src/http/purpose-of-use.ts); unset: X-Purpose alone says the purpose. */
  purposeClaim?: string | undefined;
}

/**
 * What admission counts instead of recording: a break-glass declaration
 * from a caller whose token did not verify is not a break-glass event (it
 * would fill the guardian's review queue and fire alerts with any text), so
 * only its number is kept, never its text.
 */
export interface AdmissionCounters {
  unverifiedBreakGlass: number;
}

/**
 * A request as both shells see it: headers, the query as parsed (express) or
 * raw (both shells pass the raw string), and the route parameters that
 * select records.
 */
export interface AdmissionRequest {
  headers: RequestHeaders;
  query?: QueryInput;
  params?: readonly RouteParam[] | undefined;
  /** The id the shell already read with `requestIdFrom`: one request is never given two (and two UUIDs are not made). */
  requestId?: string | undefined;
  /** How the route's record API reads its query (a FHIR route's search parameters, src/fhir/search.ts); default json-server's, with `pagingKeys`. */
  dialect?: QueryDialect | undefined;
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
  /**
   * The purpose as logs, metrics and spans show it (`declared`, src/http/labels.ts):
   * the X-Purpose named when the policy set declares it, else `(unknown)`;
   * the token's purpose once its purpose of use selected one. Read before the
   * token is verified and kept whatever is refused later: a declared name is
   * the policy's text, not the caller's.
   */
  purposeLabel: string;
  /**
   * The X-Purpose a verified caller declared, when it is a purpose name, or
   * the purpose the token's purpose of use selected (then also when the
   * header names another: a conflict records the token's): recorded even
   * when the request context is refused.
   */
  purpose?: string | undefined;
  /** The purpose came from the token's purpose-of-use claim (docs/fhir.md, "Purpose of use from the token"). */
  purposeFromToken?: true | undefined;
  /** The declared break-glass reason of a verified caller, kept even when the declaration was refused (control characters removed). */
  breakGlass?: string | undefined;
  /** A break-glass header came with a token that did not verify: counted, never recorded as break-glass. */
  unverifiedBreakGlass?: true | undefined;
  /** Ids the route parameters select by the resource's id path: a refusal names them, read or not, so a subject access report lists the attempt. */
  targetIds?: string[] | undefined;
  /** The same ids, when the resource's subject path is its id path (a Patient): the person a refusal is about. */
  targetSubjectIds?: string[] | undefined;
  /** A route parameter selects the records (by id or another field): the answer is a lookup, and a lookup's empty answer must look like a miss. */
  selectsByPath?: true | undefined;
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
   * `next` link) may be passed on: not when rows may be hidden, filtered or
   * not, nor for a de-identified purpose (see `pagedAnswerAllowed`).
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
export function admit(req: AdmissionRequest, resource: string, action: Action, deps: AdmissionDeps): Promise<Admitted | Refused> {
  // Traced as `fieldmesh.plan` (a no-op unless the application registered an OpenTelemetry SDK).
  return inSpan('fieldmesh.plan', spanAttributes(deps.policies, { resource }), async (span) => {
    const a = await admitting(req, resource, action, deps);
    if (span.isRecording()) {
      const code = a.ok ? undefined : a.error instanceof FieldmeshError ? a.error.code : 'internal';
      span.setAttributes(spanAttributes(deps.policies, { purpose: a.purposeLabel, outcome: a.ok ? 'admitted' : 'refused', code }));
    }
    return a;
  });
}

async function admitting(req: AdmissionRequest, resource: string, action: Action, deps: AdmissionDeps): Promise<Admitted | Refused> {
  const { policies } = deps;
  const facts: RequestFacts = {
    requestId: req.requestId ?? requestIdFrom(req.headers),
    resource,
    action,
    policyVersion: policies.version,
    purposeLabel: declaredLabel(header(req.headers, 'x-purpose')?.trim(), policies.compiled.purposes),
  };
  // The query is read once: its keys are checked, and a lookup by id in it names its record.
  let query: QueryEntries | FieldmeshError;
  try {
    query = readQuery(req.query);
  } catch (e) {
    query = e as FieldmeshError; // too long to read: refused below, once the caller is known
  }
  const def = policies.compiled.resources.get(resource)?.def;
  const idPath = def?.id;
  const targetIds: string[] = [];
  for (const p of req.params ?? []) {
    if (idPath !== undefined && (p.field ?? (p.name === 'id' ? idPath : undefined)) === idPath && p.value !== undefined)
      targetIds.push(p.value);
  }
  // A lookup by id in the query (`?id=pat-001`) names its record as surely as the path does:
  // a refusal is listed in that record's subject access report too (bounded: the caller chose them).
  if (Array.isArray(query)) targetIds.push(...queryIds(query, req.dialect?.idKey ?? idPath));
  if (targetIds.length > 0) facts.targetIds = [...new Set(targetIds)];
  // Only where that is certain: a record selected by its id is about the person only when the id names the person.
  if (facts.targetIds !== undefined && def?.subject !== undefined && def.subject === idPath) facts.targetSubjectIds = facts.targetIds;
  if ((req.params ?? []).some((p) => p.value !== undefined)) facts.selectsByPath = true;
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
    // The token's purpose of use, when configured and carried, selects the purpose (one rule: purposeFromToken).
    const fromToken =
      deps.purposeClaim === undefined
        ? undefined
        : purposeFromToken(facts.verified.claims, { claim: deps.purposeClaim, compiled: policies.compiled });
    if (fromToken !== undefined) {
      // Recorded before anything can refuse it: the token is the verified statement of why, the header only the
      // caller's text, so a conflict's trail, log line and metric name the token's purpose.
      // A declared purpose's name is the policy's text: safe for the trail, logs, metrics and spans.
      facts.purpose = fromToken.purpose;
      facts.purposeLabel = fromToken.purpose;
      facts.purposeFromToken = true;
      const refusal = tokenPurposeRefusal(fromToken, policies.compiled, purpose);
      if (refusal !== undefined) throw refusal;
    }
    const now = deps.now?.();
    const declaredCtx = readDeclaredContext(req.headers, facts.verified.user, {
      ...(deps.trainingMaxAgeDays === undefined ? {} : { trainingMaxAgeDays: deps.trainingMaxAgeDays }),
      ...(now === undefined ? {} : { now: () => now }),
      ...(fromToken === undefined ? {} : { purpose: fromToken.purpose }),
    });
    const ctx: RequestContext = { resource, purpose: declaredCtx.purpose, user: declaredCtx.user, breakGlass: declaredCtx.breakGlass, now };
    facts.ctx = ctx;
    const writePlan = action === 'read' ? undefined : policies.plan(ctx, action);
    const plan = policies.plan(ctx, 'read');
    if (!Array.isArray(query)) throw query;
    // A write names its record in the path; a query could make the record API pick others (a conditional update).
    if (action !== 'read' && query.length > 0) {
      throw new AccessError(
        'bad_request',
        'A write takes no query string: name the record in the path (a query could let the record API choose which records to change)',
        refusedDecision(policies.compiled, ctx, action, plan.roles, 'bad_request'),
      );
    }
    checkEntries(policies, plan, query, req.dialect ?? deps.pagingKeys ?? DEFAULT_PAGING_KEYS, req.params ?? []);
    const paged = pagedAnswerAllowed(plan);
    // The facts become the answer in place: copying them with a spread measured as the costliest step of admission.
    return Object.assign(facts, { ok: true as const, verified: facts.verified, ctx, plan, writePlan, pagedAnswerAllowed: paged });
  } catch (error) {
    return Object.assign(facts, { ok: false as const, error });
  }
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
