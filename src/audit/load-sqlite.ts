import { FieldmeshError } from '../lib/errors.js';

/** The npm package the SQLite trail needs: an optional dependency, compiled when no prebuilt binary fits. */
export const SQLITE_DRIVER = 'better-sqlite3';

/**
 * The SQLite store module, imported when a SQLite trail is first opened.
 * better-sqlite3 is an optional dependency (a native module: an engine-only
 * install can leave it out, and npm drops it when it cannot be built), so a
 * missing driver is an installation problem named as one: an
 * `audit_unavailable` error that says which package to install, never a bare
 * "Cannot find package". Any other failure to load is passed on as it is.
 *
 * @example
 * const { openSqliteStore } = await loadSqliteStore('./fieldmesh-audit.db');
 */
export async function loadSqliteStore(where: string): Promise<typeof import('./sqlite/store.js')> {
  try {
    return await import('./sqlite/store.js');
  } catch (err) {
    if (!isMissingDriver(err)) throw err;
    const e = new FieldmeshError(
      'audit_unavailable',
      `The audit trail ${where} cannot be opened: a SQLite trail needs the optional package ${SQLITE_DRIVER}, which is not installed ` +
        `(npm install ${SQLITE_DRIVER}; building it needs python3, make and g++ when no prebuilt binary fits). ` +
        'A postgres:// trail does not need it.',
    );
    e.cause = err;
    throw e;
  }
}

function isMissingDriver(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && err.message.includes(`'${SQLITE_DRIVER}'`);
}
