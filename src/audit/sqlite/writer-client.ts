import { Worker } from 'node:worker_threads';
import type { AuditEvent } from '../event.js';
import type { Batch, Writer } from '../seal.js';
import { SqliteWriter } from './writer.js';

/**
 * Where a SQLite store's appends are made durable: `commit` resolves with
 * the batch's events once the transaction holding them has committed
 * (fsync'd), and rejects when it has not.
 */
export interface Appender {
  commit(batch: Batch, identity: string): Promise<AuditEvent[]>;
  /** Releases the appender's connection (after the store's appends have drained). */
  close(): Promise<void>;
}

/** What the writer thread is asked: a batch for a store's trail, or to let a store's connection go. */
export type WriterRequest =
  | { op: 'commit'; id: number; store: number; file: string; writer: Writer; identity: string; batch: Batch }
  | { op: 'close'; id: number; store: number };

/** Its answer to request `id`. */
export type WriterReply = { id: number; events: AuditEvent[] } | { id: number; error: string };

interface Pending {
  resolve: (events: AuditEvent[]) => void;
  reject: (err: Error) => void;
}

/**
 * The process's one writer thread, shared by its SQLite stores, started when
 * a writable store opens (again on the next batch after it died). The fsync of every commit happens there, so the event
 * loop keeps answering requests (and filling the next batch) meanwhile.
 *
 * Fail closed: when the thread dies (an uncaught error, a failed start,
 * termination), every request it has not answered rejects: an append is
 * never resolved unless its batch's commit was reported. The next request
 * starts a new thread, whose connections read the chain head under the
 * write lock as any writer does, so the chain continues from what is on disk.
 * A batch the dead thread may have committed without reporting is in the
 * trail although its appends were refused: the trail may hold an event for
 * a request answered 503, never the reverse.
 *
 * The thread is unreferenced while nothing is pending, so an idle store
 * never keeps a process alive.
 */
class WriterThread {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #next = 1;

  request(request: Omit<WriterRequest & { op: 'commit' }, 'id'> | Omit<WriterRequest & { op: 'close' }, 'id'>): Promise<AuditEvent[]> {
    return new Promise((resolve, reject) => {
      let worker: Worker;
      try {
        worker = this.#worker ?? this.#start();
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      const id = this.#next++;
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) worker.ref();
      try {
        worker.postMessage({ ...request, id });
      } catch (err) {
        this.#settle(id);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /**
   * Starts the thread ahead of the first batch, so that request does not wait
   * for it to load. A failure to start is left to the first batch to report.
   */
  warm(): void {
    try {
      this.#worker ??= this.#start();
    } catch {
      // The first commit starts it again and rejects if it still cannot.
    }
  }

  /** Whether a thread is running (started and not yet stopped). */
  get running(): boolean {
    return this.#worker !== undefined;
  }

  /** Stops the thread now: what it has not answered rejects, as if it had died. */
  async terminate(): Promise<void> {
    const worker = this.#worker;
    if (worker === undefined) return;
    this.#fail(worker, new Error('the audit writer thread was stopped'));
    await worker.terminate();
  }

  #start(): Worker {
    const worker = spawnWriter();
    this.#worker = worker;
    worker.unref();
    worker.on('message', (reply: WriterReply) => {
      const pending = this.#settle(reply.id);
      if (pending === undefined) return;
      if ('error' in reply) pending.reject(new Error(reply.error));
      else pending.resolve(reply.events);
    });
    worker.on('error', (err) => this.#fail(worker, err));
    worker.on('messageerror', (err) => this.#fail(worker, err));
    worker.on('exit', (code) => this.#fail(worker, new Error(`the audit writer thread stopped (exit code ${code})`)));
    return worker;
  }

  #settle(id: number): Pending | undefined {
    const pending = this.#pending.get(id);
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#worker?.unref();
    return pending;
  }

  #fail(worker: Worker, err: Error): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(err);
    void worker.terminate();
  }
}

/**
 * The thread running `writer-thread`: the compiled `.js` beside this file;
 * from the TypeScript sources (tests, benchmarks, examples run under tsx),
 * the `.ts` one, with tsx registered in the thread first (Node 20 does not
 * carry `--import` loaders into workers).
 */
function spawnWriter(): Worker {
  const here = import.meta.url;
  const options = { name: 'fieldmesh-audit-writer', execArgv: workerExecArgv(process.execArgv) };
  if (!here.endsWith('.ts')) return new Worker(new URL('./writer-thread.js', here), options);
  const entry = new URL('./writer-thread.ts', here).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { ...options, eval: true });
}

/**
 * The process's Node options, as a worker inherits them, less `--input-type`:
 * it applies to the process's own `--eval` code, and a worker whose entry
 * is a file refuses to start under it (`node --input-type=module -e …`).
 */
function workerExecArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--input-type') i++;
    else if (!arg.startsWith('--input-type=')) out.push(arg);
  }
  return out;
}

const thread = new WriterThread();
let stores = 0;

/**
 * Appends for one store through the process's writer thread.
 *
 * @example
 * const appender = threadAppender('./audit.db', writerFrom(opts));
 * const events = await appender.commit(batch, identity);
 */
export function threadAppender(file: string, writer: Writer): Appender {
  const store = ++stores;
  thread.warm();
  return {
    commit: (batch, identity) => thread.request({ op: 'commit', store, file, writer, identity, batch }),
    close: async () => {
      if (thread.running) await thread.request({ op: 'close', store }).catch(() => undefined);
    },
  };
}

/**
 * Appends on the calling thread: the commit and its fsync hold the event
 * loop. The synchronous design the writer thread replaced, kept for the
 * side-by-side benchmark (bench/audit.ts).
 */
export function inlineAppender(file: string, writer: Writer): Appender {
  const w = new SqliteWriter(file, writer);
  return {
    commit: async (batch, identity) => w.commit(batch, identity),
    close: async () => w.close(),
  };
}

/**
 * Stops the writer thread as a crash would (pending appends reject with
 * the store's audit_unavailable); the next append starts a new one. For
 * tests of that path.
 */
export function terminateWriterThread(): Promise<void> {
  return thread.terminate();
}
