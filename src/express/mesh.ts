import type { Request, RequestHandler } from 'express';
import type { AdmissionCounters } from '../http/admit.js';
import { withBreakGlassAlert } from '../audit/alert.js';
import { openAuditStore } from '../audit/open.js';
import { DEFAULT_SQLITE_FILE } from '../audit/target.js';
import type { AuditStore } from '../audit/types.js';
import { createMetrics } from '../http/metrics.js';
import { observedAudit } from '../http/observed-audit.js';
import { createVerifier, type Verifier } from '../http/identity.js';
import { loadPolicies, PolicySet } from '../engine/policy-set.js';
import { didYouMean } from '../lib/suggest.js';
import { parseListKey } from '../engine/body-shape.js';
import { pseudonymKeyProblem } from '../engine/transforms.js';
import { readOptionsSchema, resolveMeshOptions, writeOptionsSchema, type MeshOptions, type ResolvedMeshOptions } from './options.js';
import type { MeshFor, WriteOptionsFor } from './mesh-types.js';
import { readHandler, type MeshRuntime } from './read.js';
import { writeHandler } from './write.js';
import { meshRoute } from './route.js';

/**
 * Need-to-know enforcement for an existing express app: one mesh per app,
 * one `read()` or `write()` in front of each record route.
 *
 * @example
 * app.get('/patients/:id', mesh.read('Patient'), getPatient);
 * app.patch('/patients/:id', mesh.write('Patient', { load: (req) => db.patients.get(req.params.id) }), updatePatient);
 */
export type Mesh = MeshFor<RequestHandler, Request>;

/**
 * The options of `mesh.write()`, as a caller writes them: `load` is given express's Request.
 *
 * @example
 * const opts: WriteOptions = { load: (req) => db.patients.get(req.params.id) };
 */
export type WriteOptions = WriteOptionsFor<Request>;

/**
 * Build the middleware (docs/middleware.md, "Options"). Every option is checked now:
 * a mistake is a TypeError here, never a surprise on the first request; a
 * policy set that does not load is a PolicyError listing every problem.
 *
 * @example
 * const mesh = await fieldmesh({
 *   policies: './policies',
 *   jwt: { secret: process.env.FIELDMESH_JWT_SECRET!, issuer: 'https://idp.example/', audience: 'records' },
 *   audit: { sqlite: './fieldmesh-audit.db' },
 *   pseudonymKey: process.env.FIELDMESH_PSEUDONYM_KEY,
 * });
 * app.get('/patients', mesh.read('Patient'), listPatients);
 */
export async function fieldmesh(options: MeshOptions): Promise<Mesh> {
  const o = resolveMeshOptions(options);
  const verifier = verifierFor(o);
  const given = o.policies instanceof PolicySet;
  const policies =
    o.policies instanceof PolicySet
      ? o.policies
      : await loadPolicies(o.policies, { pseudonymKey: o.pseudonymKey, trainingMaxAgeDays: o.trainingMaxAgeDays, now: o.now?.() });
  // Principle 2: without the key, pseudonymised purposes could only fail per request; say so now.
  const keyProblem = given ? undefined : pseudonymKeyProblem(o.pseudonymKey, policies.usesPseudonyms);
  if (keyProblem !== undefined) {
    throw new TypeError(`fieldmesh: invalid options:\n  pseudonymKey: ${keyProblem}; configure a pseudonym key (FIELDMESH_PSEUDONYM_KEY)`);
  }
  const metrics = createMetrics({ registry: o.metrics });
  const owned = typeof o.audit === 'string' || o.audit === undefined || 'sqlite' in o.audit || 'postgres' in o.audit;
  const store = owned
    ? await openAuditStore((o.audit as string | { sqlite: string } | { postgres: string } | undefined) ?? DEFAULT_SQLITE_FILE, {
        recordIdKey: o.auditRecordIdKey,
        chainKey: o.auditChainKey,
        onCommit: (batch) => metrics.auditCommit(batch),
      })
    : (o.audit as AuditStore);
  const clock = o.now;
  const audit = withBreakGlassAlert(
    observedAudit(store, metrics, () => policies),
    {
      onBreakGlass: o.onBreakGlass,
      breakGlassWebhook: o.breakGlassWebhook,
      now: clock === undefined ? undefined : () => clock().getTime(),
    },
  );
  const counters: AdmissionCounters = { unverifiedBreakGlass: 0 };
  metrics.watch({ policies: () => policies, counters });
  const rt: MeshRuntime = {
    policies,
    audit,
    metrics,
    admission: {
      policies,
      verifier,
      trainingMaxAgeDays: o.trainingMaxAgeDays,
      pagingKeys: o.pagingKeys,
      purposeClaim: o.purposeClaim,
      now: o.now,
      counters,
    },
    maxBodyBytes: o.maxBodyBytes,
    maxResponseBytes: o.maxResponseBytes,
  };
  let closed: Promise<void> | undefined;

  return {
    policies,
    audit,
    counters,
    metrics: metrics.registry,
    read(resource, opts = {}) {
      const options = checked('read', resource, readOptionsSchema.safeParse(opts), policies);
      return readHandler(rt, resource, meshRoute('read', resource, options, policies));
    },
    write(resource, opts = {}) {
      const options = checked('write', resource, writeOptionsSchema.safeParse(opts), policies);
      // The schema checks only that `load` is a function; its request type is WriteOptions' (express's Request).
      const load = options.load as ((req: Request) => unknown) | undefined;
      return writeHandler(rt, resource, meshRoute('write', resource, options, policies), load);
    },
    close() {
      closed ??= owned ? store.close() : Promise.resolve();
      return closed;
    },
  };
}

function verifierFor(o: ResolvedMeshOptions): Verifier {
  const now = o.jwt.now ?? o.now;
  try {
    return createVerifier({ ...o.jwt, ...(now === undefined ? {} : { now }) });
  } catch (err) {
    throw err instanceof TypeError ? new TypeError(`fieldmesh: jwt: ${err.message}`) : err;
  }
}

/** A route's options, checked when the route is declared: an unknown resource or option is a TypeError. */
function checked<T extends { list?: string | undefined }>(
  method: string,
  resource: string,
  parsed: { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } },
  policies: PolicySet,
): T {
  const known = policies.resourceNames();
  if (typeof resource !== 'string' || !known.includes(resource)) {
    throw new TypeError(
      `fieldmesh: mesh.${method}(): unknown resource "${String(resource)}"${didYouMean(String(resource), known)} (known: ${known.join(', ')})`,
    );
  }
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || 'options'}: ${i.message}`).join('; ');
    throw new TypeError(`fieldmesh: mesh.${method}('${resource}'): ${problems}`);
  }
  if (parsed.data.list !== undefined) parseListKey(parsed.data.list);
  return parsed.data;
}
