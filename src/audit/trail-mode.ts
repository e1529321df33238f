import { createHmac, randomUUID } from 'node:crypto';
import { checkedKey } from '../lib/keys.js';
import { GENESIS_HASH } from './event.js';

/**
 * What a trail records about itself when it is first written: its one chain
 * and how that chain is hashed. Never the key: only a check value that tells
 * the right key from a wrong one.
 *
 * @example
 * const mode: TrailMode = { chain: 'main', keyed: true, keyCheck: chainKeyCheck(key) };
 */
export interface TrailMode {
  chain: string;
  /** true: HMAC-SHA256 with the chain key; false: SHA-256. */
  keyed: boolean;
  /** HMAC of a fixed text under the key (keyed trails only). */
  keyCheck: string | null;
  /**
   * A random id given to the trail when its mode is first recorded. A keyed
   * chain starts from a genesis derived from it (see `genesisHash`), so events
   * moved over from another trail under the same key do not verify. null: a
   * record written before trail ids existed.
   */
  trailId?: string | null | undefined;
  /**
   * How the trail stores record ids: `none` (as they are), the check value of
   * the record-id key (see `recordKeyCheck`), or null when not recorded yet
   * (a trail written before this was recorded: its next writer claims it).
   */
  recordKey?: string | null | undefined;
}

/**
 * The trail's record as either store reads it (`SELECT *`: a read-only store
 * does not migrate, so an older record lacks the later columns; SQLite
 * stores `keyed` as 0 or 1, PostgreSQL as a boolean).
 *
 * @example
 * const mode = modeFromRow(db.prepare('SELECT * FROM fieldmesh_audit_trail WHERE id = 1').get());
 */
export function modeFromRow(row: {
  chain: unknown;
  keyed: unknown;
  key_check: string | null;
  trail_id?: string | null | undefined;
  record_key?: string | null | undefined;
}): TrailMode {
  return {
    chain: String(row.chain),
    keyed: row.keyed === true || row.keyed === 1,
    keyCheck: row.key_check,
    trailId: row.trail_id ?? null,
    recordKey: row.record_key ?? null,
  };
}

/**
 * Chain names a store accepts: they are written into every event and printed
 * by the CLI, so nothing a terminal could act on, and short.
 *
 * @example
 * CHAIN_NAME.test('ward-7'); // true
 */
export const CHAIN_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * The chain option, checked: a name matching CHAIN_NAME (default `main`).
 * Anything else is a TypeError when the store is opened.
 *
 * @example
 * chainFrom({ chain: 'ward-7' }); // 'ward-7'
 */
export function chainFrom(opts: { chain?: string | undefined }): string {
  const chain = opts.chain ?? 'main';
  if (typeof chain !== 'string' || !CHAIN_NAME.test(chain)) {
    throw new TypeError('openAuditStore: chain must be 1 to 64 characters of A-Z, a-z, 0-9, ".", "_" or "-"');
  }
  return chain;
}

/**
 * The prevHash of a chain's first event. SHA-256 trails start from
 * GENESIS_HASH, as they always have; a keyed trail with a trail id starts
 * from an HMAC of that id and of its record-id key check under the chain
 * key. That binds its events to this trail (a copy of another trail's
 * events, keyed alike, fails at seq 1) and the trail's record to its chain:
 * changing how it says record ids are stored (to make `report --record`
 * search for raw ids and find nothing) fails verify at seq 1 too.
 *
 * @example
 * genesisHash({ chain: 'main', keyed: true, keyCheck: '…', trailId: 'a1…', recordKey: 'none' }, key); // 64 hex, not zeros
 */
export function genesisHash(mode: TrailMode, chainKey: string | Buffer | undefined): string {
  if (!mode.keyed || chainKey === undefined || mode.trailId === null || mode.trailId === undefined) return GENESIS_HASH;
  return createHmac('sha256', chainKey)
    .update(`fieldmesh:genesis:${mode.trailId}:${mode.recordKey ?? ''}`)
    .digest('hex');
}

/**
 * The value stored to recognise the record-id key (`none` without one).
 * Domain-separated from the pseudonyms it checks.
 *
 * @example
 * recordKeyCheck(undefined); // 'none'
 */
export function recordKeyCheck(key: string | Buffer | undefined): string {
  return key === undefined ? 'none' : createHmac('sha256', key).update('fieldmesh-audit-record-key-check').digest('hex');
}

/**
 * Why a store whose record-id key has check value `wanted` would find the
 * wrong events (or write ids no query finds) on a trail that records
 * `recorded`, or undefined when it would not (or the trail records nothing).
 *
 * @example
 * recordKeyProblem('none', recordKeyCheck('a-record-key-0123')); // 'this trail stores record ids as they are …'
 */
export function recordKeyProblem(recorded: string | null | undefined, wanted: string): string | undefined {
  if (recorded === null || recorded === undefined || recorded === wanted) return undefined;
  if (recorded === 'none') {
    return 'this trail stores record ids as they are, but a record-id key (FIELDMESH_AUDIT_RECORD_KEY) is set';
  }
  if (wanted === 'none') {
    return 'this trail stores record ids as keyed pseudonyms: set FIELDMESH_AUDIT_RECORD_KEY (option recordIdKey) to the key it was started with';
  }
  return 'the record-id key (FIELDMESH_AUDIT_RECORD_KEY) is not the key this trail was started with';
}

