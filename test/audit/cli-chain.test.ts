/**
 * `fieldmesh audit` as it ships: the BUILT binary (the file package.json `bin` names, built
 * by `npm test` before mocha runs; run `npm run build` first when running
 * this file alone), spawned with real SQLite files.
 */
import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { GENESIS_HASH, hashEvent, type AuditEvent } from '../../src/audit/event.js';
import { COLUMNS, toRow } from '../../src/audit/row.js';
import { openAuditStore } from '../../src/audit/open.js';
import type { AuditStoreOptions } from '../../src/audit/types.js';
import { breakGlassEntry, sampleEntry } from './entries.js';
import { BIN } from '../cli/run.js';

const KEY = 'chain-key-0123456789abcdef';
/** Anything a terminal may act on rather than show (newlines between lines of output aside). */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function fieldmesh(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base = { ...process.env };
  for (const name of ['FIELDMESH_AUDIT', 'FIELDMESH_AUDIT_RECORD_KEY', 'FIELDMESH_AUDIT_CHAIN_KEY']) delete base[name];
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...base, ...env } }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr }),
    );
  });
}

/** Writes a row exactly as given, as someone with access to the file could. */
function insertRaw(file: string, event: AuditEvent): void {
  const db = new Database(file);
  db.prepare(`INSERT INTO fieldmesh_audit_events (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`).run(toRow(event));
  db.close();
}

function sealed<T extends Omit<AuditEvent, 'hash'> & { hash?: string }>(event: T, key?: string): AuditEvent {
  const { hash: _h, ...rest } = event;
  return { ...rest, hash: hashEvent(rest, key) } as AuditEvent;
}

