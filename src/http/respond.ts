import type { ServerResponse } from 'node:http';
import type { Response as ExpressResponse } from 'express';
import { operationOutcome } from '../fhir/operation-outcome.js';
import { answerable } from '../lib/errors.js';
import { JSON_ERRORS, type ErrorFormat } from './error-format.js';

/**
 * Either response object: express's Response is a node ServerResponse underneath.
 */
export type HttpResponse = ExpressResponse | ServerResponse;

/**
 * Headers that describe a body that will no longer be sent. A shell may have
 * copied them from the upstream response before the error happened; left in
 * place they would mislabel the error body (a gzip encoding, a stale length).
 */
const BODY_HEADERS = [
  'content-encoding',
  'content-length',
  'content-range',
  'content-language',
  'content-location',
  'content-disposition',
  'etag',
  'last-modified',
  'expires',
  'accept-ranges',
  'transfer-encoding',
];

/**
 * Mark a response as personal data: never stored by a browser or an
 * intermediary cache, never sniffed into another content type.
 *
 * @example
 * securityHeaders(res); res.json(redacted);
 */
export function securityHeaders(res: HttpResponse): void {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
}

/**
 * The one place an error becomes a response. A FieldmeshError answers with
 * its status and `toJSON()` (5xx with a fixed public message); anything else
 * is a 500 that says nothing of its cause. A FHIR request (`format`, from
 * `fhirAnswer`) gets the same status, headers and message as an R4
 * OperationOutcome (docs/fhir.md, "Errors: OperationOutcome"). If the
 * response has already begun, the connection is cut: a truncated body must
 * never pass for a whole one.
 *
 * @example
 * try { … } catch (err) { log.error({ err, requestId }); sendError(res, err, requestId, fhirAnswer(route.fhirType, req.headers)); }
 */
export function sendError(res: HttpResponse, err: unknown, requestId: string, format: ErrorFormat = JSON_ERRORS): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const answer = answerable(err);
  const status = answer.status;
  const value = format.fhir ? operationOutcome(answer, format.resourceType) : answer.toJSON();
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  for (const name of BODY_HEADERS) res.removeHeader(name);
  securityHeaders(res);
  res.setHeader('Content-Type', format.fhir ? 'application/fhir+json; charset=utf-8' : 'application/json; charset=utf-8');
  res.setHeader('Content-Length', body.length);
  res.setHeader('X-Request-Id', requestId);
  // RFC 6750 §3: a 401 for a bearer-protected resource names the scheme.
  if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="fieldmesh"');
  res.statusCode = status;
  res.end(body);
}
