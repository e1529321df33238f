import { canonicalJson } from '../lib/canonical-json.js';
import { GENESIS_HASH, hashEvent, type ArchiveRecord, type AuditEvent } from './event.js';
import { fromRow, storedTypeProblem, type AuditRow } from './row.js';
import type { ChainHead, VerifyResult } from './types.js';
import { CHAIN_NAME, chainKeyCheck, genesisHash, keyProblem, type TrailMode } from './trail-mode.js';

/**
 * What verifying one trail needs besides its rows.
 */
export interface VerifyContext {
  /** The trail's own chain and hash mode, as recorded by its store. */
  mode: TrailMode;
  chainKey: string | Buffer | undefined;
  /** Events per chain, as stored. */
  counts: Record<string, number>;
  expectHead?: ChainHead | undefined;
  /** Whether the table still allows one row per (chain, seq): its UNIQUE constraint is there. */
  uniqueSeq: boolean;
  /** Counts the rows as stored, to compare with the rows walked (see `StoredRows`). */
  stored: (chain: string, upTo: number) => Promise<StoredRows>;
  /**
   * Where the walk starts when the events before it were archived: after
   * event `start.seq`, whose hash is `start.hash` (absent: seq 1 after the genesis).
   */
  start?: { seq: number; hash: string } | undefined;
  /**
   * Every archive the chain depends on, as its latest checkpoint lists them:
   * each archive event walked must list a beginning of it. With
   * `reachCheckpoint` (the live trail) the walk must also reach the
   * checkpoint that lists all of them.
   */
  archives?: ArchiveRecord[] | undefined;
  reachCheckpoint?: boolean | undefined;
}

/**
 * The rows a store holds, counted apart from the walk: a walk in keyset
 * pages never sees a second row at a seq where a page ended, nor a row with
 * no chain or seq (PostgreSQL sorts NULL last and no keyset compares with
 * it), so such rows could empty the review queue while verify says intact.
 */
export interface StoredRows {
  /** Rows of the chain at seq `upTo` or below. */
  placed: number;
  /** Rows whose chain or seq is NULL. */
  unplaced: number;
  /** The lowest seq of the chain held by more than one row. */
  duplicateSeq: number | undefined;
}

/**
 * Walks rows ordered by (chain, seq) and reports the first one that breaks
 * its chain. The set of chains is closed: a trail has the one chain its
 * store records, and a chain under any other name was put there by someone
 * else, however well its hashes are computed. Checks run in the order that
 * names the cause best: a seq gap means events were deleted; a prevHash that
 * does not match the event before means one was inserted, deleted or moved;
 * an event whose own hash does not match its fields was changed.
 *
 * Deleting the newest events leaves a chain that is consistent with itself:
 * only `expectHead`, a head recorded elsewhere earlier, detects that.
 *
 * @example
 * const result = await verifyRows(pagesOfRows(db), ctx, (done, total) => bar.update(done / total));
 */
