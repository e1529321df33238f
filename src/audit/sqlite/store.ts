import Database from 'better-sqlite3';
import { FieldmeshError } from '../../lib/errors.js';
import { prepareEntry, type AuditEntry, type AuditEvent } from '../event.js';
import { GroupCommit } from '../group-commit.js';
import { archiveTrail, assertPlan, checkpointSql, checkpointsSql, type CheckpointPlan } from '../archive.js';
import { countEvents, pendingReviewEvents, queryEvents, verifyTrail, type TrailReader } from '../reads.js';
import { reviewBatch, reviewLookupSql } from '../review.js';
import { fromRow, type AuditRow } from '../row.js';
import { writerFrom, type Batch, type Writer } from '../seal.js';
import { DEFAULT_SQLITE_FILE } from '../target.js';
import { writeProblems } from '../trail-mode.js';
import type { ArchiveOptions, ArchiveOutcome, AuditFilter, AuditStore, AuditStoreOptions, VerifyOptions, VerifyResult } from '../types.js';
import { auditUnavailable } from '../unavailable.js';
import { fileIdentity } from './file-identity.js';
import { claimSqliteMode, migrateSqlite, readSqliteMode, sqliteDialect as dialect, SQLITE_TABLE as T } from './schema.js';
import { inlineAppender, threadAppender, type Appender } from './writer-client.js';
import { sealer } from './writer.js';

const NO_APPENDS: Appender = {
  commit: () => Promise.reject(new Error('the store was opened read-only')),
  close: async () => undefined,
};

/**
 * The embedded trail: one SQLite file, WAL, `synchronous=FULL` so a committed
 * event survives power loss. Appends are group-committed: one transaction,
 * one fsync per batch, written by the process's writer thread
 * (`writer-client.ts`) so the fsync never holds the event loop; an append
 * resolves once the thread reports its batch committed. The chain head is
 * read inside `BEGIN IMMEDIATE`, which holds the file's write lock, so two
 * processes sharing a file extend one chain instead of forking it.
 *
 * `internal.writer: 'inline'` commits on the calling thread instead, as the
 * store once did: only for the side-by-side benchmark.
 */
export function openSqliteStore(
  file: string = DEFAULT_SQLITE_FILE,
  options: AuditStoreOptions = {},
  internal: { writer?: 'thread' | 'inline' } = {},
): AuditStore {
  return new SqliteAuditStore(file, options, internal.writer === 'inline' ? inlineAppender : threadAppender);
}

class SqliteAuditStore implements AuditStore {
  readonly #file: string;
  readonly #opts: AuditStoreOptions;
  readonly #writer: Writer;
  readonly #reader: TrailReader;
  readonly #commit: GroupCommit<AuditEntry & { time: string }, AuditEvent>;
  readonly #appender: Appender;
  #db: Database.Database | undefined;
  #reviewTx: Database.Transaction<(eventId: string, by: string, note: string) => AuditEvent> | undefined;
  /** Once a trail has been opened, a vanished file is an incident, not a cue to start an empty one. */
  #opened = false;
  /** device:inode of the file the handle has open. */
  #identity: string | undefined;
  #closed = false;
  /** Why this store may not write to the trail (another chain, a missing or wrong chain key). */
  #cannotWrite: string | undefined;
  /** Why this store may not write events that name records (another record-id key); a review names none. */
  #cannotRecord: string | undefined;

