import { expect } from 'chai';
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { openAuditStore } from '../../../src/audit/open.js';
import { COLUMNS, toRow } from '../../../src/audit/row.js';
import { FieldmeshError } from '../../../src/lib/errors.js';
import { sampleEntry } from '../entries.js';
import { storeContract, type Trail } from '../store-contract.js';

const run = promisify(execFile);
const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-audit-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function unavailable(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'resolved',
    (e: unknown) => (e instanceof FieldmeshError ? e.code : `unexpected: ${String(e)}`),
  );
}

describe('audit/sqlite', () => {
  storeContract(async (): Promise<Trail> => {
    const file = join(tempDir(), 'audit.db');
    const raw = () => new Database(file);
    const tables = (sql: string) => sql.replaceAll('$M', 'fieldmesh_audit_trail').replaceAll('$T', 'fieldmesh_audit_events');
    return {
      open: (opts) => openAuditStore({ sqlite: file }, opts),
      async sql(statements) {
        const db = raw();
        db.exec(tables(statements));
        db.close();
      },
      async rows(statement) {
        const db = raw();
        const rows = db.prepare(tables(statement)).all() as Record<string, unknown>[];
        db.close();
        return rows;
      },
      async insert(event) {
        const db = raw();
        db.prepare(`INSERT INTO fieldmesh_audit_events (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`).run(
          toRow(event),
        );
        db.close();
      },
    };
  });

  describe('stored types', () => {
    it('fails verify when a value is stored as a BLOB (or another type) where the store writes text, even on a keyed trail', async () => {
      const cases = [
        'user_sub = CAST(user_sub AS BLOB), purpose = CAST(purpose AS BLOB), time = CAST(time AS BLOB), decision = CAST(decision AS BLOB)',
        'time = CAST(time AS BLOB)',
        'chain = CAST(chain AS BLOB)',
        'record_ids = CAST(record_ids AS BLOB)',
        'status = CAST(status AS BLOB)',
        'seq = 2.5',
      ];
      for (const set of cases) {
        const file = join(tempDir(), 'audit.db');
        const store = await openAuditStore(file, { chainKey: 'chain-key-0123456789' });
        for (let i = 0; i < 3; i++) await store.append(sampleEntry({ requestId: `r-${i}`, user: `u-${i}` }));
        expect(await store.query({ user: 'u-1' }), set).to.have.length(1);
        const db = new Database(file);
        db.exec(`UPDATE fieldmesh_audit_events SET ${set} WHERE seq = 2`);
        db.close();
        const result = await store.verify();
        expect(result, set).to.deep.include({ ok: false });
        // A BLOB chain sorts after every text, so the walk meets seq 3 first: a gap, which fails just as well.
        if (!set.startsWith('chain')) {
          expect(result, set).to.deep.include({ kind: 'unreadable', seq: set.startsWith('seq') ? 2.5 : 2 });
          if (!result.ok) expect(result.reason, set).to.match(/is not stored as the type the store writes/);
        }
        await store.close();
      }
    });
  });

  describe('rows the keyset walk does not reach', () => {
    it("fails verify when UNIQUE (chain, seq) was dropped to hide a second row at a page's last seq, or a row has no seq", async () => {
      const file = join(tempDir(), 'audit.db');
      const store = await openAuditStore(file, { chainKey: 'chain-key-0123456789' });
      await Promise.all(Array.from({ length: 1000 }, (_, i) => store.append(sampleEntry({ requestId: `r-${i}` }))));
      const db = new Database(file);
      const ddl = (db.prepare("SELECT sql FROM sqlite_master WHERE name = 'fieldmesh_audit_events'").get() as { sql: string }).sql;
      const rebuild = (sql: string) =>
        db.exec(`ALTER TABLE fieldmesh_audit_events RENAME TO old; ${sql};
        INSERT INTO fieldmesh_audit_events SELECT * FROM old; DROP TABLE old`);
      rebuild(ddl.replace(/,\s*UNIQUE \(chain, seq\)/, ''));
      db.exec(`INSERT INTO fieldmesh_audit_events SELECT 'forged', chain, 1000, time, request_id, 'Dr Nobody', '[]', purpose, resource, 'review',
        'disclosed', NULL, 200, '[]', '[]', '[]', '[]', '{}', '[]', '[]', NULL, policy_version, id, 'Dr Nobody', 'fine', 'x', 'x', NULL, NULL, NULL
        FROM fieldmesh_audit_events WHERE seq = 1`);
      const dup = await store.verify();
      expect(dup).to.deep.include({ ok: false, kind: 'trail' });
      if (!dup.ok) expect(dup.reason).to.include('no longer has its UNIQUE (chain, seq) constraint');
      db.exec("DELETE FROM fieldmesh_audit_events WHERE id = 'forged'");
      rebuild(ddl.replace('seq INTEGER NOT NULL', 'seq INTEGER'));
      expect(await store.verify()).to.deep.include({ ok: true, events: 1000 });
      db.exec(`INSERT INTO fieldmesh_audit_events SELECT 'forged', chain, NULL, time, request_id, 'u-666', roles, purpose, resource, action,
        decision, code, status, record_ids, withheld_record_ids, fields_disclosed, fields_withheld, transforms, restrictions, grants, NULL,
        policy_version, NULL, NULL, NULL, 'x', 'x', NULL, NULL, NULL FROM fieldmesh_audit_events WHERE seq = 2`);
      db.close();
      // SQLite sorts NULL first, so the walk meets it at once; PostgreSQL sorts it last, where only the count finds it.
      expect(await store.verify()).to.deep.include({ ok: false, kind: 'unreadable', eventId: 'forged' });
      await store.close();
    });
  });

  describe('a trail written before the chain mode was recorded', () => {
    it('verifies as unkeyed read-only, is recorded as unkeyed on the next write, and refuses a chain key', async () => {
      const file = join(tempDir(), 'audit.db');
      const store = await openAuditStore(file);
      await store.append(sampleEntry());
      await store.close();
      const db = new Database(file);
      db.exec(`DROP TABLE fieldmesh_audit_trail; DELETE FROM fieldmesh_audit_schema WHERE version >= 2;
        ALTER TABLE fieldmesh_audit_events DROP COLUMN subject_ids; ALTER TABLE fieldmesh_audit_events DROP COLUMN withheld_subject_ids;
        ALTER TABLE fieldmesh_audit_events DROP COLUMN archives`);
      db.close();
      const reader = await openAuditStore(file, { readonly: true });
      expect(await reader.verify()).to.deep.include({ ok: true, events: 1 });
      await reader.close();
      const keyed = await openAuditStore(file, { chainKey: 'chain-key-0123456789' });
      expect(await unavailable(keyed.append(sampleEntry()))).to.equal('audit_unavailable');
      await keyed.close();
      const check = new Database(file, { readonly: true });
      expect(check.prepare('SELECT chain, keyed, key_check FROM fieldmesh_audit_trail').all()).to.deep.equal([
        { chain: 'main', keyed: 0, key_check: null },
      ]);
      check.close();
      const writer = await openAuditStore(file);
      await writer.append(sampleEntry());
      expect(await writer.verify()).to.deep.include({ ok: true, events: 2 });
      await writer.close();
    });
  });

  describe('a trail written before events recorded subjects (test/fixtures/audit)', () => {
    const KEY = 'old-trail-record-key-0123';
    const copy = (): string => {
      const file = join(tempDir(), 'audit.db');
      copyFileSync('test/fixtures/audit/trail-before-subjects.db', file);
      return file;
    };

    it('still opens read-only and verifies; a search by subject is refused saying why, a search by record still answers', async () => {
      const reader = await openAuditStore(copy(), { readonly: true, recordIdKey: KEY });
      expect(await reader.verify()).to.deep.include({ ok: true, events: 3 });
      expect((await reader.query({ recordId: 'p-1' })).map((e) => e.requestId)).to.deep.equal(['old-1', 'old-3']);
      const err = (await reader.query({ subject: 'p-1' }).catch((e: unknown) => e)) as FieldmeshError;
      expect(err).to.be.instanceOf(FieldmeshError);
      expect(err.message).to.include('written before events recorded subjects and has not been upgraded yet');
      await reader.close();
    });

    it('is upgraded by its next writer: old events still verify, new ones carry subjects and are found by them', async () => {
      const file = copy();
      const writer = await openAuditStore(file, { recordIdKey: KEY });
      await writer.append(sampleEntry({ resource: 'CaseNote', recordIds: ['n-2'], subjectIds: ['p-1'] }));
      expect(await writer.verify()).to.deep.include({ ok: true, events: 4 });
      await writer.close();
      const db = new Database(file, { readonly: true });
      expect(db.prepare('SELECT MAX(version) AS v FROM fieldmesh_audit_schema').get()).to.deep.equal({ v: 5 });
      db.close();
      const reader = await openAuditStore(file, { readonly: true, recordIdKey: KEY });
      // Events written before name no subject: only the new one is found by subject, all of them by record.
      expect((await reader.query({ subject: 'p-1' })).map((e) => e.resource)).to.deep.equal(['CaseNote']);
      expect((await reader.query({ recordId: 'p-1' })).map((e) => e.requestId)).to.deep.equal(['old-1', 'old-3']);
      const [old] = await reader.query({ limit: 4 });
      expect(old).to.not.have.property('subjectIds');
      await reader.close();
    });
  });

  describe('durability', () => {
    it('keeps the trail in WAL mode', async () => {
      const file = join(tempDir(), 'audit.db');
      const store = await openAuditStore(file);
      await store.append(sampleEntry());
      const db = new Database(file, { readonly: true });
      expect(db.pragma('journal_mode', { simple: true })).to.equal('wal');
      db.close();
      await store.close();
    });

    it('lets two processes append to one file without forking the chain or losing an event', async () => {
      const file = join(tempDir(), 'audit.db');
      const worker = (label: string) => run(process.execPath, ['--import', 'tsx', 'test/audit/append-worker.ts', file, '-', label, '100']);
      const outputs = await Promise.all([worker('a'), worker('b')]);
      expect(outputs.map((o) => o.stdout.trim())).to.deep.equal(['100', '100']);
      const store = await openAuditStore(file);
      expect(await store.verify()).to.deep.include({ ok: true, events: 200, chains: 1 });
      expect(new Set((await store.query({})).map((e) => e.requestId)).size).to.equal(200);
      await store.close();
    });
  });

  describe('when the file cannot be written', () => {
    it('rejects appends with audit_unavailable while the path is a directory, and recovers once it is not', async () => {
      const file = join(tempDir(), 'audit.db');
      mkdirSync(file);
      const store = await openAuditStore(file);
      expect(await unavailable(store.append(sampleEntry()))).to.equal('audit_unavailable');
      expect(await store.healthy()).to.equal(false);
      rmdirSync(file);
      const event = await store.append(sampleEntry());
      expect(event.seq).to.equal(1);
      expect(await store.healthy()).to.equal(true);
      await store.close();
    });

    it('rejects appends with audit_unavailable while its directory is missing, and recovers once it exists', async () => {
      const dir = join(tempDir(), 'not-yet-mounted');
      const store = await openAuditStore(join(dir, 'audit.db'));
      expect(await unavailable(store.append(sampleEntry()))).to.equal('audit_unavailable');
      mkdirSync(dir);
      expect((await store.append(sampleEntry())).seq).to.equal(1);
      await store.close();
    });

    it('rejects appends with audit_unavailable when writes fail on disk, and continues the same chain after', async function () {
      const file = join(tempDir(), 'audit.db');
      const store = await openAuditStore(file);
      await store.append(sampleEntry({ requestId: 'before' }));
      // The immutable attribute stops even root from writing (file modes do not); it needs ext4 or similar.
      const immutable = [file, `${file}-wal`];
      try {
        execFileSync('chattr', ['+i', ...immutable], { stdio: 'ignore' });
      } catch {
        this.skip();
      }
      try {
        expect(await unavailable(store.append(sampleEntry({ requestId: 'during' })))).to.equal('audit_unavailable');
        expect(await store.healthy()).to.equal(false);
      } finally {
        execFileSync('chattr', ['-i', ...immutable]);
      }
      const after = await store.append(sampleEntry({ requestId: 'after' }));
      expect(after.seq).to.equal(2);
      expect((await store.query({})).map((e) => e.requestId)).to.deep.equal(['before', 'after']);
      expect(await store.verify()).to.deep.include({ ok: true, events: 2 });
      await store.close();
    });

    it('refuses to write into a file moved away (an unmounted volume), and continues the chain once it is back', async () => {
      const dir = join(tempDir(), 'volume');
      mkdirSync(dir);
      const store = await openAuditStore(join(dir, 'audit.db'));
      await store.append(sampleEntry({ requestId: 'before' }));
      renameSync(dir, `${dir}.away`);
      expect(await unavailable(store.append(sampleEntry({ requestId: 'during' })))).to.equal('audit_unavailable');
      expect(existsSync(join(dir, 'audit.db'))).to.equal(false);
      renameSync(`${dir}.away`, dir);
      expect((await store.append(sampleEntry({ requestId: 'after' }))).seq).to.equal(2);
      expect((await store.query({})).map((e) => e.requestId)).to.deep.equal(['before', 'after']);
      expect(await store.verify()).to.deep.include({ ok: true, events: 2 });
      await store.close();
    });

    it('does not start an empty trail in place of one deleted while open', async () => {
      const file = join(tempDir(), 'audit.db');
      const store = await openAuditStore(file);
      await store.append(sampleEntry());
      for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
      expect(await unavailable(store.append(sampleEntry()))).to.equal('audit_unavailable');
      expect(await unavailable(store.append(sampleEntry()))).to.equal('audit_unavailable');
      expect(existsSync(file)).to.equal(false);
      await store.close();
    });

    it('never writes through a read-only store, and reading a missing file creates nothing', async () => {
      const file = join(tempDir(), 'audit.db');
      const writer = await openAuditStore(file);
      await writer.append(sampleEntry());
      await writer.close();
      const reader = await openAuditStore(file, { readonly: true });
      expect(await unavailable(reader.append(sampleEntry()))).to.equal('audit_unavailable');
      expect(await reader.query({})).to.have.length(1);
      await reader.close();
      const missing = join(tempDir(), 'missing.db');
      const ghost = await openAuditStore(missing, { readonly: true });
      expect(await unavailable(ghost.query({}))).to.equal('audit_unavailable');
      await ghost.close();
      expect(existsSync(missing)).to.equal(false);
    });
  });
});