/**
 * The chain key from the options, checked: at least 16 characters (or bytes).
 * Misuse is a TypeError when the store is opened, not a surprise at the first append.
 *
 * @example
 * chainKeyFrom({ chainKey: process.env.FIELDMESH_AUDIT_CHAIN_KEY }); // the key, or undefined
 */
export function chainKeyFrom(opts: { chainKey?: string | Buffer | undefined }): string | Buffer | undefined {
  return checkedKey('openAuditStore: chainKey', opts.chainKey);
}

/**
 * The value stored to recognise the key. Domain-separated from event hashes,
 * so it is never the hash of any event.
 *
 * @example
 * chainKeyCheck('a-chain-key-of-16+'); // '3f0c…' (64 hex)
 */
export function chainKeyCheck(key: string | Buffer): string {
  return createHmac('sha256', key).update('fieldmesh-audit-chain-key-check').digest('hex');
}

/**
 * The mode a store with these options writes.
 *
 * @example
 * wantedMode('main', undefined); // { chain: 'main', keyed: false, keyCheck: null }
 */
export function wantedMode(chain: string, key: string | Buffer | undefined, recordIdKey?: string | Buffer | undefined): TrailMode {
  const recordKey = recordKeyCheck(recordIdKey);
  return key === undefined
    ? { chain, keyed: false, keyCheck: null, recordKey }
    : { chain, keyed: true, keyCheck: chainKeyCheck(key), recordKey };
}

/**
 * Why the key whose check value is `keyCheck` (null: no key) cannot verify
 * or extend a trail recorded in `mode`, or undefined when it can. A missing
 * key and a wrong key are said as such, not reported as tampering. A key
 * given for a trail that says it is not keyed fails too: the record may have
 * been downgraded so that events could be forged with plain SHA-256.
 *
 * @example
 * keyProblem({ chain: 'main', keyed: true, keyCheck: '…' }, null); // 'this trail is keyed: set FIELDMESH_AUDIT_CHAIN_KEY …'
 */
export function keyProblem(mode: TrailMode, keyCheck: string | null): string | undefined {
  if (mode.keyed && keyCheck === null) {
    return 'this trail is keyed: set FIELDMESH_AUDIT_CHAIN_KEY (option chainKey) to the key it was started with';
  }
  if (!mode.keyed && keyCheck !== null) {
    return 'this trail is not keyed, but a chain key (FIELDMESH_AUDIT_CHAIN_KEY) is set: it was started without one, or its record of the key was removed';
  }
  if (keyCheck !== null && mode.keyCheck !== keyCheck) {
    return 'the chain key (FIELDMESH_AUDIT_CHAIN_KEY) is not the key this trail was started with';
  }
  return undefined;
}

/**
 * Why a writer may not extend a trail (see `writeProblems`); undefined members: it may.
 */
export interface WriteProblems {
  chain: string | undefined;
  records: string | undefined;
}

/**
 * Why a writer in mode `wanted` may not extend a trail recorded as `mode`:
 * `chain` (another chain name, a missing or wrong chain key) stops every
 * write; `records` (another record-id key) stops events that name records,
 * not a review, which names none. The one rule both a writer opening the
 * trail and every append (under the write lock) apply.
 *
 * @example
 * writeProblems(recorded, wantedMode('main', key, recordKey)); // { chain: undefined, records: undefined }
 */
export function writeProblems(mode: TrailMode | undefined, wanted: TrailMode): WriteProblems {
  if (mode === undefined) {
    return { chain: "the trail's record of its chain and keys was removed after this store opened it", records: undefined };
  }
  const chain =
    mode.chain !== wanted.chain ? `this trail's chain is "${mode.chain}", not "${wanted.chain}"` : keyProblem(mode, wanted.keyCheck);
  return { chain, records: recordKeyProblem(mode.recordKey, wanted.recordKey ?? 'none') };
}

/**
 * What a writer records when it opens a trail, and whether it may write.
 * A new trail takes the writer's mode and a new trail id. A trail written
 * before modes were recorded holds SHA-256 events, so it is recorded as not
 * keyed. An empty trail takes the chain and chain key of the writer (nothing
 * yet depends on the old ones), but never another record-id key once one is
 * recorded: two writers opening a new trail with different record-id keys
 * would otherwise each believe the trail theirs. A trail that does not record
 * its record-id key yet records the writer's.
 */
export function claimMode(
  recorded: TrailMode | undefined,
  hasEvents: boolean,
  wanted: TrailMode,
): { record: TrailMode | undefined; problems: WriteProblems } {
  let mode = recorded;
  let record: TrailMode | undefined;
  if (mode === undefined) {
    mode = hasEvents
      ? { chain: wanted.chain, keyed: false, keyCheck: null, trailId: null, recordKey: wanted.recordKey }
      : { ...wanted, trailId: randomUUID() };
    record = mode;
  } else if (
    !hasEvents &&
    (mode.chain !== wanted.chain ||
      mode.keyed !== wanted.keyed ||
      mode.keyCheck !== wanted.keyCheck ||
      (mode.keyed && (mode.trailId === null || mode.trailId === undefined)))
  ) {
    mode = { ...wanted, trailId: randomUUID(), recordKey: mode.recordKey ?? wanted.recordKey };
    record = mode;
  } else if ((mode.recordKey === null || mode.recordKey === undefined) && wanted.recordKey !== undefined) {
    mode = { ...mode, recordKey: wanted.recordKey };
    record = mode;
  }
  return { record, problems: writeProblems(mode, wanted) };
}
