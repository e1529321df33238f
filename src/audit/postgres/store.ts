import pg from 'pg';
import { FieldmeshError } from '../../lib/errors.js';
import type { SqlDialect } from '../dialect.js';
import { prepareEntry, type AuditEntry, type AuditEvent } from '../event.js';
import { GroupCommit } from '../group-commit.js';
import { archiveTrail, assertPlan, checkpointSql, checkpointsSql, CommitUnknown, TrailMoved, type CheckpointPlan } from '../archive.js';
import { countEvents, pendingReviewEvents, queryEvents, verifyTrail, type TrailReader } from '../reads.js';
import { reviewBatch, reviewLookupSql } from '../review.js';
import { fromRow, insertSql, toRow, type AuditRow } from '../row.js';
import { headSql, sealBatch, writerFrom, type Batch, type Writer } from '../seal.js';
import { writeProblems, type TrailMode } from '../trail-mode.js';
import type { ArchiveOptions, ArchiveOutcome, AuditFilter, AuditStore, AuditStoreOptions, VerifyOptions, VerifyResult } from '../types.js';
import { auditUnavailable, describePostgres } from '../unavailable.js';
import { advisoryKey, migratePostgres, readPostgresMode, tableNames } from './schema.js';

const dialect: SqlDialect = {
  param: (n) => `$${n}`,
  arrayHas: (column, p) => `${column} @> ${p}::jsonb`,
  arrayValue: (id) => JSON.stringify([id]),
  time: (p) => `${p}::timestamptz`,
};
/**
 * jsonb as the text PostgreSQL holds, as SQLite gives it: parsed by pg, a
 * JSON string that holds a list reads as that list's text, and verify
 * could not tell it from the list the store wrote.
 */
const JSONB_AS_TEXT = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.JSONB || oid === pg.types.builtins.JSON
      ? (v: string) => v
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};
/**
 * timestamptz keeps microseconds and a JS Date only milliseconds: the part
 * below the millisecond (always 0 as written) is read too, so verify sees it changed.
 */
const VERIFY_COLUMNS = '*, (EXTRACT(MICROSECONDS FROM time)::bigint % 1000)::int AS time_sub_ms';

/**
 * The shared trail: several fieldmesh instances append to one PostgreSQL
 * table and one chain. Each batch takes a transaction-scoped advisory lock
 * before reading the chain head, so instances take turns and the chain never
 * forks; group commit keeps the turns few. Commits use synchronous_commit=on
 * whatever the server default, so a resolved append is on disk.
 */
export async function openPostgresStore(url: string, options: AuditStoreOptions = {}): Promise<AuditStore> {
  const store = new PostgresAuditStore(url, options);
  await store.healthy(); // creates the schema when the server is there; appends retry it when it was not
  return store;
}

class PostgresAuditStore implements AuditStore {
  readonly #pool: pg.Pool;
  readonly #opts: AuditStoreOptions;
  readonly #where: string;
  readonly #t: ReturnType<typeof tableNames>;
  readonly #writer: Writer;
  readonly #reader: TrailReader;
  readonly #begin: string;
  readonly #commit: GroupCommit<AuditEntry & { time: string }, AuditEvent>;
  #ready: Promise<void> | undefined;
  /** Why this store may not write to the trail (another chain, a missing or wrong chain key). */
  #cannotWrite: string | undefined;
  /** Why this store may not write events that name records (another record-id key); a review names none. */
  #cannotRecord: string | undefined;
  #closed = false;

