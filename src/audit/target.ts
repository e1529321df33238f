import type { AuditTarget } from './types.js';

/**
 * Where the trail lives when nothing is configured.
 *
 * @example
 * openAuditStore(process.env.FIELDMESH_AUDIT ?? DEFAULT_SQLITE_FILE);
 */
export const DEFAULT_SQLITE_FILE = './fieldmesh-audit.db';

/**
 * Which store a target names: a `postgres://` or `postgresql://` URL is
 * PostgreSQL, anything else a SQLite file. A malformed target is a TypeError.
 *
 * @example
 * resolveTarget('postgresql://db/audit'); // { kind: 'postgres', url: 'postgresql://db/audit' }
 */
export function resolveTarget(target: AuditTarget): { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string } {
  if (typeof target === 'string') {
    if (target.trim() === '') throw new TypeError('openAuditStore: empty audit target');
    return /^postgres(ql)?:\/\//i.test(target) ? { kind: 'postgres', url: target } : { kind: 'sqlite', path: target };
  }
  if (target !== null && typeof target === 'object') {
    if ('postgres' in target && typeof target.postgres === 'string') return { kind: 'postgres', url: target.postgres };
    if ('sqlite' in target && typeof target.sqlite === 'string') return { kind: 'sqlite', path: target.sqlite };
  }
  throw new TypeError('openAuditStore: target must be a path, a postgres:// URL, { sqlite: path } or { postgres: url }');
}
