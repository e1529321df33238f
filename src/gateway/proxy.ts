import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { AuditEntry } from '../audit/event.js';
import type { AuditStore } from '../audit/types.js';
import type { Decision } from '../engine/decision.js';
import { FieldmeshError } from '../lib/errors.js';
import { AccessError } from '../engine/access-error.js';
import { requestIdFrom } from '../http/context.js';
import { admit, type AdmissionCounters, type RequestFacts } from '../http/admit.js';
import { refusalEntry, refusalFor } from '../http/audit-entry.js';
import type { Verifier } from '../http/identity.js';
import { NO_ROUTE_LABEL, type Metrics } from '../http/metrics.js';
import { inSpan, spanAttributes } from '../http/spans.js';
import { readJsonRequest } from '../http/json-body.js';
import type { Outcome } from '../http/outcome.js';
import { recordFirst, refuseWithAudit } from '../http/refuse.js';
import { fhirAnswer, type ErrorFormat } from '../http/error-format.js';
import { securityHeaders, sendError } from '../http/respond.js';
import type { PolicySet } from '../engine/policy-set.js';
import type { Action } from '../engine/plan.js';
import { readThrough, writeThrough, type Call } from './exchange.js';
import { safePath } from './headers.js';
import { publicBase } from './links.js';
import { logRequest, type RequestLog } from './log.js';
import { metadataEndpoints } from './fhir-base.js';
import { capabilityScope, fetchCapability, metadataQueryProblem } from './metadata.js';
import { fieldOf, type Route, type RouteMethod, type RouteTable } from './routes.js';
import type { Upstream } from './upstream.js';

/**
 * What the proxy works with. `policies` is read once per request, so a
 * reload never changes the set in the middle of a decision.
 *
 * @example
 * const deps: ProxyDeps = { routes, policies: () => holder.current, verifier, audit, upstream, logger, trainingMaxAgeDays: 365, maxBodyBytes: 10_485_760 };
 */
export interface ProxyDeps {
  routes: RouteTable;
  policies: () => PolicySet;
  verifier: Verifier;
  audit: AuditStore;
  upstream: Upstream;
  logger: Logger;
  /** Where each request's end, and the trail's and the upstream's timings, are counted (src/http/metrics.ts). */
  metrics: Metrics;
  trainingMaxAgeDays: number;
  /** The token claim carrying HL7 PurposeOfUse (`--purpose-claim`); unset: X-Purpose alone. */
  purposeClaim?: string | undefined;
  maxBodyBytes: number;
  /** The record API's base URL, which a Bundle's links must be under to be kept; without it every link is dropped. */
  upstreamUrl?: string | undefined;
  /** The gateway's address as clients reach it (`--public-url`); without it, the request's `Host`. */
  publicUrl?: string | undefined;
  /** The clock (tests inject one). */
  now?: (() => Date) | undefined;
}

const ACTIONS: Record<RouteMethod, Action> = { GET: 'read', POST: 'create', PUT: 'update', PATCH: 'update' };

/**
 * The gateway's request handler: route, admit (token, purpose, training,
 * hidden filters), forward, redact, audit durably, then answer. Nothing
 * reaches the caller that was not redacted and recorded first; nothing
 * reaches the upstream that matches no route, carries a hidden filter or a
 * forbidden write.
 *
 * @example
 * const server = http.createServer(createProxy(deps));
 */
