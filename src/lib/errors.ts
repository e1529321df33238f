import {
  ERROR_CODES,
  fitsRelayed,
  handlerStatusCode,
  isErrorCode,
  publicText,
  type ErrorCode,
  type FixedCode,
  type RelayedCode,
} from './error-codes.js';

export type { AccessCode, ErrorCode } from './error-codes.js';

/**
 * Every failure fieldmesh reports is a FieldmeshError with a stable `code`
 * and the HTTP `status` it maps to. Messages say how to fix the request and
 * never carry record values: they may reach callers, logs and the audit trail.
 *
 * @example
 * throw new AccessError('purpose_not_granted', 'No role of yours is granted purpose "research"');
 */
export class FieldmeshError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** A code with a status of its own (src/lib/error-codes.ts). */
  constructor(code: FixedCode, message: string);
  /** A code that relays a record API's or a handler's status, which must fit the code's range. */
  constructor(code: RelayedCode, message: string, relayed: { status: number });
  constructor(code: ErrorCode, message: string, relayed?: { status: number }) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = statusFor(code, relayed?.status);
  }
  toJSON(): { error: { code: string; message: string } } {
    if (this.code === 'record_withheld') return { error: { ...NO_SUCH_RECORD } };
    return { error: { code: this.code, message: this.status >= 500 ? publicText(this.code) : this.message } };
  }
}

/** What a caller sees of a failure that is not a FieldmeshError: a 500 that says nothing of its cause. */
const INTERNAL = new FieldmeshError('internal', 'Internal error: nothing was disclosed');

/**
 * The error an answer is made from, whatever its form (fieldmesh's JSON or a
 * FHIR OperationOutcome): a FieldmeshError with an error status as it is;
 * anything else (a runtime fault, whose message could quote the data it
 * choked on) the fixed internal 500.
 *
 * @example
 * answerable(new TypeError('Cannot read properties of undefined')).toJSON(); // { error: { code: 'internal', … } }
 */
export function answerable(err: unknown): FieldmeshError {
  return err instanceof FieldmeshError && err.status >= 400 && err.status <= 599 ? err : INTERNAL;
}

/** The registry's status, or the relayed one when the code relays: a mismatch is a programming error, thrown now. */
function statusFor(code: string, relayed: number | undefined): number {
  if (!isErrorCode(code)) throw new TypeError(`unknown error code "${code}": add it to src/lib/error-codes.ts`);
  const status = ERROR_CODES[code].status;
  if (typeof status === 'number') {
    if (relayed !== undefined) throw new TypeError(`error code "${code}" has its own status (${status}): pass none`);
    return status;
  }
  if (relayed === undefined || !fitsRelayed(status, relayed))
    throw new TypeError(`error code "${code}" relays a ${status} status, not ${String(relayed)}`);
  return relayed;
}

/**
 * A record hidden from the caller answers exactly as a record that does not
 * exist: that a person has a record at all (a sealed one, a safeguarding
 * concern) is itself confidential. The audit trail keeps the real reason.
 */
export const NO_SUCH_RECORD = { code: 'not_found', message: 'No such record' } as const;

/**
 * A handler's own error status (400–599), its body replaced by a generic
 * error: the registry's name for the status, else `request_error` (4xx) or
 * `handler_error` (5xx) carrying it.
 *
 * @example
 * handlerStatusError(409, 'Conflict').toJSON(); // { error: { code: 'conflict', message: 'Conflict' } }
 */
export function handlerStatusError(status: number, message: string): FieldmeshError {
  const code = handlerStatusCode(status);
  return code === 'request_error' || code === 'handler_error'
    ? new FieldmeshError(code, message, { status })
    : new FieldmeshError(code, message);
}

/**
 * One problem in a policy set, as a person fixes it: file, path in the file,
 * message, and where the path is written in the file (1-based line and
 * column) when it has a place there: an editor or a CI annotation jumps to it.
 */
export interface PolicyIssue {
  file: string;
  path: string;
  message: string;
  severity: 'error' | 'warning';
  line?: number;
  col?: number;
}

/**
 * A policy set that cannot be loaded. Lists every problem at once.
 *
 * @example
 * try { await loadPolicies('./policies') } catch (e) { if (e instanceof PolicyError) console.error(e.format()) }
 */
export class PolicyError extends FieldmeshError {
  readonly issues: PolicyIssue[];
  constructor(issues: PolicyIssue[]) {
    const errors = issues.filter((i) => i.severity === 'error');
    super('policy_invalid', `${errors.length} problem${errors.length === 1 ? '' : 's'} in the policy set:\n${formatIssues(errors)}`);
    this.issues = issues;
  }
  format(): string {
    return formatIssues(this.issues);
  }
}

/** `policies/roles.yaml:12:9 › roles.nurse.grants[0].purpose: unknown purpose "dirct-care" (did you mean "direct-care"?)` */
export function formatIssue(i: PolicyIssue): string {
  return `${i.file}${placeOf(i)} › ${i.path}: ${i.message}`;
}

/** `:12:9`, the `file:line:col` suffix editors and terminals turn into a link; nothing when the issue has no place. */
function placeOf(i: PolicyIssue): string {
  if (i.line === undefined) return '';
  return i.col === undefined ? `:${i.line}` : `:${i.line}:${i.col}`;
}
export function formatIssues(issues: PolicyIssue[]): string {
  return issues.map(formatIssue).join('\n');
}
