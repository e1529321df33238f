import { STATUS_CODES } from 'node:http';
import type { Response } from 'express';
import type { AuditEntry } from '../audit/event.js';
import type { AuditStore } from '../audit/types.js';
import type { Decision } from '../engine/decision.js';
import { AccessError, FieldmeshError, NO_SUCH_RECORD } from '../lib/errors.js';
import { disclosureEntry, refusalEntry, type RequestFacts } from '../http/admit.js';
import { securityHeaders, sendError } from '../http/respond.js';
import { isPlainObject } from '../lib/paths.js';
import type { PolicySet } from '../engine/policy-set.js';
import type { Plan } from '../engine/plan.js';
import { redactBody, type ListKey } from '../engine/body-shape.js';
import type { Captured, Release } from './capture.js';
import { answerContentType } from '../gateway/headers.js';
import { writeAnswerEntry } from '../http/write-audit.js';

/**
 * Headers a handler may set on an answer that fieldmesh redacts. Deny by
 * default: headers computed from the unredacted body (length, ETag, digests,
 * X-Total-Count) describe or count what was withheld, and any other header (Content-Disposition with a file name, Location,
 * a pagination Link counting pages, a custom X- header) could carry a record
 * value or count hidden rows, and is removed.
 */
const SAFE_HEADERS = new Set([
  'content-type', 'cache-control', 'vary', 'x-request-id', 'x-powered-by',
  'x-content-type-options', 'strict-transport-security', 'x-frame-options', 'content-security-policy', 'referrer-policy',
]);
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;
const NO_BODY = new Set([204, 205, 304]);

/**
 * Everything the back half of a request needs.
 *
 * @example
 * const out: Outbound = { res, release, policies, plan, facts, audit, list: undefined, write: false };
 */
export interface Outbound {
  res: Response;
  /** Puts the response's own methods back, and with `true` its headers as before the handler (see captureResponse). */
  release: Release;
  policies: PolicySet;
  plan: Plan;
  facts: RequestFacts;
  audit: AuditStore;
  /** Whether a FHIR Bundle the handler paged by itself may be sent (see `pagedAnswerAllowed` in http/guard.ts). */
  pagedAllowed?: boolean | undefined;
  /** `null`: infer (an array is a list, an object one record). */
  list: ListKey | null;
  /** The answer to a write: a record the user may not see is answered 204, since the write itself was done. */
  write: boolean;
}

/**
 * Redact what the handler answered, record the decision, and only then send
 * it. A handler's 4xx/5xx answer becomes a generic JSON error with the same
 * status and a 3xx loses its body (either may carry record data). Anything
 * that cannot be redacted is a 500 with nothing of it sent.
 *
 * @example
 * captureResponse(res, max, (answer) => void sendAnswer(answer, out));
 */
export async function sendAnswer(answer: Captured, out: Outbound): Promise<void> {
  const { res, facts } = out;
  const status = res.statusCode;
  try {
    if (!out.write && status >= 300 && status < 400) {
      // A redirect or a 304 on a read was decided by the handler from a record fieldmesh never saw: its
      // Location or its freshness could name or confirm a hidden record, so it answers as a missing one.
      const withheld = new AccessError('not_found', NO_SUCH_RECORD.message);
      return await refuse(out, withheld, { ...refusalEntry(withheld, facts), code: 'redirect_withheld' });
    }
    // After a write, a redirect's Location could carry what the caller may not see (`/by-nhs/<NHS number>`):
    // the write is done, and answered as done, with nothing to follow.
    if (out.write && status >= 300 && status < 400) return await sendBare(out, 204);
    if (status < 200 || status >= 300 || NO_BODY.has(status)) return await sendBare(out, status);
    const value = bodyValue(answer);
    if (value === undefined) return await sendBare(out, status);
    let redacted: { body: unknown; decision: Decision };
    try {
      redacted = redactBody(out.policies, out.plan, value, out.list === null ? (Array.isArray(value) ? '' : undefined) : out.list, { pagedAllowed: out.pagedAllowed });
    } catch (err) {
      if (!(out.write && err instanceof AccessError && err.code === 'record_withheld')) throw err;
      // The write was done and recorded; its result is simply not for this user to see.
      if (await record(out, writeAnswerEntry(err.decision as Decision, facts, 204))) finishBare(out, 204);
      return;
    }
    if (!(await record(out, answerEntry(out, redacted.decision, status)))) return;
    out.release();
    prepare(res, facts.requestId);
    // The media type only, as the gateway sends it: a parameter (`; patient="…"`) is the handler's free text.
    res.setHeader('Content-Type', answerContentType({ 'content-type': contentTypeOf(res) }));
    res.json(redacted.body);
  } catch (err) {
    await refuse(out, err);
  }
}

/**
 * Answer a refusal: audited first (with the engine's decision when there is
 * one), then sent as JSON through `sendError` in place of anything the
 * handler began (see `sendInstead`). If the refusal cannot be recorded the
 * answer is 503: the trail is down and nothing is disclosed.
 *
 * @example
 * await refuse(out, new AccessError('bad_request', '…'));
 */
export async function refuse(out: Pick<Outbound, 'res' | 'release' | 'facts' | 'audit'>, err: unknown, entry?: AuditEntry): Promise<void> {
  let answer = err;
  try {
    await out.audit.append(entry ?? refusalEntry(err, out.facts));
  } catch (auditErr) {
    answer = trailDown(auditErr);
  }
  sendInstead(out, answer);
}

