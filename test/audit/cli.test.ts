import { expect } from 'chai';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { AuditEvent } from '../../src/audit/event.js';
import { openAuditStore } from '../../src/audit/open.js';
import type { AuditStoreOptions } from '../../src/audit/types.js';
import { fieldmeshAsync, type Run } from '../cli/run.js';
import { breakGlassEntry, sampleEntry } from './entries.js';

/** Runs the built `fieldmesh audit …` in a child process: real exit codes, real stdout (not a TTY). */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return fieldmeshAsync(['audit', ...args], { env });
}

describe('cli/audit', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** A trail where a nurse read p-1002, a consultant broke glass for it, and a porter was refused it. */
  async function setup(opts: AuditStoreOptions = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-cli-'));
    dirs.push(dir);
    const file = join(dir, 'audit.db');
    const store = await openAuditStore(file, opts);
    const events: AuditEvent[] = [
      await store.append(sampleEntry({ time: '2026-03-01T14:02:11Z', transforms: { dateOfBirth: 'year' } })),
      await store.append(breakGlassEntry({ time: '2026-03-02T03:12:44Z' })),
      await store.append(
        sampleEntry({
          time: '2026-03-03T10:00:00Z',
          user: 'u-7',
          roles: ['porter'],
          decision: 'refused',
          code: 'purpose_not_granted',
          status: 403,
          recordIds: [],
          withheldRecordIds: ['p-1002'],
          fieldsDisclosed: [],
        }),
      ),
      await store.append(sampleEntry({ time: '2026-03-04T08:00:00Z', recordIds: ['p-2000'] })),
    ];
    await store.close();
    return { file, events };
  }

  describe('verify', () => {
    it('exits 0 on an intact trail, printing the counts and the head hash', async () => {
      const { file, events } = await setup();
      const r = await cli(['verify', '--audit', file]);
      expect(r.code).to.equal(0);
      expect(r.stdout).to.equal(`intact: 4 events in 1 chain\n  chain main  head seq 4  hash ${events[3]?.hash}  (4 events)\n`);
    });

    it('exits 1 naming the first broken event and why', async () => {
      const { file, events } = await setup();
      const db = new Database(file);
      db.exec('DELETE FROM fieldmesh_audit_events WHERE seq = 2');
      db.close();
      const r = await cli(['verify', '--audit', file]);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.include(`BROKEN at event ${events[2]?.id} (chain main, seq 3)`);
      expect(r.stdout).to.include('1 event was deleted before it');
    });

    it('prints the result as JSON with --json', async () => {
      const { file } = await setup();
      const r = await cli(['verify', '--audit', file, '--json']);
      expect(JSON.parse(r.stdout)).to.deep.include({ ok: true, events: 4, chains: 1 });
    });

    it('reads the trail named by FIELDMESH_AUDIT when no --audit is given', async () => {
      const { file } = await setup();
      const r = await cli(['verify'], { FIELDMESH_AUDIT: file });
      expect(r.code).to.equal(0);
      expect(r.stdout).to.match(/^intact: 4 events/);
    });
  });

  describe('query', () => {
    it('prints an aligned plain table, oldest first, when stdout is not a terminal', async () => {
      const { file, events } = await setup();
      const r = await cli(['query', '--audit', file]);
      expect(r.code).to.equal(0);
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines[0]).to.match(/^TIME {18}EVENT {5}USER {4}PURPOSE {6}RESOURCE {2}ACTION {2}DECISION {23}RECORDS {12}BREAK-GLASS$/);
      expect(lines[1]).to.equal(
        `2026-03-01 14:02:11Z  ${events[0]?.id.slice(0, 8)}  u-4411  direct-care  Patient   read    disclosed                      p-1002`,
      );
      expect(lines[3]).to.include('refused (purpose_not_granted)  p-1002 (withheld)');
      expect(lines.at(-1)).to.equal('4 events');
      expect(r.stdout).to.not.include('\u001b[');
    });

    it('filters by user, decision, break-glass, record, time and limit', async () => {
      const { file, events } = await setup();
      const ids = async (...args: string[]) =>
        (JSON.parse((await cli(['query', '--audit', file, '--json', ...args])).stdout) as AuditEvent[]).map((e) => e.seq);
      const [user, decision, breakGlass, noBreakGlass, record, purpose, window, limit] = await Promise.all([
        ids('--user', 'u-7'),
        ids('--decision', 'refused'),
        ids('--break-glass'),
        // Each query is recorded (resource AuditEvent, now): these two filter those records out.
        ids('--no-break-glass', '--resource', 'Patient'),
        ids('--record', 'p-1002'),
        ids('--purpose', 'emergency'),
        ids('--since', '2026-03-02', '--until', '2026-03-03'),
        ids('--limit', '2', '--resource', 'Patient'),
      ]);
      expect(user).to.deep.equal([3]);
      expect(decision).to.deep.equal([3]);
      expect(breakGlass).to.deep.equal([2]);
      expect(noBreakGlass).to.deep.equal([1, 3, 4]);
      expect(record).to.deep.equal([1, 2, 3]);
      expect(purpose).to.deep.equal([2]);
      expect(window).to.deep.equal([2, 3]);
      expect(limit).to.deep.equal([3, 4]);
      expect(events).to.have.length(4);
    });

    it('says so when nothing matches', async () => {
      const { file } = await setup();
      const r = await cli(['query', '--audit', file, '--user', 'nobody']);
      expect(r).to.deep.include({ code: 0, stdout: 'No matching events.\n' });
    });
  });

  describe('review', () => {
    it('lists break-glass events awaiting review, and an acknowledged one no longer', async () => {
      const { file, events } = await setup();
      const bg = events[1] as AuditEvent;
      const listed = await cli(['review', '--audit', file]);
      expect(listed.code).to.equal(0);
      expect(listed.stdout).to.include(bg.id);
      expect(listed.stdout).to.include('Unconscious on arrival, no consent possible');
      expect(listed.stdout).to.include('1 break-glass event awaiting review');

      const ack = await cli(['review', '--audit', file, '--ack', bg.id.slice(0, 8), '--by', 'Dr A Guardian', '--note', 'Justified']);
      expect(ack.code).to.equal(0);
      expect(ack.stdout).to.match(new RegExp(`^Acknowledged ${bg.id} by Dr A Guardian \\(review event [0-9a-f-]{36}, seq 5\\)`));

      expect((await cli(['review', '--audit', file])).stdout).to.equal('No break-glass events awaiting review.\n');
      expect((await cli(['verify', '--audit', file])).stdout).to.match(/^intact: 5 events/);
    });

    it('refuses --ack without --by and --note, with exit 2', async () => {
      const { file, events } = await setup();
      const r = await cli(['review', '--audit', file, '--ack', events[1]?.id as string, '--by', 'G']);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.equal('fieldmesh audit review: --ack needs --by NAME and --note TEXT\n');
    });

    it('refuses to acknowledge an event that is not break-glass, with exit 2', async () => {
      const { file, events } = await setup();
      const r = await cli(['review', '--audit', file, '--ack', events[0]?.id as string, '--by', 'G', '--note', 'n']);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('is not a break-glass event');
    });
  });

  describe('report', () => {
    it('answers a subject access request: who, when, which purpose, which fields', async () => {
      const { file } = await setup();
      const r = await cli(['report', '--audit', file, '--record', 'p-1002']);
      expect(r.code).to.equal(0);
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines[0]).to.equal('Access to record p-1002: 3 events by 3 users, 2026-03-01 14:02:11Z to 2026-03-03 10:00:00Z');
      expect(lines[2]).to.match(
        /^2026-03-01 14:02:11Z +u-4411 +nurse +direct-care +read +disclosed +id, name, dateOfBirth \(year\), ward$/,
      );
      expect(lines[3]).to.match(/u-9001 +ed-consultant +emergency +read +disclosed +id, name, diagnoses +break-glass, awaiting review$/);
      expect(lines[4]).to.match(/u-7 +porter +direct-care +read +refused \(purpose_not_granted\)$/);
      expect(r.stdout).to.not.include('p-2000');
    });

    it('finds a record in a pseudonymised trail given the key, and refuses (exit 2) without it rather than report nothing', async () => {
      const { file } = await setup({ recordIdKey: 'audit-key-of-16-chars+' });
      const keyed = await cli(['report', '--audit', file, '--record', 'p-1002', '--json'], {
        FIELDMESH_AUDIT_RECORD_KEY: 'audit-key-of-16-chars+',
      });
      const report = JSON.parse(keyed.stdout) as { events: { outcome: string; user: string }[] };
      expect(report.events.map((e) => `${e.user}:${e.outcome}`)).to.deep.equal(['u-4411:disclosed', 'u-9001:disclosed', 'u-7:refused']);
      const unkeyed = await cli(['report', '--audit', file, '--record', 'p-1002']);
      expect(unkeyed.code).to.equal(2);
      expect(unkeyed.stdout).to.equal('');
      expect(unkeyed.stderr).to.include('this trail stores record ids as keyed pseudonyms: set FIELDMESH_AUDIT_RECORD_KEY');
    });

    it('by subject: every resource that disclosed or withheld a record about the person, with its resource', async () => {
      const { file } = await setup();
      const store = await openAuditStore(file);
      const note = { resource: 'CaseNote', fieldsDisclosed: ['id', 'subjectId', 'text'], fieldsWithheld: [] };
      await store.append(sampleEntry({ ...note, time: '2026-03-05T09:00:00Z', recordIds: ['n-1', 'n-2'], subjectIds: ['p-1002', 'p-7'] }));
      // A list that disclosed p-7's note and withheld p-1002's: nothing about p-1002 was disclosed.
      await store.append(
        sampleEntry({ ...note, time: '2026-03-06T09:00:00Z', recordIds: ['n-3'], subjectIds: ['p-7'], withheldSubjectIds: ['p-1002'] }),
      );
      await store.close();
      const r = await cli(['report', '--audit', file, '--subject', 'p-1002']);
      expect(r.code, r.stderr).to.equal(0);
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines[0]).to.equal('Access to records about p-1002: 2 events by 1 user, 2026-03-05 09:00:00Z to 2026-03-06 09:00:00Z');
      expect(lines[2]).to.match(/u-4411 +nurse +direct-care +CaseNote +read +disclosed +id, subjectId, text$/);
      expect(lines[3]).to.match(/u-4411 +nurse +direct-care +CaseNote +read +withheld$/);
      // The setup's Patient events name records, not subjects (written as before): they are found by --record.
      const json = JSON.parse((await cli(['report', '--audit', file, '--subject', 'p-7', '--json'])).stdout) as {
        subject: string;
        events: { resource: string; outcome: string }[];
      };
      expect(json.subject).to.equal('p-7');
      expect(json.events.map((e) => `${e.resource}:${e.outcome}`)).to.deep.equal(['CaseNote:disclosed', 'CaseNote:disclosed']);
      const none = await cli(['report', '--audit', file, '--subject', 'p-404']);
      expect(none.stdout).to.include('No access to records about p-404 is recorded.');
    });

    it('by subject on a trail written before subjects were recorded: exits 2 saying so, and --record still answers', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-cli-'));
      dirs.push(dir);
      const file = join(dir, 'audit.db');
      copyFileSync('test/fixtures/audit/trail-before-subjects.db', file);
      const env = { FIELDMESH_AUDIT_RECORD_KEY: 'old-trail-record-key-0123' };
      const r = await cli(['report', '--audit', file, '--subject', 'p-1'], env);
      expect(r.code).to.equal(2);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.include('written before events recorded subjects and has not been upgraded yet');
      const byRecord = await cli(['report', '--audit', file, '--record', 'p-1', '--json'], env);
      expect((JSON.parse(byRecord.stdout) as { events: unknown[] }).events).to.have.length(2);
      expect((await cli(['verify', '--audit', file])).code).to.equal(0);
    });

    it('requires exactly one of --record and --subject', async () => {
      const { file } = await setup();
      for (const args of [[], ['--record', 'p-1002', '--subject', 'p-1002']]) {
        const r = await cli(['report', '--audit', file, ...args]);
        expect(r.code).to.equal(2);
        expect(r.stdout).to.equal('');
        expect(r.stderr).to.equal('fieldmesh audit report: give exactly one of --record ID and --subject ID\n');
      }
    });
  });

  describe('errors and help', () => {
    it('exits 2 with a clear message when there is no trail, and creates none', async () => {
      const missing = join(mkdtempSync(join(tmpdir(), 'fieldmesh-cli-')), 'nope.db');
      dirs.push(join(missing, '..'));
      const r = await cli(['query', '--audit', missing]);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.equal(`fieldmesh audit query: no audit trail at ${missing} (pass --audit PATH|URL or set FIELDMESH_AUDIT)\n`);
      expect(existsSync(missing)).to.equal(false);
    });

    it('exits 2 on a bad option value, not 1 (which means a broken chain)', async () => {
      const { file } = await setup();
      expect((await cli(['query', '--audit', file, '--decision', 'maybe'])).code).to.equal(2);
      expect((await cli(['query', '--audit', file, '--since', 'last tuesday'])).code).to.equal(2);
      expect((await cli(['verify', '--audit', file, '--frobnicate'])).code).to.equal(2);
    });

    it('exits 2 when the PostgreSQL trail cannot be reached', async () => {
      const r = await cli(['verify', '--audit', 'postgres://fm:s3cret@127.0.0.1:1/audit']);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.match(/^fieldmesh audit verify: The audit trail postgres:\/\/127\.0\.0\.1:1\/audit cannot be read/);
      expect(r.stderr).to.not.include('s3cret');
    });

    it('has --help on every command', async () => {
      for (const cmd of ['verify', 'query', 'review', 'report']) {
        const r = await cli([cmd, '--help']);
        expect(r.code, cmd).to.equal(0);
        expect(r.stdout, cmd).to.include(`Usage: fieldmesh audit ${cmd} [options]`);
        expect(r.stdout, cmd).to.include('--audit <path|url>');
      }
      const report = await cli(['report', '--help']);
      expect(report.stdout).to.include('--subject <id>').and.include('$ fieldmesh audit report --subject p-1002');
    });
  });
});
