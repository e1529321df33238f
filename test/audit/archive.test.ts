/**
 * `fieldmesh audit archive` and `audit verify --archive` as they ship: the
 * built binary on real SQLite files and a real PostgreSQL schema of the
 * test's own, the trails seeded and tampered with as someone with access to
 * the database or the archive directory could.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { AuditEvent } from '../../src/audit/event.js';
import { openAuditStore } from '../../src/audit/open.js';
import { COLUMNS, toRow } from '../../src/audit/row.js';
import type { AuditStoreOptions } from '../../src/audit/types.js';
import { BIN, ROOT, fieldmesh, fieldmeshAsync, type Run } from '../cli/run.js';
import { breakGlassEntry, sampleEntry } from './entries.js';

const PG_URL = process.env.FIELDMESH_TEST_PG_URL;
const KEY = 'archive-chain-key-0123456789';
const RECORD_KEY = 'archive-record-key-0123456789';
const T = 'fieldmesh_audit_events';

/** A trail the binary is pointed at, with raw SQL on it for the tampering. */
interface Trail {
  target: string;
  sql<R>(statement: string, params?: unknown[]): Promise<R[]>;
  /** Inserts an event's row exactly as given. */
  insert(event: AuditEvent): Promise<void>;
}

interface Kind {
  name: string;
  make(dir: string): Promise<Trail>;
}

const sqlite: Kind = {
  name: 'SQLite',
  make: async (dir) => {
    const file = join(dir, 'audit.db');
    const sql = async <R>(statement: string, params: unknown[] = []): Promise<R[]> => {
      const db = new Database(file);
      try {
        const st = db.prepare(statement);
        if (st.reader) return st.all(...params) as R[];
        st.run(...params);
        return [];
      } finally {
        db.close();
      }
    };
    return {
      target: file,
      sql,
      insert: async (e) => {
        await sql(`INSERT INTO ${T} (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`, toRow(e));
      },
    };
  },
};

const schemas: string[] = [];
const postgres: Kind = {
  name: 'PostgreSQL',
  make: async () => {
    // The CLI takes only a URL, so the test's own schema travels in it (libpq `options`).
    const schema = `fm_archive_${randomBytes(6).toString('hex')}`;
    schemas.push(schema);
    const sql = async <R>(statement: string, params: unknown[] = []): Promise<R[]> => {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        await client.query(`SET search_path = ${schema}`);
        return (await client.query(statement, params)).rows as R[];
      } finally {
        await client.end();
      }
    };
    await sql(`CREATE SCHEMA ${schema}`);
    const url = new URL(PG_URL as string);
    url.searchParams.set('options', `-c search_path=${schema}`);
    return {
      target: url.toString(),
      sql,
      insert: async (e) => {
        await sql(`INSERT INTO ${T} (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`, toRow(e));
      },
    };
  },
};

/** `count` events of 2025, a minute apart, then `recent` of now. */
async function seed(trail: Trail, opts: AuditStoreOptions = {}, count = 12, recent = 3, label = 'old'): Promise<void> {
  const store = await openAuditStore(trail.target, opts);
  try {
    for (let i = 0; i < count; i++) {
      await store.append(sampleEntry({ requestId: `${label}-${i}`, time: new Date(Date.UTC(2025, 0, 1) + i * 60_000).toISOString() }));
    }
    for (let i = 0; i < recent; i++) await store.append(sampleEntry({ requestId: `recent-${label}-${i}` }));
  } finally {
    await store.close();
  }
}

/** `count` events of 2025 appended many at a time (one group commit each), then `recent` of now. */
async function seedMany(trail: Trail, count: number, recent: number): Promise<void> {
  const store = await openAuditStore(trail.target);
  try {
    for (let i = 0; i < count; i += 500) {
      const n = Math.min(500, count - i);
      await Promise.all(
        Array.from({ length: n }, (_, j) =>
          store.append(sampleEntry({ requestId: `bulk-${i + j}`, time: new Date(Date.UTC(2025, 0, 1) + (i + j) * 1000).toISOString() })),
        ),
      );
    }
    for (let i = 0; i < recent; i++) await store.append(sampleEntry({ requestId: `recent-bulk-${i}` }));
  } finally {
    await store.close();
  }
}

