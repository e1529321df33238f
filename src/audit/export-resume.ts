import type { SavedPosition } from './export-stream.js';
import type { AuditStore } from './types.js';

/*
 * Whether an export may resume from a saved position. Resuming after seq N
 * is sound only when the trail still holds the event the position was saved
 * at: the same seq with the same hash. A cursor from another trail, a
 * hand-made one, or one saved before this trail was rolled back (a restore,
 * a failover to a replica that had not received the newest events, whose
 * seqs new events then took) names an event the trail does not hold, and
 * resuming from its seq would skip, without a word, every event the trail
 * holds up to it.
 */

/**
 * Why a position cannot be resumed from, as data: `trail` (saved from a
 * trail with another id), `unchecked` (a cursor
 * written before cursors recorded a hash), `beyond` (the seq is past the
 * trail's head), `other` (another event, another hash, at that seq),
 * `missing` (no event at that seq, and it is not where an archive ends).
 * A position behind the archived events is not refused here: `exportRange`
 * refuses any start inside the archived range, naming the archive.
 */
export interface ResumeProblem {
  kind: 'trail' | 'unchecked' | 'beyond' | 'other' | 'missing';
  reason: string;
}

/**
 * Checks a saved position against the trail: undefined when the trail still
 * holds its event (or, archived, it is where the last archive ends, with the
 * hash the checkpoint records) and, when both record one, has the trail's
 * id, else why not. `head` is the seq of the
 * chain's last event (0 when empty).
 *
 * @example
 * const problem = await resumeProblem(store, { chain: 'main', seq: 18, hash: '9f2c…' }, 6);
 * problem?.kind; // 'beyond'
 */
export async function resumeProblem(store: AuditStore, position: SavedPosition, head: number): Promise<ResumeProblem | undefined> {
  const { chain, seq, hash } = position;
  const trail = (await store.trailId?.()) ?? null;
  if (position.trail !== undefined && trail !== null && position.trail !== trail) {
    return { kind: 'trail', reason: `it was saved from the trail with id ${position.trail}, and this trail's id is ${trail}` };
  }
  if (seq > head) {
    return { kind: 'beyond', reason: `it names seq ${seq}, but the trail's chain ends at seq ${head}` };
  }
  const [checkpoint] = await store.query({ chain, action: 'archive', limit: 1 });
  const last = checkpoint?.archives?.at(-1)?.to;
  // Behind the archived events: not this function's to explain; `exportRange` refuses it, naming the archive that holds them.
  if (last !== undefined && seq < last.seq) return undefined;
  if (seq === 0) return undefined;
  const [event] = await store.query({ chain, afterSeq: seq - 1, throughSeq: seq, limit: 1 });
  const held = event?.hash ?? (last?.seq === seq ? last.hash : undefined);
  if (hash === undefined) {
    return {
      kind: 'unchecked',
      reason: 'it holds no hash (an earlier version wrote it), so whether the trail still holds the event it names cannot be checked',
    };
  }
  if (held === undefined) return { kind: 'missing', reason: `the trail holds no event at seq ${seq}` };
  if (held !== hash) return { kind: 'other', reason: `the event at seq ${seq} has hash ${held}, not ${hash}` };
  return undefined;
}
