/**
 * Every code fieldmesh answers over HTTP, prints from the CLI or writes to
 * the audit trail, with the HTTP status it maps to, what it means, and, for a
 * 5xx, the fixed text a caller sees instead of the message (which may name
 * internals). A status is looked up here, never written beside a code: the
 * middleware, the gateway and the engine cannot disagree about one.
 * docs/errors.md is checked against this table by test/lib/error-codes.test.ts.
 *
 * A few codes relay a status fieldmesh did not choose (a record API's or a
 * handler's own error status, its body replaced): their status is the range
 * the relayed one must fall in.
 */
export const ERROR_CODES = {
  // Malformed requests: 400 for a missing or malformed purpose or body (docs/errors.md).
  purpose_required: { status: 400, meaning: 'the request declares no purpose (X-Purpose)' },
  purpose_malformed: { status: 400, meaning: 'X-Purpose is not a purpose name' },
  bad_request: { status: 400, meaning: "the request is malformed in a way no more specific code names (also a handler's own 400)" },
  invalid_body: { status: 400, meaning: 'a write body that is not a JSON object fieldmesh can check' },
  break_glass_malformed: { status: 400, meaning: 'an X-Break-Glass reason holding a tab or another control character' },
  role_unknown: { status: 400, meaning: 'an explain query names a role the policy set does not define' },
  audit_review_invalid: { status: 400, meaning: "a break-glass review without the reviewer's name or a note" },
  records_invalid: { status: 400, meaning: 'a fixture records file that is not a JSON array of records' },
  cases_invalid: { status: 400, meaning: 'a fixture case file that cannot be read as cases' },
  // Identity.
  unauthenticated: { status: 401, meaning: 'no valid token, or roles that are neither a string nor a list of strings' },
  // Not permitted: 403; an unknown purpose is refused like one not granted (docs/errors.md).
  purpose_unknown: { status: 403, meaning: 'the purpose is not in the policy set' },
  purpose_not_granted: { status: 403, meaning: "none of the user's roles is granted the purpose for this resource" },
  purpose_expired: { status: 403, meaning: 'the purpose passed its reviewBy date' },
  purpose_ambiguous: { status: 403, meaning: "the token's purpose-of-use codes select more than one purpose" },
  purpose_conflict: {
    status: 403,
    meaning:
      "X-Purpose names another purpose than the token's purpose of use, or a break-glass code selects a purpose that is not break-glass",
  },
  purpose_claim_invalid: {
    status: 403,
    meaning: "the token's purpose claim is not a PurposeOfUse code, a v3 ActReason Coding or a list of them",
  },
  role_not_held: { status: 403, meaning: 'X-Acting-Role names a role the user does not hold' },
  training_missing: { status: 403, meaning: 'the token carries no valid confidentiality training date' },
  training_expired: { status: 403, meaning: 'the confidentiality training is older than the limit' },
  break_glass_required: { status: 403, meaning: 'a break-glass purpose asked for without a reason' },
  break_glass_refused: {
    status: 403,
    meaning: 'a break-glass reason too short or too long, or a role not granted the break-glass purpose',
  },
  filter_forbidden: { status: 403, meaning: 'a query filters, sorts or looks records up by a field the user may not read' },
  write_forbidden: { status: 403, meaning: 'a body writes a field the user may not write' },
  forbidden: { status: 403, meaning: '(middleware) the handler answered 403; its body is replaced' },
  // Missing, and hidden as missing.
  not_found: { status: 404, meaning: 'no such record, or one hidden from the caller (answered alike), or no gateway route' },
  record_withheld: { status: 404, meaning: 'a single record hidden from the caller: answered as not_found, recorded as this' },
  redirect_withheld: { status: 404, meaning: '(middleware) a handler redirect on a read: answered as not_found, recorded as this' },
  audit_event_unknown: { status: 404, meaning: 'a review names an audit event that does not exist' },
  method_not_allowed: { status: 405, meaning: 'the route does not allow the method' },
  conflict: { status: 409, meaning: '(middleware) the handler answered 409; its body is replaced' },
  audit_review_not_needed: { status: 409, meaning: 'a review names an event that is not a break-glass event' },
  audit_review_duplicate: { status: 409, meaning: 'a review names a break-glass event already reviewed' },
  audit_record_key: { status: 409, meaning: 'the trail cannot be searched by record id (pseudonymised ids without the key)' },
  gone: { status: 410, meaning: '(middleware) the handler answered 410; its body is replaced' },
  precondition_failed: { status: 412, meaning: '(middleware) the handler answered 412; its body is replaced' },
  payload_too_large: { status: 413, meaning: 'a request body over the limit' },
  query_too_long: { status: 414, meaning: 'a query of more than 1,000 parameters' },
  unsupported_media_type: { status: 415, meaning: '(middleware) the handler answered 415; its body is replaced' },
  unprocessable: { status: 422, meaning: '(middleware) the handler answered 422; its body is replaced' },
  too_many_requests: { status: 429, meaning: '(middleware) the handler answered 429; its body is replaced' },
  request_error: { status: '4xx', meaning: '(middleware) the handler answered another 4xx; its body is replaced' },
  // The deployment's fault or the system's: nothing is disclosed, and the caller sees a fixed text.
  internal: { status: 500, meaning: 'an unexpected failure', public: 'Internal error: nothing was disclosed' },
  handler_error: { status: '5xx', meaning: '(middleware) the handler answered a 5xx; its body is replaced' },
  resource_unknown: { status: 500, meaning: 'a route or query names a resource the policy set does not define' },
  pseudonym_key_missing: {
    status: 500,
    meaning: 'a purpose pseudonymises but no key is configured',
    public: 'This purpose needs pseudonyms but no pseudonym key is configured',
  },
  unredactable_body: {
    status: 500,
    meaning: 'an answer that cannot be redacted safely',
    public: 'The response could not be redacted: nothing was disclosed',
  },
  write_needs_load: {
    status: 500,
    meaning: '(middleware) mesh.write() serves an update without a load option',
    public: 'This update route cannot load the stored record (mesh.write() needs a load option): nothing was written',
  },
  write_unchecked: { status: 500, meaning: 'an update checked without reading the stored record' },
  mesh_unrouted: {
    status: 500,
    meaning: '(middleware) mounted in front of a router, where path parameters cannot be checked',
    public: 'fieldmesh runs here before a route matched, so this request cannot be checked: nothing was disclosed',
  },
  create_names_record: {
    status: 500,
    meaning: '(middleware) a POST at a path naming a record by its id',
    public: 'This route creates a record at a path that names one by its id: nothing was written',
  },
  policy_invalid: { status: 500, meaning: 'a policy set that cannot be loaded' },
  policy_rejected: { status: 500, meaning: '(gateway) a policy set that loads but does not fit the routes file' },
  routes_invalid: { status: 500, meaning: '(gateway) a routes file that cannot be used' },
  config_invalid: { status: 500, meaning: '(gateway) a configuration that cannot be used' },
  upstream_invalid: {
    status: 502,
    meaning: '(gateway) the record API answered something that cannot be redacted',
    public: 'The record API answered something that cannot be redacted: nothing was disclosed',
  },
  upstream_unreachable: {
    status: 502,
    meaning: '(gateway) the record API could not be reached',
    public: 'The record API could not be reached',
  },
  upstream_error: {
    status: '4xx/5xx',
    meaning: '(gateway) the record API answered an error status: passed on, its body never',
    public: 'The record API answered with an error: nothing was disclosed',
  },
  audit_unavailable: {
    status: 503,
    meaning: 'the audit trail cannot be written, so nothing is disclosed',
    public: 'The audit trail cannot be written, so nothing is disclosed',
  },
  upstream_timeout: {
    status: 504,
    meaning: '(gateway) the record API did not answer in time',
    public: 'The record API did not answer in time',
  },
} as const satisfies Record<string, CodeEntry>;