function cli(trail: Trail, args: string[], env: Record<string, string> = {}): Run {
  return fieldmesh(['audit', ...args, '--audit', trail.target], { env });
}

function head(trail: Trail, env: Record<string, string> = {}): string {
  const r = cli(trail, ['head'], env);
  expect(r.code, r.stderr + r.stdout).to.equal(0);
  return r.stdout.trim();
}

function lines(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('fieldmesh audit archive and verify --archive (built binary)', function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'fieldmesh-archive-'));
    dirs.push(d);
    return d;
  };
  after(async () => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    if (PG_URL !== undefined && schemas.length > 0) {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
      await client.end();
    }
  });

  for (const kind of [sqlite, postgres]) {
    describe(kind.name, () => {
      before(function () {
        if (kind === postgres && PG_URL === undefined) {
          console.log('    (skipped: needs PostgreSQL: FIELDMESH_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test npm test)');
          this.skip();
        }
      });

      it('archives the events before the date into JSON lines, leaves a checkpoint, and verifies from the genesis with the archive', async () => {
        const dir = tmp();
        const trail = await kind.make(dir);
        await seed(trail);
        const out = join(dir, 'audit-2025.jsonl');
        const r = cli(trail, ['archive', '--before', '2026-01-01', '--out', out, '--by', 'records-officer']);
        expect(r.code, r.stderr).to.equal(0);
        expect(r.stdout).to.contain('archived seq 1 to 12 (12 events)').and.contain('the live chain starts at seq 13');

        const [header, ...events] = lines(out);
        expect(header).to.include({ format: 'fieldmesh-audit-archive', version: 1, events: 12 });
        expect(events.map((e) => e.seq)).to.deep.equal(Array.from({ length: 12 }, (_, i) => i + 1));
        expect(events.map((e) => e.requestId)).to.deep.equal(Array.from({ length: 12 }, (_, i) => `old-${i}`));
        const sha = createHash('sha256').update(readFileSync(out)).digest('hex');

        const live = await trail.sql<{ seq: number | string; action: string; user_sub: string }>(
          `SELECT seq, action, user_sub FROM ${T} ORDER BY seq`,
        );
        expect(live.map((x) => Number(x.seq))).to.deep.equal([13, 14, 15, 16]);
        expect(live[3]).to.include({ action: 'archive', user_sub: 'records-officer' });

        const plain = cli(trail, ['verify']);
        expect(plain.code, plain.stdout).to.equal(0);
        const archivedHash = (header as { to: { hash: string } }).to.hash;
        expect(plain.stdout).to.contain(`the live chain starts at seq 13, after 1 archive ending at seq 12 hash ${archivedHash}`);
        expect(plain.stdout).to.contain(`seq 1 to 12  audit-2025.jsonl  sha256 ${sha}`);
        expect(plain.stdout).to.contain('archives not checked');

        const full = cli(trail, ['verify', '--archive', out, '--json']);
        expect(full.code, full.stdout).to.equal(0);
        const result = JSON.parse(full.stdout) as {
          ok: boolean;
          archived: { seq: number; verified: string[]; archives: { sha256: string }[] };
        };
        expect(result.ok).to.equal(true);
        expect(result.archived.seq).to.equal(12);
        expect(result.archived.verified).to.deep.equal([out]);
        expect(result.archived.archives[0]?.sha256).to.equal(sha);
        // head and review keep working on the live chain
        expect(head(trail)).to.match(/^16:[0-9a-f]{64}$/);
        expect(cli(trail, ['review']).stdout).to.contain('No break-glass events awaiting review.');
      });

      it('archives every live event (a quiet trail): the checkpoint chains after the head, appends and a second archive go on', async () => {
        const dir = tmp();
        const trail = await kind.make(dir);
        await seed(trail, {}, 20, 0);
        const headBefore = head(trail); // 20:…
        const out = join(dir, 'all.jsonl');
        const r = cli(trail, ['archive', '--before', '2026-01-01', '--out', out]);
        expect(r.code, r.stderr).to.equal(0);
        expect(r.stdout).to.contain('archived seq 1 to 20 (20 events)').and.contain('at seq 21; the live chain starts at seq 21');
        const [cp] = await trail.sql<{ seq: number | string; prev_hash: string }>(`SELECT seq, prev_hash FROM ${T}`);
        expect(Number(cp?.seq)).to.equal(21);
        expect(cp?.prev_hash).to.equal(headBefore.split(':')[1]);
        const plain = cli(trail, ['verify']);
        expect(plain.code, plain.stdout).to.equal(0);
        expect(cli(trail, ['verify', '--archive', out]).code).to.equal(0);
        const store = await openAuditStore(trail.target);
        const next = await store.append(sampleEntry({ requestId: 'after' })).finally(() => store.close());
        expect(next.seq).to.equal(22);
        // everything again, the first checkpoint with it: a second checkpoint at seq 23 lists both archives
        const out2 = join(dir, 'all-2.jsonl');
        const again = cli(trail, ['archive', '--before', new Date().toISOString(), '--out', out2]);
        expect(again.code, again.stderr).to.equal(0);
        expect(again.stdout).to.contain('archived seq 21 to 22 (2 events)').and.contain('at seq 23');
        const both = cli(trail, ['verify', '--archive', out, '--archive', out2]);
        expect(both.code, both.stdout).to.equal(0);
        expect(both.stdout).to.contain('after 2 archives');
        expect(cli(trail, ['verify']).code).to.equal(0);
      });

      it('verify reads one consistent view: an archive committing between two of its pages is not a gap', async () => {
        const dir = tmp();
        const trail = await kind.make(dir);
        await seedMany(trail, 2500, 2);
        const out = join(dir, 'mid-walk.jsonl');
        const store = await openAuditStore(trail.target, { readonly: true });
        let archived: Run | undefined;
        try {
          // After the first page of the walk (1000 events), the binary archives and commits while the walk waits.
          const result = await store.verify((done) => {
            if (done === 1000 && archived === undefined) {
              archived = cli(trail, ['archive', '--before', '2026-01-01', '--out', out]);
            }
          });
          expect(archived?.code, archived?.stderr).to.equal(0);
          expect(archived?.stdout).to.contain('archived seq 1 to 2500');
          expect(result.ok, JSON.stringify(result)).to.equal(true);
          expect(result.ok && result.events).to.equal(2502); // the trail as it was when the walk began
        } finally {
          await store.close();
        }
        const after = cli(trail, ['verify', '--archive', out]);
        expect(after.code, after.stdout).to.equal(0);
      });

      it('verify in a loop while archives run (child processes): never BROKEN; of concurrent archives one wins, the others exit 0 or 2', async () => {
        const dir = tmp();
        const trail = await kind.make(dir);
        await seedMany(trail, 3000, 2);
        const outs = [1, 2, 3, 4].map((i) => join(dir, `race-${i}.jsonl`));
        const archives = Promise.all(
          outs.map((o) => fieldmeshAsync(['audit', 'archive', '--before', '2026-01-01', '--out', o, '--audit', trail.target])),
        );
        let finished = false;
        void archives.then(() => (finished = true));
        const verifies: Run[] = [];
        // Verify until every archive has exited (a condition, not a time limit), two at a time.
        while (!finished || verifies.length === 0) {
          verifies.push(...(await Promise.all([1, 2].map(() => fieldmeshAsync(['audit', 'verify', '--audit', trail.target])))));
        }
        for (const v of verifies) expect(v.code, v.stdout + v.stderr).to.equal(0);
        const results = await archives;
        for (const r of results) expect([0, 2], r.stdout + r.stderr).to.include(r.code);
        const won = results.filter((r) => r.stdout.includes('archived seq 1 to 3000'));
        expect(won).to.have.length(1);
        for (const r of results.filter((x) => x.code === 2)) expect(r.stderr).to.contain('another archive');
        const kept = outs.filter((o) => existsSync(o));
        expect(kept).to.have.length(1);
        const full = cli(trail, ['verify', '--archive', kept[0] as string]);
        expect(full.code, full.stdout).to.equal(0);
      });

      it('--include-unreviewed names the break-glass events it archives; report and query say the archived seqs were not searched', async () => {
        const dir = tmp();
        const trail = await kind.make(dir);
        const store = await openAuditStore(trail.target);
        const bg = await store.append(breakGlassEntry({ time: '2025-03-01T00:00:00.000Z', recordIds: ['p-77'] }));
        await store.append(sampleEntry({ requestId: 'old', time: '2025-04-01T00:00:00.000Z', recordIds: ['p-77'] }));
        await store.append(sampleEntry({ requestId: 'now', recordIds: ['p-88'] }));
        await store.close();
        const out = join(dir, 'unreviewed.jsonl');
        const r = cli(trail, ['archive', '--before', '2026-01-01', '--out', out, '--include-unreviewed']);
        expect(r.code, r.stderr).to.equal(0);
        expect(r.stdout).to.contain(`1 break-glass event archived awaiting review`).and.contain(`: ${bg.id}`);
        const v = JSON.parse(cli(trail, ['verify', '--json']).stdout) as { archived: { archives: { unreviewed?: string[] }[] } };
        expect(v.archived.archives[0]?.unreviewed).to.deep.equal([bg.id]);
        expect(cli(trail, ['verify', '--archive', out]).code).to.equal(0);

        const report = cli(trail, ['report', '--record', 'p-77', '--by', 'dpo']);
        expect(report.code, report.stderr).to.equal(0);
        expect(report.stdout).to.contain('No access to record p-77 is recorded.');
        expect(report.stdout).to.contain('seq 1 to 2 are archived (unreviewed.jsonl) and were not searched');
        const json = JSON.parse(cli(trail, ['report', '--record', 'p-77', '--json', '--by', 'dpo']).stdout) as Record<string, unknown>;
        expect(json.notSearched).to.deep.equal({ seq: [1, 2], archives: ['unreviewed.jsonl'] });
        const query = cli(trail, ['query', '--user', 'u-9001', '--by', 'dpo']);
        expect(query.code, query.stderr).to.equal(0);
        expect(query.stdout).to.contain('No matching events.');
        expect(query.stderr).to.contain('seq 1 to 2 are archived (unreviewed.jsonl) and were not searched');
      });

      it('fails verify when the archive or the live trail is tampered with, naming the event, the file or the missing range', async () => {
        const dir = tmp();
        const trail = await kind.make(dir);
        await seed(trail);
        const out = join(dir, 'a.jsonl');
        expect(cli(trail, ['archive', '--before', '2026-01-01', '--out', out]).code).to.equal(0);
        const original = readFileSync(out, 'utf8');
        const [, ...events] = lines(out);
        const fifth = events[4] as unknown as AuditEvent;

        // an event edited in the archive: named, with the file
        writeFileSync(out, original.replace('"user":"u-4411"', '"user":"u-9999"'));
        const edited = cli(trail, ['verify', '--archive', out]);
        expect(edited.code).to.equal(1);
        expect(edited.stdout).to.contain(
          `BROKEN in archive ${out} at event ${(events[0] as { id: string }).id} (chain main, seq 1): hash mismatch`,
        );
        // the same bytes but for a key added to the header: the SHA-256 the trail recorded no longer matches
        writeFileSync(out, original.replace('"version":1}', '"version":1,"note":"x"}'));
        const header = cli(trail, ['verify', '--archive', out]);
        expect(header.code).to.equal(1);
        expect(header.stdout).to.contain('is not the file archived as a.jsonl: its SHA-256');
        // an event removed from the archive
        writeFileSync(out, original.replace(`${JSON.stringify(JSON.parse(original.split('\n')[5] as string))}\n`, ''));
        const removed = cli(trail, ['verify', '--archive', out]);
        expect(removed.code).to.equal(1);
        expect(removed.stdout).to.contain('seq gap: expected seq 5, found 6');

        // the archive deleted: verify --archive names the range it misses
        rmSync(out);
        const other = join(dir, 'other.jsonl');
        const trail2 = await kind.make(tmp());
        await seed(trail2);
        expect(cli(trail2, ['archive', '--before', '2026-01-01', '--out', other]).code).to.equal(0);
        const foreign = cli(trail, ['verify', '--archive', other]);
        expect(foreign.code).to.equal(1);
        expect(foreign.stdout).to.contain('is an archive of another trail');
        const none = cli(trail, ['verify', '--archive', join(dir, 'missing.jsonl')]);
        expect(none.code).to.equal(1);
        expect(none.stdout).to.contain('cannot read');
        writeFileSync(out, original);
        expect(cli(trail, ['verify', '--archive', out]).code).to.equal(0);

        // an archived row put back into the live trail
        await trail.insert(fifth);
        const back = cli(trail, ['verify']);
        expect(back.code).to.equal(1);
        expect(back.stdout).to.contain(`seq 5 is archived: the chain starts at seq 13`);
        await trail.sql(`DELETE FROM ${T} WHERE seq = 5`);
        expect(cli(trail, ['verify']).code).to.equal(0);

        // the checkpoint edited to start elsewhere, or deleted
        const [cp] = await trail.sql<{ archives: string }>(
          `SELECT archives::text AS archives FROM ${T} WHERE action = 'archive'`.replace('::text', kind === sqlite ? '' : '::text'),
        );
        const list = JSON.parse(cp?.archives as string) as { to: { seq: number } }[];
        (list[0] as { to: { seq: number } }).to.seq = 11;
        await trail.sql(`UPDATE ${T} SET archives = ${kind === sqlite ? '?' : '$1::jsonb'} WHERE action = 'archive'`, [
          JSON.stringify(list),
        ]);
        const moved = cli(trail, ['verify']);
        expect(moved.code).to.equal(1);
        expect(moved.stdout).to.contain('BROKEN');
        await trail.sql(`UPDATE ${T} SET archives = ${kind === sqlite ? '?' : '$1::jsonb'} WHERE action = 'archive'`, [cp?.archives]);
        expect(cli(trail, ['verify']).code).to.equal(0);
        // a live row after the checkpoint's start deleted
        const [row13] = await trail.sql<Record<string, unknown>>(`SELECT id FROM ${T} WHERE seq = 13`);
        const saved = (await openAuditStore(trail.target, { readonly: true }).then(async (st) => {
          try {
            return (await st.query({})).find((e) => e.id === row13?.id);
          } finally {
            await st.close();
          }
        })) as AuditEvent;
        await trail.sql(`DELETE FROM ${T} WHERE seq = 13`);
        const cut = cli(trail, ['verify']);
        expect(cut.code).to.equal(1);
        expect(cut.stdout).to.contain('seq gap: expected seq 13, found 14');
        await trail.insert(saved);
        expect(cli(trail, ['verify']).code).to.equal(0);
        await trail.sql(`DELETE FROM ${T} WHERE action = 'archive'`);
        const gone = cli(trail, ['verify']);
        expect(gone.code).to.equal(1);
        expect(gone.stdout).to.contain('seq gap: expected seq 1, found 13: 12 events were deleted before it');
      });

      it('keyed chain: the archive holds no key and verifying it needs the key', async () => {
        const dir = tmp();
        const trail = await kind.make(dir);
        await seed(trail, { chainKey: KEY, recordIdKey: RECORD_KEY });
        const env = { FIELDMESH_AUDIT_CHAIN_KEY: KEY, FIELDMESH_AUDIT_RECORD_KEY: RECORD_KEY };
        const out = join(dir, 'keyed.jsonl');
        expect(cli(trail, ['archive', '--before', '2026-01-01', '--out', out], { FIELDMESH_AUDIT_CHAIN_KEY: KEY }).code).to.equal(0);
        const text = readFileSync(out, 'utf8');
        expect(text).not.to.contain(KEY).and.not.to.contain(RECORD_KEY);
        // record ids stay as stored: pseudonyms, never the raw id
        expect(text).not.to.contain('p-1002');
        expect((lines(out)[1] as { recordIds: string[] }).recordIds[0]).to.match(/^[0-9a-f]{32}$/);
        expect(cli(trail, ['verify', '--archive', out], env).code).to.equal(0);
        const keyless = cli(trail, ['verify', '--archive', out]);
        expect(keyless.code).to.equal(1);
        expect(keyless.stdout).to.contain('this trail is keyed');
        const wrong = cli(trail, ['verify', '--archive', out], { FIELDMESH_AUDIT_CHAIN_KEY: 'another-key-0123456789abc' });
        expect(wrong.code).to.equal(1);
        // a forged archive event, rehashed without the key, is caught
        const forged = text.replace('"user":"u-4411"', '"user":"u-0000"');
        writeFileSync(out, forged);
        expect(cli(trail, ['verify', '--archive', out], env).stdout).to.contain('hash mismatch');
        // report --record still finds the live events of that record
        expect(cli(trail, ['report', '--record', 'p-1002', '--json'], env).code).to.equal(0);
      });

      it('refuses to archive an unreviewed break-glass event unless told to, and keeps the review queue working', async () => {
        const dir = tmp();
        const trail = await kind.make(dir);
        const store = await openAuditStore(trail.target);
        await store.append(sampleEntry({ requestId: 'a', time: '2025-02-01T00:00:00.000Z' }));
        const bg = await store.append(breakGlassEntry({ time: '2025-03-01T00:00:00.000Z' }));
        await store.append(sampleEntry({ requestId: 'b', time: '2025-04-01T00:00:00.000Z' }));
        await store.close();
        const out = join(dir, 'bg.jsonl');
        const refused = cli(trail, ['archive', '--before', '2026-01-01', '--out', out]);
        expect(refused.code).to.equal(3);
        expect(refused.stderr).to.contain(`the oldest ${bg.id} (seq 2`).and.contain('--include-unreviewed');
        expect(existsSync(out)).to.equal(false);
        expect(head(trail)).to.match(/^3:/);
        // archiving before it is fine
        expect(cli(trail, ['archive', '--before', '2025-02-15', '--out', join(dir, 'jan.jsonl')]).code).to.equal(0);
        expect(cli(trail, ['review']).stdout).to.contain(bg.id);
        // acknowledged, it may go
        expect(cli(trail, ['review', '--ack', bg.id, '--by', 'Dr G', '--note', 'justified']).code).to.equal(0);
        expect(cli(trail, ['archive', '--before', '2026-01-01', '--out', out]).code).to.equal(0);
        expect(cli(trail, ['review']).stdout).to.contain('No break-glass events awaiting review.');
        const both = cli(trail, ['verify', '--archive', join(dir, 'jan.jsonl'), '--archive', out]);
        expect(both.code, both.stdout).to.equal(0);
        expect(both.stdout).to.contain('after 2 archives');
      });

      it('archives while another process appends: no event lost, none forked', async () => {
        const dir = tmp();
        const trail = await kind.make(dir);
        await seed(trail, {}, 400, 1);
        const worker = spawn(process.execPath, ['--import', 'tsx', 'test/audit/append-worker.ts', trail.target, '-', 'live', '1000'], {
          cwd: ROOT,
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let appended = '';
        worker.stdout.on('data', (d: Buffer) => (appended += d.toString()));
        const exited = new Promise<number | null>((resolve) => worker.on('exit', resolve));
        // Start archiving once the other process is appending (a condition, not a time limit).
        for (;;) {
          const [n] = await trail.sql<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${T}`);
          if (Number(n?.n) > 420) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        const out = join(dir, 'concurrent.jsonl');
        const archived = await fieldmeshAsync(['audit', 'archive', '--before', '2026-01-01', '--out', out, '--audit', trail.target]);
        expect(await exited).to.equal(0);
        expect(archived.code, archived.stderr).to.equal(0);
        expect(appended.trim()).to.equal('1000');
        const verified = cli(trail, ['verify', '--archive', out]);
        expect(verified.code, verified.stdout).to.equal(0);
        const inArchive = lines(out)
          .slice(1)
          .map((e) => e.requestId);
        const live = (await trail.sql<{ request_id: string }>(`SELECT request_id FROM ${T} WHERE action <> 'archive'`)).map(
          (x) => x.request_id,
        );
        const all = [...inArchive, ...live];
        expect(new Set(all).size).to.equal(all.length);
        expect(all.filter((id) => String(id).startsWith('old-'))).to.have.length(400);
        expect(all.filter((id) => String(id).startsWith('live-'))).to.have.length(1000);
        expect(inArchive).to.have.length(400);
      });
    });
  }

  describe('SQLite: bad input and faults leave the trail unchanged', () => {
    it('a file that exists: exit 2, nothing written', async () => {
      const dir = tmp();
      const trail = await sqlite.make(dir);
      await seed(trail);
      const out = join(dir, 'there.jsonl');
      writeFileSync(out, 'keep me\n');
      const before = head(trail);
      const r = cli(trail, ['archive', '--before', '2026-01-01', '--out', out]);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.contain('exists: an archive never replaces a file');
      expect(readFileSync(out, 'utf8')).to.equal('keep me\n');
      expect(head(trail)).to.equal(before);
    });

    it('a full disk (file size limit, EFBIG): exit 2, trail unchanged, no file or temporary file left', async () => {
      const dir = tmp();
      const trail = await sqlite.make(dir);
      await seed(trail, {}, 200, 2);
      const before = head(trail);
      const out = join(dir, 'full.jsonl');
      // 64 KiB: the trail's own files (the WAL index is 32 KiB) fit, the archive of 200 events does not.
      const r = spawnSync(
        'bash',
        [
          '-c',
          `trap "" XFSZ; ulimit -f 64; exec "${process.execPath}" "${BIN}" audit archive --before 2026-01-01 --out "${out}" --audit "${trail.target}"`,
        ],
        { encoding: 'utf8', env: { PATH: process.env.PATH, NO_COLOR: '1' } },
      );
      expect(r.status, r.stderr).to.equal(2);
      expect(r.stderr).to.match(/EFBIG|too large/i);
      expect(readdirSync(dir).filter((f) => f.endsWith('.jsonl') || f.endsWith('.tmp'))).to.deep.equal([]);
      expect(head(trail)).to.equal(before);
      expect(cli(trail, ['verify']).stdout).not.to.contain('archive');
      // and once there is room, it archives
      expect(cli(trail, ['archive', '--before', '2026-01-01', '--out', out]).code).to.equal(0);
    });

    it('nothing to archive: exit 0, no file; a date in the future or malformed: exit 2', async () => {
      const dir = tmp();
      const trail = await sqlite.make(dir);
      await seed(trail);
      const before = head(trail);
      const out = join(dir, 'x.jsonl');
      const nothing = cli(trail, ['archive', '--before', '2024-01-01', '--out', out]);
      expect(nothing.code).to.equal(0);
      expect(nothing.stdout).to.contain("Nothing to archive: the live chain's first event (seq 1) is not before 2024-01-01");
      const future = cli(trail, ['archive', '--before', '2999-01-01', '--out', out]);
      expect(future.code).to.equal(2);
      expect(future.stderr).to.contain('not in the future');
      const malformed = cli(trail, ['archive', '--before', 'last-year', '--out', out]);
      expect(malformed.code).to.equal(2);
      expect(malformed.stderr).to.contain('expected a date');
      expect(cli(trail, ['archive', '--out', out]).code).to.equal(2);
      expect(existsSync(out)).to.equal(false);
      expect(head(trail)).to.equal(before);
    });

    it('--include-unreviewed archives a break-glass event awaiting review, which then leaves the queue', async () => {
      const dir = tmp();
      const trail = await sqlite.make(dir);
      const store = await openAuditStore(trail.target);
      const bg = await store.append(breakGlassEntry({ time: '2025-03-01T00:00:00.000Z' }));
      await store.append(sampleEntry({ requestId: 'now' }));
      await store.close();
      expect(cli(trail, ['review']).stdout).to.contain(bg.id);
      const out = join(dir, 'u.jsonl');
      const r = cli(trail, ['archive', '--before', '2026-01-01', '--out', out, '--include-unreviewed']);
      expect(r.code, r.stderr).to.equal(0);
      expect(lines(out)[1]).to.include({ id: bg.id });
      expect(cli(trail, ['review']).stdout).to.contain('No break-glass events awaiting review.');
      expect(cli(trail, ['verify', '--archive', out]).code).to.equal(0);
    });

    it('a broken trail is not archived (exit 1)', async () => {
      const dir = tmp();
      const trail = await sqlite.make(dir);
      await seed(trail);
      await trail.sql(`UPDATE ${T} SET user_sub = 'someone-else' WHERE seq = 3`);
      const r = cli(trail, ['archive', '--before', '2026-01-01', '--out', join(dir, 'b.jsonl')]);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.contain('BROKEN at event').and.contain('seq 3');
      expect(existsSync(join(dir, 'b.jsonl'))).to.equal(false);
    });

    it('--expect-head: an archived head is checked in its archive; a rewritten one fails there', async () => {
      const dir = tmp();
      const trail = await sqlite.make(dir);
      await seed(trail, {}, 12, 0);
      const recorded = head(trail); // 12:…
      const out = join(dir, 'e.jsonl');
      await seed(trail, {}, 0, 2, 'more');
      expect(cli(trail, ['archive', '--before', '2026-01-01', '--out', out]).code).to.equal(0);
      const [seq] = recorded.split(':');
      expect(seq).to.equal('12');
      expect(cli(trail, ['verify', '--expect-head', recorded]).code).to.equal(0); // the archive's end is the live chain's start
      const mid = `5:${(lines(out)[5] as { hash: string }).hash}`;
      const without = cli(trail, ['verify', '--expect-head', mid]);
      expect(without.code).to.equal(1);
      expect(without.stdout).to.contain('the expected head at seq 5 is archived');
      expect(cli(trail, ['verify', '--expect-head', mid, '--archive', out]).code).to.equal(0);
      const rewritten = cli(trail, ['verify', '--expect-head', `5:${'a'.repeat(64)}`, '--archive', out]);
      expect(rewritten.code).to.equal(1);
      expect(rewritten.stdout).to.contain('not the expected head');
    });

    it('append refuses an archive event: only archiving writes a checkpoint', async () => {
      const trail = await sqlite.make(tmp());
      const store = await openAuditStore(trail.target);
      try {
        let error: unknown;
        await store.append(sampleEntry({ action: 'archive' })).catch((e: unknown) => (error = e));
        expect(error).to.be.instanceOf(TypeError);
        expect(String(error)).to.contain('archive events are written only by archiving the trail');
      } finally {
        await store.close();
      }
    });
  });
});
