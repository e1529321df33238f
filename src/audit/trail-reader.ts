import type { SqlDialect } from './dialect.js';
import type { TrailMode } from './trail-mode.js';

/**
 * How a store reads its trail: what the reads both stores make need from a
 * driver. Each member rejects with `audit_unavailable` (doing: read) when the
 * trail cannot be read.
 */
export interface TrailReader {
  /** The events table. */
  table: string;
  dialect: SqlDialect;
  /** What the verify walk selects: every column, and whatever else the driver needs to see a changed value. */
  verifyColumns: string;
  /** The rows a SELECT returns. */
  all<R>(sql: string, params?: unknown[]): Promise<R[]>;
  /** The trail's record of its chain and keys, undefined when there is none. */
  mode(): Promise<TrailMode | undefined>;
  /** Whether the events table still has its UNIQUE (chain, seq) constraint. */
  uniqueSeq(): Promise<boolean>;
  /**
   * Runs `fn` with a reader whose reads all see the trail as it was at its
   * first one (SQLite: a read transaction on a connection of its own;
   * PostgreSQL: a REPEATABLE READ, READ ONLY transaction), so a walk of many
   * pages never sees rows an archive deleted half way through it.
   */
  snapshot?<R>(fn: (reader: TrailReader) => Promise<R>): Promise<R>;
}
