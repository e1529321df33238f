import type { AuditEntry } from '../audit/event.js';
import type { AuditStore } from '../audit/types.js';
import { FieldmeshError } from '../lib/errors.js';
import { AccessError } from '../engine/access-error.js';

/**
 * The error to answer when an append failed: the store's own
 * `audit_unavailable` (503), or one made for anything else it threw, so a
 * failed append is always answered, and recognised, as the trail being down.
 * Nothing is disclosed.
 *
 * @example
 * try { await audit.append(entry) } catch (err) { return refuseWithAudit(audit, trailDown(err), entry) }
 */
export function trailDown(err: unknown): FieldmeshError {
  return isTrailDown(err) ? (err as FieldmeshError) : new AccessError('audit_unavailable', 'The audit trail cannot be written');
}

/**
 * Whether an error says the trail could not be written.
 *
 * @example
 * isTrailDown(trailDown(new Error('disk full'))); // true
 */
export function isTrailDown(err: unknown): boolean {
  return err instanceof FieldmeshError && err.code === 'audit_unavailable';
}

/**
 * Record a refusal, then say what to answer with; both shells refuse this
 * way. The answer is `error`, unless the refusal itself cannot be recorded:
 * then it is the trail's failure (503 `audit_unavailable`), and nothing is
 * disclosed. An error that already says the trail is down is answered as it
 * is, with no second append: the trail that just failed is not asked again,
 * and a refusal must not be recorded for a request whose own event was not.
 *
 * @example
 * const answer = await refuseWithAudit(audit, err, refusalEntry(err, facts));
 * sendError(res, answer, facts.requestId);
 */
export async function refuseWithAudit(audit: Pick<AuditStore, 'append'>, error: unknown, entry: AuditEntry): Promise<unknown> {
  if (isTrailDown(error)) return error;
  try {
    await audit.append(entry);
    return error;
  } catch (auditError) {
    return trailDown(auditError);
  }
}

/**
 * Append an event that must be durable before anything else happens (an
 * answer sent, a write performed); a failure is thrown as the trail's
 * (see `trailDown`), which `refuseWithAudit` answers without a second append.
 *
 * @example
 * await recordFirst(audit, writeEntry(decision, admitted)); // then forward the write
 */
export async function recordFirst(audit: Pick<AuditStore, 'append'>, entry: AuditEntry): Promise<void> {
  try {
    await audit.append(entry);
  } catch (err) {
    throw trailDown(err);
  }
}
