import type { IncomingHttpHeaders } from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import { AccessError } from '../engine/access-error.js';
import { upstreamInvalid as invalid } from '../http/answer-status.js';
import { decodeBody, parseJsonBody } from './upstream-body.js';

/**
 * How to reach the record API.
 */
export interface UpstreamOptions {
  /** Base URL; request paths are appended to its path. */
  url: string;
  /** Sent as `Authorization` on every upstream request: the gateway's own credential. */
  authorization?: string | undefined;
  /** The whole exchange, connect to last byte, must fit in this. */
  timeoutMs: number;
  /** Largest body read from the upstream, before and after decoding. */
  maxBodyBytes: number;
}

/**
 * What the upstream answered. `body` is parsed JSON for a 2xx with a body;
 * an error status carries no body at all (it is never passed on).
 */
export interface UpstreamAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body?: unknown;
}

/**
 * One request to the upstream, headers already filtered.
 */
export interface UpstreamRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH';
  /** Path and query, as the caller sent them (already checked). */
  path: string;
  headers: Record<string, string>;
  body?: Buffer | undefined;
}

/**
 * The record API behind the gateway.
 *
 * @example
 * const upstream = createUpstream({ url: 'http://127.0.0.1:3000', timeoutMs: 10_000, maxBodyBytes: 10_485_760 });
 * const { status, body } = await upstream.send({ method: 'GET', path: '/patients', headers: {} });
 */
export interface Upstream {
  send(req: UpstreamRequest): Promise<UpstreamAnswer>;
  close(): Promise<void>;
}

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
]);

/**
 * A client for the record API: a keep-alive pool, no redirects followed, a
 * deadline on the whole exchange, bodies read whole (bounded), decoded and
 * parsed before anyone sees them. Failures are AccessErrors:
 * `upstream_unreachable` (502), `upstream_timeout` (504), `upstream_invalid` (502).
 */
export function createUpstream(opts: UpstreamOptions): Upstream {
  const base = new URL(opts.url);
  const prefix = base.pathname.replace(/\/+$/, '');
  const pool = new Pool(base.origin, {
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
    connect: { timeout: Math.min(opts.timeoutMs, 10_000) },
  });
  return {
    async send(req) {
      // One deadline for the whole exchange, cleared when it ends: AbortSignal.timeout would leave a
      // timer behind per request, firing long after the answer (thousands alive under load).
      const deadline = new AbortController();
      const timer = setTimeout(
        () => deadline.abort(new DOMException('the record API did not answer in time', 'TimeoutError')),
        opts.timeoutMs,
      );
      timer.unref();
      try {
        return await exchange(req, deadline.signal);
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => pool.close(),
  };

  async function exchange(req: UpstreamRequest, signal: AbortSignal): Promise<UpstreamAnswer> {
    const headers: Record<string, string> = { ...req.headers, 'accept-encoding': 'gzip, deflate, br' };
    if (opts.authorization !== undefined) headers['authorization'] = opts.authorization;
    let res: Dispatcher.ResponseData;
    try {
      res = await pool.request({ method: req.method, path: prefix + req.path, headers, body: req.body ?? null, signal });
    } catch (e) {
      throw failure(e, signal, 'before');
    }
    // A redirect is never followed nor passed on (its Location would point past the gateway): like an
    // error status, only its status goes back, and the exchange decides what it means (exchange.ts).
    // 204 and 205 carry no content (RFC 9110 §15.3.5, §15.3.6): a body sent with one is never read.
    if (res.statusCode < 200 || res.statusCode >= 300 || res.statusCode === 204 || res.statusCode === 205) {
      discard(res);
      return { status: res.statusCode, headers: res.headers };
    }
    const raw = await readBounded(res, opts.maxBodyBytes, signal);
    // An empty body is no body: the exchange decides what a success without one means.
    if (raw.length === 0) return { status: res.statusCode, headers: res.headers };
    const plain = await decodeBody(raw, single(res.headers['content-encoding']), opts.maxBodyBytes);
    return { status: res.statusCode, headers: res.headers, body: parseJsonBody(plain, single(res.headers['content-type'])) };
  }
}

/** The raw body, refused when longer than allowed or shorter than announced. */
async function readBounded(res: Dispatcher.ResponseData, maxBytes: number, signal: AbortSignal): Promise<Buffer> {
  const announced = single(res.headers['content-length']);
  if (announced !== undefined && Number(announced) > maxBytes) {
    discard(res);
    throw invalid(`the body announces ${announced} bytes, more than ${maxBytes}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) {
        discard(res);
        throw invalid(`the body exceeds ${maxBytes} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (e) {
    if (e instanceof AccessError) throw e;
    throw failure(e, signal, 'during');
  }
  // undici checks this too; checked here as well because a truncated record must never pass for a whole one.
  if (announced !== undefined && Number(announced) !== size) throw invalid('the body is shorter than its Content-Length');
  // One chunk (most answers) is the body as it is: no copy.
  return chunks.length === 1 && Buffer.isBuffer(chunks[0]) ? chunks[0] : Buffer.concat(chunks, size);
}

/** What a failed exchange means for the caller: too slow, unreachable, or broken mid-answer. */
function failure(e: unknown, signal: AbortSignal, when: 'before' | 'during'): AccessError {
  const code = codeOf(e);
  if (signal.aborted || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return withCause(new AccessError('upstream_timeout', 'the record API did not answer in time'), e);
  }
  if (when === 'during') return withCause(invalid(`the body was cut short (${code ?? 'error'})`), e);
  if (code !== undefined && UNREACHABLE.has(code))
    return withCause(new AccessError('upstream_unreachable', `the record API cannot be reached (${code})`), e);
  return withCause(new AccessError('upstream_unreachable', `the record API request failed (${code ?? 'error'})`), e);
}

/** Drop a body unread. Destroying it aborts the stream, which is not a failure here. */
function discard(res: Dispatcher.ResponseData): void {
  res.body.on('error', () => undefined);
  res.body.destroy();
}

function codeOf(e: unknown): string | undefined {
  for (let err = e, depth = 0; err instanceof Error && depth < 4; err = err.cause, depth++) {
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

function withCause(err: AccessError, cause: unknown): AccessError {
  err.cause = cause;
  return err;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
