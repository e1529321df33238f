import type { Decision } from '../engine/decision.js';
import type { PolicySet } from '../engine/policy-set.js';
import type { Admitted } from './admit.js';
import { refusalFor, writeEntry } from './audit-entry.js';
import type { RefusedOutcome } from './outcome.js';

/**
 * A write the engine permitted: its decision, and the entry to make durable
 * before the record source may perform it (no change without a record).
 *
 * @example
 * const checked = checkWrite({ policies, admitted, body, existing, replace: false });
 * if (checked.kind === 'permitted') await recordFirst(audit, checked.entry);
 */
export interface PermittedWrite {
  kind: 'permitted';
  decision: Decision;
  entry: ReturnType<typeof writeEntry>;
}

/**
 * Check a write body with the request's write plan, the same way in both
 * shells: an update against the stored record (`existing`, read with the
 * request's read plan, so a record the caller may not see is "No such
 * record"), a replace (PUT) needing rights on every declared field. A
 * refusal's entry names the refused fields (names only, bounded). Pure: the
 * shell fetched `existing` and read `body`.
 */
export function checkWrite(input: {
  policies: PolicySet;
  admitted: Admitted;
  body: unknown;
  existing?: unknown;
  replace: boolean;
}): PermittedWrite | RefusedOutcome {
  const { policies, admitted, body } = input;
  try {
    if (admitted.writePlan === undefined) throw new TypeError('checkWrite needs a request admitted for a write');
    const decision = policies.checkWriteWith(admitted.writePlan, body, {
      existing: input.existing,
      readPlan: admitted.plan,
      replace: input.replace,
    });
    return { kind: 'permitted', decision, entry: writeEntry(decision, admitted, 0) };
  } catch (error) {
    return { kind: 'refusal', error, entry: refusalFor(error, admitted, body) };
  }
}
