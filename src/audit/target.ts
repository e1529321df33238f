import { hasEdgeWhitespace } from '../lib/text.js';
import type { AuditTarget } from './types.js';
import { describePostgres } from './unavailable.js';

/**
 * Where the trail lives when nothing is configured.
 *
 * @example
 * openAuditStore(process.env.FIELDMESH_AUDIT ?? DEFAULT_SQLITE_FILE);
 */
export const DEFAULT_SQLITE_FILE = './fieldmesh-audit.db';

/** A `postgres://` or `postgresql://` URL: the only URLs a trail may be. */
const POSTGRES = /^postgres(ql)?:\/\//i;
/** Looks like a URL: a scheme (`name:`, two characters or more, so `C:\trail.db` stays a path) or `://` anywhere. */
const URL_LIKE = /^[a-z][a-z0-9+.-]+:|:\/\//i;

/**
 * Which store a target names: a `postgres://` or `postgresql://` URL is
 * PostgreSQL, a path a SQLite file. Anything else that looks like a URL
 * (`postgresql+psycopg://…`, `postgres:/db`, `mysql://…`) is refused, never
 * taken for a file name: the file's name would be printed, password and all.
 * A target that begins or ends with whitespace is refused, not trimmed (every
 * entry point, flag, variable or file, shares this one rule), and so is a
 * PostgreSQL URL that does not parse. Each refusal is a TypeError whose
 * message shows the URL without user, password or query.
 *
 * @example
 * resolveTarget('postgresql://db/audit'); // { kind: 'postgres', url: 'postgresql://db/audit' }
 * resolveTarget('mysql://u:pw@db/audit'); // TypeError: … unsupported audit URL mysql://db/audit …
 */
export function resolveTarget(target: AuditTarget): { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string } {
  if (typeof target === 'string') {
    if (target.trim() === '') throw new TypeError('openAuditStore: empty audit target');
    if (hasEdgeWhitespace(target))
      throw new TypeError(
        'openAuditStore: the audit target begins or ends with whitespace (a space, a tab or a line break): remove it; it is never trimmed',
      );
    if (POSTGRES.test(target)) return { kind: 'postgres', url: checkedUrl(target) };
    if (URL_LIKE.test(target))
      throw new TypeError(
        `openAuditStore: unsupported audit URL ${describePostgres(target)}: the trail is a SQLite file path or a postgres:// (postgresql://) URL`,
      );
    return { kind: 'sqlite', path: target };
  }
  if (target !== null && typeof target === 'object') {
    if ('postgres' in target && typeof target.postgres === 'string') return { kind: 'postgres', url: checkedUrl(target.postgres) };
    if ('sqlite' in target && typeof target.sqlite === 'string') return { kind: 'sqlite', path: target.sqlite };
  }
  throw new TypeError('openAuditStore: target must be a path, a postgres:// URL, { sqlite: path } or { postgres: url }');
}

/** A PostgreSQL URL that parses; one that does not would fail on every append, its reason quoting the URL. */
function checkedUrl(url: string): string {
  try {
    // pg's own parse, which also reads `postgres://user@/db?host=/socket` (no host before the path).
    new URL(url.replace('@/', '@___DUMMY___/'), 'postgres://base');
  } catch {
    throw new TypeError(
      `openAuditStore: malformed audit URL ${describePostgres(url)}: check its host, port and escaping (%40 for @ in a password)`,
    );
  }
  return url;
}