export async function verifyRows(
  pages: AsyncIterable<AuditRow[]>,
  ctx: VerifyContext,
  onProgress?: (done: number, total: number) => void,
): Promise<VerifyResult> {
  const own = ctx.mode.chain;
  if (!CHAIN_NAME.test(own)) {
    // No store records such a name: the record was changed (perhaps to reach a terminal through it).
    return {
      ok: false,
      chain: own,
      kind: 'trail',
      reason: "the trail's record names a chain no store writes: it was changed after it was written",
    };
  }
  const problem = keyProblem(ctx.mode, ctx.chainKey === undefined ? null : chainKeyCheck(ctx.chainKey));
  if (problem !== undefined) return { ok: false, chain: own, kind: 'key', reason: problem };
  if (!ctx.uniqueSeq) {
    const reason =
      'the events table no longer has its UNIQUE (chain, seq) constraint: it was removed after the store created it, ' +
      'which lets a second event share a seq with another';
    return { ok: false, chain: own, kind: 'trail', reason };
  }
  const genesis = genesisHash(ctx.mode, ctx.chainKey);
  const total = Object.values(ctx.counts).reduce((a, b) => a + b, 0);
  const expect = ctx.expectHead;
  const start = ctx.start ?? { seq: 0, hash: genesis };
  const known = ctx.archives ?? [];
  let listed = 0;
  let chain: string | undefined;
  let expectedSeq = start.seq + 1;
  let prevHash = start.hash;
  let events = 0;
  const heads: { chain: string; seq: number; hash: string; events: number }[] = [];
  for await (const rows of pages) {
    for (const row of rows) {
      const where = { eventId: String(row.id), chain: String(row.chain), seq: Number(row.seq) };
      if (where.chain !== own) {
        const n = ctx.counts[where.chain] ?? 0;
        const reason =
          `chain "${where.chain}" (${n} event${n === 1 ? '' : 's'}) is not this trail's: its store writes only chain "${own}", ` +
          'so these events were put there by something else';
        return { ok: false, ...where, kind: 'foreign', reason };
      }
      const badType = storedTypeProblem(row);
      if (badType !== undefined) {
        return { ok: false, ...where, kind: 'unreadable', reason: `${badType}: the event was changed after it was written` };
      }
      if (Number((row as Record<string, unknown>).time_sub_ms ?? 0) !== 0) {
        return {
          ok: false,
          ...where,
          kind: 'changed',
          reason: 'time was changed below the millisecond the store writes: the event was changed after it was written',
        };
      }
      let event: ReturnType<typeof fromRow>;
      let hash: ReturnType<typeof hashEvent>;
      try {
        event = fromRow(row);
        // Inside the try: whatever a stored value does to rebuilding or hashing (a number too large, nesting too deep) names this event.
        hash = hashEvent(event, ctx.chainKey);
      } catch {
        return {
          ok: false,
          ...where,
          kind: 'unreadable',
          reason: 'a stored field cannot be read: the event was changed after it was written',
        };
      }
      if (event.chain !== chain) {
        chain = event.chain;
        expectedSeq = start.seq + 1;
        prevHash = start.hash;
        heads.push({ chain, seq: 0, hash: GENESIS_HASH, events: 0 });
      }
      if (event.seq <= start.seq) {
        const reason =
          `seq ${event.seq} is archived: the chain starts at seq ${start.seq + 1}, after the archives that end at seq ${start.seq}, ` +
          'so this row was left behind or put back after archiving';
        return { ok: false, ...where, kind: 'gap', reason };
      }
      if (event.seq !== expectedSeq) {
        const reason =
          event.seq > expectedSeq
            ? `seq gap: expected seq ${expectedSeq}, found ${event.seq}: ${gapText(event.seq - expectedSeq)} deleted before it`
            : `seq ${event.seq} appears twice: an event was inserted`;
        return { ok: false, ...where, kind: 'gap', reason };
      }
      if (event.prevHash !== prevHash) {
        const reason =
          event.seq === 1
            ? "prevHash mismatch: the first event of the chain does not start from this trail's genesis hash " +
              '(events before it were deleted, it was inserted, or the events were copied from another trail)'
            : `prevHash mismatch: it is not chained to the event at seq ${event.seq - 1} (an event was deleted, inserted or reordered)`;
        return { ok: false, ...where, kind: 'link', reason };
      }
      if (hash !== event.hash) {
        return { ok: false, ...where, kind: 'changed', reason: 'hash mismatch: the event was changed after it was written' };
      }
      if (event.archives !== undefined) {
        const problem = checkpointProblem(event, genesis, known, listed);
        if (problem !== undefined) return { ok: false, ...where, kind: 'link', reason: problem };
        listed = event.archives.length;
      }
      if (expect !== undefined && event.seq === expect.seq && event.hash !== expect.hash) {
        const reason =
          `not the expected head: seq ${expect.seq} should have hash ${expect.hash}, found ${event.hash}: ` +
          'the chain was rewritten from this event or an earlier one';
        return { ok: false, ...where, kind: 'rewritten', reason };
      }
      prevHash = event.hash;
      expectedSeq += 1;
      events += 1;
      heads[heads.length - 1] = { chain, seq: event.seq, hash: event.hash, events: event.seq - start.seq };
      onProgress?.(events, Math.max(total, events));
    }
  }
  const last = heads.find((h) => h.chain === own)?.seq ?? 0;
  const stored = await ctx.stored(own, last);
  if (stored.placed !== events || stored.unplaced > 0 || stored.duplicateSeq !== undefined) {
    const found: string[] = [];
    if (stored.duplicateSeq !== undefined) found.push(`a second row at seq ${stored.duplicateSeq}`);
    if (stored.unplaced > 0) found.push(`${stored.unplaced} row${stored.unplaced === 1 ? '' : 's'} with no chain or seq`);
    if (found.length === 0) found.push(`${stored.placed} rows at seq 1 to ${last}`);
    const reason =
      `${events} event${events === 1 ? '' : 's'} of chain "${own}" were walked, but the table holds ${found.join(' and ')}: ` +
      'rows were added beside the chain where the walk does not reach them';
    return { ok: false, chain: own, kind: 'hidden', reason };
  }
  if (ctx.reachCheckpoint === true && listed < known.length) {
    const reason =
      `the checkpoint listing ${known.length} archive${known.length === 1 ? '' : 's'} (through seq ${start.seq}) is not in the chain walked: ` +
      'it was deleted or moved after it was written';
    return { ok: false, chain: own, kind: 'hidden', reason };
  }
  if (expect !== undefined && last < expect.seq) {
    const cut = expect.seq - last;
    const reason =
      `truncated: chain "${own}" ends at seq ${last}, before the expected head at seq ${expect.seq}: ` +
      `${gapText(cut)} deleted from its end`;
    return { ok: false, chain: own, kind: 'truncated', reason };
  }
  if (known.length === 0) return { ok: true, events, chains: heads.length, heads };
  return { ok: true, events, chains: heads.length, heads, archived: { seq: start.seq, hash: start.hash, archives: known } };
}

