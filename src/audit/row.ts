import { z } from 'zod';
import type { SqlDialect } from './dialect.js';
import { archiveRecordSchema, type AuditEvent } from './event.js';

/**
 * Table columns, in insert order. Every event field has its own column and
 * the event is rebuilt from them when read, so there is no second copy that
 * could be altered without the hash noticing.
 *
 * @example
 * `INSERT INTO t (${COLUMNS.join(', ')}) VALUES (…)`
 */
export const COLUMNS = [
  'id',
  'chain',
  'seq',
  'time',
  'request_id',
  'user_sub',
  'roles',
  'purpose',
  'resource',
  'action',
  'decision',
  'code',
  'status',
  'record_ids',
  'withheld_record_ids',
  'subject_ids',
  'withheld_subject_ids',
  'fields_disclosed',
  'fields_withheld',
  'transforms',
  'restrictions',
  'grants',
  'break_glass',
  'policy_version',
  'review_of',
  'review_by',
  'review_note',
  'prev_hash',
  'hash',
  'archives',
] as const;

/**
 * JSON-valued columns: TEXT in SQLite, jsonb in PostgreSQL. The subject
 * columns are NULL when the event names no subject (and in rows written
 * before subjects were recorded).
 *
 * @example
 * JSON_COLUMNS.has('record_ids'); // true
 */
export const JSON_COLUMNS = new Set<string>([
  'roles',
  'record_ids',
  'withheld_record_ids',
  'subject_ids',
  'withheld_subject_ids',
  'fields_disclosed',
  'fields_withheld',
  'transforms',
  'restrictions',
  'grants',
]);

/**
 * A row as a driver returns it (SQLite: JSON as text; pg: jsonb parsed, bigint as string, timestamptz as Date).
 *
 * @example
 * const row = db.prepare('SELECT * FROM fieldmesh_audit_events LIMIT 1').get() as AuditRow;
 */
export type AuditRow = Record<(typeof COLUMNS)[number], unknown>;

/**
 * The values to insert for an event, in COLUMNS order; JSON columns serialised.
 *
 * @example
 * insert.run(...toRow(event));
 */
export function toRow(e: AuditEvent): (string | number | null)[] {
  const values: Record<(typeof COLUMNS)[number], unknown> = {
    id: e.id,
    chain: e.chain,
    seq: e.seq,
    time: e.time,
    request_id: e.requestId,
    user_sub: e.user,
    roles: e.roles,
    purpose: e.purpose,
    resource: e.resource,
    action: e.action,
    decision: e.decision,
    code: e.code ?? null,
    status: e.status,
    record_ids: e.recordIds,
    withheld_record_ids: e.withheldRecordIds,
    subject_ids: e.subjectIds,
    withheld_subject_ids: e.withheldSubjectIds,
    fields_disclosed: e.fieldsDisclosed,
    fields_withheld: e.fieldsWithheld,
    transforms: e.transforms,
    restrictions: e.restrictions,
    grants: e.grants,
    break_glass: e.breakGlass ?? null,
    policy_version: e.policyVersion,
    review_of: e.review?.of ?? null,
    review_by: e.review?.by ?? null,
    review_note: e.review?.note ?? null,
    prev_hash: e.prevHash,
    hash: e.hash,
    archives: e.archives === undefined ? null : JSON.stringify(e.archives),
  };
  return COLUMNS.map((c) =>
    JSON_COLUMNS.has(c) ? (values[c] === undefined ? null : JSON.stringify(values[c])) : (values[c] as string | number | null),
  );
}

const TEXT = [
  'id',
  'chain',
  'request_id',
  'user_sub',
  'purpose',
  'resource',
  'action',
  'decision',
  'policy_version',
  'prev_hash',
  'hash',
] as const;
const OPTIONAL_TEXT = ['code', 'break_glass', 'review_of', 'review_by', 'review_note'] as const;
/** JSON columns holding a list of strings; `transforms` holds an object of strings. */
const STRING_LISTS = [
  'roles',
  'record_ids',
  'withheld_record_ids',
  'fields_disclosed',
  'fields_withheld',
  'restrictions',
  'grants',
] as const;

/**
 * Why a row cannot be an event the store wrote (a value of another type than
 * the store writes, or a column set that the store never sets), or undefined.
 * SQLite keeps whatever type a value is given (a BLOB where text was written,
 * say), and an event rebuilt with String() from it still hashes the same
 * while filters and ordering no longer see it as it was: verify must fail on
 * it. JSON columns arrive as text from both stores (the PostgreSQL store
 * reads jsonb as text) and must hold the JSON type the store writes: a list
 * turned into a JSON string would still rebuild the same event, but no
 * record search would find it. pg returns bigint as text and timestamptz as Date.
 *
 * @example
 * storedTypeProblem(row); // 'user_sub is not stored as the type the store writes' when user_sub was cast to a BLOB
 */
