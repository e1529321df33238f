import type { IncomingMessage } from 'node:http';
import { MAX_RECORD_DEPTH, nestedDeeperThan } from '../lib/depth.js';
import { AccessError } from '../engine/access-error.js';
import { foreignCharset, isJsonType } from './media-type.js';

/**
 * Why bytes could not be read as JSON, as data: each reader turns it into
 * its own error (a caller's body is 400 `invalid_body`, an upstream's 502
 * `upstream_invalid`, a handler's 500 `unredactable_body`).
 */
export type JsonFault = 'type' | 'charset' | 'utf8' | 'syntax' | 'depth';

/**
 * What every fault means, in words that never quote the bytes (a parser's
 * own message repeats the input, which may be record data).
 *
 * @example
 * JSON_FAULTS.syntax; // 'not valid JSON'
 */
export const JSON_FAULTS: Readonly<Record<JsonFault, string>> = {
  type: 'not declared as JSON',
  charset: 'not UTF-8',
  utf8: 'not valid UTF-8',
  syntax: 'not valid JSON',
  depth: `nested deeper than ${MAX_RECORD_DEPTH} levels`,
};

// fatal: a broken byte is refused, never replaced (the value checked must be the value sent); a BOM is dropped.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * The one way fieldmesh reads JSON bytes, wherever they come from: declared
 * as JSON (`application/json` or `+json`), UTF-8 (a declared charset must be
 * UTF-8, and every byte must decode), a byte-order mark dropped, parsed, and,
 * with `maxDepth`, nested no deeper than that.
 *
 * @example
 * parseJson(Buffer.from('{"ward":"9"}'), 'application/json'); // { ok: true, value: { ward: '9' } }
 * parseJson(Buffer.from('ward=9'), 'text/plain');            // { ok: false, fault: 'type' }
 */
export function parseJson(
  bytes: Uint8Array,
  contentType: string | undefined,
  opts: { maxDepth?: number } = {},
): { ok: true; value: unknown } | { ok: false; fault: JsonFault } {
  if (!isJsonType(contentType)) return { ok: false, fault: 'type' };
  if (foreignCharset(contentType)) return { ok: false, fault: 'charset' };
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, fault: 'utf8' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, fault: 'syntax' };
  }
  if (opts.maxDepth !== undefined && nestedDeeperThan(value, opts.maxDepth)) return { ok: false, fault: 'depth' };
  return { ok: true, value };
}

/**
 * A caller's write body, read from either shell's request stream: at most
 * `maxBytes` (413 `payload_too_large`, on the declared length first, then
 * while reading; the rest is left unread and the shell answers with
 * `Connection: close`), uncompressed, and JSON as `parseJson` reads it,
 * nested no deeper than a record may be. Anything else, an empty body
 * included, is 400 `invalid_body`. The parsed value is what gets checked and
 * what the record source receives (the gateway serialises it anew): a
 * duplicate key (`{"ward":"a","ward":"b"}`) cannot mean one thing to the
 * check and another to the source.
 *
 * @example
 * const body = await readJsonRequest(req, 1_048_576); // { ward: 'Ward 9' }
 */
export async function readJsonRequest(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding !== 'identity')
    throw new AccessError('invalid_body', 'Send the body uncompressed (no Content-Encoding)');
  return requestJson(await collect(req, maxBytes), req.headers['content-type']);
}

/**
 * The bytes of a caller's write body as JSON (see `readJsonRequest`).
 *
 * @example
 * requestJson(Buffer.from('{"ward": ['), 'application/json'); // throws 400 invalid_body
 */
export function requestJson(bytes: Uint8Array, contentType: string | undefined): unknown {
  if (bytes.length === 0) throw new AccessError('invalid_body', 'The write has no body: send the record as JSON');
  const parsed = parseJson(bytes, contentType, { maxDepth: MAX_RECORD_DEPTH });
  if (parsed.ok) return parsed.value;
  const fix = parsed.fault === 'type' ? ' (Content-Type: application/json)' : '';
  return invalidBody(`The body is ${JSON_FAULTS[parsed.fault]}${fix}`);
}

function invalidBody(message: string): never {
  throw new AccessError('invalid_body', message);
}

/** The body's bytes, or `payload_too_large` as soon as it passes the limit; the rest is left unread. */
function collect(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      cleanup();
      req.pause();
      reject(tooLarge(maxBytes));
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    // The stream's own message is not repeated: it says nothing the caller needs.
    const onError = () => {
      cleanup();
      reject(new AccessError('invalid_body', 'The body could not be read'));
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

function tooLarge(maxBytes: number): AccessError {
  return new AccessError('payload_too_large', `The body is larger than ${maxBytes} bytes`);
}
