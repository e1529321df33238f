import type { OutgoingHttpHeaders } from 'node:http';
import type { Response } from 'express';

/**
 * What a handler tried to answer, held back until it is redacted and audited:
 * a value (`res.json`, `res.send(object)`), bytes (`res.send(string|Buffer)`,
 * `res.write` + `res.end`, a piped stream), or a way of answering that cannot
 * be redacted at all (`res.sendFile`, more bytes than allowed).
 *
 * @example
 * captureResponse(res, 1 << 24, (answer) => void finish(answer));
 */
export type Captured =
  | { kind: 'value'; value: unknown }
  | { kind: 'bytes'; bytes: Buffer; contentType: string | undefined; fromSend: boolean }
  | { kind: 'refused'; why: string };

type Method =
  | 'json'
  | 'send'
  | 'sendFile'
  | 'write'
  | 'end'
  | 'writeHead'
  | 'flushHeaders'
  | 'writeEarlyHints'
  | 'writeContinue'
  | 'writeProcessing';
const METHODS: Method[] = [
  'json',
  'send',
  'sendFile',
  'write',
  'end',
  'writeHead',
  'flushHeaders',
  'writeEarlyHints',
  'writeContinue',
  'writeProcessing',
];
type Callback = (err?: Error | null) => void;

/**
 * Puts the response's own methods back. With `dropHandlerHeaders`, the
 * response also gets back exactly the headers (and status line) it had when
 * the handler was called: what fieldmesh then sends replaces the handler's
 * answer, and nothing the handler set may travel with it.
 *
 * @example
 * release(true); sendError(res, err, requestId);
 */
export type Release = (dropHandlerHeaders?: boolean) => void;

/**
 * Intercept every way an express response can send a body, so that not a
 * byte reaches the client before fieldmesh has redacted and audited it (no
 * disclosure without a record; fail closed). The first complete answer is
 * handed to `onAnswer` once; later calls are ignored. Returns `release`,
 * which puts the response's own methods back so the redacted answer can be
 * sent, or the handler's headers dropped with them so an error can be sent
 * in place of the answer.
 *
 * @example
 * const release = captureResponse(res, maxBytes, (answer) => void finish(answer, release));
 */
export function captureResponse(res: Response, maxBytes: number, onAnswer: (answer: Captured) => void): Release {
  const target = res as unknown as Record<Method, unknown>;
  const saved = Object.fromEntries(METHODS.map((m) => [m, target[m]])) as Record<Method, unknown>;
  // Headers set before the handler (express, earlier middleware, fieldmesh's own) are the same for every record.
  const before = Object.entries(res.getHeaders()).map(([k, v]): [string, unknown] => [k, Array.isArray(v) ? [...v] : v]);
  const chunks: Buffer[] = [];
  let size = 0;
  let done = false;

  const finish = (answer: Captured): void => {
    if (done) return;
    done = true;
    onAnswer(answer);
  };
  const add = (chunk: unknown, encoding: unknown): void => {
    if (chunk === undefined || chunk === null || typeof chunk === 'function') return;
    const buf = toBuffer(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    size += buf.length;
    if (size <= maxBytes) chunks.push(buf);
  };
  const bytes = (fromSend: boolean): Captured =>
    size > maxBytes
      ? { kind: 'refused', why: `the answer is larger than ${maxBytes} bytes` }
      : { kind: 'bytes', bytes: Buffer.concat(chunks), contentType: contentTypeOf(res), fromSend };

  target.json = function json(value: unknown) {
    finish(size > 0 ? { kind: 'refused', why: 'res.json after res.write' } : { kind: 'value', value });
    return res;
  };
  target.send = function send(body: unknown) {
    if (size > 0) finish({ kind: 'refused', why: 'res.send after res.write' });
    else if (body === undefined || body === null) finish(bytes(true));
    else if (typeof body === 'string' || ArrayBuffer.isView(body)) {
      add(body, 'utf8');
      finish(bytes(true));
    } else finish({ kind: 'value', value: body });
    return res;
  };
  // A file is sent as a stream the handler never sees: it cannot be redacted.
  target.sendFile = function sendFile(_path: unknown, ...rest: unknown[]) {
    finish({ kind: 'refused', why: 'res.sendFile cannot be redacted' });
    const cb = rest.find((r): r is Callback => typeof r === 'function');
    if (cb) setImmediate(() => cb(new Error('fieldmesh: res.sendFile cannot be redacted; nothing was sent')));
  };
  // Headers wait for the redacted body: flushing them now would commit the status and length.
  // A reason phrase (`writeHead(200, text)`) is the handler's free text on the status line: never kept.
  target.writeHead = function writeHead(status: number, ...rest: unknown[]) {
    res.statusCode = status;
    for (const part of rest) {
      if (typeof part !== 'string' && part !== undefined && part !== null) for (const [k, v] of headerPairs(part)) res.setHeader(k, v);
    }
    return res;
  };
  target.flushHeaders = function flushHeaders() {};
  // 103 Early Hints would send the handler's headers (a Link naming the record) before any decision: dropped.
  target.writeEarlyHints = function writeEarlyHints(_hints: unknown, cb?: unknown) {
    if (typeof cb === 'function') process.nextTick(cb as Callback);
  };
  // An interim 100 or 102 goes out at once, before any decision: sent only for a record that exists, it would tell one.
  target.writeContinue = function writeContinue() {};
  target.writeProcessing = function writeProcessing() {};
  target.write = function write(chunk: unknown, encoding?: unknown, cb?: unknown) {
    if (!done) add(chunk, encoding);
    const callback = [encoding, cb].find((x): x is Callback => typeof x === 'function');
    if (callback) process.nextTick(callback);
    return true;
  };
  target.end = function end(chunk?: unknown, encoding?: unknown, cb?: unknown) {
    if (!done) {
      add(chunk, encoding);
      finish(bytes(false));
    }
    const callback = [chunk, encoding, cb].find((x): x is Callback => typeof x === 'function');
    if (callback) res.once('finish', () => callback());
    return res;
  };

  return function release(dropHandlerHeaders = false) {
    for (const m of METHODS) target[m] = saved[m];
    // Node then sends the standard reason phrase, whatever the handler assigned to statusMessage.
    res.statusMessage = undefined as unknown as string;
    if (!dropHandlerHeaders) return;
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    for (const [name, value] of before) res.setHeader(name, value as string | number | readonly string[]);
  };
}

function toBuffer(chunk: unknown, encoding: BufferEncoding): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (ArrayBuffer.isView(chunk)) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.from(String(chunk), encoding);
}

function contentTypeOf(res: Response): string | undefined {
  const value = res.getHeader('content-type');
  return typeof value === 'string' ? value : Array.isArray(value) ? value[0] : undefined;
}

/** writeHead takes headers as an object, an array of pairs or a flat array of names and values. */
function headerPairs(headers: unknown): [string, string | number | readonly string[]][] {
  if (!Array.isArray(headers)) {
    return Object.entries(headers as OutgoingHttpHeaders).filter((e): e is [string, string | number | string[]] => e[1] !== undefined);
  }
  if (headers.every((h) => Array.isArray(h))) return (headers as [string, string][]).map(([k, v]) => [k, v]);
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < headers.length; i += 2) out.push([String(headers[i]), String(headers[i + 1])]);
  return out;
}
