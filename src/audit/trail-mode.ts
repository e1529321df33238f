import { createHmac } from 'node:crypto';
import { checkedKey } from '../keys.js';

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
export function wantedMode(chain: string, key: string | Buffer | undefined): TrailMode {
  return key === undefined ? { chain, keyed: false, keyCheck: null } : { chain, keyed: true, keyCheck: chainKeyCheck(key) };
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
 * What a writer records when it opens a trail, and whether it may write.
 * A new trail takes the writer's mode. A trail written before modes were
 * recorded holds SHA-256 events, so it is recorded as not keyed. An empty
 * trail takes the mode of the writer (nothing yet depends on the old one).
 *
 * @example
 * const { record, problem } = claimMode(recorded, eventCount > 0, wantedMode('main', key));
 */
export function claimMode(
  recorded: TrailMode | undefined,
  hasEvents: boolean,
  wanted: TrailMode,
): { record: TrailMode | undefined; problem: string | undefined } {
  let mode = recorded;
  let record: TrailMode | undefined;
  if (mode === undefined) {
    mode = hasEvents ? { chain: wanted.chain, keyed: false, keyCheck: null } : wanted;
    record = mode;
  } else if (!hasEvents && (mode.chain !== wanted.chain || mode.keyed !== wanted.keyed || mode.keyCheck !== wanted.keyCheck)) {
    mode = wanted;
    record = mode;
  }
  const problem = mode.chain !== wanted.chain
    ? `this trail's chain is "${mode.chain}", not "${wanted.chain}"`
    : keyProblem(mode, wanted.keyCheck);
  return { record, problem };
}