  constructor(file: string, opts: AuditStoreOptions, appender: (file: string, writer: Writer) => Appender) {
    this.#file = file;
    this.#opts = opts;
    this.#writer = writerFrom(opts);
    // A read-only store never appends (#refusal says why first), so it starts no writer.
    this.#appender = opts.readonly === true ? NO_APPENDS : appender(file, this.#writer);
    this.#reader = {
      table: T,
      dialect,
      verifyColumns: '*',
      all: async <R>(sql: string, params: unknown[] = []) => this.#read((db) => db.prepare(sql).all(...params) as R[]),
      mode: async () => this.#read((db) => readSqliteMode(db)),
      uniqueSeq: async () => this.#read((db) => hasUniqueSeq(db)),
      snapshot: (fn) => this.#snapshot(fn),
    };
    this.#commit = new GroupCommit((batch) => this.#write(batch), opts.maxBatch ?? 500, opts.onCommit);
    try {
      this.#open();
    } catch {
      // Not there yet (unwritable, missing directory): appends reject until it is, then recover.
    }
  }

  #open(): Database.Database {
    if (this.#db !== undefined) return this.#db;
    if (this.#closed) throw new Error('the store is closed');
    const readonly = this.#opts.readonly === true;
    let cannotWrite = readonly ? 'the store was opened read-only' : undefined;
    let cannotRecord: string | undefined;
    const { wanted } = this.#writer;
    const db = new Database(this.#file, { readonly, fileMustExist: readonly || this.#opened, timeout: 5000 });
    try {
      if (!readonly) {
        db.pragma('journal_mode = WAL');
        migrateSqlite(db);
        ({ chain: cannotWrite, records: cannotRecord } = claimSqliteMode(db, wanted));
      }
      db.pragma('synchronous = FULL');
      // A store that may not write prepares no insert: a read-only one may be reading a file of an older schema.
      const seal = cannotWrite === undefined ? sealer(db, this.#writer) : undefined;
      const lookup = reviewLookupSql(T, dialect);
      const byId = db.prepare(lookup.event);
      const reviewed = db.prepare(lookup.reviewed);
      // The duplicate check and the insert in one transaction under the write lock: two guardians acknowledging at once write one review.
      this.#reviewTx =
        seal === undefined
          ? undefined
          : db.transaction((eventId: string, by: string, note: string) => {
              const batch = reviewBatch(
                byId.get(eventId) as AuditRow | undefined,
                reviewed.get(eventId) !== undefined,
                eventId,
                by,
                note,
                this.#opts.recordIdKey,
              );
              return seal(batch, true)[0] as AuditEvent;
            });
    } catch (err) {
      db.close();
      throw err;
    }
    this.#db = db;
    this.#cannotWrite = cannotWrite;
    this.#cannotRecord = cannotRecord;
    this.#opened = true;
    this.#identity = fileIdentity(this.#file);
    return db;
  }

  /** The open handle, provided it is still the file at the path (see `fileIdentity`). */
  #writable(): Database.Database {
    const db = this.#open();
    const now = fileIdentity(this.#file);
    if (now === undefined || now !== this.#identity) throw new Error('the file was moved or deleted since it was opened');
    return db;
  }

  /** Drops the handle after a failure so the next call reopens the file as it now is. */
  #drop(): void {
    try {
      this.#db?.close();
    } catch {
      // Closing a handle whose file went away can fail; the handle is dropped either way.
    }
    this.#db = undefined;
    this.#reviewTx = undefined;
  }

  /**
   * Opens the trail here when needed (creating, migrating, claiming its mode),
   * then hands the batch to the appender with the identity of the file opened:
   * the appender writes only to that file. Any failure drops the handle, so the
   * next batch reopens the file as it then is.
   */
  async #write(batch: Batch): Promise<AuditEvent[]> {
    try {
      this.#open();
      const refused = this.#refusal();
      if (refused !== undefined) throw new Error(refused);
      return await this.#appender.commit(batch, this.#identity as string);
    } catch (err) {
      this.#drop();
      throw auditUnavailable(this.#file, err);
    }
  }

  /** Why this store may not append, as found when it opened the trail. */
  #refusal(): string | undefined {
    if (this.#opts.readonly === true) return this.#cannotWrite ?? 'the store was opened read-only';
    return this.#cannotWrite ?? this.#cannotRecord;
  }

  #read<R>(fn: (db: Database.Database) => R): R {
    try {
      return fn(this.#open());
    } catch (err) {
      this.#drop();
      throw auditUnavailable(this.#file, err, 'read');
    }
  }

  /**
   * `fn` reading through a read transaction on a connection of its own: in
   * WAL mode every read in it sees the file as it was at the first one,
   * whatever other connections commit meanwhile. Its own connection, so
   * nothing else this store does on its handle (a review, a health check)
   * lands inside the transaction.
   */
  async #snapshot<R>(fn: (reader: TrailReader) => Promise<R>): Promise<R> {
    this.#read((db) => db); // opens (and, for a writer, creates and migrates) the trail as any read does
    let db: Database.Database;
    try {
      db = new Database(this.#file, { readonly: true, fileMustExist: true, timeout: 5000 });
      db.exec('BEGIN');
    } catch (err) {
      throw auditUnavailable(this.#file, err, 'read');
    }
    const read = <T>(step: () => T): T => {
      try {
        return step();
      } catch (err) {
        throw auditUnavailable(this.#file, err, 'read');
      }
    };
    try {
      return await fn({
        table: this.#reader.table,
        dialect: this.#reader.dialect,
        verifyColumns: this.#reader.verifyColumns,
        all: async <T>(sql: string, params: unknown[] = []) => read(() => db.prepare(sql).all(...params) as T[]),
        mode: async () => read(() => readSqliteMode(db)),
        uniqueSeq: async () => read(() => hasUniqueSeq(db)),
      });
    } finally {
      try {
        if (db.inTransaction) db.exec('COMMIT');
      } finally {
        db.close();
      }
    }
  }

  async append(entry: AuditEntry): Promise<AuditEvent> {
    if (this.#closed) throw auditUnavailable(this.#file, new Error('the store is closed'));
    return this.#commit.submit(prepareEntry(entry, { recordIdKey: this.#opts.recordIdKey }));
  }

  async query(filter: AuditFilter = {}): Promise<AuditEvent[]> {
    return queryEvents(this.#reader, filter, this.#opts.recordIdKey);
  }

  async count(filter: AuditFilter = {}): Promise<number> {
    return countEvents(this.#reader, filter, this.#opts.recordIdKey);
  }

  async verify(onProgress?: (done: number, total: number) => void, options: VerifyOptions = {}): Promise<VerifyResult> {
    return verifyTrail(this.#reader, this.#writer, options, onProgress);
  }

  async pendingReviews(): Promise<AuditEvent[]> {
    return pendingReviewEvents(this.#reader);
  }

  async acknowledge(eventId: string, by: string, note: string): Promise<AuditEvent> {
    if (this.#closed) throw auditUnavailable(this.#file, new Error('the store is closed'));
    try {
      this.#writable();
      if (this.#reviewTx === undefined) throw new Error(this.#cannotWrite ?? 'the store cannot write');
      return this.#reviewTx.immediate(eventId, by, note);
    } catch (err) {
      if (err instanceof FieldmeshError) throw err; // the review itself was refused; nothing was written
      this.#drop();
      throw auditUnavailable(this.#file, err);
    }
  }

  async archive(options: ArchiveOptions): Promise<ArchiveOutcome> {
    return archiveTrail(
      {
        reader: this.#reader,
        chain: this.#writer.chain,
        chainKey: this.#writer.chainKey,
        verify: () => this.verify(),
        pendingReviews: () => this.pendingReviews(),
        checkpoint: async (plan, entry) => this.#checkpoint(plan, entry),
        // A SQLite write is over (committed or rolled back) when its call returns.
        checkpoints: async () => {
          const q = checkpointsSql(T, dialect, this.#writer.chain);
          return (await this.#reader.all<AuditRow>(q.sql, q.params)).map(fromRow);
        },
      },
      options,
    );
  }

  /**
   * The checkpoint's one transaction, under the file's write lock (`BEGIN
   * IMMEDIATE`, as every append takes it): the plan still holds, the
   * checkpoint is sealed after the head, the archived rows go.
   */
  #checkpoint(plan: CheckpointPlan, entry: Batch[number]): AuditEvent {
    if (this.#closed) throw auditUnavailable(this.#file, new Error('the store is closed'));
    const db = this.#writable();
    if (this.#cannotWrite !== undefined) throw auditUnavailable(this.#file, new Error(this.#cannotWrite));
    const seal = sealer(db, this.#writer);
    const { check, remove } = checkpointSql(T, dialect, plan);
    return db
      .transaction(() => {
        assertPlan(db.prepare(check.sql).get(...check.params) as Parameters<typeof assertPlan>[0], plan);
        // Sealed before the rows go, so it chains after the head even when every event is archived.
        // A checkpoint names no records, so another record-id key does not stop it (as for a review).
        const checkpoint = seal([entry], true)[0] as AuditEvent;
        db.prepare(remove.sql).run(...remove.params);
        return checkpoint;
      })
      .immediate();
  }

  async trailId(): Promise<string | null> {
    return (await this.#reader.mode())?.trailId ?? null;
  }

  /** A real committed write: an open handle says nothing about whether the disk still takes writes. */
  async healthy(): Promise<boolean> {
    if (this.#closed) return false;
    try {
      const db = this.#opts.readonly === true ? this.#open() : this.#writable();
      if (this.#opts.readonly === true) db.prepare(`SELECT 1 FROM ${T} LIMIT 1`).get();
      else if (this.#refusal() !== undefined)
        return false; // the trail is there, but this store may not extend it
      else {
        // As an append would: another writer may have recorded other keys since this one opened the trail.
        const problems = writeProblems(readSqliteMode(db), this.#writer.wanted);
        if ((problems.chain ?? problems.records) !== undefined) return false;
        db.prepare('INSERT OR REPLACE INTO fieldmesh_audit_health (id, checked_at) VALUES (1, ?)').run(new Date().toISOString());
      }
      return true;
    } catch {
      this.#drop();
      return false;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#commit.idle();
    await this.#appender.close();
    this.#drop();
  }
}

/** Whether the events table still has a UNIQUE index on exactly (chain, seq), as the store created it. */
function hasUniqueSeq(db: Database.Database): boolean {
  const indexes = db.pragma(`index_list(${T})`) as { name: string; unique: number; partial: number }[];
  return indexes.some(
    (i) =>
      i.unique === 1 &&
      i.partial === 0 &&
      (db.pragma(`index_info("${i.name.replaceAll('"', '""')}")`) as { name: string | null }[]).map((c) => c.name).join(',') ===
        'chain,seq',
  );
}
