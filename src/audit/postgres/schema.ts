import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { claimMode, modeFromRow, type TrailMode, type WriteProblems } from '../trail-mode.js';

/**
 * Qualified table names for a schema (or the search_path's when none).
 *
 * @example
 * tableNames('audit').events; // '"audit".fieldmesh_audit_events'
 */
export function tableNames(schema: string | undefined): { prefix: string; events: string; version: string; trail: string } {
  const prefix = schema === undefined ? '' : `${quoteIdent(schema)}.`;
  return {
    prefix,
    events: `${prefix}fieldmesh_audit_events`,
    version: `${prefix}fieldmesh_audit_schema`,
    trail: `${prefix}fieldmesh_audit_trail`,
  };
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * A 64-bit advisory lock key for a name. Computed here rather than with
 * hashtext() so it can be sent as a literal with BEGIN in one round trip.
 *
 * @example
 * advisoryKey('fieldmesh_audit::main'); // '4866513213528242877'
 */
export function advisoryKey(name: string): string {
  return createHash('sha256').update(name).digest().readBigInt64BE(0).toString();
}

/** Schema versions in order; index + 1 is the version. Never edit a released one, append. */
const MIGRATIONS = (t: ReturnType<typeof tableNames>): string[] => [
  `CREATE TABLE ${t.events} (
    id text PRIMARY KEY, chain text NOT NULL, seq bigint NOT NULL, time timestamptz NOT NULL,
    request_id text NOT NULL, user_sub text NOT NULL, roles jsonb NOT NULL, purpose text NOT NULL,
    resource text NOT NULL, action text NOT NULL, decision text NOT NULL, code text, status integer NOT NULL,
    record_ids jsonb NOT NULL, withheld_record_ids jsonb NOT NULL, fields_disclosed jsonb NOT NULL,
    fields_withheld jsonb NOT NULL, transforms jsonb NOT NULL, restrictions jsonb NOT NULL, grants jsonb NOT NULL,
    break_glass text, policy_version text NOT NULL, review_of text, review_by text, review_note text,
    prev_hash text NOT NULL, hash text NOT NULL,
    UNIQUE (chain, seq)
  );
  CREATE INDEX fieldmesh_audit_events_time ON ${t.events} (time);
  CREATE INDEX fieldmesh_audit_events_user ON ${t.events} (user_sub, time);
  CREATE INDEX fieldmesh_audit_events_review_of ON ${t.events} (review_of) WHERE review_of IS NOT NULL;
  CREATE INDEX fieldmesh_audit_events_break_glass ON ${t.events} (time) WHERE break_glass IS NOT NULL;
  CREATE INDEX fieldmesh_audit_events_records ON ${t.events} USING gin (record_ids jsonb_path_ops);
  CREATE INDEX fieldmesh_audit_events_withheld ON ${t.events} USING gin (withheld_record_ids jsonb_path_ops);`,
  `CREATE TABLE ${t.trail} (
    id integer PRIMARY KEY CHECK (id = 1), chain text NOT NULL, keyed boolean NOT NULL, key_check text,
    recorded_at timestamptz NOT NULL DEFAULT now()
  );`,
  `ALTER TABLE ${t.trail} ADD COLUMN trail_id text, ADD COLUMN record_key text;`,
  // Subject ids (the people records are about): NULL in every event written before, which names none.
  // Indexed as record ids are, so a report by subject does not read the whole trail.
  `ALTER TABLE ${t.events} ADD COLUMN subject_ids jsonb, ADD COLUMN withheld_subject_ids jsonb;
  CREATE INDEX fieldmesh_audit_events_subjects ON ${t.events} USING gin (subject_ids jsonb_path_ops);
  CREATE INDEX fieldmesh_audit_events_withheld_subjects ON ${t.events} USING gin (withheld_subject_ids jsonb_path_ops);`,
  // An archive checkpoint's list of archives (docs/audit.md, Archiving), NULL on every other event.
  `ALTER TABLE ${t.events} ADD COLUMN archives jsonb;`,
];

/**
 * Creates or upgrades the schema, under an advisory lock so instances
 * starting together do not race to create the same tables, then records the
 * writer's mode on a new trail (see `claimMode`). Resolves with why this
 * writer may not extend the trail (another chain, a missing or wrong chain
 * key, another record-id key); both undefined when it may.
 *
 * @example
 * const { chain, records } = await migratePostgres(await pool.connect(), 'audit', wantedMode('main', key));
 */
export async function migratePostgres(client: PoolClient, schema: string | undefined, wanted: TrailMode): Promise<WriteProblems> {
  const t = tableNames(schema);
  const migrations = MIGRATIONS(t);
  await client.query(`BEGIN; SELECT pg_advisory_xact_lock(${advisoryKey(`fieldmesh_audit_migrate:${schema ?? ''}`)})`);
  try {
    if (schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${t.prefix.slice(0, -1)}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${t.version} (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ v: number | null }>(`SELECT MAX(version) AS v FROM ${t.version}`);
    const current = rows[0]?.v ?? 0;
    if (current > migrations.length) {
      throw new Error(`the database has audit schema version ${current}, newer than this fieldmesh knows (${migrations.length})`);
    }
    for (const [i, sql] of migrations.slice(current).entries()) {
      await client.query(sql);
      await client.query(`INSERT INTO ${t.version} (version) VALUES ($1)`, [current + i + 1]);
    }
    const events = await client.query(`SELECT 1 FROM ${t.events} LIMIT 1`);
    const { record, problems } = claimMode(await readPostgresMode(client, schema), events.rows.length > 0, wanted);
    if (record !== undefined) {
      await client.query(
        `INSERT INTO ${t.trail} (id, chain, keyed, key_check, trail_id, record_key) VALUES (1, $1, $2, $3, $4, $5)
        ON CONFLICT (id) DO UPDATE SET chain = excluded.chain, keyed = excluded.keyed, key_check = excluded.key_check,
        trail_id = excluded.trail_id, record_key = excluded.record_key, recorded_at = now()`,
        [record.chain, record.keyed, record.keyCheck, record.trailId ?? null, record.recordKey ?? null],
      );
    }
    await client.query('COMMIT');
    return problems;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * The mode the trail records, or undefined when none is (tables created
 * before modes were recorded, or not created at all).
 *
 * @example
 * (await readPostgresMode(pool, 'audit')) ?? { chain: 'main', keyed: false, keyCheck: null };
 */
export async function readPostgresMode(db: Pool | PoolClient, schema: string | undefined): Promise<TrailMode | undefined> {
  const t = tableNames(schema);
  const exists = await db.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [t.trail]);
  if (exists.rows[0]?.t === null || exists.rows[0] === undefined) return undefined;
  const [row] = (await db.query<Parameters<typeof modeFromRow>[0]>(`SELECT * FROM ${t.trail} WHERE id = 1`)).rows;
  return row === undefined ? undefined : modeFromRow(row);
}
