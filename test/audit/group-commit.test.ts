import { expect } from 'chai';
import { GroupCommit, type CommitObservation } from '../../src/audit/group-commit.js';

describe('audit/group-commit', () => {
  function setup(maxBatch?: number) {
    const batches: number[][] = [];
    let release: (() => void) | undefined;
    let gate: Promise<void> | undefined;
    const gc = new GroupCommit<number, string>(async (items) => {
      batches.push([...items]);
      if (gate !== undefined) await gate;
      if (items.includes(-1)) throw new Error('disk full');
      return items.map((i) => `event-${i}`);
    }, maxBatch);
    const hold = (): void => {
      gate = new Promise((r) => {
        release = r;
      });
    };
    const open = (): void => {
      gate = undefined;
      release?.();
    };
    return { gc, batches, hold, open };
  }

  it('writes appends issued together in one batch and resolves each with its own result', async () => {
    const { gc, batches } = setup();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => gc.submit(i)));
    expect(results).to.deep.equal(Array.from({ length: 200 }, (_, i) => `event-${i}`));
    expect(batches).to.have.length(1);
  });

  it('batches appends that arrive while a write is in progress into the next write', async () => {
    const { gc, batches, hold, open } = setup();
    hold();
    const first = gc.submit(1);
    await new Promise((r) => setImmediate(r));
    expect(batches).to.deep.equal([[1]]);
    const later = [gc.submit(2), gc.submit(3), gc.submit(4)];
    open();
    expect(await Promise.all([first, ...later])).to.deep.equal(['event-1', 'event-2', 'event-3', 'event-4']);
    expect(batches).to.deep.equal([[1], [2, 3, 4]]);
  });

  it('does not resolve before the write has finished', async () => {
    const { gc, hold, open } = setup();
    hold();
    let settled = false;
    const p = gc.submit(1).then(() => {
      settled = true;
    });
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(settled).to.equal(false);
    open();
    await p;
    expect(settled).to.equal(true);
  });

  it('splits a queue longer than maxBatch into several writes', async () => {
    const { gc, batches } = setup(50);
    await Promise.all(Array.from({ length: 120 }, (_, i) => gc.submit(i)));
    expect(batches.map((b) => b.length)).to.deep.equal([50, 50, 20]);
  });

  it('fails only the batch that failed, and the next batch still writes', async () => {
    const { gc, hold, open } = setup();
    hold();
    const bad = [gc.submit(-1), gc.submit(5)].map((p) =>
      p.then(
        () => 'ok',
        (e: Error) => e.message,
      ),
    );
    await new Promise((r) => setImmediate(r));
    const good = gc.submit(6);
    open();
    expect(await Promise.all(bad)).to.deep.equal(['disk full', 'disk full']);
    expect(await good).to.equal('event-6');
  });

  it('idle() waits for writes in flight', async () => {
    const { gc, hold, open } = setup();
    hold();
    let done = false;
    void gc.submit(1).then(() => {
      done = true;
    });
    const idle = gc.idle();
    open();
    await idle;
    expect(done).to.equal(true);
  });

  it('tells an observer the size and result of every batch, and nothing of its items', async () => {
    const seen: CommitObservation[] = [];
    const gc = new GroupCommit<number, string>(
      (items) => {
        if (items.includes(-1)) throw new Error('disk full');
        return items.map((i) => `event-${i}`);
      },
      3,
      (b) => void seen.push(b),
    );
    await Promise.all([1, 2, 3, 4].map((i) => gc.submit(i)));
    await gc.submit(-1).catch(() => undefined);
    expect(seen.map((b) => [b.size, b.ok])).to.deep.equal([
      [3, true],
      [1, true],
      [1, false],
    ]);
    for (const b of seen) expect(Object.keys(b).sort()).to.deep.equal(['ok', 'seconds', 'size']);
    expect(seen.every((b) => b.seconds >= 0)).to.equal(true);
  });

  it('commits a batch whose observer throws: the observer is an onlooker', async () => {
    const gc = new GroupCommit<number, string>(
      (items) => items.map((i) => `event-${i}`),
      500,
      () => {
        throw new Error('observer broke');
      },
    );
    expect(await gc.submit(7)).to.equal('event-7');
  });
});