describe('fieldmesh audit (built binary): closed chain, head anchoring, chain key, printable output', () => {
  const dirs: string[] = [];
  before(() => {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first (npm test does)`);
  });
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  async function setup(n: number, opts: AuditStoreOptions = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-cli-chain-'));
    dirs.push(dir);
    const file = join(dir, 'audit.db');
    const store = await openAuditStore(file, opts);
    const events: AuditEvent[] = [];
    for (let i = 1; i <= n; i++) events.push(await store.append(sampleEntry({ requestId: `req-${i}` })));
    await store.close();
    return { file, events };
  }

  describe('audit head and verify --expect-head', () => {
    it('prints the head as SEQ:HASH, and as JSON', async () => {
      const { file, events } = await setup(3);
      const r = await fieldmesh(['audit', 'head', '--audit', file]);
      expect(r.code).to.equal(0);
      expect(r.stdout).to.equal(`3:${events[2]?.hash}\n`);
      const json = await fieldmesh(['audit', 'head', '--audit', file, '--json']);
      expect(JSON.parse(json.stdout)).to.deep.equal({ chain: 'main', seq: 3, hash: events[2]?.hash, head: `3:${events[2]?.hash}` });
    });

    it('passes while the trail holds the recorded head, also once it has grown', async () => {
      const { file } = await setup(3);
      const head = (await fieldmesh(['audit', 'head', '--audit', file])).stdout.trim();
      expect((await fieldmesh(['audit', 'verify', '--audit', file, '--expect-head', head])).code).to.equal(0);
      const store = await openAuditStore(file);
      await store.append(sampleEntry());
      await store.close();
      const r = await fieldmesh(['audit', 'verify', '--audit', file, '--expect-head', head]);
      expect(r.code).to.equal(0);
      expect(r.stdout).to.match(/^intact: 4 events in 1 chain\n/);
    });

    it('exits 0 after the newest events were deleted, but 1 given the head recorded before', async () => {
      const { file } = await setup(5);
      const head = (await fieldmesh(['audit', 'head', '--audit', file])).stdout.trim();
      const db = new Database(file);
      db.exec('DELETE FROM fieldmesh_audit_events WHERE seq >= 4');
      db.close();
      const plain = await fieldmesh(['audit', 'verify', '--audit', file]);
      expect(plain.code).to.equal(0);
      expect(plain.stdout).to.match(/^intact: 3 events in 1 chain\n/);
      const anchored = await fieldmesh(['audit', 'verify', '--audit', file, '--expect-head', head]);
      expect(anchored.code).to.equal(1);
      expect(anchored.stdout).to.equal(
        'BROKEN: truncated: chain "main" ends at seq 3, before the expected head at seq 5: 2 events were deleted from its end\n',
      );
      const json = await fieldmesh(['audit', 'verify', '--audit', file, '--expect-head', head, '--json']);
      expect(json.code).to.equal(1);
      expect(JSON.parse(json.stdout)).to.deep.include({ ok: false, kind: 'truncated', chain: 'main' });
    });

    it('prints no head for a broken trail, exiting 1', async () => {
      const { file } = await setup(3);
      const db = new Database(file);
      db.exec("UPDATE fieldmesh_audit_events SET purpose = 'research' WHERE seq = 2");
      db.close();
      const r = await fieldmesh(['audit', 'head', '--audit', file]);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.match(/^BROKEN at event .* \(chain main, seq 2\): hash mismatch/);
      expect(r.stdout).to.not.match(/^\d+:[0-9a-f]{64}$/m);
      const json = await fieldmesh(['audit', 'head', '--audit', file, '--json']);
      expect(json.code).to.equal(1);
      expect(JSON.parse(json.stdout)).to.deep.include({ ok: false, kind: 'changed', chain: 'main', seq: 2 });
    });

    it('exits 2 on an --expect-head that is not SEQ:HASH', async () => {
      const { file } = await setup(1);
      const r = await fieldmesh(['audit', 'verify', '--audit', file, '--expect-head', '3:abc']);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('expected SEQ:HASH');
    });
  });

  describe('closed chain set', () => {
    it('exits 1 naming a chain inserted with correctly computed hashes', async () => {
      const { file, events } = await setup(2);
      insertRaw(file, sealed({ ...(events[0] as AuditEvent), id: randomUUID(), chain: 'side', seq: 1, prevHash: GENESIS_HASH }));
      const r = await fieldmesh(['audit', 'verify', '--audit', file]);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.include('(chain side, seq 1): chain "side" (1 event) is not this trail\'s: its store writes only chain "main"');
    });

    it("keeps a break-glass event in the guardian's queue when a review is forged in another chain", async () => {
      const { file } = await setup(1);
      const store = await openAuditStore(file);
      const bg = await store.append(breakGlassEntry());
      await store.close();
      const review = {
        ...bg,
        id: randomUUID(),
        chain: 'side',
        seq: 1,
        prevHash: GENESIS_HASH,
        action: 'review' as const,
        breakGlass: undefined,
        review: { of: bg.id, by: 'Someone', note: 'nothing to see' },
      };
      insertRaw(file, sealed(review));
      // The queue is read only from a chain that verifies: this one does not.
      const r = await fieldmesh(['audit', 'review', '--audit', file, '--json']);
      expect(r.code).to.equal(1);
      expect(JSON.parse(r.stdout)).to.deep.include({ ok: false, kind: 'foreign', chain: 'side' });
    });
  });

  describe('chain key', () => {
    it('verifies a keyed trail only with its key: missing and wrong keys are said as such, exiting 1', async () => {
      const { file, events } = await setup(2, { chainKey: KEY });
      const ok = await fieldmesh(['audit', 'verify', '--audit', file], { FIELDMESH_AUDIT_CHAIN_KEY: KEY });
      expect(ok.code).to.equal(0);
      expect(ok.stdout).to.match(/^intact: 2 events in 1 chain\n/);
      const missing = await fieldmesh(['audit', 'verify', '--audit', file]);
      expect(missing.code).to.equal(1);
      expect(missing.stdout).to.equal(
        'BROKEN: this trail is keyed: set FIELDMESH_AUDIT_CHAIN_KEY (option chainKey) to the key it was started with\n',
      );
      const wrong = await fieldmesh(['audit', 'verify', '--audit', file], { FIELDMESH_AUDIT_CHAIN_KEY: 'another-key-0123456789' });
      expect(wrong.code).to.equal(1);
      expect(wrong.stdout).to.include('is not the key this trail was started with');
      const head = await fieldmesh(['audit', 'head', '--audit', file], { FIELDMESH_AUDIT_CHAIN_KEY: KEY });
      expect(head.stdout).to.equal(`2:${events[1]?.hash}\n`);
    });

    it('fails on an event forged with a plain SHA-256 hash by someone without the key', async () => {
      const { file, events } = await setup(2, { chainKey: KEY });
      const last = events[1] as AuditEvent;
      const forged = sealed({ ...last, id: randomUUID(), seq: 3, prevHash: last.hash, user: 'u-cover-story' });
      insertRaw(file, forged);
      const r = await fieldmesh(['audit', 'verify', '--audit', file], { FIELDMESH_AUDIT_CHAIN_KEY: KEY });
      expect(r.code).to.equal(1);
      expect(r.stdout).to.equal(
        `BROKEN at event ${forged.id} (chain main, seq 3): hash mismatch: the event was changed after it was written\n`,
      );
    });

    it('acknowledges on a keyed trail with the key from the environment, and refuses without it', async () => {
      const { file } = await setup(0, { chainKey: KEY });
      const store = await openAuditStore(file, { chainKey: KEY });
      const bg = await store.append(breakGlassEntry());
      await store.close();
      const args = ['audit', 'review', '--audit', file, '--ack', bg.id, '--by', 'Dr A Guardian', '--note', 'Justified'];
      // Only what the store decides is asserted here: the exit status of a command that cannot run is the CLI's (one place, main).
      // Without the key the chain cannot be verified, so the queue is not trusted: exit 1, nothing written.
      const refused = await fieldmesh(args);
      expect(refused.code).to.equal(1);
      expect(refused.stdout).to.equal(
        'BROKEN: this trail is keyed: set FIELDMESH_AUDIT_CHAIN_KEY (option chainKey) to the key it was started with\n',
      );
      expect((await fieldmesh(['audit', 'review', '--audit', file, '--json'], { FIELDMESH_AUDIT_CHAIN_KEY: KEY })).stdout).to.include(
        bg.id,
      );
      const done = await fieldmesh(args, { FIELDMESH_AUDIT_CHAIN_KEY: KEY });
      expect(done.code).to.equal(0);
      expect((await fieldmesh(['audit', 'verify', '--audit', file], { FIELDMESH_AUDIT_CHAIN_KEY: KEY })).stdout).to.match(
        /^intact: 2 events/,
      );
    });
  });

  describe('control characters', () => {
    const RAW_REASON = 'Arrest\tward 7\u009b2J\u0085\u001b[31mred\u202eevil';

    /** A sanitised event written now, and one written raw as an older trail could hold it (still correctly chained). */
    async function hostileTrail() {
      const { file } = await setup(0);
      const store = await openAuditStore(file);
      const fresh = await store.append(breakGlassEntry({ breakGlass: RAW_REASON }));
      await store.close();
      const old = sealed({ ...fresh, id: randomUUID(), seq: 2, prevHash: fresh.hash, time: '2026-03-05T00:00:00.000Z', user: 'u\u0085x' });
      insertRaw(file, old);
      return { file, fresh, old };
    }

    it('stores a break-glass reason with its controls escaped, and an old raw trail still verifies', async () => {
      const { file, fresh } = await hostileTrail();
      expect(fresh.breakGlass).to.equal('Arrest\\u0009ward 7\\u009b2J\\u0085\\u001b[31mred\\u202eevil');
      expect((await fieldmesh(['audit', 'verify', '--audit', file])).code).to.equal(0);
    });

    for (const args of [
      ['query'],
      ['query', '--json'],
      ['query', '--break-glass'],
      ['review'],
      ['review', '--json'],
      ['report', '--record', 'p-1002'],
      ['report', '--record', 'p-1002', '--json'],
    ]) {
      it(`prints controls escaped with audit ${args.join(' ')}`, async () => {
        const { file } = await hostileTrail();
        const r = await fieldmesh(['audit', ...args, '--audit', file]);
        expect(r.code).to.equal(0);
        expect(r.stdout).to.not.match(CONTROL);
        expect(r.stdout).to.include('\\u0085');
        if (args.includes('--json')) expect(JSON.stringify(JSON.parse(r.stdout))).to.include('\u0085');
      });
    }

    it('stores and prints a review note and reviewer name escaped', async () => {
      const { file, fresh } = await hostileTrail();
      const r = await fieldmesh([
        'audit',
        'review',
        '--audit',
        file,
        '--ack',
        fresh.id,
        '--by',
        'Dr\u0085 G',
        '--note',
        'ok\u009b2J\nforged line',
        '--json',
      ]);
      expect(r.code).to.equal(0);
      expect(r.stdout).to.not.match(CONTROL);
      expect((JSON.parse(r.stdout) as AuditEvent).review).to.deep.equal({
        of: fresh.id,
        by: 'Dr\\u0085 G',
        note: 'ok\\u009b2J\\u000aforged line',
      });
      const text = await fieldmesh(['audit', 'query', '--audit', file, '--json']);
      expect(text.stdout).to.not.match(CONTROL);
    });
  });

  describe('review trusts only a chain that verifies', () => {
    /** A break-glass event followed by a review row that names it, written with a hash that does not match. */
    async function forgedReviewTrail() {
      const { file } = await setup(1);
      const store = await openAuditStore(file);
      const bg = await store.append(breakGlassEntry());
      await store.close();
      const review = sealed({
        ...bg,
        id: randomUUID(),
        seq: 3,
        prevHash: bg.hash,
        action: 'review' as const,
        breakGlass: undefined,
        review: { of: bg.id, by: 'Someone', note: 'nothing to see' },
      });
      insertRaw(file, { ...review, hash: 'f'.repeat(64) });
      return { file, bg };
    }

    it('refuses to list the queue when a review row was forged, exiting 1 with the BROKEN line', async () => {
      const { file } = await forgedReviewTrail();
      const r = await fieldmesh(['audit', 'review', '--audit', file]);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.match(/^BROKEN at event .* \(chain main, seq 3\): hash mismatch/);
      expect(r.stdout).to.not.include('No break-glass events awaiting review');
    });

    it('refuses to acknowledge on a broken chain, writing nothing', async () => {
      const { file, bg } = await forgedReviewTrail();
      const r = await fieldmesh(['audit', 'review', '--audit', file, '--ack', bg.id, '--by', 'G', '--note', 'ok']);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.match(/^BROKEN/);
      const db = new Database(file, { readonly: true });
      expect(db.prepare('SELECT COUNT(*) AS n FROM fieldmesh_audit_events').get()).to.deep.equal({ n: 3 });
      db.close();
    });

    it('writes one review when two guardians acknowledge the same event at once', async () => {
      const { file } = await setup(1);
      const store = await openAuditStore(file);
      const bg = await store.append(breakGlassEntry());
      await store.close();
      const ack = (by: string) => fieldmesh(['audit', 'review', '--audit', file, '--ack', bg.id, '--by', by, '--note', 'ok']);
      const runs = await Promise.all([ack('G1'), ack('G2'), ack('G3'), ack('G4')]);
      expect(runs.filter((r) => r.code === 0)).to.have.length(1);
      for (const r of runs.filter((x) => x.code !== 0)) expect(r.stderr).to.include('has already been reviewed');
      const db = new Database(file, { readonly: true });
      expect(db.prepare("SELECT COUNT(*) AS n FROM fieldmesh_audit_events WHERE action = 'review'").get()).to.deep.equal({ n: 1 });
      db.close();
      expect((await fieldmesh(['audit', 'verify', '--audit', file])).code).to.equal(0);
    });

    it('acknowledges into the chain the trail records, whatever it is called', async () => {
      const { file } = await setup(0, { chain: 'ward-7' });
      const store = await openAuditStore(file, { chain: 'ward-7' });
      const bg = await store.append(breakGlassEntry());
      await store.close();
      const r = await fieldmesh(['audit', 'review', '--audit', file, '--ack', bg.id, '--by', 'G', '--note', 'ok', '--json']);
      expect(r.stderr).to.equal('');
      expect(r.code).to.equal(0);
      expect(JSON.parse(r.stdout)).to.deep.include({ chain: 'ward-7', seq: 2, action: 'review' });
      expect((await fieldmesh(['audit', 'verify', '--audit', file])).stdout).to.match(/^intact: 2 events in 1 chain/);
    });
  });

  describe('terminal safety of everything on stderr', () => {
    it('fails verify (and review) when the trail record names a chain with control characters, printing none of them', async () => {
      const { file, events } = await setup(0);
      const store = await openAuditStore(file);
      const bg = await store.append(breakGlassEntry());
      await store.close();
      const db = new Database(file);
      db.prepare('UPDATE fieldmesh_audit_trail SET chain = ?').run('main\u001b]0;owned\u0007\u009b2J');
      db.prepare('UPDATE fieldmesh_audit_events SET chain = ?').run('main\u001b]0;owned\u0007\u009b2J');
      db.close();
      for (const args of [['verify'], ['review'], ['review', '--ack', bg.id, '--by', 'G', '--note', 'ok']]) {
        const r = await fieldmesh(['audit', ...args, '--audit', file]);
        expect(r.code, args.join(' ')).to.equal(1);
        expect(r.stdout + r.stderr, args.join(' ')).to.not.match(CONTROL);
        expect(r.stdout, args.join(' ')).to.include("BROKEN: the trail's record names a chain no store writes");
      }
      void events;
    });

    it("escapes control characters in error messages, the CLI's own and commander's", async () => {
      const missing = await fieldmesh(['audit', 'verify', '--audit', '/nonexistent/\u001b[2J\u009b1mx.db']);
      expect(missing.code).to.equal(2);
      expect(missing.stderr).to.include('no audit trail at /nonexistent/\\u001b[2J\\u009b1mx.db');
      expect(missing.stderr).to.not.match(CONTROL);
      const bad = await fieldmesh(['audit', 'query', '--decision', 'x\u001b[2J\u0007']);
      expect(bad.code).to.equal(2);
      expect(bad.stderr).to.include('\\u001b[2J\\u0007');
      expect(bad.stderr).to.not.match(CONTROL);
    });
  });

  describe('integrity through the CLI', () => {
    it('exits 1 when values were cast to BLOBs, even on a keyed trail', async () => {
      const { file } = await setup(3, { chainKey: KEY });
      const db = new Database(file);
      db.exec(
        'UPDATE fieldmesh_audit_events SET user_sub = CAST(user_sub AS BLOB), purpose = CAST(purpose AS BLOB), ' +
          'time = CAST(time AS BLOB), decision = CAST(decision AS BLOB) WHERE seq = 2',
      );
      db.close();
      const r = await fieldmesh(['audit', 'verify', '--audit', file], { FIELDMESH_AUDIT_CHAIN_KEY: KEY });
      expect(r.code).to.equal(1);
      expect(r.stdout).to.match(/\(chain main, seq 2\): user_sub is not stored as the type the store writes/);
    });

    it("exits 1 when a keyed trail's events were replaced by another trail's under the same key", async () => {
      const a = await setup(2, { chainKey: KEY });
      const b = await setup(3, { chainKey: KEY });
      const db = new Database(a.file);
      db.exec(
        `ATTACH '${b.file}' AS b; DELETE FROM fieldmesh_audit_events; INSERT INTO fieldmesh_audit_events SELECT * FROM b.fieldmesh_audit_events`,
      );
      db.close();
      const r = await fieldmesh(['audit', 'verify', '--audit', a.file], { FIELDMESH_AUDIT_CHAIN_KEY: KEY });
      expect(r.code).to.equal(1);
      expect(r.stdout).to.include('(chain main, seq 1): prevHash mismatch');
      expect(r.stdout).to.include('copied from another trail');
      expect((await fieldmesh(['audit', 'verify', '--audit', b.file], { FIELDMESH_AUDIT_CHAIN_KEY: KEY })).code).to.equal(0);
    });
  });

  describe('second review of the trail', () => {
    const RK = 'record-key-0123456789abc';

    it('names the event (exit 1, BROKEN, JSON with --json) whose stored value cannot be rebuilt or hashed, in verify, head and review', async () => {
      const deep = `{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
      for (const set of [`roles = '[1e999]'`, `transforms = '${deep}'`]) {
        const { file, events } = await setup(3, { chainKey: KEY });
        const db = new Database(file);
        db.exec(`UPDATE fieldmesh_audit_events SET ${set} WHERE seq = 2`);
        db.close();
        for (const cmd of ['verify', 'head', 'review']) {
          const r = await fieldmesh(['audit', cmd, '--audit', file], { FIELDMESH_AUDIT_CHAIN_KEY: KEY });
          const what = `${cmd} ${set.slice(0, 20)}`;
          expect(r.code, what).to.equal(1);
          expect(r.stdout, what).to.include(`BROKEN at event ${events[1]?.id} (chain main, seq 2)`);
          expect(r.stderr, what).to.equal('');
          const json = await fieldmesh(['audit', cmd, '--audit', file, '--json'], { FIELDMESH_AUDIT_CHAIN_KEY: KEY });
          expect(json.code, what).to.equal(1);
          expect(JSON.parse(json.stdout), what).to.deep.include({ ok: false, kind: 'unreadable', seq: 2, eventId: events[1]?.id });
        }
      }
    });

    it("fails verify when a keyed trail's record-id key record was changed to make report --record find nothing", async () => {
      const { file } = await setup(3, { chainKey: KEY, recordIdKey: RK });
      const db = new Database(file);
      db.exec("UPDATE fieldmesh_audit_trail SET record_key = 'none'");
      db.close();
      const r = await fieldmesh(['audit', 'verify', '--audit', file], { FIELDMESH_AUDIT_CHAIN_KEY: KEY });
      expect(r.code).to.equal(1);
      expect(r.stdout).to.include('(chain main, seq 1): prevHash mismatch');
    });

    it('lets a guardian acknowledge on a pseudonymised trail without FIELDMESH_AUDIT_RECORD_KEY (a review names no record)', async () => {
      const { file } = await setup(1, { recordIdKey: RK });
      const store = await openAuditStore(file, { recordIdKey: RK });
      const bg = await store.append(breakGlassEntry());
      await store.close();
      const r = await fieldmesh(['audit', 'review', '--audit', file, '--ack', bg.id, '--by', 'Dr A Guardian', '--note', 'Justified']);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.include(`Acknowledged ${bg.id} by Dr A Guardian`);
      const report = await fieldmesh(['audit', 'report', '--audit', file, '--record', 'p-1002'], { FIELDMESH_AUDIT_RECORD_KEY: RK });
      expect(report.stdout)
        .to.match(/2 events/)
        .and.to.include('reviewed');
    });

    it('ends quietly with 0 when the reader closes stdout early (audit query | head -1)', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-cli-chain-'));
      dirs.push(dir);
      const file = join(dir, 'audit.db');
      const store = await openAuditStore(file);
      await Promise.all(Array.from({ length: 3000 }, (_, i) => store.append(sampleEntry({ requestId: `r-${i}` }))));
      await store.close();
      const child = spawn(process.execPath, [BIN, 'audit', 'query', '--audit', file, '--limit', '3000'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      child.stdout.once('data', () => child.stdout.destroy());
      const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
      expect(stderr).to.equal('');
      expect(code).to.equal(0);
    });

    it('escapes every ESC on stderr, also on a colour terminal: an --ack argument cannot recolour or hide text', async function () {
      const probe = await new Promise<number | null>((resolve) =>
        spawn('script', ['--version'])
          .on('close', resolve)
          .on('error', () => resolve(null)),
      );
      if (probe !== 0) this.skip(); // needs util-linux `script` for a pseudo-terminal
      const { file } = await setup(1);
      const ack = 'abcdefgh\u001b[30m\u001b[8mSECRET\u001b[2m';
      const cmd = [process.execPath, BIN, 'audit', 'review', '--audit', file, '--ack', ack, '--by', 'x', '--note', 'y']
        .map((a) => `'${a.replaceAll("'", "'\\''")}'`)
        .join(' ');
      const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color' };
      delete env['NO_COLOR'];
      const child = spawn('script', ['-qec', cmd, '/dev/null'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => {
        output += d.toString();
      });
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code).to.equal(2);
      expect(output).to.include('abcdefgh\\u001b[30m\\u001b[8mSECRET\\u001b[2m');
      expect(output).to.not.include('\u001b');
    });
  });

  describe('record-id key', () => {
    const RK = 'record-key-0123456789abc';

    it("report and query --record exit non-zero, saying why, when the record-id key is missing or not the trail's", async () => {
      const plain = await setup(2);
      const withKey = await fieldmesh(['audit', 'report', '--audit', plain.file, '--record', 'p-1002'], { FIELDMESH_AUDIT_RECORD_KEY: RK });
      expect(withKey.code).to.equal(2);
      expect(withKey.stderr).to.include(
        'this trail stores record ids as they are, but a record-id key (FIELDMESH_AUDIT_RECORD_KEY) is set',
      );
      expect((await fieldmesh(['audit', 'report', '--audit', plain.file, '--record', 'p-1002'])).stdout).to.match(/2 events/);
      const keyed = await setup(2, { recordIdKey: RK });
      for (const env of [{}, { FIELDMESH_AUDIT_RECORD_KEY: 'another-record-key-012345' }]) {
        for (const cmd of [
          ['report', '--record', 'p-1002'],
          ['query', '--record', 'p-1002'],
        ]) {
          const r = await fieldmesh(['audit', ...cmd, '--audit', keyed.file], env);
          expect(r.code, cmd.join(' ')).to.equal(2);
          expect(r.stderr).to.match(/set FIELDMESH_AUDIT_RECORD_KEY|not the key this trail was started with/);
        }
      }
      expect(
        (await fieldmesh(['audit', 'report', '--audit', keyed.file, '--record', 'p-1002'], { FIELDMESH_AUDIT_RECORD_KEY: RK })).stdout,
      ).to.match(/2 events/);
    });
  });
});
