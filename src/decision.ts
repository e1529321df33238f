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
