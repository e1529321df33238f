import type { Response } from 'express';
import type { AuditEntry } from '../audit/event.js';
import { NO_ROUTE_LABEL, type Metrics } from '../http/metrics.js';
import { redactSpan } from '../http/spans.js';
import type { AuditStore } from '../audit/types.js';
import { FieldmeshError } from '../lib/errors.js';
import type { Admitted, RequestFacts } from '../http/admit.js';
import { refusalEntry } from '../http/audit-entry.js';
import { JSON_FAULTS, parseJson } from '../http/json-body.js';
import { answerContentType } from '../http/media-type.js';
import { readOutcome, writeOutcome, type Outcome, type SourceAnswer } from '../http/outcome.js';
import { recordFirst, refuseWithAudit } from '../http/refuse.js';
import type { ErrorFormat } from '../http/error-format.js';
import { securityHeaders, sendError } from '../http/respond.js';
import { isPlainObject } from '../lib/paths.js';
import type { PolicySet } from '../engine/policy-set.js';
import type { ListKey } from '../engine/body-shape.js';
import type { Captured, Release } from './capture.js';
import { markFor } from '../fhir/withheld.js';
import type { MeshRoute } from './route.js';

/**
 * Headers a handler may set on an answer that fieldmesh redacts. Deny by
 * default: headers computed from the unredacted body (length, ETag, digests,
 * X-Total-Count) describe or count what was withheld, and any other header (Content-Disposition with a file name, Location,
 * a pagination Link counting pages, a custom X- header) could carry a record
 * value or count hidden rows, and is removed.
 */
const SAFE_HEADERS = new Set([
  'content-type',
  'cache-control',
  'vary',
  'x-request-id',
  'x-powered-by',
  'x-content-type-options',
  'strict-transport-security',
  'x-frame-options',
  'content-security-policy',
  'referrer-policy',
]);

/**
 * Everything the back half of a request needs.
 */
export interface Outbound extends Refusing {
  facts: Admitted;
  /** `null`: infer (an array is a list, an object one record). */
  list: ListKey | null;
  /** The answer to a write: a record the user may not see is answered 204, since the write itself was done. */
  write: boolean;
  /** The route's FHIR side: whether and how what was withheld is marked (src/fhir/withheld.ts). */
  fhir?: Pick<MeshRoute, 'fhirType' | 'markWithheld'> | undefined;
}

/**
 * Redact what the handler answered, record the decision, and only then send
 * it, as the shared lifecycle decides (`readOutcome`, `writeOutcome`): this
 * shell only turns the captured answer into data and writes the response.
 *
 * @example
 * captureResponse(res, max, (answer) => void sendAnswer(answer, out));
 */
export async function sendAnswer(answer: Captured, out: Outbound): Promise<void> {
  try {
    const mark = markFor(out.fhir?.fhirType, out.fhir?.markWithheld, out.facts.plan.purpose.def.markWithheld);
    const input = { policies: out.policies, admitted: out.facts, answer: sourceAnswer(answer, out.res), list: out.list, mark };
    const facts = { resource: out.facts.resource, purpose: out.facts.purposeLabel, route: routeOf(out.res) };
    const outcome = redactSpan(out.policies, facts, () => (out.write ? writeOutcome(input) : readOutcome(input)));
    if (outcome.kind === 'refusal') return await refuse(out, outcome.error, outcome.entry);
    try {
      // No disclosure without a record: the event is durable before a byte is sent.
      await recordFirst(out.audit, outcome.entry);
    } catch (err) {
      return await refuse(out, err, outcome.entry);
    }
    send(out, outcome);
    ended(out, outcome.error === undefined ? undefined : outcome.error.code, outcome.entry, 'disclosed');
  } catch (err) {
    await refuse(out, err);
  }
}

/**
 * Answer a refusal: audited first (see `refuseWithAudit`), then sent as JSON
 * or a FHIR OperationOutcome through `sendError` in place of anything the handler began (see
 * `sendInstead`). If the refusal cannot be recorded the answer is 503: the
 * trail is down and nothing is disclosed.
 */
