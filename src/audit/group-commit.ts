/**
 * What one batch cost: how many items it held, how long its write took, and
 * whether it committed. Counts and durations only: never an item.
 *
 * @example
 * const observe = (b: CommitObservation) => histogram.observe(b.size);
 */
export interface CommitObservation {
  size: number;
  seconds: number;
  ok: boolean;
}

interface Waiting<I, O> {
  item: I;
  resolve: (out: O) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: items submitted while a batch is being written wait and go
 * into the next batch together, so one durable commit (one fsync) pays for
 * many events instead of one. A promise settles only after its own batch has
 * committed or failed; a failed batch fails only its own items.
 *
 * @example
 * const gc = new GroupCommit<Entry, Event>(async (batch) => writeInOneTransaction(batch));
 * const event = await gc.submit(entry);
 */
export class GroupCommit<I, O> {
  readonly #write: (items: I[]) => Promise<O[]> | O[];
  readonly #maxBatch: number;
  readonly #observe: ((batch: CommitObservation) => void) | undefined;
  #queue: Waiting<I, O>[] = [];
  #running = false;
  #idle: (() => void)[] = [];

  /** `observe` hears of every batch once it has committed or failed (a metrics hook: the audit needs no metrics library). */
  constructor(write: (items: I[]) => Promise<O[]> | O[], maxBatch = 500, observe?: (batch: CommitObservation) => void) {
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new TypeError('GroupCommit: maxBatch must be a positive integer');
    this.#write = write;
    this.#maxBatch = maxBatch;
    this.#observe = observe;
  }

  /** Resolves with the item's output once the batch holding it has been written. */
  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      if (!this.#running) {
        this.#running = true;
        // Wait one turn of the event loop so that appends issued together share the first batch.
        setImmediate(() => void this.#drain());
      }
    });
  }

  /** Resolves when nothing is queued or being written. */
  idle(): Promise<void> {
    if (!this.#running) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Tell the observer; a throwing observer must not fail a batch that committed. */
  #report(size: number, started: number, ok: boolean): void {
    if (this.#observe === undefined) return;
    try {
      this.#observe({ size, seconds: (performance.now() - started) / 1000, ok });
    } catch {
      // An observer is an onlooker: its fault is its own.
    }
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      const started = performance.now();
      let ok = false;
      try {
        const out = await this.#write(batch.map((w) => w.item));
        if (out.length !== batch.length) throw new Error(`GroupCommit: writer returned ${out.length} results for ${batch.length} items`);
        ok = true;
        this.#report(batch.length, started, ok);
        batch.forEach((w, i) => w.resolve(out[i] as O));
      } catch (err) {
        if (!ok) this.#report(batch.length, started, ok);
        for (const w of batch) w.reject(err);
      }
      // Let callbacks that were held up by the write submit, so they join the next batch.
      if (this.#queue.length > 0) await new Promise<void>((r) => setImmediate(r));
    }
    this.#running = false;
    for (const resolve of this.#idle.splice(0)) resolve();
  }
}
