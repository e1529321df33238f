import type { AuditEntry } from '../audit/event.js';
import type { Decision } from '../engine/decision.js';
import { redactBody, type ListKey, type RowMark } from '../engine/body-shape.js';
import type { PolicySet } from '../engine/policy-set.js';
import { FieldmeshError, NO_SUCH_RECORD } from '../lib/errors.js';
import { AccessError, isWithheld } from '../engine/access-error.js';
import type { Admitted } from './admit.js';
import { handlerStatus, upstreamInvalid, upstreamStatus } from './answer-status.js';
import { disclosureEntry, refusalEntry, writeAnswerEntry } from './audit-entry.js';

/**
 * What a record source answered, as data. The gateway's source is its
 * upstream, the middleware's the route's handler: their error statuses mean
 * different things (an upstream's 401 is about the gateway's own credential).
 */
export interface SourceAnswer {
  origin: 'upstream' | 'handler';
  status: number;
  /** The body's JSON value; `undefined` when there was none. */
  body?: unknown;
  /** Why the body could not be read as JSON: refused if the body would be redacted and sent. */
  unreadable?: FieldmeshError | undefined;
  /** The Content-Type of a redacted answer (see `answerContentType`). */
  contentType: string;
}

/**
 * Everything the back half of a request decides from.
 */
export interface OutcomeInput {
  policies: PolicySet;
  admitted: Admitted;
  answer: SourceAnswer;
  /** Where the rows are (see `ListKey`); `undefined`: one record; `null`: an array is a list, anything else one record. */
  list: ListKey | null | undefined;
  /** What marks each redacted row (see `RedactBodyOptions.mark`): a FHIR route's withheld markers. */
  mark?: RowMark | undefined;
}

/**
 * What the caller gets, and the audit entry to make durable before it is
 * sent: a redacted body, no body, or (`error`) a generic error in place of
 * the source's own error answer (recorded as the empty answer it is).
 *
 * @example
 * const outcome = readOutcome(input);
 * if (outcome.kind === 'answer') { await recordFirst(audit, outcome.entry); send(res, outcome); }
 */
export interface Outcome {
  kind: 'answer';
  status: number;
  body?: unknown;
  contentType: string;
  entry: AuditEntry;
  error?: FieldmeshError | undefined;
}

/**
 * A request refused after the source answered: the error to answer with and
 * the entry to record first (see `refuseWithAudit`).
 *
 * @example
 * if (outcome.kind === 'refusal') return refuseWithAudit(audit, outcome.error, outcome.entry);
 */
export interface RefusedOutcome {
  kind: 'refusal';
  error: unknown;
  entry: AuditEntry;
}

const NO_BODY = new Set([204, 205, 304]);

/**
 * The outcome of a read: the source's answer redacted with the request's
 * read plan, or refused. A handler's redirect (or 304) answers as a missing
 * record: it was decided from a record fieldmesh never saw, and its Location
 * or freshness could name or confirm a hidden one. Pure: no I/O.
 */
export function readOutcome(input: OutcomeInput): Outcome | RefusedOutcome {
  const { answer, admitted } = input;
  const odd = oddStatus(answer);
  if (odd !== undefined) return { kind: 'refusal', error: odd, entry: refusalEntry(odd, admitted) };
  if (answer.origin === 'handler' && isRedirect(answer.status)) {
    const withheld = new AccessError('not_found', NO_SUCH_RECORD.message);
    return { kind: 'refusal', error: withheld, entry: { ...refusalEntry(withheld, admitted), code: 'redirect_withheld' } };
  }
  // A bodiless success for one named record says it exists without showing it: a hidden
  // record would answer so and a missing one 404, so it answers as missing too.
  if (isRecordlessSuccess(answer) && namesOneRecord(input)) {
    const missing = new AccessError('not_found', NO_SUCH_RECORD.message);
    return bare(input, missing.status, (decision, status) => disclosureEntry(decision, admitted, status), missing);
  }
  try {
    return answered(input, (decision, status) => disclosureEntry(decision, admitted, status));
  } catch (error) {
    return { kind: 'refusal', error, entry: refusalEntry(error, admitted) };
  }
}

/**
 * The outcome of a permitted write, once the source performed it: its answer
 * redacted as a read of one record and recorded as the write it is. A result
 * the caller may not see, or a handler's redirect (whose Location could name
 * it), is answered 204: the write was done, and nothing of it is shown.
 * Pure: no I/O.
 */