/** A relayed status: any 4xx, any 5xx, or either. */
export type RelayedStatus = '4xx' | '5xx' | '4xx/5xx';

/** One entry of the registry. A 5xx code says what the caller sees in `public`. */
export interface CodeEntry {
  status: number | RelayedStatus;
  meaning: string;
  public?: string;
}

/** Every code fieldmesh answers, prints or records. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** A code with one status of its own. */
export type FixedCode = { [C in ErrorCode]: (typeof ERROR_CODES)[C]['status'] extends number ? C : never }[ErrorCode];

/** A code whose status is relayed from a record API or a handler. */
export type RelayedCode = Exclude<ErrorCode, FixedCode>;

/**
 * The codes an `AccessError` carries: a request refused, or a disclosure
 * stopped because the record API or the audit trail failed. Each may carry
 * the decision the audit trail records.
 */
export const ACCESS_CODES = [
  'unauthenticated',
  'purpose_required',
  'purpose_malformed',
  'bad_request',
  'invalid_body',
  'purpose_unknown',
  'purpose_not_granted',
  'purpose_expired',
  'purpose_ambiguous',
  'purpose_conflict',
  'purpose_claim_invalid',
  'role_not_held',
  'training_missing',
  'training_expired',
  'break_glass_required',
  'break_glass_refused',
  'break_glass_malformed',
  'filter_forbidden',
  'write_forbidden',
  'not_found',
  'record_withheld',
  'method_not_allowed',
  'payload_too_large',
  'pseudonym_key_missing',
  'unredactable_body',
  'upstream_invalid',
  'upstream_unreachable',
  'upstream_timeout',
  'audit_unavailable',
] as const satisfies readonly FixedCode[];
export type AccessCode = (typeof ACCESS_CODES)[number];

