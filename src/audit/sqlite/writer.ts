import Database from 'better-sqlite3';
import type { AuditEvent } from '../event.js';
import { toRow, insertSql } from '../row.js';
import { headSql, sealBatch, type Batch, type Writer } from '../seal.js';
import { fileIdentity } from './file-identity.js';
import { readSqliteMode, SQLITE_TABLE as T, sqliteDialect } from './schema.js';

/**
 * Chains a batch into the trail and inserts it, on a connection inside a
 * `BEGIN IMMEDIATE` transaction (the trail's record and the chain head are
 * read under the file's write lock, so two processes sharing a file extend
 * one chain). The one sealing step of both SQLite writes: appends (in
 * `SqliteWriter`) and reviews (in the store).
 *
 * @example
 * const seal = sealer(db, writer);
 * db.transaction((batch: Batch) => seal(batch)).immediate(batch);
 */
export function sealer(db: Database.Database, writer: Writer): (batch: Batch, review?: boolean) => AuditEvent[] {
  const head = headSql(T, sqliteDialect, writer.chain);
  const last = db.prepare(head.sql);
  // Prepared at the first write: a read-only store on a trail an older version wrote (without this version's
  // columns) prepares no insert, and must still open to be read.
  let insert: Database.Statement | undefined;
  return (batch, review = false) => {
    const statement = (insert ??= db.prepare(insertSql(T, 1, sqliteDialect)));
    const events = sealBatch(
      batch,
      writer,
      readSqliteMode(db),
      last.get(...head.params) as { seq: number; hash: string } | undefined,
      review,
    );
    for (const event of events) statement.run(toRow(event));
    return events;
  };
}

/**
 * The appending half of the SQLite trail: its own connection to a trail
 * the store has already opened (created, migrated, its mode claimed), one
 * transaction and one fsync (`synchronous=FULL`) per batch. It runs in the
 * writer thread (see `writer-thread.ts`), so the fsync never holds the
 * event loop; or inline on the calling thread, as the store once did.
 *
 * Before each batch it checks that the path still names the file the store
 * opened (`expected`, its device:inode) and that its own handle is on that
 * file, reopening when the store reopened. Any failure closes the handle,
 * so the next batch starts from the file as it then is.
 */
export class SqliteWriter {
  readonly #file: string;
  readonly #writer: Writer;
  #db: Database.Database | undefined;
  #append: ((batch: Batch) => AuditEvent[]) | undefined;
  #identity: string | undefined;

  constructor(file: string, writer: Writer) {
    this.#file = file;
    this.#writer = writer;
  }

  /** Writes the batch in one durable transaction; throws, writing nothing, on any failure. */
  commit(batch: Batch, expected: string): AuditEvent[] {
    try {
      const now = fileIdentity(this.#file);
      if (now === undefined || now !== expected) throw new Error('the file was moved or deleted since it was opened');
      if (this.#db === undefined || this.#identity !== expected) this.#open(expected);
      return (this.#append as (batch: Batch) => AuditEvent[])(batch);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  #open(expected: string): void {
    this.close();
    // Never creates a trail: the store has opened (and, when new, created) this one.
    const db = new Database(this.#file, { fileMustExist: true, timeout: 5000 });
    try {
      db.pragma('synchronous = FULL');
      if (fileIdentity(this.#file) !== expected) throw new Error('the file was moved or deleted since it was opened');
      const seal = sealer(db, this.#writer);
      const tx = db.transaction((batch: Batch) => seal(batch));
      this.#append = (batch) => tx.immediate(batch);
    } catch (err) {
      db.close();
      throw err;
    }
    this.#db = db;
    this.#identity = expected;
  }

  /** Releases the connection; the next commit opens it again. */
  close(): void {
    try {
      this.#db?.close();
    } catch {
      // Closing a handle whose file went away can fail; the handle is dropped either way.
    }
    this.#db = undefined;
    this.#append = undefined;
    this.#identity = undefined;
  }
}
