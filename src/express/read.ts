import type { Request, RequestHandler } from 'express';
import type { AuditStore } from '../audit/types.js';
import { FieldmeshError } from '../lib/errors.js';
import { AccessError } from '../engine/access-error.js';
import { admit, type Admitted, type AdmissionDeps, type AdmissionRequest } from '../http/admit.js';
import type { Metrics } from '../http/metrics.js';
import { fhirAnswer, type ErrorFormat } from '../http/error-format.js';
import { UPSTREAM_ACCEPT } from '../http/media-type.js';
import { securityHeaders } from '../http/respond.js';
import type { PolicySet } from '../engine/policy-set.js';
import type { QueryDialect } from '../engine/query-dialect.js';
import { refuse, sendAnswer, type Outbound } from './answer.js';
import { captureResponse } from './capture.js';
import type { MeshRoute } from './route.js';

/**
 * What every handler of one mesh shares, built once by `fieldmesh()`.
 *
 * @example
 * const handler = readHandler(runtime, 'Patient', route);
 */
export interface MeshRuntime {
  policies: PolicySet;
  audit: AuditStore;
  admission: AdmissionDeps;
  /** Where each request's end is counted (src/http/metrics.ts). */
  metrics: Metrics;
  maxBodyBytes: number;
  maxResponseBytes: number;
}

/**
 * What admission checks of an express request: the query as the raw string
 * of `req.originalUrl` (what a handler may read for itself, uncut; express's
 * parsed `req.query` stops at 1,000 parameters and reads `a[b]` its own
 * way), and each route parameter with the field `params` says it selects by.
 *
 * @example
 * await admit(admissionRequest(req, { nhs: 'nhsNumber' }), 'Patient', 'read', deps);
 */
export function admissionRequest(
  req: Request,
  params: Readonly<Record<string, string>> = {},
  dialect?: QueryDialect | undefined,
): AdmissionRequest {
  const url = req.originalUrl ?? req.url;
  const at = url.indexOf('?');
  return {
    headers: req.headers,
    dialect,
    query: at === -1 ? '' : url.slice(at + 1),
    params: Object.entries(req.params ?? {}).map(([name, value]) => ({
      name,
      field: Object.hasOwn(params, name) ? params[name] : undefined,
      value: typeof value === 'string' ? value : undefined,
    })),
  };
}

/**
 * Mounted with `app.use()` or `router.use()` in front of a router, the
 * middleware runs before the route's parameters are known: `/patients/pat-001`
 * would pass unchecked as a lookup by id. Refused (500, a programming error)
 * unless nothing of the path is left for a later route to read.
 *
 * @example
 * app.use('/patients', mesh.read('Patient'), router); // GET /patients/pat-001 → 500 mesh_unrouted
 */
export function unroutedError(req: Request, kind: 'read' | 'write'): FieldmeshError | undefined {
  if (req.route !== undefined || req.path === '/' || req.path === '') return undefined;
  return new FieldmeshError(
    'mesh_unrouted',
    `mesh.${kind}() runs before a route matched (app.use or router.use), so the path's parameters cannot be checked: put it on the route, as in app.get('/patients/:id', mesh.${kind}('…'), handler)`,
  );
}

/** Whether a request carries a body: announced by its headers, or already parsed by a body parser. */
function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')) return true;
  const body: unknown = req.body;
  return body !== undefined && body !== null && !(typeof body === 'object' && Object.keys(body).length === 0) && body !== '';
}

/** Request headers that let a handler answer from a record without sending it (304, 206, 412). */
const CONDITIONAL_HEADERS = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range'];

/**
 * The middleware of `mesh.read()`: admit the request, then let the handler
 * answer as it likes and redact, audit and send what it answered. Only GET
 * and HEAD pass: any other method is refused (405) before the handler runs.
 * On a FHIR route (`route.fhirType`) the query is read as search parameters and errors are OperationOutcomes.
 *
 * @example
 * app.get('/patients', readHandler(runtime, 'Patient', meshRoute('read', 'Patient', {}, policies)), listPatients);
 */
export function readHandler(rt: MeshRuntime, resource: string, route: MeshRoute): RequestHandler {
  return async function fieldmeshRead(req, res, next) {
    // Before redirectAnswer rewrites `Accept` for the handler.
    const errors = fhirAnswer(route.fhirType, req.headers);
    const admitted = await admit(admissionRequest(req, route.params, route.dialect), resource, 'read', rt.admission);
    const base = { res, release: noop, facts: admitted, audit: rt.audit, metrics: rt.metrics, policies: rt.policies, errors };
    if (!admitted.ok) return refuse(base, admitted.error);
    // A body sent to a read route would reach the handler unchecked: writes go through mesh.write().
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return refuse(base, new AccessError('method_not_allowed', `${req.method} is not a read: put mesh.write() in front of writes`));
    }
    // A read's body would reach the handler unchecked (a search handler merging body and query, say).
    if (hasBody(req))
      return refuse(base, new AccessError('bad_request', 'A read takes no body: send filters in the query string, where they are checked'));
    const unrouted = unroutedError(req, 'read');
    if (unrouted) return refuse(base, unrouted);
    if (!redirectAnswer(rt, admitted, route, false, res, errors)) return;
    // A handler asked "is it fresh?" answers 304 from a record fieldmesh never sees, hidden or not: the
    // conditions go, as the gateway drops them, and every read is answered whole and redacted.
    for (const name of CONDITIONAL_HEADERS) delete req.headers[name];
    next();
  };
}

/**
 * Hold back whatever the handler answers until it is redacted with the
 * request's read plan and audited. False when the response has already
 * begun (another middleware flushed it): nothing can be redacted any more.
 *
 * @example
 * if (redirectAnswer(rt, admitted, route, true, res, JSON_ERRORS)) next();
 */
export function redirectAnswer(
  rt: MeshRuntime,
  admitted: Admitted,
  route: MeshRoute,
  write: boolean,
  res: Parameters<RequestHandler>[1],
  errors: ErrorFormat,
): boolean {
  const out: Outbound = {
    res,
    release: noop,
    policies: rt.policies,
    facts: admitted,
    audit: rt.audit,
    metrics: rt.metrics,
    list: route.list,
    write,
    errors,
    fhir: route,
  };
  if (res.headersSent) {
    void refuse(out, new FieldmeshError('unredactable_body', 'The response had begun before fieldmesh could redact it'));
    return false;
  }
  securityHeaders(res);
  res.setHeader('X-Request-Id', admitted.requestId);
  // The handler answers JSON, whatever the caller accepts, as the gateway asks its upstream: a handler that
  // negotiates (res.format) would otherwise answer 406 or another type for records that exist and 404 for none.
  res.req.headers.accept = UPSTREAM_ACCEPT;
  out.release = captureResponse(res, rt.maxResponseBytes, (answer) => {
    sendAnswer(answer, out).catch(() => res.destroy());
  });
  return true;
}

function noop(): void {}
