import { randomUUID } from 'node:crypto';
import { type AuditEntry, trailEntry } from './event.js';

/**
 * A read of the trail itself: who saw which events. Showing who accessed a
 * record is itself a disclosure (of the users, purposes and records in the
 * events shown), so each read is chained like any other event before anything
 * is shown.
 */
export interface TrailRead {
  action: 'query' | 'report' | 'export';
  /** Who ran it (`--by`, else the operating-system user). */
  by: string;
  /** The record reported on (or searched for); recorded as record id and subject id (see `trailReadEntry`). */
  recordId?: string | undefined;
  /** The person reported on (`report --subject`); recorded as subject id and record id (see `trailReadEntry`). */
  subjectId?: string | undefined;
  /** What was read: the command's filters and range (`since`, `until`, `after`, `through`, `format`, `count`…); names and numbers only. */
  scope: Record<string, string | number | boolean | undefined>;
}

/** The resource an event about the trail names: the events it showed. */
export const TRAIL_RESOURCE = 'AuditEvent';
/** The purpose such an event records: accounting for disclosures. */
export const TRAIL_PURPOSE = 'audit';

/**
 * The entry that records a read of the trail. It is `disclosed` (the read
 * went ahead), answered `200` as a review is, and names the id read about
 * (the record, or the person) in both `recordIds` and `subjectIds`: the id
 * given may name a record or a person, and on a Patient they are the same,
 * so a later report by record or by subject on that id shows that its
 * history was read, and by whom, whichever way either asked. It keeps the read's scope in
 * `transforms` (a read of the trail transforms no field, so that map is free
 * on these events: `{ format: 'jsonl', after: '0', through: '5000', count: '5000' }`).
 * The store validates it as it validates every entry.
 *
 * @example
 * await store.append(trailReadEntry({ action: 'report', by: 'dr-guardian', recordId: 'p-1002', scope: { since: '2026-03-01T00:00:00.000Z' } }));
 */
export function trailReadEntry(read: TrailRead): AuditEntry {
  const by = read.by.trim();
  if (by === '') throw new TypeError('a read of the trail needs the name of who ran it');
  const about = [...new Set([read.recordId, read.subjectId].filter((id): id is string => id !== undefined))];
  const scope = Object.fromEntries(
    Object.entries(read.scope)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, String(v)]),
  );
  return trailEntry({
    requestId: randomUUID(),
    user: by,
    purpose: TRAIL_PURPOSE,
    resource: TRAIL_RESOURCE,
    action: read.action,
    status: 200,
    recordIds: about,
    ...(about.length === 0 ? {} : { subjectIds: about }),
    transforms: scope,
    policyVersion: '',
  });
}
