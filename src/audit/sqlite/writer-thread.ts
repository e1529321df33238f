/**
 * The SQLite writer thread's entry: it owns one `SqliteWriter` (one
 * connection) per store of this process and answers each batch with the
 * events it made durable, or with why it could not. Messages are handled
 * one at a time, in the order sent, so one process's appends extend the
 * chain in the order the stores committed them. See `writer-client.ts`.
 */
import { parentPort } from 'node:worker_threads';
import type { Writer } from '../seal.js';
import type { WriterReply, WriterRequest } from './writer-client.js';
import { SqliteWriter } from './writer.js';

const port = parentPort;
if (port === null) throw new Error('writer-thread.ts runs as a worker thread');

const writers = new Map<number, SqliteWriter>();

/** A Buffer arrives as a plain Uint8Array; the key is the same bytes either way. */
function revived(writer: Writer): Writer {
  const key = writer.chainKey as unknown;
  return key instanceof Uint8Array && !Buffer.isBuffer(key)
    ? { ...writer, chainKey: Buffer.from(key.buffer, key.byteOffset, key.byteLength) }
    : writer;
}

port.on('message', (request: WriterRequest) => {
  let reply: WriterReply;
  try {
    if (request.op === 'commit') {
      let writer = writers.get(request.store);
      if (writer === undefined) {
        writer = new SqliteWriter(request.file, revived(request.writer));
        writers.set(request.store, writer);
      }
      reply = { id: request.id, events: writer.commit(request.batch, request.identity) };
    } else {
      writers.get(request.store)?.close();
      writers.delete(request.store);
      reply = { id: request.id, events: [] };
    }
  } catch (err) {
    reply = { id: request.id, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
