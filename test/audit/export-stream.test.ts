import { expect } from 'chai';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '../../src/audit/event.js';
import {
  assertCursorWritable,
  exportEvents,
  readCursor,
  saveCursor,
  type ExportPosition,
  type ExportRun,
} from '../../src/audit/export-stream.js';
import { openAuditStore } from '../../src/audit/open.js';
import type { AuditStore } from '../../src/audit/types.js';
import { sampleEntry } from './entries.js';

const H5 = '5'.repeat(64);
const H10 = 'a'.repeat(64);

describe('audit/export-stream', () => {
  let dir: string;
  let store: AuditStore;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fieldmesh-export-'));
    store = await openAuditStore(join(dir, 'audit.db'));
    await Promise.all(
      Array.from({ length: 23 }, (_, i) =>
        store.append(sampleEntry({ requestId: `r-${i}`, time: `2026-03-${String(1 + (i % 5)).padStart(2, '0')}T10:00:00Z` })),
      ),
    );
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A run that collects the lines and every position saved, in the order they happened. */
  function collecting(overrides: Partial<ExportRun> = {}) {
    const log: (string | ExportPosition)[] = [];
    const run: ExportRun = {
      store,
      chain: 'main',
      after: 0,
      through: 23,
      pageSize: 5,
      render: (e: AuditEvent) => String(e.seq),
      write: async (chunk) => void log.push(...chunk.trimEnd().split('\n')),
      save: async (p) => void log.push(p),
      ...overrides,
    };
    return { run, log, seqs: () => log.filter((x): x is string => typeof x === 'string').map(Number) };
  }

  it('writes every event of the range once, in seq order, a page at a time, saving each position after its lines', async () => {
    const { run, log, seqs } = collecting();
    const result = await exportEvents(run);
    expect(result).to.deep.equal({ exported: 23, seq: 23, complete: true });
    expect(seqs()).to.deep.equal(Array.from({ length: 23 }, (_, i) => i + 1));
    // A position is saved only after the line it names was written.
    log.forEach((x, i) => {
      if (typeof x !== 'string') expect(log.slice(0, i).map(String)).to.include(String(x.seq));
    });
    expect(log.filter((x) => typeof x !== 'string')).to.have.length(5); // pages of 5, 5, 5, 5, 3
    // Each position carries the hash of the event it names: what a resumed export checks the trail still holds.
    const hashes = new Map((await store.query({ chain: 'main', afterSeq: 0 })).map((e) => [e.seq, e.hash]));
    for (const p of log.filter((x): x is ExportPosition => typeof x !== 'string')) expect(p.hash).to.equal(hashes.get(p.seq));
  });

  it('resumes after a position, and stops at the end of its range even when the trail has grown', async () => {
    await store.append(sampleEntry({ requestId: 'later' }));
    const { run, seqs } = collecting({ after: 17 });
    const result = await exportEvents(run);
    expect(seqs()).to.deep.equal([18, 19, 20, 21, 22, 23]);
    expect(result.seq).to.equal(23);
  });

  it('with a time filter writes only the events in it, and still saves the end of the range it looked at', async () => {
    const { run, seqs, log } = collecting({ since: '2026-03-02T00:00:00Z', until: '2026-03-03T00:00:00Z' });
    const result = await exportEvents(run);
    expect(seqs()).to.deep.equal([2, 7, 12, 17, 22]);
    const [end] = await store.query({ chain: 'main', afterSeq: 22, throughSeq: 23 });
    expect(log.at(-1)).to.deep.equal({ chain: 'main', seq: 23, hash: end?.hash });
    expect(result.exported).to.equal(5);
  });

  it('stops after the page it is writing when signalled, saving its position: a resume continues exactly there', async () => {
    const stop = new AbortController();
    const first = collecting({ signal: stop.signal, onPage: (n) => n >= 10 && stop.abort() });
    const r1 = await exportEvents(first.run);
    expect(r1).to.deep.include({ exported: 10, complete: false, seq: 10 });
    const second = collecting({ after: r1.seq });
    await exportEvents(second.run);
    expect([...first.seqs(), ...second.seqs()]).to.deep.equal(Array.from({ length: 23 }, (_, i) => i + 1));
  });

  it('follows: writes events appended while it runs, until stopped', async () => {
    const stop = new AbortController();
    const { run, seqs } = collecting({ follow: true, pollMs: 20, signal: stop.signal, through: undefined });
    const following = exportEvents(run);
    for (let i = 0; i < 12; i += 1) await store.append(sampleEntry({ requestId: `new-${i}` }));
    while (seqs().length < 35) await new Promise((r) => setTimeout(r, 20));
    stop.abort();
    const result = await following;
    expect(seqs()).to.deep.equal(Array.from({ length: 35 }, (_, i) => i + 1));
    expect(result).to.deep.include({ exported: 35, seq: 35 });
  });

  it('never saves a position when writing its lines failed', async () => {
    const saved: ExportPosition[] = [];
    const run = collecting({ write: async () => Promise.reject(new Error('EPIPE')), save: async (p) => void saved.push(p) }).run;
    expect((await rejection(exportEvents(run))).message).to.equal('EPIPE');
    expect(saved).to.deep.equal([]);
  });

  describe('cursor file', () => {
    it('is absent before the first run, and holds the position saved last, leaving no temporary file', async () => {
      const file = join(dir, 'siem.cursor');
      expect(await readCursor(file)).to.equal(undefined);
      await saveCursor(file, { chain: 'main', seq: 5, hash: H5 });
      await saveCursor(file, { chain: 'main', seq: 10, hash: H10 });
      expect(await readCursor(file)).to.deep.equal({ chain: 'main', seq: 10, hash: H10 });
      expect(readFileSync(file, 'utf8')).to.equal(`{"chain":"main","seq":10,"hash":"${H10}"}\n`);
      expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).to.deep.equal([]);
    });

    it('refuses a file that holds no position rather than starting over from the first event', async () => {
      const file = join(dir, 'bad.cursor');
      const bad = [
        '',
        'seq 5',
        '{"chain":"main"}',
        '{"chain":"main","seq":-1}',
        '{"chain":1,"seq":2}',
        '[]',
        '{"chain":"main","seq":2,"hash":7}',
      ];
      for (const text of [...bad, '{"chain":"main","seq":2,"hash":"not-a-hash"}']) {
        writeFileSync(file, text);
        expect((await rejection(readCursor(file))).message, text).to.match(/does not hold a position/);
      }
    });

    it("keeps the trail's id when the position names one", async () => {
      const file = join(dir, 'trail.cursor');
      const trail = '0b8f6c1e-7a51-4c3e-9d2a-5e4f3b2a1c0d';
      await saveCursor(file, { chain: 'main', seq: 5, hash: H5, trail });
      expect(readFileSync(file, 'utf8')).to.equal(`{"chain":"main","seq":5,"hash":"${H5}","trail":"${trail}"}\n`);
      expect(await readCursor(file)).to.deep.equal({ chain: 'main', seq: 5, hash: H5, trail });
      writeFileSync(file, `{"chain":"main","seq":5,"hash":"${H5}","trail":"a b"}`);
      expect((await rejection(readCursor(file))).message).to.match(/does not hold a position/);
    });

    it('reads a cursor an earlier version wrote, without a hash, as a position whose hash is unknown', async () => {
      const file = join(dir, 'old.cursor');
      writeFileSync(file, '{"chain":"main","seq":18}\n');
      expect(await readCursor(file)).to.deep.equal({ chain: 'main', seq: 18 });
    });

    it('is not written where its directory does not exist, and that is known before anything is exported', async () => {
      const missing = join(dir, 'no', 'such', 'c');
      expect((await rejection(saveCursor(missing, { chain: 'main', seq: 1, hash: H5 }))).message).to.match(/ENOENT/);
      expect((await rejection(assertCursorWritable(missing))).message).to.match(/cannot save the cursor .*ENOENT/);
      await assertCursorWritable(join(dir, 'fine.cursor'));
      expect(readdirSync(dir).filter((f) => f.includes('fine'))).to.deep.equal([]);
    });

    it('refuses a symbolic link, to read, to check and to save: a save would replace the link, not write where it points', async () => {
      const target = join(dir, 'target.cursor');
      const link = join(dir, 'link.cursor');
      await saveCursor(target, { chain: 'main', seq: 5, hash: H5 });
      symlinkSync(target, link);
      const attempts = [
        () => readCursor(link),
        () => assertCursorWritable(link),
        () => saveCursor(link, { chain: 'main', seq: 10, hash: H10 }),
      ];
      for (const attempt of attempts) expect((await rejection(attempt())).message).to.match(/is a symbolic link/);
      expect(lstatSync(link).isSymbolicLink()).to.equal(true);
      expect(await readCursor(target)).to.deep.equal({ chain: 'main', seq: 5, hash: H5 });
    });
  });
});

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}
