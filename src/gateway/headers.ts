import type { IncomingHttpHeaders } from 'node:http';
import { UPSTREAM_ACCEPT } from '../http/content-type.js';
import { isJsonType } from './upstream-body.js';

/**
 * Request headers the upstream may see. Everything else stays at the gateway:
 * the caller's `Authorization` and cookies (the upstream trusts the gateway,
 * not the caller's token), `X-Purpose` and friends (decided here), and
 * `If-None-Match` / `If-Modified-Since` / `Range`: they describe the
 * unredacted body, so a 304 or 206 would answer a question about data the
 * caller may not see.
 */
const FORWARDED = ['accept-language'] as const;

/**
 * The headers sent upstream for a caller's request: always `Accept:
 * UPSTREAM_ACCEPT`, never the caller's.
 *
 * @example
 * upstreamHeaders(req.headers, 'req-1', 'application/json'); // { accept: UPSTREAM_ACCEPT, 'x-request-id': 'req-1', 'content-type': 'application/json' }
 */
export function upstreamHeaders(incoming: IncomingHttpHeaders, requestId: string, contentType?: string): Record<string, string> {
  const out: Record<string, string> = { accept: UPSTREAM_ACCEPT };
  for (const name of FORWARDED) {
    const value = incoming[name];
    if (typeof value === 'string' && value.length <= 1024) out[name] = value;
  }
  out['x-request-id'] = requestId;
  if (contentType !== undefined) out['content-type'] = contentType;
  return out;
}

/**
 * The request path as the upstream will receive it, when it is safe to
 * forward: no dot segments, no empty segments, no encoded `/`, `\` or `.`.
 * Routes are matched on the decoded path but the upstream may normalise
 * `/patients/..%2Fconcerns` into `/concerns`: a request checked against one
 * resource's policy would then read another resource's records.
 *
 * @example
 * safePath('/patients/pat-001'); // '/patients/pat-001'
 * safePath('/patients/..%2Fconcerns'); // undefined
 */
export function safePath(rawPath: string): string | undefined {
  if (!rawPath.startsWith('/') || rawPath.length > 2048) return undefined;
  const segments = rawPath.slice(1).split('/');
  for (const [i, segment] of segments.entries()) {
    if (segment === '' && i !== segments.length - 1) return undefined;
    if (!/^[A-Za-z0-9\-._~!$&'()*+,;=:@%]*$/.test(segment)) return undefined;
    // Encoded separators and dots, also double-encoded (%252e) for upstreams that decode twice.
    if (/%(25)*(2f|5c|2e|00)/i.test(segment)) return undefined;
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return undefined;
    }
    // Path parameters (`..;x`) are stripped by some servers (Tomcat, Spring) before they resolve dot segments.
    const bare = decoded.split(';')[0];
    if (bare === '.' || bare === '..') return undefined;
  }
  return rawPath;
}

/**
 * The query string's parameters, repeated keys as arrays.
 *
 * @example
 * queryOf('gp=B86001&_page=2'); // { gp: 'B86001', _page: '2' }
 */
export function queryOf(search: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (const [key, value] of new URLSearchParams(search)) {
    const prev = out[key];
    out[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

/**
 * The Content-Type to forward with a write: the caller's, if it is JSON.
 *
 * @example
 * writeContentType({ 'content-type': 'application/merge-patch+json' }); // 'application/merge-patch+json'
 */
export function writeContentType(headers: IncomingHttpHeaders): string | undefined {
  const type = headers['content-type'];
  return typeof type === 'string' && isJsonType(type) ? type.split(';')[0]!.trim() : undefined;
}
