import { parameters, type SqlDialect } from './dialect.js';
import { pseudonymiseRecordId } from './event.js';
import type { AuditFilter } from './types.js';
import { printable } from '../lib/text.js';

/**
 * Builds `WHERE …` and its parameters for a filter. Texts go through
 * `printable`, as they did when stored; record and subject ids are then
 * pseudonymised with the store's key so callers always pass raw ids.
 */
export function whereClause(
  filter: AuditFilter,
  dialect: SqlDialect,
  recordIdKey: string | Buffer | undefined,
): { where: string; params: unknown[] } {
  const { p, params } = parameters(dialect);
  const clauses: string[] = [];
  const eq = (column: string, value: string | undefined): void => {
    if (value !== undefined) clauses.push(`${column} = ${p(printable(value))}`);
  };
  eq('user_sub', filter.user);
  eq('purpose', filter.purpose);
  eq('resource', filter.resource);
  eq('decision', filter.decision);
  eq('action', filter.action);
  eq('chain', filter.chain);
  for (const [name, op] of [
    ['afterSeq', '>'],
    ['throughSeq', '<='],
  ] as const) {
    const seq = filter[name];
    if (seq === undefined) continue;
    if (!Number.isSafeInteger(seq) || seq < 0) throw new TypeError(`AuditFilter.${name} must be a whole number, 0 or more`);
    clauses.push(`seq ${op} ${p(seq)}`);
  }
  const either = (id: string, disclosed: string, withheld: string): void => {
    const raw = printable(id);
    const value = dialect.arrayValue(recordIdKey === undefined ? raw : pseudonymiseRecordId(raw, recordIdKey));
    clauses.push(`(${dialect.arrayHas(disclosed, p(value))} OR ${dialect.arrayHas(withheld, p(value))})`);
  };
  if (filter.recordId !== undefined) either(filter.recordId, 'record_ids', 'withheld_record_ids');
  if (filter.subject !== undefined) either(filter.subject, 'subject_ids', 'withheld_subject_ids');
  if (filter.since !== undefined) clauses.push(`time >= ${dialect.time(p(isoTime(filter.since, 'since')))}`);
  if (filter.until !== undefined) clauses.push(`time < ${dialect.time(p(isoTime(filter.until, 'until')))}`);
  if (filter.breakGlass !== undefined) clauses.push(filter.breakGlass ? 'break_glass IS NOT NULL' : 'break_glass IS NULL');
  if (filter.limit !== undefined && (!Number.isInteger(filter.limit) || filter.limit < 1)) {
    throw new TypeError('AuditFilter.limit must be a positive integer');
  }
  return { where: clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : '', params };
}

/** Times are stored as `toISOString()` text (SQLite) so bounds must be in the same form to compare. */
function isoTime(value: string | Date, name: string): string {
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  if (Number.isNaN(ms)) throw new TypeError(`AuditFilter.${name} is not a date: ${String(value)}`);
  return new Date(ms).toISOString();
}