/**
 * Why a checkpoint (an `archive` event) cannot be the one the archive step
 * wrote: its archives must follow one another from the genesis, each `from`
 * the `to` of the one before, hold `to.seq - from.seq` events, end before
 * the checkpoint itself, and be a beginning of the list the chain's latest
 * checkpoint gives, longer than the checkpoint walked before it.
 */
function checkpointProblem(event: AuditEvent, genesis: string, known: ArchiveRecord[], listed: number): string | undefined {
  const list = event.archives ?? [];
  let before = { seq: 0, hash: genesis };
  for (const a of list) {
    if (a.from.seq !== before.seq || a.from.hash !== before.hash || a.to.seq - a.from.seq !== a.events) {
      return `the archives this checkpoint lists do not follow one another from the genesis (at ${a.file}): it was changed after it was written`;
    }
    before = a.to;
  }
  if (before.seq >= event.seq) return 'this checkpoint lists archives that end at or after it: it was changed after it was written';
  const beginning = list.length > listed && list.every((a, i) => known[i] !== undefined && canonicalJson(a) === canonicalJson(known[i]));
  if (!beginning) {
    return "this checkpoint's archives are not a beginning of the latest checkpoint's: a checkpoint was changed, inserted or removed";
  }
  return undefined;
}

/**
 * Parses a head as `audit head` prints it: `SEQ:HASH`.
 *
 * @example
 * parseChainHead('1204:9f2c…'); // { seq: 1204, hash: '9f2c…' }
 */
export function parseChainHead(text: string): ChainHead | undefined {
  const m = /^(\d{1,15}):([0-9a-f]{64})$/.exec(text.trim());
  if (m === null) return undefined;
  const head = { seq: Number(m[1]), hash: m[2] as string };
  return head.seq === 0 && head.hash !== GENESIS_HASH ? undefined : head;
}

function gapText(n: number): string {
  return n === 1 ? '1 event was' : `${n} events were`;
}
