import type { IncomingHttpHeaders } from 'node:http';
import type { AuditEntry } from '../audit/event.js';
import type { AuditStore } from '../audit/types.js';
import type { Decision } from '../engine/decision.js';
import { AccessError, FieldmeshError, NO_SUCH_RECORD } from '../lib/errors.js';
import { disclosureEntry, type Admitted } from '../http/admit.js';
import type { PolicySet } from '../engine/policy-set.js';
import { redactBody } from '../engine/body-shape.js';
import { writeAnswerEntry, writeEntry } from '../http/write-audit.js';
import { answerContentType, upstreamHeaders, writeContentType } from './headers.js';
import type { Route, RouteMethod } from './routes.js';
import type { Upstream, UpstreamAnswer } from './upstream.js';
import { invalid } from './upstream-body.js';
import { recordIdsOf } from '../engine/redact.js';

/**
 * One admitted request on its way to the upstream.
 *
 * @example
 * const call: Call = { policies, upstream, audit, admitted, route, method: 'GET', path: '/patients?gp=B86001', headers: req.headers };
 */
export interface Call {
  policies: PolicySet;
  upstream: Upstream;
  audit: AuditStore;
  admitted: Admitted;
  route: Route;
  method: RouteMethod;
  /** Path and query as checked, forwarded as is. */
  path: string;
  headers: IncomingHttpHeaders;
  /** A write's parsed body. */
  body?: unknown;
}

/**
 * What the caller gets, and the audit entry to make durable before it is
 * sent: a redacted body, no body, or (`error`) a generic error in place of
 * the upstream's own error answer.
 *
 * @example
 * const { status, body, entry } = await readThrough(call);
 */
export interface Outcome {
  status: number;
  body?: unknown;
  contentType: string;
  entry: AuditEntry;
  error?: FieldmeshError;
}

/**
 * A read: forward, then redact the answer with the request's read plan.
 *
 * @example
 * const outcome = await readThrough(call);
 */
export async function readThrough(call: Call): Promise<Outcome> {
  const answer = await call.upstream.send({ method: 'GET', path: call.path, headers: upstreamHeaders(call.headers, call.admitted.requestId) });
  return redactAnswer(call, answer, call.route.list);
}

/**
 * A write: check it with the engine before the upstream sees it (refused →
 * never forwarded), record the permitted write, forward it, and redact the
 * answer as a read of one record, recorded as the write it is. An update
 * (PUT, PATCH) first GETs the record as the upstream holds it now: a
 * missing record, or one the caller may not see, answers alike (404 "No
 * such record") and nothing is forwarded; update grants with a row
 * condition and field restrictions are evaluated on it.
 *
 * @example
 * const outcome = await writeThrough({ ...call, method: 'PATCH', body: { ward: 'Ward 9' } });
 */
export async function writeThrough(call: Call): Promise<Outcome> {
  const { admitted, policies } = call;
  const action = call.method === 'POST' ? 'create' : 'update';
  const existing = action === 'update' ? await fetchExisting(call) : undefined;
  const decision = policies.checkWriteWith(admitted.writePlan!, call.body, { existing, readPlan: admitted.plan, replace: call.method === 'PUT' });
  // No change without a record: the write is in the trail before the upstream can perform it.
  await call.audit.append(writeEntry(decision, admitted));
  const json = Buffer.from(JSON.stringify(call.body), 'utf8');
  const headers = upstreamHeaders(call.headers, admitted.requestId, writeContentType(call.headers) ?? 'application/json');
  const answer = await call.upstream.send({ method: call.method, path: call.path, headers, body: json });
  try {
    const outcome = redactAnswer(call, answer, undefined);
    return { ...outcome, entry: { ...outcome.entry, action } };
  } catch (e) {
    // The write was done and recorded; its result is simply not for this user to see.
    if (!(e instanceof AccessError && e.code === 'record_withheld')) throw e;
    return { status: 204, contentType: answerContentType(answer.headers), entry: writeAnswerEntry(e.decision as Decision, admitted, 204) };
  }
}

/** The record as the upstream holds it now: every update is checked against it. */
async function fetchExisting(call: Call): Promise<unknown> {
  const path = call.path.split('?')[0]!;
  const answer = await call.upstream.send({ method: 'GET', path, headers: upstreamHeaders(call.headers, call.admitted.requestId) });
  if (answer.body === undefined) throw upstreamStatus(answer.status, true);
  const record = answer.body;
  if (record === null || typeof record !== 'object' || Array.isArray(record)) throw invalid('the record to update is not a JSON object');
  // The record read must be the one the write names: one record of the route's resource, with the id the path gives.
  const { resource } = call.admitted.plan;
  const type = (record as Record<string, unknown>)['resourceType'];
  if (type !== undefined && type !== resource.name) throw invalid(`the record to update is not a ${resource.name}`);
  const ids = recordIdsOf(record, resource.def.id);
  // Another record than the path names (`/patients/0004` read as record 4) is, for this write, no such record:
  // answered before visibility is checked, it must look like a missing record whether or not the caller may see it.
  for (const id of call.admitted.targetIds ?? []) if (!ids.includes(id)) throw new AccessError('not_found', NO_SUCH_RECORD.message);
  return record;
}

function redactAnswer(call: Call, answer: UpstreamAnswer, list: string | undefined): Outcome {
  const contentType = answerContentType(answer.headers);
  if (answer.body === undefined) {
    // Nothing to redact: a 204, or an error status whose body was dropped unread.
    const entry = disclosureEntry(emptyRead(call), call.admitted, answer.status);
    if (answer.status === 204) return { status: 204, contentType, entry };
    const error = upstreamStatus(answer.status, list === undefined);
    // A redirect for one record answers as a missing record, recorded with the status the caller gets.
    if (error.code === 'not_found') return { status: 404, contentType, entry: { ...entry, status: 404 }, error };
    // The gateway's own fault (a rejected upstream credential) is a refusal like any other upstream failure.
    if (error.status !== answer.status) throw error;
    return { status: answer.status, contentType, entry, error };
  }
  try {
    const { body, decision } = redactBody(call.policies, call.admitted.plan, answer.body, list, { pagedAllowed: call.admitted.pagedAnswerAllowed });
    return { status: answer.status, body, contentType, entry: disclosureEntry(decision, call.admitted, answer.status) };
  } catch (e) {
    // The route said where the rows are and the upstream answered another shape: its fault, not the caller's.
    if (e instanceof FieldmeshError && e.code === 'unredactable_body') throw invalid(`the body does not have the route's shape (${e.message})`);
    throw e;
  }
}

/** The decision of a read that returned no rows at all. */
function emptyRead(call: Call): Decision {
  return call.policies.redactWith(call.admitted.plan, []).decision;
}

/**
 * An upstream error status, passed on without the upstream's body (which may
 * hold record data or internals). 401 and 407 concern the gateway's own
 * credential, not the caller's token: they become 502. A redirect for one
 * record (`single`) is a missing record: a record API that redirects a lookup
 * only for records it has (by NHS number to the canonical URL, say) would
 * otherwise tell a hidden record from none; for a list it is 502.
 *
 * @example
 * throw upstreamStatus(404); // 404 not_found
 */
export function upstreamStatus(status: number, single = false): FieldmeshError {
  if (status === 404 || (single && status >= 300 && status < 400)) return new AccessError('not_found', NO_SUCH_RECORD.message);
  if (status === 401 || status === 407 || status < 400 || status > 599) return invalid(`the record API answered ${status}`);
  return new FieldmeshError('upstream_error', status, `The record API answered ${status}: nothing was disclosed`);
}
