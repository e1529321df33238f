import { AccessError } from '../engine/access-error.js';
import type { ErrorCode } from '../lib/error-codes.js';
import { answerable } from '../lib/errors.js';

/**
 * The R4 issue types (the `issue-type` value set) fieldmesh answers with:
 * what a FHIR client branches on (log in again, give up, retry later).
 */
export type IssueType =
  | 'invalid'
  | 'structure'
  | 'required'
  | 'value'
  | 'login'
  | 'expired'
  | 'forbidden'
  | 'not-found'
  | 'deleted'
  | 'not-supported'
  | 'duplicate'
  | 'conflict'
  | 'business-rule'
  | 'too-long'
  | 'throttled'
  | 'processing'
  | 'transient'
  | 'timeout'
  | 'exception';

/**
 * The code system of fieldmesh's error codes in an OperationOutcome's
 * `issue.details.coding`: the page that lists them (docs/fhir.md, "Errors:
 * OperationOutcome").
 */
export const FIELDMESH_ERROR_SYSTEM = 'https://github.com/fieldmesh/fieldmesh/blob/main/docs/errors.md';

/** A code whose status is relayed (a record API's or a handler's) may need one issue type per class of status. */
type Mapping = IssueType | { readonly '4xx': IssueType; readonly '5xx': IssueType };

/**
 * The issue type of every fieldmesh error code (docs/errors.md lists the same
 * beside each code). Typed over the whole registry: a code added to
 * src/lib/error-codes.ts without a row here does not compile. Refusals of
 * the caller's right to know are `forbidden`; a hidden record is `not-found`,
 * exactly as a missing one; the deployment's and the record API's faults
 * are `exception`, which tells the client nothing it could act on.
 *
 * @example
 * ISSUE_TYPES.filter_forbidden; // 'forbidden'
 */
export const ISSUE_TYPES = {
  purpose_required: 'required',
  purpose_malformed: 'value',
  bad_request: 'invalid',
  invalid_body: 'structure',
  break_glass_malformed: 'value',
  role_unknown: 'value',
  audit_review_invalid: 'required',
  records_invalid: 'structure',
  cases_invalid: 'structure',
  unauthenticated: 'login',
  purpose_unknown: 'forbidden',
  purpose_not_granted: 'forbidden',
  purpose_expired: 'forbidden',
  purpose_ambiguous: 'forbidden',
  purpose_conflict: 'forbidden',
  purpose_claim_invalid: 'forbidden',
  role_not_held: 'forbidden',
  training_missing: 'forbidden',
  training_expired: 'forbidden',
  break_glass_required: 'forbidden',
  break_glass_refused: 'forbidden',
  filter_forbidden: 'forbidden',
  write_forbidden: 'forbidden',
  forbidden: 'forbidden',
  not_found: 'not-found',
  record_withheld: 'not-found',
  redirect_withheld: 'not-found',
  audit_event_unknown: 'not-found',
  method_not_allowed: 'not-supported',
  conflict: 'conflict',
  audit_review_not_needed: 'business-rule',
  audit_review_duplicate: 'duplicate',
  audit_record_key: 'business-rule',
  gone: 'deleted',
  precondition_failed: 'conflict',
  payload_too_large: 'too-long',
  query_too_long: 'too-long',
  unsupported_media_type: 'not-supported',
  unprocessable: 'processing',
  too_many_requests: 'throttled',
  request_error: 'processing',
  internal: 'exception',
  handler_error: 'exception',
  resource_unknown: 'exception',
  pseudonym_key_missing: 'exception',
  unredactable_body: 'exception',
  write_needs_load: 'exception',
  write_unchecked: 'exception',
  mesh_unrouted: 'exception',
  create_names_record: 'exception',
  policy_invalid: 'exception',
  policy_rejected: 'exception',
  routes_invalid: 'exception',
  config_invalid: 'exception',
  upstream_invalid: 'exception',
  upstream_unreachable: 'exception',
  // The record API's 4xx is about the request (passed on), its 5xx about the record API.
  upstream_error: { '4xx': 'processing', '5xx': 'exception' },
  // Retry later: the trail is down, so nothing is disclosed until it is back.
  audit_unavailable: 'transient',
  upstream_timeout: 'timeout',
} as const satisfies Record<ErrorCode, Mapping>;

/**
 * The issue type for a code answered with a status.
 *
 * @example
 * issueTypeOf('upstream_error', 409); // 'processing'
 * issueTypeOf('upstream_error', 503); // 'exception'
 */
export function issueTypeOf(code: ErrorCode, status: number): IssueType {
  const mapping: Mapping = ISSUE_TYPES[code];
  return typeof mapping === 'string' ? mapping : status >= 500 ? mapping['5xx'] : mapping['4xx'];
}

/** The one issue of an OperationOutcome fieldmesh answers. */
export interface OperationOutcomeIssue {
  severity: 'error';
  code: IssueType;
  details: { coding: [{ system: string; code: string }]; text: string };
  /** The fields the refusal is about, as FHIRPath (`Patient.birthDate`): names only. */
  expression?: string[];
}

/**
 * An R4 OperationOutcome (the part fieldmesh fills).
 */
export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: [OperationOutcomeIssue];
}

/** A field path FHIRPath reads as it is: `birthDate`, `name.family`; not a route parameter (`:nhs`) or a key as sent. */
const PATH = /^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*$/;

/**
 * What a FHIR client is told of an error: the same status, code and public
 * message as fieldmesh's JSON (`toJSON()`), as an R4 OperationOutcome. The
 * code travels in `details.coding` (system FIELDMESH_ERROR_SYSTEM) and the
 * message in `details.text`; the fields a refusal names, and only their
 * names, in `expression`, prefixed with the resource type when the route has
 * one. A hidden record answers as a missing one, and a 5xx keeps its fixed
 * public text, exactly as in JSON; anything that is not a FieldmeshError is
 * the fixed internal 500. Never a record value.
 *
 * @example
 * operationOutcome(new AccessError('filter_forbidden', 'You may not filter … by "birthdate" …', undefined, ['birthDate']), 'Patient');
 * // { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'forbidden',
 * //   details: { coding: [{ system: FIELDMESH_ERROR_SYSTEM, code: 'filter_forbidden' }], text: 'You may not filter … ' },
 * //   expression: ['Patient.birthDate'] }] }
 */
export function operationOutcome(err: unknown, resourceType?: string): OperationOutcome {
  const answer = answerable(err);
  const { code, message } = answer.toJSON().error;
  const issue: OperationOutcomeIssue = {
    severity: 'error',
    code: issueCode(code as ErrorCode, answer.status, message),
    details: { coding: [{ system: FIELDMESH_ERROR_SYSTEM, code }], text: message },
  };
  // Only what the answer itself names: a record hidden as `not_found`, or a 5xx, says nothing more.
  if (answer instanceof AccessError && code === answer.code && answer.status < 500) {
    const expression = answer.fields.filter((f) => PATH.test(f)).map((f) => (resourceType === undefined ? f : `${resourceType}.${f}`));
    if (expression.length > 0) issue.expression = expression;
  }
  return { resourceType: 'OperationOutcome', issue: [issue] };
}

/**
 * An expired token is `expired`, not `login`: a FHIR client (a SMART app)
 * refreshes its token on `expired` and sends the user to log in again on
 * `login`. The identity check names it by this fixed message, never a value.
 */
function issueCode(code: ErrorCode, status: number, message: string): IssueType {
  return code === 'unauthenticated' && message === 'token expired' ? 'expired' : issueTypeOf(code, status);
}
