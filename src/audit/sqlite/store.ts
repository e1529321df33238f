import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { prepareEntry, sealEntries, type AuditEntry, type AuditEvent } from '../event.js';
import { whereClause, type FilterDialect } from '../filter.js';
import { GroupCommit } from '../group-commit.js';
import { reviewedSql, reviewEntry } from '../review.js';
import { FieldmeshError } from '../../lib/errors.js';
import { COLUMNS, fromRow, toRow, type AuditRow } from '../row.js';
import { claimSqliteMode, migrateSqlite, readSqliteMode, SQLITE_TABLE as T } from './schema.js';
import { DEFAULT_SQLITE_FILE } from '../target.js';
import type { AuditFilter, AuditStore, AuditStoreOptions, VerifyOptions, VerifyResult } from '../types.js';
import { chainFrom, chainKeyFrom, genesisHash, recordKeyCheck, recordKeyProblem, wantedMode, writeProblems } from '../trail-mode.js';
import { auditUnavailable } from '../unavailable.js';
import { verifyRows, type StoredRows } from '../verify.js';

const dialect: FilterDialect = {
  param: () => '?',
  arrayHas: (column, p) => `EXISTS (SELECT 1 FROM json_each(${column}) WHERE value = ${p})`,
  arrayValue: (id) => id,
  time: (p) => p,
};
const PAGE = 1000;
type Head = { seq: number; hash: string } | undefined;

/**
 * The embedded trail: one SQLite file, WAL, `synchronous=FULL` so a committed
 * event survives power loss. Appends are group-committed: one transaction,
 * one fsync per batch. The chain head is read inside `BEGIN IMMEDIATE`, which
 * holds the file's write lock, so two processes sharing a file extend one
 * chain instead of forking it.
 *
 * @example
 * const store = openSqliteStore('./fieldmesh-audit.db');
 */
export function openSqliteStore(file: string = DEFAULT_SQLITE_FILE, options: AuditStoreOptions = {}): AuditStore {
  return new SqliteAuditStore(file, options);
}

class SqliteAuditStore implements AuditStore {
  readonly #file: string;
  readonly #opts: AuditStoreOptions;
  readonly #chain: string;
  readonly #chainKey: string | Buffer | undefined;
  readonly #commit: GroupCommit<AuditEntry & { time: string }, AuditEvent>;
  #db: Database.Database | undefined;
  #appendTx: Database.Transaction<(batch: (AuditEntry & { time: string })[]) => AuditEvent[]> | undefined;
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