/**
 * The one way the middleware sends an error in place of the handler's
 * answer (a refusal, a withheld record, an unredactable body, the handler's
 * own 4xx/5xx, a trail that is down): every header the handler set is
 * dropped first. A Location, a cookie, a Link or an X- header computed from
 * a record would otherwise travel on the 404 of a hidden record and not on
 * that of a missing one. What remains is what the response had before the
 * handler ran, then sendError's own headers.
 */
function sendInstead(out: Pick<Outbound, 'res' | 'release' | 'facts'>, err: unknown): void {
  out.release(true);
  sendError(out.res, err, out.facts.requestId);
}

/** The event of an answer: a read's, or (after mesh.write()) the write's, recorded as the write it is. */
function answerEntry(out: Outbound, decision: Decision, status: number): AuditEntry {
  return out.write ? writeAnswerEntry(decision, out.facts, status) : disclosureEntry(decision, out.facts, status);
}

/** Appends and waits until the event is durable. A failure is answered (503) here: false, send nothing more. */
async function record(out: Outbound, entry: AuditEntry): Promise<boolean> {
  try {
    await out.audit.append(entry);
    return true;
  } catch (err) {
    sendInstead(out, trailDown(err));
    return false;
  }
}

/**
 * The error to answer when an append failed: the store's own (`audit_unavailable`, 503),
 * or one made for anything else it threw. Either way nothing is disclosed.
 *
 * @example
 * try { await audit.append(entry) } catch (err) { sendError(res, trailDown(err), requestId) }
 */
export function trailDown(err: unknown): FieldmeshError {
  return err instanceof FieldmeshError ? err : new AccessError('audit_unavailable', 'The audit trail cannot be written');
}

/** A handler answer with no body to redact: a 2xx without one, or a non-2xx whose body is replaced. */
async function sendBare(out: Outbound, status: number): Promise<void> {
  const nothing = out.policies.redactWith(out.plan, []).decision;
  if (await record(out, answerEntry(out, nothing, status))) finishBare(out, status);
}

/**
 * Send a status with no handler body: a 4xx or 5xx as a generic JSON error
 * (through `sendError`, so a 5xx says nothing of its cause), anything else
 * empty (redirects never reach here: see sendAnswer).
 */
function finishBare(out: Outbound, status: number): void {
  const { res } = out;
  if (status >= 400 && status <= 599) {
    sendInstead(out, new FieldmeshError(genericCode(status), status, status === 404 ? NO_SUCH_RECORD.message : STATUS_CODES[status] ?? 'Error'));
    return;
  }
  out.release();
  prepare(res, out.facts.requestId);
  res.removeHeader('content-type');
  res.statusCode = status;
  res.end();
}

function prepare(res: Response, requestId: string): void {
  keepSafeHeaders(res);
  securityHeaders(res);
  res.setHeader('X-Request-Id', requestId);
}

function contentTypeOf(res: Response): string | undefined {
  const value = res.getHeader('content-type');
  return typeof value === 'string' ? value : undefined;
}

function keepSafeHeaders(res: Response): void {
  for (const name of res.getHeaderNames()) if (!SAFE_HEADERS.has(name) && !name.startsWith('access-control-')) res.removeHeader(name);
}

/** The value to redact, `undefined` for an empty body; throws when the body cannot be read as JSON. */
function bodyValue(answer: Captured): unknown {
  if (answer.kind === 'refused') throw unredactable(answer.why);
  if (answer.kind === 'value') return plain(answer.value);
  if (answer.bytes.length === 0) return undefined;
  const type = answer.contentType;
  if (type !== undefined ? !JSON_TYPE.test(type) : !answer.fromSend) throw unredactable('the answer is not declared as JSON');
  if (type !== undefined && /charset=(?!"?utf-8)/i.test(type)) throw unredactable('the answer is not UTF-8');
  try {
    return JSON.parse(answer.bytes.toString('utf8').replace(/^\uFEFF/, ''));
  } catch {
    throw unredactable('the answer is not valid JSON');
  }
}

/**
 * What JSON.stringify would send. Plain data is used as it is; anything with
 * class instances (Dates, ORM documents, toJSON) goes through JSON first, so
 * a Date field is redacted as the string the client would have received
 * rather than dropped.
 */
function plain(value: unknown): unknown {
  if (isJsonData(value)) return value;
  try {
    const text = JSON.stringify(value);
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    throw unredactable('the answer cannot be serialised as JSON');
  }
}

function isJsonData(value: unknown): boolean {
  if (value === null || value === undefined) return true;
  const type = typeof value;
  if (type === 'string' || type === 'number' || type === 'boolean') return true;
  if (Array.isArray(value)) return value.every(isJsonData);
  return isPlainObject(value) && typeof value['toJSON'] !== 'function' && Object.values(value).every(isJsonData);
}

function genericCode(status: number): string {
  const codes: Record<number, string> = { 400: 'bad_request', 401: 'unauthenticated', 403: 'forbidden', 404: 'not_found', 405: 'method_not_allowed', 409: 'conflict', 410: 'gone', 412: 'precondition_failed', 413: 'payload_too_large', 415: 'unsupported_media_type', 422: 'unprocessable', 429: 'too_many_requests' };
  return codes[status] ?? (status >= 500 ? 'handler_error' : 'request_error');
}

function unredactable(why: string): FieldmeshError {
  return new FieldmeshError('unredactable_body', 500, `The handler's answer cannot be redacted: ${why}`);
}