/** What a 5xx answers when its code names no public text of its own. */
const INTERNAL_TEXT = ERROR_CODES.internal.public;

/**
 * The status of a code with a fixed one.
 *
 * @example
 * statusOf('purpose_unknown'); // 403
 */
export function statusOf(code: FixedCode): number {
  return ERROR_CODES[code].status;
}

/** Whether `code` is in the registry (for a code read from a file or a trail). */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/**
 * Whether a relayed status fits a relayed code's range; a status outside it
 * is a programming error, not something to pass on.
 *
 * @example
 * fitsRelayed('4xx', 418); // true
 */
export function fitsRelayed(range: RelayedStatus, status: number): boolean {
  if (!Number.isInteger(status)) return false;
  const fours = status >= 400 && status <= 499;
  const fives = status >= 500 && status <= 599;
  return range === '4xx' ? fours : range === '5xx' ? fives : fours || fives;
}

/** What a caller sees of a 5xx with this code: its fixed text, never the internal message. */
export function publicText(code: ErrorCode): string {
  const entry: CodeEntry = ERROR_CODES[code];
  return entry.public ?? INTERNAL_TEXT;
}

/**
 * The statuses a handler may answer that keep a name of their own when the
 * middleware replaces the handler's body; any other 4xx is `request_error`,
 * any 5xx `handler_error`.
 */
const HANDLER_STATUS_CODES = [
  'bad_request',
  'unauthenticated',
  'forbidden',
  'not_found',
  'method_not_allowed',
  'conflict',
  'gone',
  'precondition_failed',
  'payload_too_large',
  'unsupported_media_type',
  'unprocessable',
  'too_many_requests',
] as const satisfies readonly FixedCode[];

/**
 * The code for a handler's own error status (400–599), its body replaced.
 *
 * @example
 * handlerStatusCode(409); // 'conflict'
 * handlerStatusCode(418); // 'request_error'
 */
export function handlerStatusCode(status: number): FixedCode | 'request_error' | 'handler_error' {
  return HANDLER_STATUS_CODES.find((c) => ERROR_CODES[c].status === status) ?? (status >= 500 ? 'handler_error' : 'request_error');
}
