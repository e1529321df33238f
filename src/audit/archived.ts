import type { ArchiveRecord } from './event.js';
import type { AuditStore } from './types.js';

/*
 * What a trail says it archived: its latest checkpoint lists every archive
 * the chain depends on. The readers that do not walk archive files (query,
 * report, export) use it to say which events they did not see.
 */

/**
 * The archived beginning of a chain: seq 1 to `through`, in `archives`
 * (oldest first, as the latest checkpoint lists them).
 *
 * @example
 * const a = await archivedRange(store); // { through: 1200, archives: [{ file: 'audit-2025.jsonl', … }] } | undefined
 */
export interface ArchivedRange {
  through: number;
  archives: ArchiveRecord[];
}

/**
 * The chain's archived beginning as its latest checkpoint lists it, or
 * undefined when nothing was archived. Trusts the trail as stored (verify
 * checks the checkpoints).
 *
 * @example
 * const archived = await archivedRange(store, 'main');
 */
export async function archivedRange(store: AuditStore, chain?: string): Promise<ArchivedRange | undefined> {
  const [latest] = await store.query({ chain, action: 'archive', limit: 1 });
  const archives = latest?.archives;
  const last = archives?.[archives.length - 1];
  if (archives === undefined || last === undefined) return undefined;
  return { through: last.to.seq, archives };
}

/**
 * The archives that hold seq `from` to `to` (inclusive).
 *
 * @example
 * holding(archived, 6, 10).map((a) => a.file); // ['audit-2025.jsonl']
 */
export function holding(archived: ArchivedRange, from: number, to: number): ArchiveRecord[] {
  return archived.archives.filter((a) => a.to.seq >= from && a.from.seq < to);
}

/**
 * One line saying which events a reader of the live trail did not search:
 * `seq 1 to 1200 are archived (audit-2025.jsonl) and were not searched`.
 *
 * @example
 * if (archived) process.stderr.write(`${notSearchedLine(archived)}\n`);
 */
export function notSearchedLine(archived: ArchivedRange): string {
  const files = archived.archives.map((a) => a.file).join(', ');
  return `seq 1 to ${archived.through} are archived (${files}) and were not searched: search the archive files for them`;
}
