import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import type { AuditEvent } from '../../../src/audit/event.js';
import { openAuditStore } from '../../../src/audit/open.js';
import { terminateWriterThread } from '../../../src/audit/sqlite/writer-client.js';
import { FieldmeshError } from '../../../src/lib/errors.js';
import { ROOT } from '../../cli/run.js';
import { sampleEntry } from '../entries.js';

const run = promisify(execFile);
const dirs: string[] = [];
function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-writer-'));
  dirs.push(dir);
  return join(dir, 'audit.db');
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

type Settled = { ok: true; event: AuditEvent } | { ok: false; code: string };
function settle(p: Promise<AuditEvent>): Promise<Settled> {
  return p.then(
    (event) => ({ ok: true, event }),
    (e: unknown) => ({ ok: false, code: e instanceof FieldmeshError ? e.code : `unexpected: ${String(e)}` }),
  );
}
/** Request ids in the trail, read with a connection of its own (not through the store under test). */
function storedIds(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare('SELECT request_id FROM fieldmesh_audit_events ORDER BY seq').all() as { request_id: string }[]).map(
      (r) => r.request_id,
    );
  } finally {
    db.close();
  }
}

describe('audit/sqlite/writer-client', () => {
  it('fails closed when the writer thread dies with a batch in flight: every pending append rejects, then a new thread continues the chain', async () => {
    const file = tempFile();
    const store = await openAuditStore(file);
    await store.append(sampleEntry({ requestId: 'before' })); // the thread is running
    const pending = Array.from({ length: 200 }, (_, i) => settle(store.append(sampleEntry({ requestId: `during-${i}` }))));
    // The store hands the batch to the thread on the next turn of the loop; this turn comes after it, before any answer.
    await new Promise<void>((r) => setImmediate(r));
    await terminateWriterThread();
    const outcomes = await Promise.all(pending);
    expect(outcomes.filter((o) => o.ok)).to.deep.equal([]);
    expect(new Set(outcomes.map((o) => (o.ok ? 'resolved' : o.code)))).to.deep.equal(new Set(['audit_unavailable']));

    // The next append starts a new thread, which chains after whatever is on disk (the dead thread may have committed its batch).
    const after = await store.append(sampleEntry({ requestId: 'after' }));
    const ids = storedIds(file);
    expect(ids[0]).to.equal('before');
    expect(ids.at(-1)).to.equal('after');
    expect(after.seq).to.equal(ids.length);
    expect(ids.length === 2 || ids.length === 202, `${ids.length} events: the batch is in whole or not at all`).to.equal(true);
    expect(await store.verify()).to.deep.include({ ok: true, events: ids.length, chains: 1 });
    await store.close();
  });

  it('refuses a batch, writing nothing anywhere, when the path names another file than the one the store opened', async () => {
    const file = tempFile();
    const store = await openAuditStore(file);
    await store.append(sampleEntry({ requestId: 'ours' }));
    const otherFile = tempFile();
    const other = await openAuditStore(otherFile);
    await other.append(sampleEntry({ requestId: 'theirs' }));
    await other.close();
    // The store's handles stay open on the old file, moved away with its WAL: the thread's check before the batch is what notices.
    for (const suffix of ['', '-wal', '-shm']) renameSync(`${file}${suffix}`, `${file}.moved${suffix}`);
    renameSync(otherFile, file);
    const refused = await Promise.all(Array.from({ length: 20 }, (_, i) => settle(store.append(sampleEntry({ requestId: `lost-${i}` })))));
    expect(refused.map((o) => (o.ok ? 'resolved' : o.code))).to.deep.equal(Array(20).fill('audit_unavailable'));
    expect(storedIds(file)).to.deep.equal(['theirs']);
    expect(storedIds(`${file}.moved`)).to.deep.equal(['ours']);
    await store.close();
  });

  it('drains on close: appends issued before close() all resolve, and all are in the trail', async () => {
    const file = tempFile();
    const store = await openAuditStore(file, { maxBatch: 50 });
    const appends = Array.from({ length: 300 }, (_, i) => store.append(sampleEntry({ requestId: `r-${i}` })));
    await store.close();
    const events = await Promise.all(appends);
    expect(events.map((e) => e.seq)).to.deep.equal(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(storedIds(file)).to.deep.equal(Array.from({ length: 300 }, (_, i) => `r-${i}`));
    let closed: unknown;
    await store.append(sampleEntry()).catch((e: unknown) => {
      closed = e;
    });
    expect(closed).to.be.instanceOf(FieldmeshError).and.have.property('code', 'audit_unavailable');
  });

  it('chains concurrent appends in the order they were issued, also from two stores of one process sharing the thread', async () => {
    const file = tempFile();
    const a = await openAuditStore(file, { maxBatch: 64 });
    const b = await openAuditStore(file, { maxBatch: 64 });
    const fromA = Array.from({ length: 400 }, (_, i) => a.append(sampleEntry({ requestId: `a-${i}` })));
    const fromB = Array.from({ length: 400 }, (_, i) => b.append(sampleEntry({ requestId: `b-${i}` })));
    const [eventsA, eventsB] = await Promise.all([Promise.all(fromA), Promise.all(fromB)]);
    for (const events of [eventsA, eventsB]) {
      const seqs = events.map((e) => e.seq);
      expect(seqs, 'one store: seq grows in the order of its appends').to.deep.equal([...seqs].sort((x, y) => x - y));
    }
    const all = [...eventsA, ...eventsB].sort((x, y) => x.seq - y.seq);
    expect(all.map((e) => e.seq)).to.deep.equal(Array.from({ length: 800 }, (_, i) => i + 1));
    all.slice(1).forEach((e, i) => expect(e.prevHash).to.equal(all[i]?.hash));
    expect(await a.verify()).to.deep.include({ ok: true, events: 800, chains: 1 });
    expect(storedIds(file)).to.deep.equal(all.map((e) => e.requestId));
    await Promise.all([a.close(), b.close()]);
  });

  it('hashes with a chain key given as a Buffer in the thread exactly as on the main thread', async () => {
    const file = tempFile();
    const key = Buffer.from('a-chain-key-as-bytes-0123456789');
    const store = await openAuditStore(file, { chainKey: key, recordIdKey: Buffer.from('a-record-id-key-0123456789') });
    const event = await store.append(sampleEntry());
    const review = await store.append(sampleEntry({ requestId: 'second' }));
    expect(review.prevHash).to.equal(event.hash);
    expect(await store.verify()).to.deep.include({ ok: true, events: 2 });
    await store.close();
    const other = await openAuditStore(file, { chainKey: 'another-chain-key-0123456789' });
    expect(await other.verify()).to.deep.include({ ok: false, kind: 'key' });
    await other.close();
  });

  it('does not keep a process alive once its appends are done, even when the store is never closed', async () => {
    const file = tempFile();
    const script = `
      import { openAuditStore } from './src/audit/open.ts';
      const store = await openAuditStore(${JSON.stringify(file)});
      const e = await store.append(${JSON.stringify(sampleEntry({ requestId: 'unclosed' }))});
      console.log(e.seq);`;
    // The limit only bounds a wait that a thread holding the process open would reach.
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      timeout: 30_000,
    });
    expect(stdout.trim()).to.equal('1');
    expect(storedIds(file)).to.deep.equal(['unclosed']);
  });
});
