/**
 * fieldmesh: need-to-know access control for record APIs.
 *
 * @example
 * import { loadPolicies } from 'fieldmesh';
 * const policies = await loadPolicies('./policies');
 */
export { loadPolicies, policiesFromSources, PolicySet } from './policy-set.js';
export type { PolicyOptions } from './policy-set.js';
export type { RequestContext, UserClaims, Plan, Action } from './request.js';
export type { Decision } from './decision.js';
export type { Explanation, FieldExplanation, ExplainQuery } from './explain.js';
export { FieldmeshError, PolicyError, AccessError, formatIssue, formatIssues } from './errors.js';
export type { PolicyIssue, AccessCode } from './errors.js';
export { openAuditStore } from './audit/store.js';
export type { AuditStore, AuditFilter, VerifyResult, VerifyOptions, ChainHead, AuditStoreOptions, AuditTarget } from './audit/store.js';
export { entryFromDecision } from './audit/event.js';
export type { AuditEntry, AuditEvent } from './audit/event.js';
export { withBreakGlassAlert } from './audit/alert.js';
export type { BreakGlassAlertOptions } from './audit/alert.js';
export { fieldmesh } from './middleware/mesh.js';
export type { Mesh } from './middleware/mesh.js';
export type { MeshOptions, ReadOptions, WriteOptions } from './middleware/options.js';
export { redactBody } from './shape.js';
export type { ListKey } from './shape.js';
