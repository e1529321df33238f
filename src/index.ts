/**
 * fieldmesh: need-to-know access control for record APIs.
 *
 * This entry is the engine: load a policy set, redact records, check writes,
 * explain a decision. Importing it loads no database driver, logger, JWT or
 * HTTP library; the parts that need them have their own entries
 * (`fieldmesh/express`, `fieldmesh/gateway`, `fieldmesh/audit`,
 * `fieldmesh/testing`), and `fieldmesh()` and `openAuditStore()` here load
 * theirs on first call.
 *
 * @example
 * import { loadPolicies } from 'fieldmesh';
 * const policies = await loadPolicies('./policies');
 * const { data, decision } = policies.redact(record, { resource: 'Patient', purpose: 'direct-care', user });
 */
import type { AuditStore, AuditStoreOptions, AuditTarget } from './audit/index.js';
import type { MeshFor, PlainHandler, PlainRequest, WriteOptionsFor } from './express/mesh-types.js';
import type { MeshOptions } from './express/options.js';

export { loadPolicies, policiesFromSources, PolicySet } from './engine/policy-set.js';
export type { PolicyOptions } from './engine/policy-set.js';
export type { RequestContext, UserClaims, Plan, Action } from './engine/plan.js';
export type { Decision } from './engine/decision.js';
export type { Explanation, FieldExplanation, ExplainQuery } from './engine/explain.js';
export { abilityFor } from './engine/ability.js';
export type { PolicyAbility, AbilityOptions } from './engine/ability.js';
export { diffPolicies } from './engine/diff.js';
export type { PolicyDiff, PolicyChange, ChangeKind, ChangeEffect, DiffAction, DiffSide, DiffOptions } from './engine/diff.js';
export { formatTrace } from './engine/trace-format.js';
export type { Trace, TraceGate, TraceGrant, TraceRestriction, TraceField, TraceRow } from './engine/trace.js';
export type { GateName, GateOutcome } from './engine/plan.js';
export { redactBody } from './engine/body-shape.js';
export type { ListKey } from './engine/body-shape.js';
export { FieldmeshError, PolicyError, formatIssue, formatIssues } from './lib/errors.js';
export { AccessError } from './engine/access-error.js';
export type { PolicyIssue, AccessCode, ErrorCode } from './lib/errors.js';
export { entryFromDecision } from './audit/event.js';
export type { AuditEntry, AuditEvent } from './audit/event.js';
export type { AuditStore, AuditFilter, VerifyResult, VerifyOptions, ChainHead, AuditStoreOptions, AuditTarget } from './audit/index.js';
export type { MeshOptions, ReadOptions } from './express/options.js';
export type { PlainHandler, PlainRequest } from './express/mesh-types.js';

/**
 * The middleware `fieldmesh()` builds, typed without express's declarations
 * (an engine-only project compiles this entry without @types/express): its
 * handlers are plain `(req, res, next)` functions, which express takes as
 * they are. `fieldmesh/express` exports the same mesh typed with express's
 * own `Request` and `RequestHandler`.
 *
 * @example
 * const mesh: Mesh = await fieldmesh(options);
 */
export type Mesh = MeshFor<PlainHandler, PlainRequest>;
/** The options of `mesh.write()` from this entry: `load` is given a PlainRequest (express's Request is one). */
export type WriteOptions = WriteOptionsFor<PlainRequest>;

let middleware: Promise<typeof import('./express/mesh.js')> | undefined;
let trails: Promise<typeof import('./audit/index.js')> | undefined;

/**
 * Build the express middleware (see `fieldmesh/express`, which exports the
 * same factory). Its HTTP, JWT and audit parts are loaded on the first call,
 * so an application that only redacts never loads them.
 *
 * @example
 * const mesh = await fieldmesh({ policies: './policies', jwt: { secret, issuer, audience }, audit: { sqlite: './fieldmesh-audit.db' } });
 * app.get('/patients/:id', mesh.read('Patient'), getPatient);
 */
export async function fieldmesh(options: MeshOptions): Promise<Mesh> {
  middleware ??= import('./express/mesh.js');
  // The same mesh, seen through the structural types above: express's handler takes its own Request, a PlainRequest's subtype.
  return (await middleware).fieldmesh(options) as Promise<unknown> as Promise<Mesh>;
}

/**
 * Open an audit trail (see `fieldmesh/audit`, which exports the same
 * function): a `postgres://` URL is PostgreSQL, a path a SQLite file, any
 * other URL a TypeError.
 * The driver is loaded on the first call.
 *
 * @example
 * const store = await openAuditStore(process.env.FIELDMESH_AUDIT ?? './fieldmesh-audit.db');
 */
export async function openAuditStore(target: AuditTarget, options: AuditStoreOptions = {}): Promise<AuditStore> {
  trails ??= import('./audit/index.js');
  return (await trails).openAuditStore(target, options);
}
