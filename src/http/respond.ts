import type { ServerResponse } from 'node:http';
import type { Response as ExpressResponse } from 'express';
import { FieldmeshError } from '../lib/errors.js';

/**
 * Either response object: express's Response is a node ServerResponse underneath.
 */
export type HttpResponse = ExpressResponse | ServerResponse;

const INTERNAL = new FieldmeshError('internal', 'Internal error: nothing was disclosed');

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
 * is a 500 that says nothing of its cause. If the response has already begun,
 * the connection is cut: a truncated body must never pass for a whole one.
 *
 * @example
 * try { … } catch (err) { log.error({ err, requestId }); sendError(res, err, requestId); }
 */
export function sendError(res: HttpResponse, err: unknown, requestId: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const known = err instanceof FieldmeshError && err.status >= 400 && err.status <= 599;
  const status = known ? err.status : INTERNAL.status;
  const body = Buffer.from(JSON.stringify(known ? err.toJSON() : INTERNAL.toJSON()), 'utf8');
  for (const name of BODY_HEADERS) res.removeHeader(name);
  securityHeaders(res);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', body.length);
  res.setHeader('X-Request-Id', requestId);
  // RFC 6750 §3: a 401 for a bearer-protected resource names the scheme.
  if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="fieldmesh"');
  res.statusCode = status;
  res.end(body);
}
