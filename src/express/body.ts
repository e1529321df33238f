import type { Request } from 'express';
import { AccessError } from '../lib/errors.js';

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * The write body as the handler will see it: `req.body` when a parser has
 * already run, otherwise read and parsed here (and left on `req.body`), so a
 * write is checked whether or not the app uses `express.json()`. An empty
 * body is `undefined` (the engine refuses it as `invalid_body`).
 *
 * Refusals: 413 `payload_too_large` beyond `maxBytes` (checked on the
 * declared length first, then while reading); 400 `invalid_body` for a body
 * that is not JSON, not UTF-8 or compressed.
 *
 * @example
 * const body = await readJsonBody(req, 1_048_576);
 */
export async function readJsonBody(req: Request, maxBytes: number): Promise<unknown> {
  if (req.body !== undefined) return req.body;
  if (req.readableEnded) return undefined;
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding !== 'identity') throw new AccessError('invalid_body', 'Send the body uncompressed (no Content-Encoding)');
  const bytes = await readAll(req, maxBytes);
  if (bytes.length === 0) return undefined;
  const type = req.headers['content-type'] ?? '';
  if (!JSON_TYPE.test(type)) throw new AccessError('invalid_body', 'Send the body as JSON (Content-Type: application/json)');
  if (/charset=(?!"?utf-8)/i.test(type)) throw new AccessError('invalid_body', 'Send the body as UTF-8 JSON');
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8').replace(/^\uFEFF/, ''));
  } catch {
    // The parser's message quotes the body: it is never repeated.
    throw new AccessError('invalid_body', 'The body is not valid JSON');
  }
  req.body = body;
  return body;
}

function readAll(req: Request, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        // The rest is not kept: node discards it once the answer is sent.
        cleanup();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new AccessError('invalid_body', `The body could not be read (${err.message})`));
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