export function createProxy(deps: ProxyDeps): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const counters: AdmissionCounters = { unverifiedBreakGlass: 0 };
  deps.metrics.watch({ policies: deps.policies, counters });
  const metadata = metadataEndpoints(deps.routes.routes);
  return function fieldmeshGateway(req, res) {
    // Traced as `fieldmesh.request`, the parent of the request's other spans (a no-op without an SDK).
    return inSpan('fieldmesh.request', {}, (span) => handle(req, res, span));
  };

  async function handle(req: IncomingMessage, res: ServerResponse, span: Span): Promise<void> {
    const started = performance.now();
    let decidedBy: PolicySet | undefined;
    const line: RequestLog = {
      requestId: requestIdFrom(req.headers),
      method: req.method ?? '',
      route: NO_ROUTE_LABEL,
      status: 0,
      durationMs: 0,
      outcome: 'none',
    };
    const finish: Finish = (status, decision, code, entry) => {
      Object.assign(line, { status, durationMs: Math.round((performance.now() - started) * 10) / 10, code });
      if (decision !== undefined)
        Object.assign(line, { outcome: decision.outcome, rowsReturned: decision.rowsReturned, rowsWithheld: decision.rowsWithheld });
      logRequest(deps.logger, line);
      // Labels from bounded sets only: the route pattern, declared names, the code answered (src/http/metrics.ts).
      const policies = decidedBy ?? deps.policies();
      const facts = {
        route: line.route,
        resource: line.resource,
        purpose: line.purpose,
        outcome: decision?.outcome === 'disclosed' ? ('disclosed' as const) : ('refused' as const),
        code,
      };
      deps.metrics.requestEnded(policies, { ...facts, method: line.method, entry });
      if (span.isRecording()) span.setAttributes(spanAttributes(policies, facts));
    };
    const [rawPath = '/', ...rest] = (req.url ?? '/').split('?');
    const search = rest.join('?');
    const path = safePath(rawPath);
    const found = path === undefined ? undefined : deps.routes.find(path);
    const method = (req.method ?? '').toUpperCase() as RouteMethod;
    if (method === 'GET') req.resume();
    // Read before anything rewrites the request's headers; a path no route matches is FHIR by its headers alone.
    const errors = fhirAnswer(found?.route.fhirType, req.headers);
    const underBase = path === undefined ? undefined : metadata.get(path);
    if (underBase !== undefined) return capability(req, res, path!, search, underBase, line, finish);
    if (found === undefined) {
      // Deny by default: a path the routes file does not name is never forwarded.
      return fail(
        res,
        req,
        errors,
        new AccessError('not_found', 'No route for this path: the gateway forwards only the paths its routes file names'),
        line.requestId,
        finish,
      );
    }
    const { route } = found;
    line.route = route.path;
    line.resource = route.resource;
    if (!route.methods.includes(method)) {
      res.setHeader('Allow', route.methods.join(', '));
      return fail(
        res,
        req,
        errors,
        new AccessError('method_not_allowed', `This route allows ${route.methods.join(', ')}`),
        line.requestId,
        finish,
      );
    }
    const policies = deps.policies();
    decidedBy = policies;
    // Each path parameter selects records by a field (docs/gateway.md, "Routes file"): checked like a query filter.
    const params = Object.entries(found.params).map(([name, value]) => ({
      name,
      field: fieldOf(route, name),
      value: typeof value === 'string' ? value : undefined,
    }));
    const admitted = await admit(
      { headers: req.headers, query: search, params, requestId: line.requestId, dialect: route.dialect },
      route.resource,
      ACTIONS[method],
      {
        policies,
        verifier: deps.verifier,
        trainingMaxAgeDays: deps.trainingMaxAgeDays,
        purposeClaim: deps.purposeClaim,
        now: deps.now,
        counters,
      },
    );
    line.requestId = admitted.requestId;
    if (admitted.unverifiedBreakGlass) {
      // Counted and logged, never its text: a stranger's reason is not a break-glass event.
      deps.logger.warn(
        { requestId: admitted.requestId, event: 'break_glass_unverified', count: counters.unverifiedBreakGlass },
        'break-glass declared without a verified token: not recorded as break-glass',
      );
    }
    // Logged as metrics and spans label it: a declared purpose or `(unknown)`, never the header's text.
    line.purpose = admitted.purposeLabel;
    if (!admitted.ok) return refuse(deps, res, req, errors, admitted.error, refusalEntry(admitted.error, admitted), admitted, finish);
    // Forward exactly the parameters that were checked, serialised anew: the raw
    // string could mean more to an upstream that also splits on ';'.
    const checked = search === '' ? '' : new URLSearchParams(search).toString();
    const forwarded = checked === '' ? rawPath : `${rawPath}?${checked}`;
    const call: Call = {
      policies,
      upstream: deps.upstream,
      audit: deps.audit,
      admitted,
      route,
      method,
      path: forwarded,
      headers: req.headers,
      links: {
        base: publicBase(deps.publicUrl, req.headers.host),
        upstream: deps.upstreamUrl,
        requested: forwarded,
        routes: deps.routes,
        route,
        query: checked,
      },
    };
    try {
      if (method !== 'GET') call.body = await readJsonRequest(req, deps.maxBodyBytes);
      const outcome = method === 'GET' ? await readThrough(call) : await writeThrough(call);
      if (outcome.kind === 'refusal') return await refuse(deps, res, req, errors, outcome.error, outcome.entry, admitted, finish);
      // No disclosure without a record: the event is durable before a byte is sent.
      await recordFirst(deps.audit, outcome.entry);
      if (outcome.error !== undefined)
        return fail(res, req, errors, outcome.error, admitted.requestId, finish, { outcome: 'disclosed', rowsReturned: 0 }, outcome.entry);
      send(res, outcome, admitted.requestId);
      finish(
        outcome.status,
        {
          outcome: outcome.entry.decision,
          rowsReturned: outcome.entry.recordIds.length,
          rowsWithheld: outcome.entry.withheldRecordIds.length,
        },
        undefined,
        outcome.entry,
      );
    } catch (e) {
      await refuse(deps, res, req, errors, e, refusalFor(e, admitted, call.body), admitted, finish);
    }
  }

  /**
   * `<base>/metadata`: the upstream's CapabilityStatement restricted to what
   * the routes under `base` serve (docs/fhir.md, "CapabilityStatement"). No
   * token: clients and SMART discovery read it first, and it holds no
   * record data; so nothing is decided about a person and nothing audited.
   */
  async function capability(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    search: string,
    routes: readonly Route[],
    line: RequestLog,
    finish: Finish,
  ): Promise<void> {
    line.route = path;
    // A FHIR endpoint whatever the caller's headers: its refusals are OperationOutcomes.
    const errors: ErrorFormat = { fhir: true, resourceType: undefined };
    if (req.method !== 'GET') {
      res.setHeader('Allow', 'GET');
      return fail(
        res,
        req,
        errors,
        new AccessError('method_not_allowed', 'The CapabilityStatement is read with GET'),
        line.requestId,
        finish,
      );
    }
    const refused = metadataQueryProblem(search);
    if (refused !== undefined) return fail(res, req, errors, refused, line.requestId, finish);
    try {
      const scope = capabilityScope(routes, deps.policies());
      const statement = await fetchCapability(deps.upstream, path.slice(0, -'/metadata'.length), scope, req.headers, line.requestId);
      send(res, { status: 200, body: statement, contentType: 'application/fhir+json; charset=utf-8' }, line.requestId);
      finish(200, { outcome: 'disclosed' });
    } catch (e) {
      if (e instanceof FieldmeshError && e.status >= 500)
        deps.logger.warn({ requestId: line.requestId, code: e.code, reason: e.message }, 'request failed');
      else if (!(e instanceof FieldmeshError)) deps.logger.error({ requestId: line.requestId, err: faultOf(e) }, 'unexpected error');
      fail(res, req, errors, e, line.requestId, finish);
    }
  }
}