export function storedTypeProblem(r: AuditRow): string | undefined {
  const bad = (c: string): string => `${c} is not stored as the type the store writes`;
  for (const c of TEXT) if (typeof r[c] !== 'string') return bad(c);
  for (const c of OPTIONAL_TEXT) if (r[c] !== null && typeof r[c] !== 'string') return bad(c);
  if (typeof r.time !== 'string' && !(r.time instanceof Date)) return bad('time');
  const seq = r.seq;
  if (
    !(typeof seq === 'number' ? Number.isSafeInteger(seq) : typeof seq === 'bigint' || (typeof seq === 'string' && /^\d{1,15}$/.test(seq)))
  )
    return bad('seq');
  if (typeof r.status !== 'number' || !Number.isInteger(r.status)) return bad('status');
  // NULL (or no column, in a trail read before it was upgraded) when the event names no subject; never an empty list.
  for (const c of ['subject_ids', 'withheld_subject_ids'] as const) {
    if (r[c] === null || r[c] === undefined) continue;
    let value: unknown;
    try {
      value = typeof r[c] === 'string' ? JSON.parse(r[c] as string) : undefined;
    } catch {
      return `${c} does not hold valid JSON`;
    }
    if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string'))
      return `${bad(c)} (NULL or a non-empty list of strings)`;
  }
  for (const c of [...STRING_LISTS, 'transforms'] as const) {
    let value: unknown;
    try {
      value = typeof r[c] === 'string' ? JSON.parse(r[c] as string) : undefined;
    } catch {
      return `${c} does not hold valid JSON`;
    }
    const strings =
      c === 'transforms'
        ? value !== null && typeof value === 'object' && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string')
        : Array.isArray(value) && value.every((v) => typeof v === 'string');
    if (!strings) return `${bad(c)} (${c === 'transforms' ? 'an object of strings' : 'a list of strings'})`;
  }
  // A checkpoint's list, on an archive event and nowhere else (undefined: a read-only store on a file not yet migrated).
  const archives = r.archives ?? null;
  if (archives !== null) {
    let value: unknown;
    try {
      value = typeof archives === 'string' ? JSON.parse(archives) : undefined;
    } catch {
      return 'archives does not hold valid JSON';
    }
    if (!z.array(archiveRecordSchema).min(1).safeParse(value).success) return `${bad('archives')} (a list of archives)`;
  }
  if ((archives !== null) !== (r.action === 'archive'))
    return 'archives is set on an event that is not an archive checkpoint, or missing on one';
  // The event is rebuilt without them when review_of is NULL, so the hash would not cover them.
  for (const c of ['review_by', 'review_note'] as const) {
    if (r.review_of === null && r[c] !== null)
      return `${c} is set on an event that reviews nothing (review_of is empty), which the store never writes`;
  }
  return undefined;
}

/**
 * Rebuilds the event a row holds, exactly as it was hashed. Throws when a
 * JSON column no longer parses (verify reports that as tampering).
 *
 * @example
 * const event = fromRow(db.prepare('SELECT * FROM fieldmesh_audit_events WHERE id = ?').get(id));
 */
export function fromRow(r: AuditRow): AuditEvent {
  const json = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);
  const opt = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v));
  const event: Record<string, unknown> = {
    id: String(r.id),
    chain: String(r.chain),
    seq: Number(r.seq),
    time: r.time instanceof Date ? r.time.toISOString() : String(r.time),
    requestId: String(r.request_id),
    user: String(r.user_sub),
    roles: json(r.roles),
    purpose: String(r.purpose),
    resource: String(r.resource),
    action: String(r.action),
    decision: String(r.decision),
    code: opt(r.code),
    status: Number(r.status),
    recordIds: json(r.record_ids),
    withheldRecordIds: json(r.withheld_record_ids),
    subjectIds: r.subject_ids === null ? undefined : json(r.subject_ids),
    withheldSubjectIds: r.withheld_subject_ids === null ? undefined : json(r.withheld_subject_ids),
    fieldsDisclosed: json(r.fields_disclosed),
    fieldsWithheld: json(r.fields_withheld),
    transforms: json(r.transforms),
    restrictions: json(r.restrictions),
    grants: json(r.grants),
    breakGlass: opt(r.break_glass),
    policyVersion: String(r.policy_version),
    review:
      r.review_of === null || r.review_of === undefined
        ? undefined
        : { of: String(r.review_of), by: opt(r.review_by), note: opt(r.review_note) },
    prevHash: String(r.prev_hash),
    hash: String(r.hash),
    archives: r.archives === null || r.archives === undefined ? undefined : json(r.archives),
  };
  for (const k of Object.keys(event)) if (event[k] === undefined) delete event[k];
  return event as AuditEvent;
}

/**
 * `INSERT` of `rows` events into `table`, parameters in COLUMNS order row
 * after row (the values `toRow` gives, concatenated).
 *
 * @example
 * db.prepare(insertSql(table, 1, sqliteDialect)).run(toRow(event));
 */
export function insertSql(table: string, rows: number, dialect: SqlDialect): string {
  let n = 0;
  const values = Array.from({ length: rows }, () => `(${COLUMNS.map(() => dialect.param(++n)).join(', ')})`);
  return `INSERT INTO ${table} (${COLUMNS.join(', ')}) VALUES ${values.join(', ')}`;
}
