import { archivedRange, holding } from './archived.js';
import type { AuditStore } from './types.js';

/**
 * Where an export walks: after `after` through `through` (the head's seq
 * when it began). `archived`: the events right after `after`, seq
 * `archived.from` to `archived.to`, are no longer in the trail but in these
 * archive files; the live chain goes on at `archived.to + 1`.
 */
export interface ExportRange {
  through: number;
  archived?: { from: number; to: number; files: string[] };
}

/**
 * The range an export of `chain` after `after` covers. The end is the
 * head's seq now, found from the first event after `after` and how many
 * there are from it on (the live chain has no gap from its first event),
 * never `after` plus a count: archived seqs are not in the trail, and the
 * range would end before the head.
 *
 * @example
 * const { through, archived } = await exportRange(store, 'main', cursor.seq);
 */
export async function exportRange(store: AuditStore, chain: string, after: number): Promise<ExportRange> {
  const [first] = await store.query({ chain, afterSeq: after, limit: 1 });
  if (first === undefined) return { through: after };
  const through = first.seq - 1 + (await store.count({ chain, afterSeq: after }));
  if (first.seq === after + 1) return { through };
  const archived = await archivedRange(store, chain);
  if (archived === undefined || archived.through <= after) return { through };
  const to = Math.min(archived.through, first.seq - 1);
  return { through, archived: { from: after + 1, to, files: holding(archived, after + 1, to).map((a) => a.file) } };
}

/**
 * Why an export that was told where to start (a cursor, `--after`) will not
 * start past archived events, and how to get them.
 *
 * @example
 * throw new Error(archivedStartReason(range.archived, 'audit export --cursor siem.cursor'));
 */
export function archivedStartReason(archived: NonNullable<ExportRange['archived']>, after: number): string {
  const files = archived.files.join(', ');
  const first = archived.files[0] ?? 'FILE';
  return (
    `seq ${archived.from} to ${archived.to}, the next events to export, are archived (in ${files}) and no longer in the trail: ` +
    `export them from the archive (its lines after the first are the events as stored: ` +
    `tail -n +2 ${first} | jq -c 'select(.seq > ${after})'), then go on from the live chain with --after ${archived.to}`
  );
}
