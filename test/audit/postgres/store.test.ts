import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import pg from 'pg';
import { startTcpProxy } from '../../../bench/lib/tcp-proxy.js';
import { COLUMNS, toRow } from '../../../src/audit/row.js';
import { openAuditStore } from '../../../src/audit/open.js';
import { FieldmeshError } from '../../../src/lib/errors.js';
import { sampleEntry } from '../entries.js';
import { storeContract, type Trail } from '../store-contract.js';

const PG_URL = process.env.FIELDMESH_TEST_PG_URL;
const run = promisify(execFile);
const schemas: string[] = [];

/** Each trail lives in its own schema, dropped at the end, so runs never meet. */
function newSchema(): string {
  const schema = `fm_audit_test_${randomBytes(6).toString('hex')}`;
  schemas.push(schema);
  return schema;
}

async function raw<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

async function unavailable(p: Promise<unknown>): Promise<FieldmeshError | string> {
  return p.then(
    () => 'resolved',
    (e: unknown) => (e instanceof FieldmeshError ? e : `unexpected: ${String(e)}`),
  );
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('audit/postgres', () => {
  before(function () {
    if (PG_URL === undefined) {
      console.log('    (skipped: needs PostgreSQL: FIELDMESH_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test npm test)');
      this.skip();
    }
  });
  after(async () => {
    if (PG_URL === undefined) return;
    for (const schema of schemas) await raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  });

  storeContract(async (): Promise<Trail> => {
    const schema = newSchema();
    const table = `"${schema}".fieldmesh_audit_events`;
    const tables = (sql: string) => sql.replaceAll('$M', `"${schema}".fieldmesh_audit_trail`).replaceAll('$T', table);
    return {
      open: (opts) => openAuditStore({ postgres: PG_URL as string }, { ...opts, schema }),
      async sql(statements) {
        await raw(tables(statements));
      },
      rows: (statement) => raw(tables(statement)),
      async insert(event) {
        await raw(`INSERT INTO ${table} (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`, toRow(event));
      },
    };
  });

  describe('subjects', () => {
    it('answers a search by subject from its index, not by reading every event', async () => {
      const schema = newSchema();
      const t = `"${schema}".fieldmesh_audit_events`;
      const store = await openAuditStore(PG_URL as string, { schema });
      await store.append(sampleEntry({ resource: 'CaseNote', recordIds: ['n-1'], subjectIds: ['p-1'] }));
      await store.close();
      const indexes = await raw<{ indexname: string }>('SELECT indexname FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname', [
        schema,
      ]);
      expect(indexes.map((i) => i.indexname)).to.include.members([
        'fieldmesh_audit_events_subjects',
        'fieldmesh_audit_events_withheld_subjects',
      ]);
      // The planner picks a sequential scan on a table this small; without that choice the index must serve the filter.
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        await client.query('SET enable_seqscan = off');
        const plan = await client.query<{ 'QUERY PLAN': string }>(
          `EXPLAIN SELECT * FROM ${t} WHERE (subject_ids @> $1::jsonb OR withheld_subject_ids @> $1::jsonb)`,
          ['["p-1"]'],
        );
        const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
        expect(text).to.include('fieldmesh_audit_events_subjects').and.include('fieldmesh_audit_events_withheld_subjects');
      } finally {
        await client.end();
      }
    });

    it('upgrades tables made before subjects were recorded: old events still verify, new ones are found by subject', async () => {
      const schema = newSchema();
      const t = `"${schema}".fieldmesh_audit_events`;
      const first = await openAuditStore(PG_URL as string, { schema });
      await first.append(sampleEntry({ requestId: 'old-1', recordIds: ['p-1'] }));
      await first.close();
      // The tables as the version before wrote them: schema version 3, no subject or archive columns, no indexes.
      await raw(`ALTER TABLE ${t} DROP COLUMN subject_ids, DROP COLUMN withheld_subject_ids, DROP COLUMN archives;
        DELETE FROM "${schema}".fieldmesh_audit_schema WHERE version >= 4`);
      const reader = await openAuditStore(PG_URL as string, { schema, readonly: true });
      expect(await reader.verify()).to.deep.include({ ok: true, events: 1 });
      const err = (await reader.query({ subject: 'p-1' }).catch((e: unknown) => e)) as FieldmeshError;
      expect(err.message).to.include('written before events recorded subjects');
      await reader.close();
      const writer = await openAuditStore(PG_URL as string, { schema });
      await writer.append(sampleEntry({ requestId: 'new-1', recordIds: ['p-1'], subjectIds: ['p-1'] }));
      expect(await writer.verify()).to.deep.include({ ok: true, events: 2 });
      expect((await writer.query({ subject: 'p-1' })).map((e) => e.requestId)).to.deep.equal(['new-1']);
      expect((await writer.query({ recordId: 'p-1' })).map((e) => e.requestId)).to.deep.equal(['old-1', 'new-1']);
      await writer.close();
      const versions = await raw<{ version: number }>(`SELECT version FROM "${schema}".fieldmesh_audit_schema ORDER BY version`);
      expect(versions.map((v) => v.version)).to.deep.equal([1, 2, 3, 4, 5]);
    });
  });

  describe('shared by several instances', () => {
    it('lets two processes append at once to one chain with no event lost', async () => {
      const schema = newSchema();
      const worker = (label: string) =>
        run(process.execPath, ['--import', 'tsx', 'test/audit/append-worker.ts', PG_URL as string, schema, label, '150']);
      const outputs = await Promise.all([worker('a'), worker('b')]);
      expect(outputs.map((o) => o.stdout.trim())).to.deep.equal(['150', '150']);
      const [count] = await raw<{ n: string }>(`SELECT COUNT(DISTINCT request_id) AS n FROM "${schema}".fieldmesh_audit_events`);
      expect(Number(count?.n)).to.equal(300);
      const store = await openAuditStore(PG_URL as string, { schema });
      expect(await store.verify()).to.deep.include({ ok: true, events: 300, chains: 1 });
      await store.close();
    });

    it('fails verify when time is changed below the millisecond (PostgreSQL keeps microseconds)', async () => {
      const schema = newSchema();
      const store = await openAuditStore(PG_URL as string, { schema });
      for (let i = 0; i < 3; i++) await store.append(sampleEntry({ requestId: `r-${i}` }));
      await raw(`UPDATE "${schema}".fieldmesh_audit_events SET time = time + interval '1 microsecond' WHERE seq = 2`);
      expect(await store.verify()).to.deep.include({ ok: false, kind: 'changed', seq: 2 });
      await store.close();
    });

    it("fails verify when the table holds rows the keyset walk never reaches: a NULL seq, a second row at a page's last seq", async () => {
      const KEY = 'chain-key-0123456789abcdef';
      const schema = newSchema();
      const t = `"${schema}".fieldmesh_audit_events`;
      const store = await openAuditStore(PG_URL as string, { schema, chainKey: KEY });
      await Promise.all(Array.from({ length: 1200 }, (_, i) => store.append(sampleEntry({ requestId: `r-${i}` }))));
      expect(await store.verify()).to.deep.include({ ok: true, events: 1200 });
      // UNIQUE (chain, seq) allows any number of NULL seqs: only counting the rows notices this one.
      await raw(`ALTER TABLE ${t} ALTER COLUMN seq DROP NOT NULL`);
      await raw(`INSERT INTO ${t} SELECT 'forged-1', chain, NULL, time, 'forged', 'u-666', roles, purpose, resource, action, decision, code,
        status, record_ids, withheld_record_ids, fields_disclosed, fields_withheld, transforms, restrictions, grants, NULL, policy_version,
        NULL, NULL, NULL, 'x', 'x', NULL, NULL FROM ${t} WHERE seq = 2`);
      const nullSeq = await store.verify();
      expect(nullSeq).to.deep.include({ ok: false, kind: 'hidden' });
      if (!nullSeq.ok)
        expect(nullSeq.reason).to.include('1200 events of chain "main" were walked, but the table holds 1 row with no chain or seq');
      await raw(`DELETE FROM ${t} WHERE id = 'forged-1'`);
      expect(await store.verify()).to.deep.include({ ok: true, events: 1200 });
      // Dropping the constraint (and keeping an index for speed) lets a forged review sit at seq 1000, where the first page ends.
      const [constraint] = await raw<{ conname: string }>(
        `SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'u'`,
        [t],
      );
      await raw(`ALTER TABLE ${t} DROP CONSTRAINT "${constraint?.conname}"; CREATE INDEX ON ${t} (chain, seq)`);
      await raw(`INSERT INTO ${t} SELECT 'forged-2', chain, 1000, time, request_id, 'Dr Nobody', '[]', purpose, resource, 'review', 'disclosed',
        NULL, 200, '[]', '[]', '[]', '[]', '{}', '[]', '[]', NULL, policy_version, id, 'Dr Nobody', 'fine', 'x', 'x', NULL, NULL FROM ${t} WHERE seq = 1`);
      const dup = await store.verify();
      expect(dup).to.deep.include({ ok: false, kind: 'trail' });
      if (!dup.ok) expect(dup.reason).to.include('no longer has its UNIQUE (chain, seq) constraint');
      await store.close();
    });

    it('creates the schema and records its version', async () => {
      const schema = newSchema();
      const store = await openAuditStore(PG_URL as string, { schema });
      const versions = await raw<{ version: number }>(`SELECT version FROM "${schema}".fieldmesh_audit_schema`);
      expect(versions.map((v) => v.version)).to.deep.equal([1, 2, 3, 4, 5]);
      await store.close();
    });
  });

  describe('when the server cannot be reached', () => {
    it('rejects appends with audit_unavailable, naming no credentials', async () => {
      const url = new URL(PG_URL as string);
      url.username = 'fm';
      url.password = 's3cret';
      url.port = String(await closedPort());
      const store = await openAuditStore(url.toString(), { schema: newSchema() });
      const err = await unavailable(store.append(sampleEntry()));
      expect(err).to.be.instanceOf(FieldmeshError);
      expect((err as FieldmeshError).code).to.equal('audit_unavailable');
      expect((err as FieldmeshError).status).to.equal(503);
      expect((err as FieldmeshError).message).to.not.include('s3cret');
      expect(await store.healthy()).to.equal(false);
      await store.close();
    });

    it('recovers by itself when the server comes back', async () => {
      const target = new URL(PG_URL as string);
      const link = await startTcpProxy(target.hostname, Number(target.port || 5432));
      const url = new URL(PG_URL as string);
      url.hostname = '127.0.0.1';
      url.port = String(link.port);
      const store = await openAuditStore(url.toString(), { schema: newSchema() });
      try {
        await store.append(sampleEntry({ requestId: 'before' }));
        await link.cut();
        const err = await unavailable(store.append(sampleEntry({ requestId: 'during' })));
        expect((err as FieldmeshError).code).to.equal('audit_unavailable');
        await link.restore();
        await store.append(sampleEntry({ requestId: 'after' }));
        expect((await store.query({})).map((e) => e.requestId)).to.deep.equal(['before', 'after']);
        expect(await store.verify()).to.deep.include({ ok: true, events: 2 });
      } finally {
        await store.close();
        await link.close();
      }
    });

    it('replaces connections the server terminated instead of failing on them', async () => {
      const appName = `fm-audit-test-${randomBytes(4).toString('hex')}`;
      const url = new URL(PG_URL as string);
      url.searchParams.set('application_name', appName);
      const store = await openAuditStore(url.toString(), { schema: newSchema() });
      await store.append(sampleEntry({ requestId: 'before' }));
      const killed = await raw<{ t: boolean }>('SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE application_name = $1', [
        appName,
      ]);
      expect(killed.length).to.be.greaterThan(0);
      await store.append(sampleEntry({ requestId: 'after' }));
      expect(await store.verify()).to.deep.include({ ok: true, events: 2 });
      await store.close();
    });
  });
});
