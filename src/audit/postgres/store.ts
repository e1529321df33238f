import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { prepareEntry, sealEntries, type AuditEntry, type AuditEvent } from '../event.js';
import { whereClause, type FilterDialect } from '../filter.js';
import { GroupCommit } from '../group-commit.js';
import { advisoryKey, migratePostgres, readPostgresMode, tableNames } from './schema.js';
import { reviewedSql, reviewEntry } from '../review.js';
import { FieldmeshError } from '../../lib/errors.js';
import { COLUMNS, fromRow, toRow, type AuditRow } from '../row.js';
import type { AuditFilter, AuditStore, AuditStoreOptions, VerifyOptions, VerifyResult } from '../types.js';
import { chainFrom, chainKeyFrom, genesisHash, recordKeyCheck, recordKeyProblem, wantedMode, writeProblems } from '../trail-mode.js';
import { auditUnavailable, describePostgres } from '../unavailable.js';
import { verifyRows, type StoredRows } from '../verify.js';

const dialect: FilterDialect = {
  param: (n) => `$${n}`,
  arrayHas: (column, p) => `${column} @> ${p}::jsonb`,
  arrayValue: (id) => JSON.stringify([id]),
  time: (p) => `${p}::timestamptz`,
};
const PAGE = 1000;
/**
 * jsonb as the text PostgreSQL holds, as SQLite gives it: parsed by pg, a
 * JSON string that holds a list reads as that list's text, and verify
 * could not tell it from the list the store wrote.
 */
const JSONB_AS_TEXT = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === pg.types.builtins.JSONB || oid === pg.types.builtins.JSON
    ? (v: string) => v
    : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser,
};
/**
 * timestamptz keeps microseconds and a JS Date only milliseconds: the part
 * below the millisecond (always 0 as written) is read too, so verify sees it changed.
 */
const VERIFY_COLUMNS = '*, (EXTRACT(MICROSECONDS FROM time)::bigint % 1000)::int AS time_sub_ms';
type Batch = (AuditEntry & { time: string })[];

