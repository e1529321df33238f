import type { IncomingMessage } from 'node:http';
import { AccessError } from '../lib/errors.js';
import { isJsonType } from './upstream-body.js';

/**
 * Read and parse a caller's JSON write body, bounded. The parsed value is
 * what gets checked and what gets forwarded (serialised again): the upstream
 * never parses bytes the policy did not see, so a duplicate key
 * (`{"ward":"a","ward":"b"}`) cannot mean one thing here and another there.
 *
 * @example
 * const body = await readWriteBody(req, 1_048_576); // { ward: 'ward-9' }
 */
export async function readWriteBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const type = req.headers['content-type'];
  if (!isJsonType(type)) {
    req.resume();
    throw new AccessError('invalid_body', 'Send the body as JSON (Content-Type: application/json)');
  }
  const announced = Number(req.headers['content-length'] ?? 0);
  if (announced > maxBytes) {
    throw new AccessError('payload_too_large', `The body may be at most ${maxBytes} bytes`);
  }
  const raw = await collect(req, maxBytes);
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    // The parser's message quotes the input: say what is wrong, not where.
    throw new AccessError('invalid_body', 'The body is not valid JSON');
  }
}

/**
 * The body's bytes, or `payload_too_large` as soon as it passes the limit.
 * The rest is left unread: the caller answers with `Connection: close`.
 */
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
      req.off('data', onData);
      req.pause();
      reject(new AccessError('payload_too_large', `The body may be at most ${maxBytes} bytes`));
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}