  constructor(file: string, opts: AuditStoreOptions) {
    this.#file = file;
    this.#opts = opts;
    this.#chain = chainFrom(opts);
    this.#chainKey = chainKeyFrom(opts);
    this.#commit = new GroupCommit((batch) => this.#write(batch), opts.maxBatch ?? 500);
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
    const wanted = wantedMode(this.#chain, this.#chainKey, this.#opts.recordIdKey);
    const db = new Database(this.#file, { readonly, fileMustExist: readonly || this.#opened, timeout: 5000 });
    try {
      if (!readonly) {
        db.pragma('journal_mode = WAL');
        migrateSqlite(db);
        ({ chain: cannotWrite, records: cannotRecord } = claimSqliteMode(db, wanted));
      }
      db.pragma('synchronous = FULL');
      const head = db.prepare(`SELECT seq, hash FROM ${T} WHERE chain = ? ORDER BY seq DESC LIMIT 1`);
      const insert = db.prepare(`INSERT INTO ${T} (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`);
      const seal = (batch: (AuditEntry & { time: string })[], review = false): AuditEvent[] => {
        // Under the write lock, every batch: another writer may have recorded other keys since this one opened the trail.
        const mode = readSqliteMode(db);
        const problems = writeProblems(mode, wanted);
        const refused = problems.chain ?? (review ? undefined : problems.records);
        if (refused !== undefined) throw new Error(refused);
        const last = head.get(this.#chain) as Head;
        // A keyed chain's first event starts from the trail's own genesis.
        const genesis = last === undefined ? genesisHash(mode ?? wanted, this.#chainKey) : undefined;
        const events = sealEntries(batch, this.#chain, last, randomUUID, this.#chainKey, genesis);
        for (const event of events) insert.run(toRow(event));
        return events;
      };
      const byId = db.prepare(`SELECT * FROM ${T} WHERE id = ?`);
      const reviewed = db.prepare(`SELECT 1 FROM ${T} e WHERE e.id = ? AND ${reviewedSql(T)}`);
      this.#appendTx = (cannotWrite ?? cannotRecord) !== undefined ? undefined : db.transaction((batch: (AuditEntry & { time: string })[]) => seal(batch));
      // The duplicate check and the insert in one transaction under the write lock: two guardians acknowledging at once write one review.
      this.#reviewTx = cannotWrite !== undefined ? undefined : db.transaction((eventId: string, by: string, note: string) => {
        const row = byId.get(eventId) as AuditRow | undefined;
        const entry = reviewEntry(row === undefined ? undefined : fromRow(row), eventId, reviewed.get(eventId) !== undefined, by, note);
        return seal([prepareEntry(entry, { recordIdKey: this.#opts.recordIdKey })], true)[0] as AuditEvent;
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

  /**
   * The open handle, provided it is still the file at the path. A handle
   * keeps writing to a file that was deleted or moved away (an unmounted
   * volume), and those events would be lost with it: such a write must fail.
   */
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
    this.#appendTx = undefined;
    this.#reviewTx = undefined;
  }

  #write(batch: (AuditEntry & { time: string })[]): AuditEvent[] {
    try {
      this.#writable();
      if (this.#appendTx === undefined) throw new Error(this.#cannotWrite ?? this.#cannotRecord ?? 'the store cannot write');
      return this.#appendTx.immediate(batch);
    } catch (err) {
      this.#drop();
      throw auditUnavailable(this.#file, err);
    }
  }

  #read<R>(fn: (db: Database.Database) => R): R {
    try {
      return fn(this.#open());
    } catch (err) {
      this.#drop();
      throw auditUnavailable(this.#file, err, 'read');
    }
  }

  async append(entry: AuditEntry): Promise<AuditEvent> {
    if (this.#closed) throw auditUnavailable(this.#file, new Error('the store is closed'));
    return this.#commit.submit(prepareEntry(entry, { recordIdKey: this.#opts.recordIdKey }));
  }

  async query(filter: AuditFilter = {}): Promise<AuditEvent[]> {
    if (filter.recordId !== undefined) {
      const problem = recordKeyProblem(this.#read((db) => readSqliteMode(db))?.recordKey, recordKeyCheck(this.#opts.recordIdKey));
      if (problem !== undefined) throw new FieldmeshError('audit_record_key', 409, `Cannot search the trail by record id: ${problem}`);
    }
    const { where, params } = whereClause(filter, dialect, this.#opts.recordIdKey);
    const limit = filter.limit === undefined ? '' : ` LIMIT ${filter.limit}`;
    const sql = `SELECT * FROM ${T} ${where} ORDER BY time DESC, chain DESC, seq DESC${limit}`;
    const rows = this.#read((db) => db.prepare(sql).all(...params) as AuditRow[]);
    return rows.map(fromRow).reverse();
  }

  async verify(onProgress?: (done: number, total: number) => void, options: VerifyOptions = {}): Promise<VerifyResult> {
    const [mode, counts, uniqueSeq] = this.#read((db) => [
      readSqliteMode(db) ?? { chain: this.#chain, keyed: false, keyCheck: null },
      Object.fromEntries((db.prepare(`SELECT chain, COUNT(*) AS n FROM ${T} GROUP BY chain`).all() as { chain: string; n: number }[])
        .map((r) => [r.chain, r.n])),
      hasUniqueSeq(db),
    ] as const);
    const stored = (chain: string, upTo: number): Promise<StoredRows> => Promise.resolve(this.#read((db) => {
      const count = (sql: string, ...params: unknown[]): number => (db.prepare(sql).get(...params) as { n: number }).n;
      const dup = db.prepare(`SELECT seq FROM ${T} WHERE chain = ? AND seq <= ? GROUP BY seq HAVING COUNT(*) > 1 ORDER BY seq LIMIT 1`)
        .get(chain, upTo) as { seq: number } | undefined;
      return {
        placed: count(`SELECT COUNT(*) AS n FROM ${T} WHERE chain = ? AND seq <= ?`, chain, upTo),
        unplaced: count(`SELECT COUNT(*) AS n FROM ${T} WHERE chain IS NULL OR seq IS NULL`),
        duplicateSeq: dup === undefined ? undefined : Number(dup.seq),
      };
    }));
    return verifyRows(this.#pages(), { mode, chainKey: this.#chainKey, counts, expectHead: options.expectHead, uniqueSeq, stored }, onProgress);
  }

  /** Keyset pages in chain order, yielding between pages so a long verify does not hold the event loop. */
  async *#pages(): AsyncGenerator<AuditRow[]> {
    let after: AuditRow | undefined;
    for (;;) {
      const rows = this.#read((db) => (after === undefined
        ? db.prepare(`SELECT * FROM ${T} ORDER BY chain, seq LIMIT ${PAGE}`).all()
        : db.prepare(`SELECT * FROM ${T} WHERE (chain, seq) > (?, ?) ORDER BY chain, seq LIMIT ${PAGE}`).all(after.chain, after.seq)) as AuditRow[]);
      if (rows.length === 0) return;
      yield rows;
      after = rows[rows.length - 1];
      await nextTurn();
    }
  }

  /** Trusts the rows as stored: verify the trail first (`audit review` does). */
  async pendingReviews(): Promise<AuditEvent[]> {
    const sql = `SELECT * FROM ${T} e WHERE e.break_glass IS NOT NULL AND e.action <> 'review'
      AND NOT ${reviewedSql(T)} ORDER BY e.time, e.chain, e.seq`;
    return this.#read((db) => db.prepare(sql).all() as AuditRow[]).map(fromRow);
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

  /** A real committed write: an open handle says nothing about whether the disk still takes writes. */
  async healthy(): Promise<boolean> {
    if (this.#closed) return false;
    try {
      const db = this.#opts.readonly === true ? this.#open() : this.#writable();
      if (this.#opts.readonly === true) db.prepare(`SELECT 1 FROM ${T} LIMIT 1`).get();
      else if (this.#appendTx === undefined) return false; // the trail is there, but this store may not extend it
      else {
        // As an append would: another writer may have recorded other keys since this one opened the trail.
        const problems = writeProblems(readSqliteMode(db), wantedMode(this.#chain, this.#chainKey, this.#opts.recordIdKey));
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
    this.#drop();
  }
}

/** Whether the events table still has a UNIQUE index on exactly (chain, seq), as the store created it. */
function hasUniqueSeq(db: Database.Database): boolean {
  const indexes = db.pragma(`index_list(${T})`) as { name: string; unique: number; partial: number }[];
  return indexes.some((i) => i.unique === 1 && i.partial === 0
    && (db.pragma(`index_info("${i.name.replaceAll('"', '""')}")`) as { name: string | null }[]).map((c) => c.name).join(',') === 'chain,seq');
}

function fileIdentity(file: string): string | undefined {
  try {
    const st = statSync(file);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}