export function writeOutcome(input: OutcomeInput): Outcome | RefusedOutcome {
  const { answer, admitted } = input;
  const entryOf = (decision: Decision, status: number) => writeAnswerEntry(decision, admitted, status);
  const odd = oddStatus(answer);
  if (odd !== undefined) return { kind: 'refusal', error: odd, entry: refusalEntry(odd, admitted) };
  // The write was done: a redirect's Location could name what the caller may not see, from either source.
  if (isRedirect(answer.status)) return bare(input, 204, entryOf);
  // A done write answered with no body (a 201 or 205 without content) is answered as done, whoever answered.
  if (answer.status >= 200 && answer.status < 300 && answer.body === undefined && answer.unreadable === undefined)
    return bare(input, answer.status, entryOf);
  try {
    return answered(input, entryOf);
  } catch (error) {
    if (isWithheld(error)) {
      return { kind: 'answer', status: 204, contentType: answer.contentType, entry: entryOf(error.decision, 204) };
    }
    return { kind: 'refusal', error, entry: refusalEntry(error, admitted) };
  }
}

type EntryOf = (decision: Decision, status: number) => AuditEntry;

/** The answer redacted, or thrown as the refusal it is. */
function answered(input: OutcomeInput, entryOf: EntryOf): Outcome {
  const { answer, admitted, policies } = input;
  const { status } = answer;
  // 204, 205 and 304 carry no content (RFC 9110 §15.3.5, §15.3.6, §15.4.5), whoever sent one.
  if (status === 204 || status === 205) return bare(input, status, entryOf);
  if (answer.origin === 'upstream' && answer.body === undefined) return upstreamBare(input, entryOf);
  if (answer.origin === 'handler' && (status < 200 || status >= 300 || NO_BODY.has(status))) {
    // The handler's own error answer may carry record data: a generic error with its status goes instead.
    return bare(input, status, entryOf, status >= 400 && status <= 599 ? handlerStatus(status) : undefined);
  }
  if (answer.unreadable !== undefined) throw answer.unreadable;
  if (answer.body === undefined) return bare(input, status, entryOf);
  const list = input.list === null ? (Array.isArray(answer.body) ? '' : undefined) : input.list;
  try {
    const redacted = redactBody(policies, admitted.plan, answer.body, list, {
      pagedAllowed: admitted.pagedAnswerAllowed,
      mark: input.mark,
    });
    return { kind: 'answer', status, body: redacted.body, contentType: answer.contentType, entry: entryOf(redacted.decision, status) };
  } catch (e) {
    // The route said where the rows are and the upstream answered another shape: its fault, not the caller's.
    if (answer.origin === 'upstream' && e instanceof FieldmeshError && e.code === 'unredactable_body') {
      throw upstreamInvalid(`the body does not have the route's shape (${e.message})`);
    }
    throw e;
  }
}

/** An upstream answer without a body: a 204, or an error status whose body was dropped unread. */
function upstreamBare(input: OutcomeInput, entryOf: EntryOf): Outcome {
  const { status } = input.answer;
  if (status === 204) return bare(input, 204, entryOf);
  const error = upstreamStatus(status, input.list === undefined);
  // A redirect for one record answers as a missing record, recorded with the status the caller gets.
  if (error.code === 'not_found') return bare(input, error.status, entryOf, error);
  // The gateway's own fault (a rejected upstream credential) is a refusal like any other upstream failure.
  if (error.status !== status) throw error;
  return bare(input, status, entryOf, error);
}

/** An answer with no body to redact, recorded as a read that returned no rows. */
function bare(input: OutcomeInput, status: number, entryOf: EntryOf, error?: FieldmeshError): Outcome {
  const nothing = input.policies.redactWith(input.admitted.plan, []).decision;
  return {
    kind: 'answer',
    status,
    contentType: input.answer.contentType,
    entry: entryOf(nothing, status),
    ...(error === undefined ? {} : { error }),
  };
}

/**
 * A status no answer may have: an interim 1xx, a 101 without an upgrade, or
 * anything outside 100–599. Sent on, it would hang the caller or say nothing
 * that was recorded; refused before anything is recorded as disclosed.
 */
function oddStatus(answer: SourceAnswer): FieldmeshError | undefined {
  const { status } = answer;
  if (Number.isInteger(status) && status >= 200 && status <= 599) return undefined;
  if (answer.origin === 'upstream') return upstreamInvalid(`the record API answered ${status}`);
  return new FieldmeshError('unredactable_body', `The handler's answer cannot be redacted: status ${status} is not a final status`);
}

/** A success that carries no record: no body (a 204, a 205, an empty 200) or a JSON `null`. */
function isRecordlessSuccess(answer: SourceAnswer): boolean {
  return (
    answer.status >= 200 && answer.status < 300 && answer.unreadable === undefined && (answer.body === undefined || answer.body === null)
  );
}

/** Whether the read looks records up: a single-record route, or a path parameter that selects by a field. */
function namesOneRecord(input: OutcomeInput): boolean {
  return input.list === undefined || (input.admitted.targetIds ?? []).length > 0 || input.admitted.selectsByPath === true;
}

function isRedirect(status: number): boolean {
  return status >= 300 && status < 400;
}
