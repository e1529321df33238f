import type { ArchiveRecord, AuditEntry, AuditEvent } from './event.js';
import type { CommitObservation } from './group-commit.js';

/*
 * The audit store contract: what every trail does, whatever holds it. It
 * imports no driver, so code that only passes a store around (the shells,
 * the CLI's formatting, the break-glass alert) loads neither SQLite nor
 * PostgreSQL; `open.ts` loads the one a target names.
 */

/**
 * Which events to list. Every member narrows; none lists everything.
 *
 * @example
 * await store.query({ user: 'u1', since: '2026-01-01', breakGlass: true, limit: 50 });
 */
export interface AuditFilter {
  user?: string | undefined;
  purpose?: string | undefined;
  resource?: string | undefined;
  /** Events that disclosed or withheld this record (the raw id: the store pseudonymises it when configured to). */
  recordId?: string | undefined;
  /**
   * Events that disclosed or withheld a record about this person, whichever
   * resource (the raw id, pseudonymised as record ids are).
   */
  subject?: string | undefined;
  /** Inclusive lower bound on `time`. */
  since?: string | Date | undefined;
  /** Exclusive upper bound on `time`. */
  until?: string | Date | undefined;
  decision?: 'disclosed' | 'refused' | undefined;
  action?: AuditEvent['action'] | undefined;
  /** true: only break-glass events; false: none of them. */
  breakGlass?: boolean | undefined;
  /** The most recent `limit` matching events (still listed oldest first); with `afterSeq`, the first `limit` after it. */
  limit?: number | undefined;
  /** Only events of this chain. */
  chain?: string | undefined;
  /**
   * Only events after this seq, listed in seq order, `limit` taking the first
   * of them: one page of a walk through the trail (`audit export`). Use with `chain`.
   */
  afterSeq?: number | undefined;
  /** Only events at this seq or before. */
  throughSeq?: number | undefined;
}

/**
 * A chain's head: its last event's seq and hash (seq 0 and the genesis hash
 * when empty). Recorded somewhere else, it lets `verify` detect a trail cut
 * short or rewritten since.
 */
export interface ChainHead {
  seq: number;
  hash: string;
}

/**
 * What `verify` found. `reason` says what broke; `kind` is the same for machines:
 * `changed` (hash mismatch), `gap` (seq gap: events deleted), `link` (prevHash
 * mismatch: deleted, inserted or reordered), `unreadable` (a stored field cannot
 * be parsed), `foreign` (a chain this trail's store never writes), `rewritten`
 * (the event at the expected head's seq has another hash), and, naming no
 * event, `truncated` (the chain ends before the expected head), `key`
 * (the chain key is missing, wrong, or given for a trail that is not keyed)
 * `trail` (the trail's own record names a chain no store writes, or the table
 * lost its UNIQUE (chain, seq) constraint) and `hidden` (the table holds rows
 * the walk did not reach: a second row at a seq, or a row with no chain or seq).
 * `unreadable` also covers a value stored with another type than the store
 * writes (a BLOB where text was written, a JSON string where a list was),
 * review columns set on an event that reviews nothing, and any value the
 * event cannot be rebuilt or hashed from.
 * An intact trail lists each chain's head and number of events.
 *
 * @example
 * const r = await store.verify();
 * if (!r.ok) console.error('eventId' in r ? `event ${r.eventId} (chain ${r.chain}, seq ${r.seq}): ${r.reason}` : r.reason);
 */
export type VerifyResult =
  | {
      ok: true;
      events: number;
      chains: number;
      heads: { chain: string; seq: number; hash: string; events: number }[];
      /**
       * When events were archived: the live chain starts after seq `seq`
       * (hash `hash`), and depends on these archives. `verified` lists the
       * archive files checked (`VerifyOptions.archives`), all of them.
       */
      archived?: { seq: number; hash: string; archives: ArchiveRecord[]; verified?: string[] };
    }
  | {
      ok: false;
      eventId: string;
      chain: string;
      seq: number;
      kind: 'changed' | 'gap' | 'link' | 'unreadable' | 'foreign' | 'rewritten';
      reason: string;
      /** The archive file holding the event, when it is in one. */
      archive?: string;
    }
  | { ok: false; chain: string; kind: 'truncated' | 'key' | 'trail' | 'hidden' | 'archived' | 'archive'; reason: string; archive?: string };

/**
 * What else `verify` checks.
 *
 * @example
 * await store.verify(undefined, { expectHead: { seq: 1204, hash: '9f2c…' } });
 */
export interface VerifyOptions {
  /** A head recorded earlier: the chain must still hold this event with this hash (it may have grown since). */
  expectHead?: ChainHead | undefined;
  /**
   * Archive files (`archive`) to check as well: every archive the trail
   * records must be given, so the chain is verified from its genesis to the
   * live head.
   */
  archives?: string[] | undefined;
}

/**
 * The audit trail. `append` resolves only once the event is durable, so a
 * caller that awaits it before responding never discloses without a record.
 *
 * @example
 * const store = await openAuditStore(process.env.FIELDMESH_AUDIT ?? './fieldmesh-audit.db');
 * await store.append(entry);
 */
