import { randomUUID } from 'node:crypto';
import { parameters, type SqlDialect } from './dialect.js';
import { sealEntries, type AuditEntry, type AuditEvent } from './event.js';
import { chainFrom, chainKeyFrom, genesisHash, wantedMode, writeProblems, type TrailMode } from './trail-mode.js';

/**
 * Entries prepared for the trail (`prepareEntry`), waiting to be chained.
 *
 * @example
 * const batch: Batch = [prepareEntry(entry, { recordIdKey })];
 */
export type Batch = (AuditEntry & { time: string })[];

/**
 * Who is writing: the chain it extends and the mode it writes in (see `wantedMode`).
 */
export interface Writer {
  chain: string;
  chainKey: string | Buffer | undefined;
  wanted: TrailMode;
}

/**
 * The writer a store's options make, checked: a bad chain name or chain key
 * is a TypeError when the store is opened, not a surprise at the first append.
 */
export function writerFrom(opts: {
  chain?: string | undefined;
  chainKey?: string | Buffer | undefined;
  recordIdKey?: string | Buffer | undefined;
}): Writer {
  const chain = chainFrom(opts);
  const chainKey = chainKeyFrom(opts);
  return { chain, chainKey, wanted: wantedMode(chain, chainKey, opts.recordIdKey) };
}

/**
 * The one step both stores take inside their write transaction, holding the
 * trail's write lock, once they have read the trail's record (`mode`) and
 * the chain's last event (`last`): refuse when this writer may no longer
 * extend the trail (another writer may have recorded other keys since this
 * one opened it), else chain the batch after `last`. A review names no
 * records, so `review` lets another record-id key pass. A keyed chain's
 * first event starts from the trail's own genesis.
 *
 * @example
 * const events = sealBatch(batch, writer, readSqliteMode(db), head.get(writer.chain));
 */
export function sealBatch(
  batch: Batch,
  writer: Writer,
  mode: TrailMode | undefined,
  last: { seq: number; hash: string } | undefined,
  review = false,
): AuditEvent[] {
  const problems = writeProblems(mode, writer.wanted);
  const refused = problems.chain ?? (review ? undefined : problems.records);
  if (refused !== undefined) throw new Error(refused);
  const genesis = last === undefined ? genesisHash(mode ?? writer.wanted, writer.chainKey) : undefined;
  return sealEntries(batch, writer.chain, last, randomUUID, writer.chainKey, genesis);
}

/**
 * The chain's last event (`seq`, `hash`), to chain a batch after; no row when the chain is empty.
 */
export function headSql(table: string, dialect: SqlDialect, chain: string): { sql: string; params: unknown[] } {
  const { p, params } = parameters(dialect);
  return { sql: `SELECT seq, hash FROM ${table} WHERE chain = ${p(chain)} ORDER BY seq DESC LIMIT 1`, params };
}
