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
 * A PostgreSQL URL as it may be printed: host, port and database, no user or password.
 *
 * @example
 * describePostgres('postgres://app:secret@db:5432/audit'); // 'postgres://db:5432/audit'
 */
export function describePostgres(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'postgres://(unparsable URL)';
  }
}
