/**
 * fieldmesh: need-to-know access control for record APIs.
 *
 * @example
 * import { loadPolicies } from 'fieldmesh';
 * const policies = await loadPolicies('./policies');
 */
export { loadPolicies, policiesFromSources, PolicySet } from './engine/policy-set.js';
export type { PolicyOptions } from './engine/policy-set.js';
export type { RequestContext, UserClaims, Plan, Action } from './engine/plan.js';
export type { Decision } from './engine/decision.js';
export type { Explanation, FieldExplanation, ExplainQuery } from './engine/explain.js';
export { FieldmeshError, PolicyError, AccessError, formatIssue, formatIssues } from './lib/errors.js';
export type { PolicyIssue, AccessCode } from './lib/errors.js';
export { openAuditStore } from './audit/open.js';
export type { AuditStore, AuditFilter, VerifyResult, VerifyOptions, ChainHead, AuditStoreOptions, AuditTarget } from './audit/types.js';
export { entryFromDecision } from './audit/event.js';
export type { AuditEntry, AuditEvent } from './audit/event.js';
export { withBreakGlassAlert } from './audit/alert.js';
export type { BreakGlassAlertOptions } from './audit/alert.js';
export { fieldmesh } from './express/mesh.js';
export type { Mesh } from './express/mesh.js';
export type { MeshOptions, ReadOptions, WriteOptions } from './express/options.js';
export { redactBody } from './engine/body-shape.js';
export type { ListKey } from './engine/body-shape.js';
