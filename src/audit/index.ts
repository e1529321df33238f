/**
 * fieldmesh/audit: the audit trail on its own: open a store, turn a decision
 * into an entry, alert on break-glass.
 *
 * @example
 * import { openAuditStore } from 'fieldmesh/audit';
 * const store = await openAuditStore(process.env.FIELDMESH_AUDIT ?? './fieldmesh-audit.db');
 * const result = await store.verify();
 */
export { openAuditStore } from './store.js';
export type { AuditStore, AuditFilter, AuditStoreOptions, AuditTarget, VerifyResult, VerifyOptions, ChainHead } from './store.js';
export { entryFromDecision } from './event.js';
export type { AuditEntry, AuditEvent } from './event.js';
export { withBreakGlassAlert } from './alert.js';
export type { BreakGlassAlertOptions } from './alert.js';