  constructor(url: string, opts: AuditStoreOptions) {
    const timeout = opts.timeoutMs ?? 5000;
    this.#opts = opts;
    this.#where = describePostgres(url);
    this.#t = tableNames(opts.schema);
    this.#writer = writerFrom(opts);
    this.#reader = {
      table: this.#t.events,
      dialect,
      verifyColumns: VERIFY_COLUMNS,
      all: <R>(sql: string, params: unknown[] = []) => this.#read<R & pg.QueryResultRow>(sql, params),
      mode: () => this.#mode(),
      uniqueSeq: () => this.#uniqueSeq((sql, params) => this.#read(sql, params)),
      snapshot: (fn) => this.#snapshot(fn),
    };
    this.#pool = new pg.Pool({
      connectionString: url,
      max: 4,
      connectionTimeoutMillis: timeout,
      query_timeout: timeout * 2,
      keepAlive: true,
      application_name: 'fieldmesh-audit',
      types: JSONB_AS_TEXT,
    });
    // An idle client whose server went away: the pool discards it; the next append reports the outage.
    this.#pool.on('error', () => undefined);
    const lock = advisoryKey(`fieldmesh_audit:${opts.schema ?? ''}:${this.#writer.chain}`);
    this.#begin = `BEGIN; SET LOCAL synchronous_commit = on; SET LOCAL lock_timeout = ${timeout}; SELECT pg_advisory_xact_lock(${lock})`;
    this.#commit = new GroupCommit((batch) => this.#write(batch), opts.maxBatch ?? 500, opts.onCommit);
  }

  /** The trail's record of its chain and keys. Read without creating the schema, as a read-only store must. */
  async #mode(): Promise<TrailMode | undefined> {
    try {
      return await readPostgresMode(this.#pool, this.#opts.schema);
    } catch (err) {
      throw auditUnavailable(this.#where, err, 'read');
    }
  }

  /** Whether the events table still has a valid, non-partial UNIQUE index on exactly (chain, seq), as the store created it. */
  async #uniqueSeq(read: (sql: string, params: unknown[]) => Promise<{ ok: boolean }[]>): Promise<boolean> {
    const [unique] = await read(
      `SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = to_regclass($1)
      AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indnatts = 2
      AND (SELECT array_agg(a.attname::text ORDER BY k.n) FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) = ARRAY['chain', 'seq']) AS ok`,
      [this.#t.events],
    );
    return unique?.ok === true;
  }

  /** Read-only stores never create or change the schema (a mistyped URL must not grow tables). */
  #ensureSchema(): Promise<void> {
    if (this.#opts.readonly === true) return Promise.resolve();
    this.#ready ??= (async () => {
      const { client, done } = await this.#checkout();
      try {
        ({ chain: this.#cannotWrite, records: this.#cannotRecord } = await migratePostgres(client, this.#opts.schema, this.#writer.wanted));
        done(false);
      } catch (err) {
        done(true);
        throw err;
      }
    })().catch((err: unknown) => {
      this.#ready = undefined;
      throw err;
    });
    return this.#ready;
  }

  /**
   * A pooled client, listened to while checked out: a connection that drops
   * rejects the query in flight, and also emits an error that would crash the
   * process if nobody heard it. A broken client is destroyed, never pooled.
   */
  async #checkout(): Promise<{ client: pg.PoolClient; done: (broken: boolean) => void }> {
    const client = await this.#pool.connect();
    const ignore = (): void => undefined;
    client.on('error', ignore);
    return {
      client,
      done: (broken) => {
        // A broken client is being destroyed and may still emit while it closes: keep listening.
        if (!broken) client.off('error', ignore);
        client.release(broken);
      },
    };
  }

  /**
   * One transaction per batch. A failure before COMMIT left nothing behind,
   * so it is retried once on a fresh connection (the usual cause is a pooled
   * connection the server dropped while idle); a failure during COMMIT may
   * or may not have committed, so it is reported, never repeated.
   */
  async #write(batch: Batch): Promise<AuditEvent[]> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= 2; attempt++) {
      let done: ((broken: boolean) => void) | undefined;
      let committing = false;
      try {
        if (this.#opts.readonly === true) throw new Error('the store was opened read-only');
        await this.#ensureSchema();
        const cannot = this.#cannotWrite ?? this.#cannotRecord;
        if (cannot !== undefined) throw new Error(cannot);
        const checkedOut = await this.#checkout();
        const { client } = checkedOut;
        done = checkedOut.done;
        await client.query(this.#begin);
        const events = await this.#sealAndInsert(client, batch, false);
        committing = true;
        await client.query('COMMIT');
        done(false);
        return events;
      } catch (err) {
        // Destroyed rather than pooled: its transaction state is unknown.
        done?.(true);
        lastError = err;
        if (committing || done === undefined) break;
      }
    }
    throw auditUnavailable(this.#where, lastError);
  }

  /**
   * Inside the transaction, holding the chain's advisory lock: reads the
   * trail's record and the chain's head, seals the batch after it (see
   * `sealBatch`), inserts it in one statement.
   */
  async #sealAndInsert(client: pg.PoolClient, batch: Batch, review: boolean): Promise<AuditEvent[]> {
    const mode = await readPostgresMode(client, this.#opts.schema);
    const head = headSql(this.#t.events, dialect, this.#writer.chain);
    const [last] = (await client.query<{ seq: string; hash: string }>(head.sql, head.params)).rows;
    const events = sealBatch(batch, this.#writer, mode, last && { seq: Number(last.seq), hash: last.hash }, review);
    await client.query(insertSql(this.#t.events, events.length, dialect), events.flatMap(toRow));
    return events;
  }

  async #read<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      await this.#ensureSchema();
      return (await this.#pool.query<R>(sql, params)).rows;
    } catch (err) {
      throw auditUnavailable(this.#where, err, 'read');
    }
  }

  /**
   * `fn` reading through one REPEATABLE READ, READ ONLY transaction on one
   * connection: every read sees the trail as it was at the first one,
   * whatever an archive or an append commits meanwhile.
   */
  async #snapshot<R>(fn: (reader: TrailReader) => Promise<R>): Promise<R> {
    let done: ((broken: boolean) => void) | undefined;
    let client: pg.PoolClient;
    try {
      await this.#ensureSchema();
      const checkedOut = await this.#checkout();
      ({ client, done } = checkedOut);
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    } catch (err) {
      done?.(true);
      throw auditUnavailable(this.#where, err, 'read');
    }
    const query = async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> => {
      try {
        return (await client.query<T>(sql, params)).rows;
      } catch (err) {
        throw auditUnavailable(this.#where, err, 'read');
      }
    };
    let broken = true;
    try {
      const result = await fn({
        table: this.#reader.table,
        dialect: this.#reader.dialect,
        verifyColumns: this.#reader.verifyColumns,
        all: <T>(sql: string, params: unknown[] = []) => query<T & pg.QueryResultRow>(sql, params),
        mode: async () => {
          try {
            return await readPostgresMode(client, this.#opts.schema);
          } catch (err) {
            throw auditUnavailable(this.#where, err, 'read');
          }
        },
        uniqueSeq: () => this.#uniqueSeq(query),
      });
      await client.query('COMMIT');
      broken = false;
      return result;
    } finally {
      done(broken);
    }
  }

  async append(entry: AuditEntry): Promise<AuditEvent> {
    if (this.#closed) throw auditUnavailable(this.#where, new Error('the store is closed'));
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

  /**
   * The duplicate check runs in the transaction that inserts the review,
   * under the chain's advisory lock, so two guardians (or two instances)
   * acknowledging at once write one review, and the other is told so.
   */
  async acknowledge(eventId: string, by: string, note: string): Promise<AuditEvent> {
    if (this.#closed) throw auditUnavailable(this.#where, new Error('the store is closed'));
    let done: ((broken: boolean) => void) | undefined;
    try {
      if (this.#opts.readonly === true) throw new Error('the store was opened read-only');
      await this.#ensureSchema();
      if (this.#cannotWrite !== undefined) throw new Error(this.#cannotWrite);
      const checkedOut = await this.#checkout();
      done = checkedOut.done;
      const { client } = checkedOut;
      await client.query(this.#begin);
      const lookup = reviewLookupSql(this.#t.events, dialect);
      const [row] = (await client.query<AuditRow>(lookup.event, [eventId])).rows;
      const reviewed = (await client.query(lookup.reviewed, [eventId])).rows.length > 0;
      const [event] = await this.#sealAndInsert(client, reviewBatch(row, reviewed, eventId, by, note, this.#opts.recordIdKey), true);
      await client.query('COMMIT');
      done(false);
      return event as AuditEvent;
    } catch (err) {
      // Destroyed rather than pooled: its transaction state is unknown.
      done?.(true);
      if (err instanceof FieldmeshError) throw err; // the review itself was refused; nothing was written
      throw auditUnavailable(this.#where, err);
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
        checkpoint: (plan, entry) => this.#checkpoint(plan, entry),
        checkpoints: () => this.#checkpoints(),
      },
      options,
    );
  }

  /**
   * The checkpoint's one transaction, holding the chain's advisory lock as
   * every append does: the plan still holds, the checkpoint is sealed
   * after the head, the archived rows go. Not retried: a failure once
   * COMMIT was sent is `CommitUnknown`, and the archive step checks the
   * trail (`#checkpoints`) before it withdraws its file.
   */
  async #checkpoint(plan: CheckpointPlan, entry: Batch[number]): Promise<AuditEvent> {
    if (this.#closed) throw auditUnavailable(this.#where, new Error('the store is closed'));
    let done: ((broken: boolean) => void) | undefined;
    let committing = false;
    try {
      if (this.#opts.readonly === true) throw new Error('the store was opened read-only');
      await this.#ensureSchema();
      if (this.#cannotWrite !== undefined) throw new Error(this.#cannotWrite);
      const checkedOut = await this.#checkout();
      done = checkedOut.done;
      const { client } = checkedOut;
      await client.query(this.#begin);
      const { check, remove } = checkpointSql(this.#t.events, dialect, plan);
      assertPlan((await client.query(check.sql, check.params)).rows[0], plan);
      // Sealed before the rows go, so it chains after the head even when every event is archived.
      // A checkpoint names no records, so another record-id key does not stop it (as for a review).
      const [event] = await this.#sealAndInsert(client, [entry], true);
      await client.query(remove.sql, remove.params);
      committing = true;
      await client.query('COMMIT');
      done(false);
      return event as AuditEvent;
    } catch (err) {
      // Destroyed rather than pooled: a transaction not committed is rolled back with it.
      done?.(true);
      if (err instanceof TrailMoved) throw err;
      const unavailable = auditUnavailable(this.#where, err);
      if (!committing) throw unavailable;
      const unknown = new CommitUnknown(unavailable.message);
      unknown.cause = unavailable;
      throw unknown;
    }
  }

  /**
   * The chain's checkpoints, read holding the chain's advisory lock: a
   * checkpoint transaction whose COMMIT was sent over a connection since
   * lost holds the lock until the server has committed or rolled it back,
   * so what is read here is its outcome, not a moment before it.
   */
  async #checkpoints(): Promise<AuditEvent[]> {
    let done: ((broken: boolean) => void) | undefined;
    try {
      const checkedOut = await this.#checkout();
      done = checkedOut.done;
      const { client } = checkedOut;
      await client.query(this.#begin);
      const q = checkpointsSql(this.#t.events, dialect, this.#writer.chain);
      const rows = (await client.query<AuditRow>(q.sql, q.params)).rows;
      await client.query('COMMIT');
      done(false);
      return rows.map(fromRow);
    } catch (err) {
      done?.(true);
      throw auditUnavailable(this.#where, err, 'read');
    }
  }

  async trailId(): Promise<string | null> {
    return (await this.#reader.mode())?.trailId ?? null;
  }

  async healthy(): Promise<boolean> {
    if (this.#closed) return false;
    try {
      await this.#ensureSchema();
      await this.#pool.query('SELECT 1');
      if ((this.#cannotWrite ?? this.#cannotRecord) !== undefined) return false; // reachable, but this store may not extend the trail
      if (this.#opts.readonly === true) return true;
      // As an append would: another writer may have recorded other keys since this one opened the trail.
      const problems = writeProblems(await readPostgresMode(this.#pool, this.#opts.schema), this.#writer.wanted);
      return (problems.chain ?? problems.records) === undefined;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#commit.idle();
    await this.#pool.end();
  }
}
