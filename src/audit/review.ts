import { FieldmeshError } from '../lib/errors.js';
import type { SqlDialect } from './dialect.js';
import { prepareEntry, trailEntry, type AuditEntry, type AuditEvent } from './event.js';
import { fromRow, type AuditRow } from './row.js';
import type { Batch } from './seal.js';

/**
 * The entry that records a guardian's acknowledgement of a break-glass event
 * (Caldicott 7: emergency access is allowed at once, then reviewed). It is
 * chained like any other event, so a review cannot be forged or removed
 * without `verify` noticing. It names no records and no fields: the guardian
 * saw the audit event, not the record.
 *
 * @example
 * const entry = reviewEntry(await getEvent(id), id, false, 'Dr Guardian', 'Cardiac arrest on ward 7; justified');
 */
export function reviewEntry(
  target: AuditEvent | undefined,
  eventId: string,
  alreadyReviewed: boolean,
  by: string,
  note: string,
): AuditEntry {
  if (by.trim() === '' || note.trim() === '') {
    throw new FieldmeshError('audit_review_invalid', "A review needs the reviewer's name (by) and a note");
  }
  if (target === undefined) throw new FieldmeshError('audit_event_unknown', `No audit event has id ${eventId}`);
  if (target.breakGlass === undefined || target.action === 'review') {
    throw new FieldmeshError('audit_review_not_needed', `Event ${eventId} is not a break-glass event`);
  }
  if (alreadyReviewed) throw new FieldmeshError('audit_review_duplicate', `Event ${eventId} has already been reviewed`);
  return trailEntry({
    requestId: target.requestId,
    user: by.trim(),
    purpose: target.purpose,
    resource: target.resource,
    action: 'review',
    status: 200,
    policyVersion: target.policyVersion,
    review: { of: target.id, by: by.trim(), note: note.trim() },
  });
}

/**
 * SQL true when the event aliased `e` has been reviewed: a `review` event
 * names it, in the same chain, at a later position. A row naming it from
 * another chain, or from before it, was not written by `acknowledge` (which
 * appends after the event it reviews) and must not empty the guardian's queue.
 * Both dialects; `table` is the events table.
 *
 * @example
 * `SELECT * FROM ${t} e WHERE e.break_glass IS NOT NULL AND NOT ${reviewedSql(t)}`
 */
export function reviewedSql(table: string): string {
  return `EXISTS (SELECT 1 FROM ${table} r WHERE r.review_of = e.id AND r.action = 'review' AND r.chain = e.chain AND r.seq > e.seq)`;
}

/**
 * The two reads `acknowledge` makes inside its write transaction, each with
 * the event id as its one parameter: the event itself, and whether a review
 * of it is already chained.
 */
export function reviewLookupSql(table: string, dialect: SqlDialect): { event: string; reviewed: string } {
  const id = dialect.param(1);
  return {
    event: `SELECT * FROM ${table} WHERE id = ${id}`,
    reviewed: `SELECT 1 FROM ${table} e WHERE e.id = ${id} AND ${reviewedSql(table)}`,
  };
}

/**
 * The batch `acknowledge` seals, from what `reviewLookupSql` found: the
 * event's row (undefined: no such event) and whether it is already
 * reviewed. Throws the FieldmeshError `reviewEntry` gives when the review
 * itself is refused; nothing has been written then.
 */
export function reviewBatch(
  row: AuditRow | undefined,
  alreadyReviewed: boolean,
  eventId: string,
  by: string,
  note: string,
  recordIdKey: string | Buffer | undefined,
): Batch {
  const entry = reviewEntry(row === undefined ? undefined : fromRow(row), eventId, alreadyReviewed, by, note);
  return [prepareEntry(entry, { recordIdKey })];
}

/**
 * Break-glass events (disclosed or refused) no review acknowledges yet,
 * oldest first. Trusts the rows as stored: verify the trail first (`audit review` does).
 */
export function pendingReviewsSql(table: string): string {
  return `SELECT * FROM ${table} e WHERE e.break_glass IS NOT NULL AND e.action <> 'review'
      AND NOT ${reviewedSql(table)} ORDER BY e.time, e.chain, e.seq`;
}