export interface AuditStore {
  /** Rejects with a FieldmeshError coded audit_unavailable (503) when the trail cannot be written. */
  append(entry: AuditEntry): Promise<AuditEvent>;
  query(filter?: AuditFilter): Promise<AuditEvent[]>;
  /** How many events match (`limit` is ignored). */
  count(filter?: AuditFilter): Promise<number>;
  /**
   * Checks the chain. The trail has one chain, the one its store records on
   * first write (`chain`); events under any other name fail. On a keyed trail
   * it needs the same `chainKey`.
   */
  verify(onProgress?: (done: number, total: number) => void, options?: VerifyOptions): Promise<VerifyResult>;
  /**
   * Break-glass events (disclosed or refused) that no review acknowledges yet, oldest first.
   * A review counts only in the same chain, after the event it reviews.
   */
  pendingReviews(): Promise<AuditEvent[]>;
  /** Appends a chained `review` event acknowledging break-glass event `eventId`. */
  acknowledge(eventId: string, by: string, note: string): Promise<AuditEvent>;
  /**
   * Moves the beginning of the chain (events before `before`) into a new
   * archive file that verifies by itself, then, in one transaction under
   * the write lock, deletes those rows and appends a checkpoint (an
   * `archive` event) from which the live chain verifies. Refusals are data
   * (`ok: false`, nothing changed); an I/O failure rejects, nothing changed.
   */
  archive(options: ArchiveOptions): Promise<ArchiveOutcome>;
  /** Whether an event could be written now. */
  healthy(): Promise<boolean>;
  /**
   * The random id the trail was given when its mode was first recorded (null:
   * a trail recorded before trail ids, or not written yet). Optional, for
   * stores written elsewhere: an export's cursor records it when known, so a
   * cursor from another trail is told apart from one this trail outgrew.
   */
  trailId?(): Promise<string | null>;
  /** Waits for appends in flight, then releases the file or pool. */
  close(): Promise<void>;
}

/**
 * Options common to both stores.
 *
 * @example
 * await openAuditStore({ sqlite: './audit.db' }, { recordIdKey: process.env.FIELDMESH_AUDIT_RECORD_KEY });
 */
export interface AuditStoreOptions {
  /** Store HMAC pseudonyms of record ids instead of the ids themselves. */
  recordIdKey?: string | Buffer | undefined;
  /** Chain id (default `main`), recorded when the trail is first written: every writer of one trail shares it. */
  chain?: string | undefined;
  /**
   * Key the chain with HMAC-SHA256 instead of SHA-256 (at least 16 characters):
   * writing an event that verifies then needs the key, not just access to the
   * database. A trail is keyed or not from its first event on.
   */
  chainKey?: string | Buffer | undefined;
  /** Open for reading only (SQLite: the file must exist and is never created). */
  readonly?: boolean | undefined;
  /** Most events written in one transaction (default 500). */
  maxBatch?: number | undefined;
  /** Hears of each group commit (its size, duration, success): how the shells feed their metrics without the trail loading a metrics library. */
  onCommit?: ((batch: CommitObservation) => void) | undefined;
  /** PostgreSQL schema holding the tables (created when missing; default: the search_path's). */
  schema?: string | undefined;
  /** PostgreSQL: connection, query and lock wait limit in ms (default 5000). */
  timeoutMs?: number | undefined;
}

/**
 * `./fieldmesh-audit.db`, `{ sqlite: path }`, `postgres://…` or `{ postgres: url }`.
 *
 * @example
 * const target: AuditTarget = process.env.FIELDMESH_AUDIT ?? { sqlite: './fieldmesh-audit.db' };
 */
export type AuditTarget = string | { sqlite: string } | { postgres: string };

/**
 * What `AuditStore.archive` is asked.
 *
 * @example
 * await store.archive({ before: new Date('2026-01-01T00:00:00Z'), out: '/archive/audit-2025.jsonl' });
 */
export interface ArchiveOptions {
  /** Archive events whose time is before this (and every event before them in the chain): not in the future. */
  before: Date;
  /** The archive file to create; it must not exist. */
  out: string;
  /** Archive break-glass events no review acknowledges yet too (refused otherwise). */
  includeUnreviewed?: boolean | undefined;
  /** Who archives, recorded in the checkpoint (default: the operating-system user). */
  by?: string | undefined;
}

/**
 * What archiving did. `ok: false` changed nothing in the trail and left no
 * file: `nothing` (no event to archive), `exists` (the file is there),
 * `before` (a date in the future), `broken` (the chain does not verify:
 * `verify` holds why), `unreviewed` (a break-glass event awaiting review is
 * in the range), `changed` (the trail changed under the archive: another
 * archive, or its rows). Except `unknown`: the checkpoint's COMMIT was sent,
 * no answer came and the trail could not be checked, so the archive `file`
 * is kept (it may hold the only copy of the events); `verify --archive`
 * says which it was once the trail is back.
 * `ok: true` with a `note`: the answer to COMMIT was lost, and the trail,
 * checked again, holds the checkpoint.
 */
export type ArchiveOutcome =
  | { ok: true; file: string; record: ArchiveRecord; checkpoint: AuditEvent; note?: string }
  | {
      ok: false;
      kind: 'nothing' | 'exists' | 'before' | 'broken' | 'unreviewed' | 'changed';
      reason: string;
      verify?: VerifyResult;
    }
  | { ok: false; kind: 'unknown'; file: string; reason: string };
