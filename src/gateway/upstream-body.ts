import { promisify } from 'node:util';
import { brotliDecompress, gunzip, inflate, inflateRaw, type ZlibOptions } from 'node:zlib';
import { AccessError } from '../lib/errors.js';

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
 * An upstream body that cannot be redacted. The reason is for logs (the
 * public message of `upstream_invalid` is fixed); it never quotes the body.
 *
 * @example
 * throw invalid('the body is not JSON');
 */
export function invalid(reason: string): AccessError {
  return new AccessError('upstream_invalid', `upstream answer rejected: ${reason}`);
}

/**
 * Undo the upstream's Content-Encoding, codings applied last undone first
 * (RFC 9110 §8.4). The decoded size is bounded too, so a small compressed
 * body cannot expand into gigabytes (a "zip bomb").
 *
 * @example
 * const plain = await decodeBody(raw, 'gzip', 10_485_760);
 */
export async function decodeBody(raw: Buffer, contentEncoding: string | undefined, maxBytes: number): Promise<Buffer> {
  const codings = (contentEncoding ?? '').split(',').map((c) => c.trim().toLowerCase()).filter((c) => c !== '' && c !== 'identity');
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

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * Whether a Content-Type names JSON: `application/json` or any `+json`
 * type such as `application/fhir+json` (RFC 6839 §3.1).
 *
 * @example
 * isJsonType('application/fhir+json; charset=utf-8'); // true
 */
export function isJsonType(contentType: string | undefined): boolean {
  return contentType !== undefined && JSON_TYPE.test(contentType.trim());
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Parse a decoded body as JSON. Anything else (another type, broken UTF-8,
 * a parse error, a bare scalar) is `upstream_invalid`: a body fieldmesh cannot
 * read is a body it cannot redact, so none of it is passed on.
 *
 * @example
 * const record = parseJsonBody(plain, 'application/json');
 */
export function parseJsonBody(body: Buffer, contentType: string | undefined): unknown {
  if (!isJsonType(contentType)) throw invalid('the content type is not JSON');
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw invalid('the body is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalid('the body is not valid JSON');
  }
  if (value === null || typeof value !== 'object') throw invalid('the body is a JSON scalar, not a record or a list');
  return value;
}