/**
 * The shared trail: several fieldmesh instances append to one PostgreSQL
 * table and one chain. Each batch takes a transaction-scoped advisory lock
 * before reading the chain head, so instances take turns and the chain never
 * forks; group commit keeps the turns few. Commits use synchronous_commit=on
 * whatever the server default, so a resolved append is on disk.
 *
 * @example
 * const store = await openPostgresStore('postgres://audit@db:5432/fieldmesh');
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
  readonly #chain: string;
  readonly #chainKey: string | Buffer | undefined;
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
    this.#chain = chainFrom(opts);
    this.#chainKey = chainKeyFrom(opts);
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
    const lock = advisoryKey(`fieldmesh_audit:${opts.schema ?? ''}:${this.#chain}`);
    this.#begin = `BEGIN; SET LOCAL synchronous_commit = on; SET LOCAL lock_timeout = ${timeout}; SELECT pg_advisory_xact_lock(${lock})`;
    this.#commit = new GroupCommit((batch) => this.#write(batch), opts.maxBatch ?? 500);
  }

  #wanted(): ReturnType<typeof wantedMode> {
    return wantedMode(this.#chain, this.#chainKey, this.#opts.recordIdKey);
  }

  /** Read-only stores never create or change the schema (a mistyped URL must not grow tables). */
  #ensureSchema(): Promise<void> {
    if (this.#opts.readonly === true) return Promise.resolve();
    this.#ready ??= (async () => {
      const { client, done } = await this.#checkout();
      try {
        ({ chain: this.#cannotWrite, records: this.#cannotRecord } = await migratePostgres(client, this.#opts.schema, this.#wanted()));
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
   * Inside the transaction, holding the chain's advisory lock: checks the
   * trail's record still takes this writer (another writer may have recorded
   * other keys since this one opened it), reads the head, chains the batch
   * after it, inserts it. A review names no records, so `review` skips the record-id key.
   */
  async #sealAndInsert(client: pg.PoolClient, batch: Batch, review: boolean): Promise<AuditEvent[]> {
    const mode = await readPostgresMode(client, this.#opts.schema);
    const problems = writeProblems(mode, this.#wanted());
    const refused = problems.chain ?? (review ? undefined : problems.records);
    if (refused !== undefined) throw new Error(refused);
    const head = await client.query<{ seq: string; hash: string }>(
      `SELECT seq, hash FROM ${this.#t.events} WHERE chain = $1 ORDER BY seq DESC LIMIT 1`, [this.#chain]);
    const last = head.rows[0];
    // A keyed chain's first event starts from the trail's own genesis.
    const genesis = last === undefined ? genesisHash(mode ?? this.#wanted(), this.#chainKey) : undefined;
    const events = sealEntries(batch, this.#chain, last && { seq: Number(last.seq), hash: last.hash }, randomUUID, this.#chainKey, genesis);
    const values = events.map((_, r) => `(${COLUMNS.map((_c, c) => `$${r * COLUMNS.length + c + 1}`).join(', ')})`);
    await client.query(`INSERT INTO ${this.#t.events} (${COLUMNS.join(', ')}) VALUES ${values.join(', ')}`, events.flatMap(toRow));
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

  async append(entry: AuditEntry): Promise<AuditEvent> {
    if (this.#closed) throw auditUnavailable(this.#where, new Error('the store is closed'));
    return this.#commit.submit(prepareEntry(entry, { recordIdKey: this.#opts.recordIdKey }));
  }

  async query(filter: AuditFilter = {}): Promise<AuditEvent[]> {
    if (filter.recordId !== undefined) {
      let recorded;
      try {
        recorded = (await readPostgresMode(this.#pool, this.#opts.schema))?.recordKey;
      } catch (err) {
        throw auditUnavailable(this.#where, err, 'read');
      }
      const problem = recordKeyProblem(recorded, recordKeyCheck(this.#opts.recordIdKey));
      if (problem !== undefined) throw new FieldmeshError('audit_record_key', 409, `Cannot search the trail by record id: ${problem}`);
    }
    const { where, params } = whereClause(filter, dialect, this.#opts.recordIdKey);
    const limit = filter.limit === undefined ? '' : ` LIMIT ${filter.limit}`;
    const rows = await this.#read<AuditRow>(`SELECT * FROM ${this.#t.events} ${where} ORDER BY time DESC, chain DESC, seq DESC${limit}`, params);
    return rows.map(fromRow).reverse();
  }

  async verify(onProgress?: (done: number, total: number) => void, options: VerifyOptions = {}): Promise<VerifyResult> {
    const counts = await this.#read<{ chain: string; n: string }>(`SELECT chain, COUNT(*) AS n FROM ${this.#t.events} GROUP BY chain`);
    let mode;
    try {
      mode = (await readPostgresMode(this.#pool, this.#opts.schema)) ?? { chain: this.#chain, keyed: false, keyCheck: null };
    } catch (err) {
      throw auditUnavailable(this.#where, err, 'read');
    }
    const t = this.#t.events;
    const [unique] = await this.#read<{ ok: boolean }>(`SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = to_regclass($1)
      AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indnatts = 2
      AND (SELECT array_agg(a.attname::text ORDER BY k.n) FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) = ARRAY['chain', 'seq']) AS ok`, [t]);
    const stored = async (chain: string, upTo: number): Promise<StoredRows> => {
      const [row] = await this.#read<{ placed: string; unplaced: string; dup: string | null }>(`SELECT
        (SELECT COUNT(*) FROM ${t} WHERE chain = $1 AND seq <= $2) AS placed,
        (SELECT COUNT(*) FROM ${t} WHERE chain IS NULL OR seq IS NULL) AS unplaced,
        (SELECT seq FROM ${t} WHERE chain = $1 AND seq <= $2 GROUP BY seq HAVING COUNT(*) > 1 ORDER BY seq LIMIT 1) AS dup`, [chain, upTo]);
      return { placed: Number(row?.placed), unplaced: Number(row?.unplaced), duplicateSeq: row?.dup === null || row?.dup === undefined ? undefined : Number(row.dup) };
    };
    const ctx = {
      mode, chainKey: this.#chainKey, counts: Object.fromEntries(counts.map((r) => [r.chain, Number(r.n)])), expectHead: options.expectHead,
      uniqueSeq: unique?.ok === true, stored,
    };
    return verifyRows(this.#pages(), ctx, onProgress);
  }

  async *#pages(): AsyncGenerator<AuditRow[]> {
    let after: AuditRow | undefined;
    for (;;) {
      const rows = after === undefined
        ? await this.#read<AuditRow>(`SELECT ${VERIFY_COLUMNS} FROM ${this.#t.events} ORDER BY chain, seq LIMIT ${PAGE}`)
        : await this.#read<AuditRow>(`SELECT ${VERIFY_COLUMNS} FROM ${this.#t.events} WHERE (chain, seq) > ($1, $2) ORDER BY chain, seq LIMIT ${PAGE}`,
          [after.chain, after.seq]);
      if (rows.length === 0) return;
      yield rows;
      after = rows[rows.length - 1];
    }
  }

  /** Trusts the rows as stored: verify the trail first (`audit review` does). */
  async pendingReviews(): Promise<AuditEvent[]> {
    const t = this.#t.events;
    const rows = await this.#read<AuditRow>(`SELECT * FROM ${t} e WHERE e.break_glass IS NOT NULL AND e.action <> 'review'
      AND NOT ${reviewedSql(t)} ORDER BY e.time, e.chain, e.seq`);
    return rows.map(fromRow);
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
      const t = this.#t.events;
      const [row] = (await client.query<AuditRow>(`SELECT * FROM ${t} WHERE id = $1`, [eventId])).rows;
      const reviewed = (await client.query(`SELECT 1 FROM ${t} e WHERE e.id = $1 AND ${reviewedSql(t)}`, [eventId])).rows.length > 0;
      const entry = reviewEntry(row === undefined ? undefined : fromRow(row), eventId, reviewed, by, note);
      const [event] = await this.#sealAndInsert(client, [prepareEntry(entry, { recordIdKey: this.#opts.recordIdKey })], true);
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

  async healthy(): Promise<boolean> {
    if (this.#closed) return false;
    try {
      await this.#ensureSchema();
      await this.#pool.query('SELECT 1');
      if ((this.#cannotWrite ?? this.#cannotRecord) !== undefined) return false; // reachable, but this store may not extend the trail
      if (this.#opts.readonly === true) return true;
      // As an append would: another writer may have recorded other keys since this one opened the trail.
      const problems = writeProblems(await readPostgresMode(this.#pool, this.#opts.schema), this.#wanted());
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