export async function refuse(out: Refusing, err: unknown, entry?: AuditEntry): Promise<void> {
  const recorded = entry ?? refusalEntry(err, out.facts);
  const answer = await refuseWithAudit(out.audit, err, recorded);
  sendInstead(out, answer);
  ended(out, answer instanceof FieldmeshError ? answer.code : 'internal', recorded, 'refused');
}

/** What a refusal needs: the response, the request's facts, the trail, and the metrics its end is counted in. */
export interface Refusing {
  res: Response;
  /** Puts the response's own methods back, and with `true` its headers as before the handler (see captureResponse). */
  release: Release;
  facts: RequestFacts;
  audit: AuditStore;
  metrics: Metrics;
  /** The policy set the mesh decides with: only the purposes and resources it declares become labels. */
  policies: PolicySet;
  /** JSON or a FHIR OperationOutcome (`fhirAnswer`, decided from the request as it arrived). */
  errors: ErrorFormat;
}

/** Count the end of a request (src/http/metrics.ts): labels from the route pattern, declared names and the code answered. */
function ended(out: Refusing, code: string | undefined, entry: AuditEntry, outcome: 'disclosed' | 'refused'): void {
  const { facts } = out;
  out.metrics.requestEnded(out.policies, {
    route: routeOf(out.res),
    method: out.res.req.method,
    resource: facts.resource,
    purpose: facts.purposeLabel,
    outcome,
    code,
    entry,
  });
}

/**
 * The pattern of the route the request matched (`/patients/:id`), never the
 * path requested: a label from the app's own route table. Mounted with
 * `app.use()` the middleware runs before any route matched: `(no route)`.
 */
function routeOf(res: Response): string {
  const path: unknown = (res.req.route as { path?: unknown } | undefined)?.path;
  if (typeof path === 'string') return path;
  if (Array.isArray(path)) return path.map(String).join(',');
  return path === undefined ? NO_ROUTE_LABEL : String(path);
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
function sendInstead(out: Pick<Outbound, 'res' | 'release' | 'errors'> & { facts: RequestFacts }, err: unknown): void {
  out.release(true);
  sendError(out.res, err, out.facts.requestId, out.errors);
}

/** Write the outcome: a generic error, the redacted body, or no body at all. */
function send(out: Outbound, outcome: Outcome): void {
  const { res } = out;
  if (outcome.error !== undefined) return sendInstead(out, outcome.error);
  out.release();
  prepare(res, out.facts.requestId);
  res.statusCode = outcome.status;
  if (outcome.body === undefined) {
    res.removeHeader('content-type');
    res.end();
    return;
  }
  // The media type only, as the gateway sends it: a parameter (`; patient="…"`) is the handler's free text.
  res.setHeader('Content-Type', outcome.contentType);
  res.json(outcome.body);
}

/** The handler's answer as the lifecycle reads it: a body that cannot be read is data too. */
function sourceAnswer(answer: Captured, res: Response): SourceAnswer {
  const base: SourceAnswer = {
    origin: 'handler',
    status: res.statusCode,
    contentType: answerContentType({ 'content-type': contentTypeOf(res) }),
  };
  try {
    return { ...base, body: bodyValue(answer) };
  } catch (err) {
    if (!(err instanceof FieldmeshError)) throw err;
    return { ...base, unreadable: err };
  }
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
  // res.send(text) with no type set meant JSON; bytes written any other way must say they are JSON.
  const parsed = parseJson(answer.bytes, answer.contentType ?? (answer.fromSend ? 'application/json' : undefined));
  if (!parsed.ok) throw unredactable(`the answer is ${JSON_FAULTS[parsed.fault]}`);
  return parsed.value;
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

function unredactable(why: string): FieldmeshError {
  return new FieldmeshError('unredactable_body', `The handler's answer cannot be redacted: ${why}`);
}
