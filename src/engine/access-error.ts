import type { AccessCode } from '../lib/error-codes.js';
import { FieldmeshError } from '../lib/errors.js';
import type { Decision } from './decision.js';

/**
 * A request that fieldmesh refuses: nothing of the record is disclosed.
 * Carries the decision (no record values) so the refusal can be audited.
 *
 * @example
 * new AccessError('training_expired', 'Your confidentiality training is older than 365 days')
 */
export class AccessError extends FieldmeshError {
  declare readonly code: AccessCode;
  readonly decision: Decision | undefined;
  /**
   * The field paths the refusal is about, when it names some: a write's
   * forbidden body fields, a query's forbidden filter fields. Names only,
   * never values; empty when the refusal names none.
   */
  readonly fields: readonly string[];
  constructor(code: AccessCode, message: string, decision?: Decision, fields: readonly string[] = []) {
    super(code, message);
    this.decision = decision;
    this.fields = fields;
  }
}

/**
 * Whether `e` is a hidden record's refusal with the engine's decision: what
 * a write's answer records when its result is not for the caller to see.
 *
 * @example
 * catch (e) { if (!isWithheld(e)) throw e; await audit.append(writeAnswerEntry(e.decision, facts, 204)); }
 */
export function isWithheld(e: unknown): e is AccessError & { readonly decision: Decision } {
  return e instanceof AccessError && e.code === 'record_withheld' && e.decision !== undefined;
}
