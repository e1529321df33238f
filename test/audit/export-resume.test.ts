import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import type { AuditEvent } from '../../src/audit/event.js';
import { resumeProblem } from '../../src/audit/export-resume.js';
import { openAuditStore } from '../../src/audit/open.js';
import type { AuditStore } from '../../src/audit/types.js';
import { sampleEntry } from './entries.js';

describe('audit/export-resume', () => {
  let dir: string;
  let store: AuditStore;
  let events: AuditEvent[];
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fieldmesh-resume-'));
    store = await openAuditStore(join(dir, 'audit.db'));
    for (let i = 0; i < 8; i += 1) await store.append(sampleEntry({ requestId: `r-${i}` }));
    events = await store.query({ chain: 'main', afterSeq: 0 });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const at = (seq: number) => ({ chain: 'main', seq, hash: (events[seq - 1] as AuditEvent).hash });

  it('accepts a position whose event the trail holds with that hash, and the start of the trail', async () => {
    expect(await resumeProblem(store, at(5), 8)).to.equal(undefined);
    expect(await resumeProblem(store, at(8), 8)).to.equal(undefined);
    expect(await resumeProblem(store, { chain: 'main', seq: 0 }, 8)).to.equal(undefined);
  });

  it('refuses a position beyond the head, another hash at its seq, and one without a hash', async () => {
    expect(await resumeProblem(store, { ...at(8), seq: 9 }, 8)).to.deep.equal({
      kind: 'beyond',
      reason: "it names seq 9, but the trail's chain ends at seq 8",
    });
    const other = await resumeProblem(store, { ...at(5), hash: at(6).hash }, 8);
    expect(other?.kind).to.equal('other');
    expect(other?.reason).to.equal(`the event at seq 5 has hash ${at(5).hash}, not ${at(6).hash}`);
    expect((await resumeProblem(store, { chain: 'main', seq: 5 }, 8))?.kind).to.equal('unchecked');
  });

  it("refuses a position saved from a trail with another id, and accepts one with this trail's", async () => {
    const id = (await store.trailId?.()) as string;
    expect(await resumeProblem(store, { ...at(5), trail: id }, 8)).to.equal(undefined);
    const other = '00000000-0000-4000-8000-000000000000';
    expect(await resumeProblem(store, { ...at(5), trail: other }, 8)).to.deep.equal({
      kind: 'trail',
      reason: `it was saved from the trail with id ${other}, and this trail's id is ${id}`,
    });
  });

  it('refuses a position whose event was deleted from the middle of the trail', async () => {
    const db = new Database(join(dir, 'audit.db'));
    db.prepare('DELETE FROM fieldmesh_audit_events WHERE seq = 5').run();
    db.close();
    expect(await resumeProblem(store, at(5), 8)).to.deep.equal({ kind: 'missing', reason: 'the trail holds no event at seq 5' });
  });

  it('after archiving, accepts the last seq archived with the hash the checkpoint records, and leaves a seq before it to the range check', async () => {
    const before = new Date(Date.now() + 5);
    await new Promise((r) => setTimeout(r, 10));
    const outcome = await store.archive({ before, out: join(dir, 'a.jsonl'), by: 'ops' });
    expect(outcome.ok && outcome.record.to.seq).to.equal(8);
    expect(await resumeProblem(store, at(8), 9)).to.equal(undefined);
    expect((await resumeProblem(store, { ...at(8), hash: at(7).hash }, 9))?.kind).to.equal('other');
    // Behind the archive: exportRange refuses it, naming the archive (cli-export tests the message through the binary).
    expect(await resumeProblem(store, at(5), 9)).to.equal(undefined);
  });
});