/** Audit a refusal, then answer it (see `refuseWithAudit`); a fault or a 5xx is logged, never its record data. */
async function refuse(
  deps: ProxyDeps,
  res: ServerResponse,
  req: IncomingMessage,
  errors: ErrorFormat,
  error: unknown,
  entry: AuditEntry,
  facts: RequestFacts,
  finish: Finish,
): Promise<void> {
  const answer = await refuseWithAudit(deps.audit, error, entry);
  if (!(answer instanceof FieldmeshError)) {
    deps.logger.error({ requestId: facts.requestId, err: faultOf(answer) }, 'unexpected error');
  } else if (answer.status >= 500) {
    deps.logger.warn({ requestId: facts.requestId, code: answer.code, reason: answer.message }, 'request failed');
  }
  fail(res, req, errors, answer, facts.requestId, finish, { outcome: 'refused' }, entry);
}

/** Log, count and trace the end of a request; `entry` is its last audit entry, when it has one. */
type Finish = (status: number, decision?: Partial<Decision>, code?: string, entry?: AuditEntry) => void;

function fail(
  res: ServerResponse,
  req: IncomingMessage,
  errors: ErrorFormat,
  error: unknown,
  requestId: string,
  finish: Finish,
  decision?: Partial<Decision>,
  entry?: AuditEntry,
): void {
  // A body left unread (a refused write) is not drained: the connection closes after the answer.
  if (!req.complete) res.setHeader('Connection', 'close');
  sendError(res, error, requestId, errors);
  const code = error instanceof FieldmeshError ? error.code : 'internal';
  finish(res.statusCode, decision ?? { outcome: 'refused' }, code, entry);
}

/**
 * A fault as it may be logged: its kind and where it happened. Not its
 * message: a runtime error's message can quote the data it choked on.
 *
 * @example
 * logger.error({ err: faultOf(e) }, 'unexpected error');
 */
export function faultOf(e: unknown): { name: string; code?: string; at: string[] } {
  const err = e instanceof Error ? e : new Error('non-error thrown');
  const code = (err as NodeJS.ErrnoException).code;
  const at = (err.stack ?? '')
    .split('\n')
    .filter((l) => /^\s+at /.test(l))
    .slice(0, 5)
    .map((l) => l.trim());
  return { name: err.name, ...(typeof code === 'string' ? { code } : {}), at };
}

function send(res: ServerResponse, outcome: Pick<Outcome, 'status' | 'body' | 'contentType'>, requestId: string): void {
  securityHeaders(res);
  res.setHeader('X-Request-Id', requestId);
  res.statusCode = outcome.status;
  if (outcome.body === undefined) {
    // RFC 9110 §8.6: no Content-Length on a 204.
    if (outcome.status !== 204) res.setHeader('Content-Length', 0);
    res.end();
    return;
  }
  const body = Buffer.from(JSON.stringify(outcome.body), 'utf8');
  res.setHeader('Content-Type', outcome.contentType);
  res.setHeader('Content-Length', body.length);
  res.end(body);
}
