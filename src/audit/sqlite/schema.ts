import type { Database } from 'better-sqlite3';
import type { SqlDialect } from '../dialect.js';
import { claimMode, modeFromRow, type TrailMode, type WriteProblems } from '../trail-mode.js';

/**
 * The events table; an event lives in one row, one column per field.
 *
 * @example
 * db.prepare(`SELECT COUNT(*) FROM ${SQLITE_TABLE}`).get();
 */
export const SQLITE_TABLE = 'fieldmesh_audit_events';

/**
 * How the shared statements are written for SQLite.
 *
 * @example
 * headSql(SQLITE_TABLE, sqliteDialect, 'main');
 */
export const sqliteDialect: SqlDialect = {
  param: () => '?',
  arrayHas: (column, p) => `EXISTS (SELECT 1 FROM json_each(${column}) WHERE value = ${p})`,
  arrayValue: (id) => id,
  time: (p) => p,
};

/** Schema versions in order; index + 1 is the version number. Never edit a released one, append. */
const MIGRATIONS: string[] = [
  `CREATE TABLE fieldmesh_audit_events (
    id TEXT PRIMARY KEY, chain TEXT NOT NULL, seq INTEGER NOT NULL, time TEXT NOT NULL,
    request_id TEXT NOT NULL, user_sub TEXT NOT NULL, roles TEXT NOT NULL, purpose TEXT NOT NULL,
    resource TEXT NOT NULL, action TEXT NOT NULL, decision TEXT NOT NULL, code TEXT, status INTEGER NOT NULL,
    record_ids TEXT NOT NULL, withheld_record_ids TEXT NOT NULL, fields_disclosed TEXT NOT NULL,
    fields_withheld TEXT NOT NULL, transforms TEXT NOT NULL, restrictions TEXT NOT NULL, grants TEXT NOT NULL,
    break_glass TEXT, policy_version TEXT NOT NULL, review_of TEXT, review_by TEXT, review_note TEXT,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
    UNIQUE (chain, seq)
  );
  CREATE INDEX fieldmesh_audit_events_time ON fieldmesh_audit_events (time);
  CREATE INDEX fieldmesh_audit_events_user ON fieldmesh_audit_events (user_sub, time);
  CREATE INDEX fieldmesh_audit_events_review_of ON fieldmesh_audit_events (review_of) WHERE review_of IS NOT NULL;
  CREATE INDEX fieldmesh_audit_events_break_glass ON fieldmesh_audit_events (time) WHERE break_glass IS NOT NULL;
  CREATE TABLE fieldmesh_audit_health (id INTEGER PRIMARY KEY CHECK (id = 1), checked_at TEXT NOT NULL);`,
  `CREATE TABLE fieldmesh_audit_trail (
    id INTEGER PRIMARY KEY CHECK (id = 1), chain TEXT NOT NULL, keyed INTEGER NOT NULL, key_check TEXT, recorded_at TEXT NOT NULL
  );`,
  `ALTER TABLE fieldmesh_audit_trail ADD COLUMN trail_id TEXT;
  ALTER TABLE fieldmesh_audit_trail ADD COLUMN record_key TEXT;`,
  // Subject ids (the people records are about): NULL in every event written before, which names none.
  // Not indexed, as record ids are not: a report reads them with json_each.
  `ALTER TABLE fieldmesh_audit_events ADD COLUMN subject_ids TEXT;
  ALTER TABLE fieldmesh_audit_events ADD COLUMN withheld_subject_ids TEXT;`,
  // An archive checkpoint's list of archives (docs/audit.md, Archiving), NULL on every other event.
  'ALTER TABLE fieldmesh_audit_events ADD COLUMN archives TEXT;',
];

/**
 * Creates or upgrades the schema. Runs under BEGIN IMMEDIATE so two
 * processes opening a new file at once do not both create the tables.
 */
export function migrateSqlite(db: Database): void {
  db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS fieldmesh_audit_schema (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
    const row = db.prepare('SELECT MAX(version) AS v FROM fieldmesh_audit_schema').get() as { v: number | null };
    const current = row.v ?? 0;
    if (current > MIGRATIONS.length) {
      throw new Error(`the file has audit schema version ${current}, newer than this fieldmesh knows (${MIGRATIONS.length})`);
    }
    MIGRATIONS.slice(current).forEach((sql, i) => {
      db.exec(sql);
      db.prepare('INSERT INTO fieldmesh_audit_schema (version, applied_at) VALUES (?, ?)').run(current + i + 1, new Date().toISOString());
    });
  }).immediate();
}

/**
 * The mode the file records, or undefined when none is (a file written
 * before modes were recorded, or never written).
 *
 * @example
 * readSqliteMode(db) ?? { chain: 'main', keyed: false, keyCheck: null };
 */
export function readSqliteMode(db: Database): TrailMode | undefined {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'fieldmesh_audit_trail'").get();
  if (table === undefined) return undefined;
  const row = db.prepare('SELECT * FROM fieldmesh_audit_trail WHERE id = 1').get() as Parameters<typeof modeFromRow>[0] | undefined;
  return row === undefined ? undefined : modeFromRow(row);
}

/**
 * Records the writer's mode on a new trail (see `claimMode`), under the
 * write lock, and says why this writer may not extend the trail (another
 * chain, a missing or wrong chain key, another record-id key), if it may not.
 *
 * @example
 * const { chain, records } = claimSqliteMode(db, wantedMode('main', key)); // both undefined: may write
 */
export function claimSqliteMode(db: Database, wanted: TrailMode): WriteProblems {
  return db
    .transaction(() => {
      const hasEvents = db.prepare(`SELECT 1 FROM ${SQLITE_TABLE} LIMIT 1`).get() !== undefined;
      const { record, problems } = claimMode(readSqliteMode(db), hasEvents, wanted);
      if (record !== undefined) {
        db.prepare(`INSERT OR REPLACE INTO fieldmesh_audit_trail (id, chain, keyed, key_check, recorded_at, trail_id, record_key)
        VALUES (1, ?, ?, ?, ?, ?, ?)`).run(
          record.chain,
          record.keyed ? 1 : 0,
          record.keyCheck,
          new Date().toISOString(),
          record.trailId ?? null,
          record.recordKey ?? null,
        );
      }
      return problems;
    })
    .immediate();
}
