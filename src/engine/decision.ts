/**
 * What the engine decided for one request, with its reasoning, and never a
 * record value. The audit trail stores it; `explain` and `test` print it.
 *
 * @example
 * const { decision } = policies.redact(record, ctx);
 * decision.withheld; // ['address', 'telecom']
 */
export interface Decision {
  outcome: 'disclosed' | 'refused';
  /** The refusal's error code, when refused. */
  code?: string;
  action: 'read' | 'create' | 'update';
  resource: string;
  purpose: string;
  /** The user's roles that took part (all held roles, or the acting role). */
  roles: string[];
  /** Declared field paths disclosed in at least one row. */
  disclosed: string[];
  /** Declared field paths withheld from at least one row. */
  withheld: string[];
  /** For writes: the body's field paths, all of them permitted. */
  written?: string[];
  /** Field path → transform applied. */
  transforms: Record<string, string>;
  /** Names of the restrictions that fired. */
  restrictions: string[];
  /** Grants that matched, as `role#index`. */
  grants: string[];
  /**
   * Ids of the rows returned, as found at the resource's id path (arrays
   * walked: a row whose id path holds several ids contributes each of them).
   */
  recordIds: string[];
  /** Ids of the rows withheld whole. */
  withheldRecordIds: string[];
  rowsReturned: number;
  rowsWithheld: number;
  /** Why rows were withheld: reason → count (no-grant, opt-out, consent, restriction:<name>). */
  rowReasons: Record<string, number>;
  breakGlass?: string;
  policyVersion: string;
}

/**
 * What every decision starts from before a row is looked at: nothing
 * disclosed, nothing withheld. The engine's refusals, its reads and writes,
 * and the HTTP shells' refusals all build on it, so a decision has one shape
 * wherever it was made. A break-glass reason is kept trimmed, as declared.
 *
 * @example
 * emptyDecision({ outcome: 'refused', code: 'purpose_unknown', action: 'read', resource: 'Patient', purpose: 'x', roles: ['gp'], policyVersion: 'a1b2' });
 */
export function emptyDecision(d: {
  outcome: Decision['outcome'];
  code?: string | undefined;
  action: Decision['action'];
  resource: string;
  purpose: string;
  roles: string[];
  policyVersion: string;
  breakGlass?: unknown;
}): Decision {
  const decision: Decision = {
    outcome: d.outcome, ...(d.code === undefined ? {} : { code: d.code }), action: d.action, resource: d.resource, purpose: d.purpose, roles: d.roles,
    disclosed: [], withheld: [], transforms: {}, restrictions: [], grants: [], recordIds: [], withheldRecordIds: [],
    rowsReturned: 0, rowsWithheld: 0, rowReasons: {}, policyVersion: d.policyVersion,
  };
  if (typeof d.breakGlass === 'string') decision.breakGlass = d.breakGlass.trim();
  return decision;
}
