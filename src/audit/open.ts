import { checkedKey } from '../lib/keys.js';
import { loadSqliteStore } from './load-sqlite.js';
import { resolveTarget } from './target.js';
import type { AuditStore, AuditStoreOptions, AuditTarget } from './types.js';

/**
 * Opens the trail a target names: a `postgres://` or `postgresql://` URL is
 * PostgreSQL, a path a SQLite file (`resolveTarget`). Never rejects because
 * the trail is unreachable (appends reject with `audit_unavailable` until it
 * is back; call `healthy()` to check at start-up); any other URL, a
 * malformed one or a padded target is a TypeError.
 *
 * The driver is imported here, when a store of its kind is first opened:
 * an application on PostgreSQL never loads the SQLite binding, one on
 * SQLite never loads pg, and importing the contract loads neither. The
 * SQLite driver is an optional dependency: when it is not installed, opening
 * a SQLite trail rejects with an `audit_unavailable` error naming the package.
 *
 * @example
 * const store = await openAuditStore(process.env.FIELDMESH_AUDIT ?? './fieldmesh-audit.db');
 */
export async function openAuditStore(target: AuditTarget, options: AuditStoreOptions = {}): Promise<AuditStore> {
  const resolved = resolveTarget(target);
  checkedKey('openAuditStore: recordIdKey', options.recordIdKey);
  if (resolved.kind === 'postgres') {
    const { openPostgresStore } = await import('./postgres/store.js');
    return openPostgresStore(resolved.url, options);
  }
  const { openSqliteStore } = await loadSqliteStore(resolved.path);
  return openSqliteStore(resolved.path, options);
}
