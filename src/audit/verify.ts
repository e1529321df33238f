import { GENESIS_HASH, hashEvent } from './event.js';
import { fromRow, type AuditRow } from './row.js';
import type { VerifyResult } from './store.js';

/**
 * Walks rows ordered by (chain, seq) and reports the first one that breaks
 * its chain. Checks run in the order that names the cause best: a seq gap
 * means events were deleted; a prevHash that does not match the event before
 * means one was inserted, deleted or moved; an event whose own hash does not
 * match its fields was changed.
 *
 * @example
 * const result = await verifyRows(pagesOfRows(db), total, (done, total) => bar.update(done / total));
 */
export async function verifyRows(
  pages: AsyncIterable<AuditRow[]>,
  total: number,
  onProgress?: (done: number, total: number) => void,
): Promise<VerifyResult> {
  let chain: string | undefined;
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let events = 0;
  const heads: { chain: string; seq: number; hash: string }[] = [];
  for await (const rows of pages) {
    for (const row of rows) {
      const where = { eventId: String(row.id), chain: String(row.chain), seq: Number(row.seq) };
      let event;
      try {
        event = fromRow(row);
      } catch {
        return { ok: false, ...where, kind: 'unreadable', reason: 'a stored field cannot be read: the event was changed after it was written' };
      }
      if (event.chain !== chain) {
        chain = event.chain;
        expectedSeq = 1;
        prevHash = GENESIS_HASH;
        heads.push({ chain, seq: 0, hash: GENESIS_HASH });
      }
      if (event.seq !== expectedSeq) {
        const reason = event.seq > expectedSeq
          ? `seq gap: expected seq ${expectedSeq}, found ${event.seq}: ${gapText(event.seq - expectedSeq)} deleted before it`
          : `seq ${event.seq} appears twice: an event was inserted`;
        return { ok: false, ...where, kind: 'gap', reason };
      }
      if (event.prevHash !== prevHash) {
        const reason = event.seq === 1
          ? 'prevHash mismatch: the first event of the chain does not start from the genesis hash (events before it were deleted, or it was inserted)'
          : `prevHash mismatch: it is not chained to the event at seq ${event.seq - 1} (an event was deleted, inserted or reordered)`;
        return { ok: false, ...where, kind: 'link', reason };
      }
      if (hashEvent(event) !== event.hash) {
        return { ok: false, ...where, kind: 'changed', reason: 'hash mismatch: the event was changed after it was written' };
      }
      prevHash = event.hash;
      expectedSeq += 1;
      events += 1;
      heads[heads.length - 1] = { chain, seq: event.seq, hash: event.hash };
      onProgress?.(events, Math.max(total, events));
    }
  }
  return { ok: true, events, chains: heads.length, heads };
}

function gapText(n: number): string {
  return n === 1 ? '1 event was' : `${n} events were`;
}
