import { FieldmeshError } from '../lib/errors.js';

/**
 * The error every failed write becomes: 503, nothing disclosed (no disclosure
 * without a durable record). The cause stays attached for logs; the message
 * names the trail without credentials and callers over HTTP see a fixed text.
 *
 * @example
 * throw auditUnavailable('./fieldmesh-audit.db', err);
 */
export function auditUnavailable(where: string, cause: unknown, doing: 'written' | 'read' = 'written'): FieldmeshError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  const err = new FieldmeshError('audit_unavailable', `The audit trail ${where} cannot be ${doing}: ${detail}`);
  err.cause = cause;
  return err;
}

/**
 * A URL as it may be printed: scheme, host, port and database; never a user,
 * a password or a query (which may hold `password=`). A path that could
 * hold credentials (`postgres:user:pw@db`) is not shown; a URL that cannot
 * be parsed shows its scheme at most. Every message that names an audit
 * target by URL uses it.
 *
 * @example
 * describePostgres('postgres://app:secret@db:5432/audit'); // 'postgres://db:5432/audit'
 * describePostgres('postgresql+psycopg://app:secret@db/audit'); // 'postgresql+psycopg://db/audit'
 */
export function describePostgres(url: string): string {
  try {
    const u = new URL(url);
    const path = /[@:]/.test(u.pathname) ? '/…' : u.pathname;
    return `${u.protocol}//${u.host}${path}`;
  } catch {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
    return `${scheme ?? 'postgres'}://(unparsable URL)`;
  }
}
