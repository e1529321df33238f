import { promisify } from 'node:util';
import { brotliDecompress, gunzip, inflate, inflateRaw, type ZlibOptions } from 'node:zlib';
import { upstreamInvalid as invalid } from '../http/answer-status.js';
import { JSON_FAULTS, parseJson } from '../http/json-body.js';

const DECODERS: Record<string, (buf: Buffer, opts: ZlibOptions) => Promise<Buffer>> = {
  gzip: promisify(gunzip),
  'x-gzip': promisify(gunzip),
  br: promisify(brotliDecompress) as (buf: Buffer, opts: ZlibOptions) => Promise<Buffer>,
  deflate: inflateEither,
};
const inflateZlib = promisify(inflate);
const inflateBare = promisify(inflateRaw);

/** RFC 9110 §8.4.1.3: "deflate" is zlib-wrapped, but some servers send it raw. */
async function inflateEither(buf: Buffer, opts: ZlibOptions): Promise<Buffer> {
  try {
    return await inflateZlib(buf, opts);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw e;
    return inflateBare(buf, opts);
  }
}

/**
 * Undo the upstream's Content-Encoding, codings applied last undone first
 * (RFC 9110 §8.4). The decoded size is bounded too, so a small compressed
 * body cannot expand into gigabytes (a "zip bomb").
 */
export async function decodeBody(raw: Buffer, contentEncoding: string | undefined, maxBytes: number): Promise<Buffer> {
  const codings = (contentEncoding ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  let body = raw;
  for (const coding of codings.reverse()) {
    const decode = DECODERS[coding];
    if (decode === undefined) throw invalid(`unsupported content-encoding "${coding.slice(0, 32)}"`);
    try {
      body = await decode(body, { maxOutputLength: maxBytes });
    } catch (e) {
      const tooLarge = (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError;
      throw invalid(tooLarge ? `the decoded body exceeds ${maxBytes} bytes` : `the ${coding} body cannot be decoded`);
    }
  }
  return body;
}

/**
 * Parse a decoded body as JSON, as `parseJson` reads every body. Anything
 * else (another type or charset, broken UTF-8, a parse error, a bare scalar)
 * is `upstream_invalid`: a body fieldmesh cannot read is a body it cannot
 * redact, so none of it is passed on.
 */
export function parseJsonBody(body: Buffer, contentType: string | undefined): unknown {
  const parsed = parseJson(body, contentType);
  if (!parsed.ok) throw invalid(`the body is ${JSON_FAULTS[parsed.fault]}`);
  const value = parsed.value;
  if (value === null || typeof value !== 'object') throw invalid('the body is a JSON scalar, not a record or a list');
  return value;
}
