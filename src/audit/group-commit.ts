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
  #queue: Waiting<I, O>[] = [];
  #running = false;
  #idle: (() => void)[] = [];

  constructor(write: (items: I[]) => Promise<O[]> | O[], maxBatch = 500) {
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new TypeError('GroupCommit: maxBatch must be a positive integer');
    this.#write = write;
    this.#maxBatch = maxBatch;
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

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      try {
        const out = await this.#write(batch.map((w) => w.item));
        if (out.length !== batch.length) throw new Error(`GroupCommit: writer returned ${out.length} results for ${batch.length} items`);
        batch.forEach((w, i) => w.resolve(out[i] as O));
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
      // Let callbacks that were held up by the write submit, so they join the next batch.
      if (this.#queue.length > 0) await new Promise<void>((r) => setImmediate(r));
    }
    this.#running = false;
    for (const resolve of this.#idle.splice(0)) resolve();
  }
}
