/**
 * fieldmesh/audit: the audit trail on its own. Importing it loads no
 * database driver: `openAuditStore` imports the SQLite or PostgreSQL driver
 * when a store of that kind is opened.
 *
 * @example
 * import { openAuditStore } from 'fieldmesh/audit';
 * const store = await openAuditStore(process.env.FIELDMESH_AUDIT ?? './fieldmesh-audit.db');
 * const result = await store.verify();
 */
export { openAuditStore } from './open.js';
export type { AuditStore, AuditFilter, AuditStoreOptions, AuditTarget, VerifyResult, VerifyOptions, ChainHead } from './types.js';
export type { CommitObservation } from './group-commit.js';
export { entryFromDecision } from './event.js';
export type { ArchiveRecord, AuditEntry, AuditEvent } from './event.js';
export type { ArchiveOptions, ArchiveOutcome } from './types.js';
export { withBreakGlassAlert } from './alert.js';
export type { BreakGlassAlertOptions } from './alert.js';
