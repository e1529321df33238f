import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { withBreakGlassAlert } from '../audit/alert.js';
import { openAuditStore } from '../audit/open.js';
import type { AuditStore } from '../audit/types.js';
import { ConfigError, type Config } from './config.js';
import { createVerifier, type IdentityOptions, type Verifier } from '../http/identity.js';
import { createMetrics } from '../http/metrics.js';
import { observedAudit } from '../http/observed-audit.js';
import { pseudonymKeyProblem } from '../engine/transforms.js';
import { gatewayLogger } from './log.js';
import { holdPolicies } from './policy-holder.js';
import { loadRoutes, unknownResources, type RouteTable } from './routes.js';
import { listenGateway, type Gateway } from './server.js';
import { createUpstream } from './upstream.js';
import { observedUpstream } from './observed-upstream.js';

/**
 * What a caller may supply instead of what the configuration would build.
 *
 * @example
 * await startGateway(config, { logger, audit: myStore, watch: false });
 */
export interface StartOptions {
  logger?: Logger | undefined;
  audit?: AuditStore | undefined;
  /** Watch the policy directory and reload on change (default true). */
  watch?: boolean | undefined;
  now?: (() => Date) | undefined;
  /** The registry the gateway's metrics go in (default: one of its own; served at /metrics either way). */
  metrics?: Registry | undefined;
  /** Add prom-client's default process metrics (CPU, memory, event loop) to it (default false; `fieldmesh serve` turns them on). */
  processMetrics?: boolean | undefined;
}

/**
 * Start a gateway from a resolved configuration: load the policies and the
 * routes (every route's resource must exist), make the verifier, open the
 * audit trail, listen. Problems of configuration are a ConfigError naming
 * the flag or variable; problems of the policies are a PolicyError.
 *
 * @example
 * const gateway = await startGateway(resolveConfig(flags, process.env, { requireUpstream: true }));
 */
export async function startGateway(config: Config, opts: StartOptions = {}): Promise<Gateway> {
  if (config.upstream === undefined || config.routes === undefined) throw new ConfigError(['--upstream and --routes are required']);
  const logger = opts.logger ?? gatewayLogger();
  const verifier = makeVerifier(config);
  const metrics = createMetrics({ registry: opts.metrics, processMetrics: opts.processMetrics });
  let routes: RouteTable | undefined;
  const holder = await holdPolicies(
    config.policies,
    { pseudonymKey: config.pseudonymKey, trainingMaxAgeDays: config.trainingMaxAgeDays },
    {
      logger,
      onReload: (ok) => metrics.policyReload(ok),
      check: (set) => {
        const problems: string[] = [];
        // Principle 2: a pseudonym without a configured key would be a refusal on every planning request; say so now.
        const keyProblem = pseudonymKeyProblem(config.pseudonymKey, set.usesPseudonyms);
        if (keyProblem !== undefined) problems.push(`FIELDMESH_PSEUDONYM_KEY: ${keyProblem}`);
        const missing = routes === undefined ? [] : unknownResources(routes, set.resourceNames());
        if (missing.length > 0) problems.push(`the routes name resources this policy set does not define: ${missing.join(', ')}`);
        return problems;
      },
    },
  );
  routes = await loadRoutes(config.routes, holder.current.resourceNames(), holder.current);
  const audit =
    opts.audit ??
    (await openAuditStore(config.audit, {
      recordIdKey: config.auditRecordIdKey,
      chainKey: config.auditChainKey,
      onCommit: (batch) => metrics.auditCommit(batch),
    }));
  // The middleware's alert, retries and rate limit: one implementation (src/audit/alert.ts).
  const alerting = withBreakGlassAlert(audit, { breakGlassWebhook: config.breakGlassWebhook, logger });
  if (!(await audit.healthy()))
    logger.error(
      { event: 'audit_unavailable', reason: await unhealthyReason(audit) },
      'the audit trail cannot be written: every request will be refused (503) until it can',
    );
  const upstream = observedUpstream(
    createUpstream({
      url: config.upstream,
      authorization: config.upstreamAuthorization,
      timeoutMs: config.timeoutMs,
      maxBodyBytes: config.maxBodyBytes,
    }),
    metrics,
  );
  const gateway = await listenGateway(
    {
      routes,
      holder,
      verifier,
      audit: observedAudit(alerting, metrics, () => holder.current),
      upstream,
      logger,
      metrics,
      trainingMaxAgeDays: config.trainingMaxAgeDays,
      purposeClaim: config.purposeClaim,
      maxBodyBytes: config.maxBodyBytes,
      upstreamUrl: config.upstream,
      publicUrl: config.publicUrl,
      now: opts.now,
    },
    { port: config.port, host: config.host },
  ).catch(async (e: unknown) => {
    holder.close();
    await upstream.close();
    if (opts.audit === undefined) await audit.close();
    throw listenError(e, config);
  });
  if (opts.watch !== false) holder.watch();
  return gateway;
}

/**
 * The verifier the configuration names, its option problems reported as configuration problems.
 */
export function makeVerifier(config: Config): Verifier {
  const options: IdentityOptions = { rolesClaim: config.jwtRolesClaim };
  if (config.jwtSecret !== undefined) options.secret = config.jwtSecret;
  if (config.jwtPublicKey !== undefined) options.publicKey = config.jwtPublicKey;
  if (config.jwtJwksUrl !== undefined) options.jwksUrl = config.jwtJwksUrl;
  if (config.jwtIssuer !== undefined) options.issuer = config.jwtIssuer;
  if (config.jwtAudience !== undefined) options.audience = config.jwtAudience;
  try {
    return createVerifier(options);
  } catch (e) {
    if (e instanceof TypeError)
      throw new ConfigError(
        e.message
          .split('\n')
          .slice(1)
          .map((l) => l.trim().replace(/^(\w+):/, (m, key: string) => IDENTITY_SOURCES[key] ?? m)),
      );
    throw e;
  }
}

/** Where each identity option comes from, to name it in a problem. */
const IDENTITY_SOURCES: Record<string, string> = {
  secret: '--jwt-secret / FIELDMESH_JWT_SECRET:',
  publicKey: '--jwt-public-key / FIELDMESH_JWT_PUBLIC_KEY:',
  jwksUrl: '--jwt-jwks-url / FIELDMESH_JWT_JWKS_URL:',
  issuer: '--jwt-issuer / FIELDMESH_JWT_ISSUER:',
  audience: '--jwt-audience / FIELDMESH_JWT_AUDIENCE:',
  rolesClaim: '--jwt-roles-claim / FIELDMESH_JWT_ROLES_CLAIM:',
  algorithms: 'JWT algorithms:',
};

function listenError(e: unknown, config: Config): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE')
    return new ConfigError([
      `--port / PORT: port ${config.port} on ${config.host} is already in use (choose another, or --port 0 for any free port)`,
    ]);
  if (code === 'EACCES') return new ConfigError([`--port / PORT: not permitted to listen on port ${config.port}`]);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') return new ConfigError([`--host: cannot listen on ${config.host}`]);
  return e;
}

/**
 * Why a trail that is not healthy cannot be written, for the start-up line:
 * a read says what is wrong with the connection or the file (its message
 * names the trail without user or password, src/audit/unavailable.ts); a
 * trail that reads but may not be extended is kept by other keys.
 */
async function unhealthyReason(audit: AuditStore): Promise<string> {
  try {
    await audit.count({});
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  return 'the trail is there but this gateway may not extend it (another chain, or another chain or record-id key): run fieldmesh audit verify';
}
