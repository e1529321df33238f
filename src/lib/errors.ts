/**
 * Every failure fieldmesh reports is a FieldmeshError with a stable `code`
 * and the HTTP `status` it maps to. Messages say how to fix the request and
 * never carry record values: they may reach callers, logs and the audit trail.
 *
 * @example
 * throw new AccessError('purpose_not_granted', 'No role of yours is granted purpose "research"');
 */
export class FieldmeshError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, status: number, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
  }
  toJSON(): { error: { code: string; message: string } } {
    if (this.code === 'record_withheld') return { error: { ...NO_SUCH_RECORD } };
    return { error: { code: this.code, message: this.status >= 500 ? publicMessage(this) : this.message } };
  }
}

/**
 * A record hidden from the caller answers exactly as a record that does not
 * exist: that a person has a record at all (a sealed one, a safeguarding
 * concern) is itself confidential. The audit trail keeps the real reason.
 */
export const NO_SUCH_RECORD = { code: 'not_found', message: 'No such record' } as const;

/** Messages of 5xx errors may name internals; callers see a fixed text per code. */
function publicMessage(err: FieldmeshError): string {
  return PUBLIC_5XX[err.code] ?? 'Internal error: nothing was disclosed';
}
const PUBLIC_5XX: Record<string, string> = {
  upstream_invalid: 'The record API answered something that cannot be redacted: nothing was disclosed',
  upstream_unreachable: 'The record API could not be reached',
  upstream_timeout: 'The record API did not answer in time',
  upstream_error: 'The record API answered with an error: nothing was disclosed',
  audit_unavailable: 'The audit trail cannot be written, so nothing is disclosed',
  pseudonym_key_missing: 'This purpose needs pseudonyms but no pseudonym key is configured',
  unredactable_body: 'The response could not be redacted: nothing was disclosed',
  write_needs_load: 'This update route cannot load the stored record (mesh.write() needs a load option): nothing was written',
  mesh_unrouted: 'fieldmesh runs here before a route matched, so this request cannot be checked: nothing was disclosed',
  create_names_record: 'This route creates a record at a path that names one by its id: nothing was written',
};

/** One problem in a policy set, as a person fixes it: file, path in the file, message. */
export interface PolicyIssue {
  file: string;
  path: string;
  message: string;
  severity: 'error' | 'warning';
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
    super('policy_invalid', 500, `${errors.length} problem${errors.length === 1 ? '' : 's'} in the policy set:\n${formatIssues(errors)}`);
    this.issues = issues;
  }
  format(): string {
    return formatIssues(this.issues);
  }
}

/** `policies/roles.yaml › roles.nurse.grants[0].purpose: unknown purpose "dirct-care" (did you mean "direct-care"?)` */
export function formatIssue(i: PolicyIssue): string {
  return `${i.file} › ${i.path}: ${i.message}`;
}
export function formatIssues(issues: PolicyIssue[]): string {
  return issues.map(formatIssue).join('\n');
}

/**
 * A request that fieldmesh refuses: nothing of the record is disclosed.
 * Carries the decision (no record values) so the refusal can be audited.
 *
 * @example
 * new AccessError('training_expired', 'Your confidentiality training is older than 365 days')
 */
export class AccessError extends FieldmeshError {
  decision: unknown;
  constructor(code: AccessCode, message: string, decision?: unknown) {
    super(code, ACCESS_STATUS[code], message);
    this.decision = decision;
  }
}

export const ACCESS_STATUS = {
  unauthenticated: 401,
  purpose_required: 400,
  purpose_malformed: 400,
  bad_request: 400,
  invalid_body: 400,
  purpose_unknown: 403,
  purpose_not_granted: 403,
  purpose_expired: 403,
  role_not_held: 403,
  training_missing: 403,
  training_expired: 403,
  break_glass_required: 403,
  break_glass_refused: 403,
  break_glass_malformed: 400,
  filter_forbidden: 403,
  write_forbidden: 403,
  not_found: 404,
  record_withheld: 404,
  method_not_allowed: 405,
  payload_too_large: 413,
  pseudonym_key_missing: 500,
  unredactable_body: 500,
  upstream_invalid: 502,
  upstream_unreachable: 502,
  upstream_timeout: 504,
  audit_unavailable: 503,
} as const;
export type AccessCode = keyof typeof ACCESS_STATUS;
