/**
 * Audit append throughput: events/s for one writer awaiting each append
 * (sequential) and for many appends in flight (concurrent, group-committed).
 *
 *   npx tsx bench/audit.ts                  # SQLite
 *   FIELDMESH_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/audit.ts
 *
 * Every append is durable when it resolves (SQLite synchronous=FULL, PostgreSQL
 * synchronous_commit=on), so these are fsync-bound figures for this disk.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { AuditEntry } from '../src/audit/event.js';
import { openAuditStore } from '../src/audit/open.js';
import type { AuditStore } from '../src/audit/types.js';

const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 2000);
const CONCURRENT = Number(process.env.BENCH_CONCURRENT ?? 20000);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 64);

function entry(i: number): AuditEntry {
  return {
    requestId: `bench-${i}`,
    user: 'u-4411',
    roles: ['nurse'],
    purpose: 'direct-care',
    resource: 'Patient',
    action: 'read',
    decision: 'disclosed',
    status: 200,
    recordIds: [`p-${i % 5000}`],
    withheldRecordIds: [],
    fieldsDisclosed: ['id', 'name', 'dateOfBirth', 'ward'],
    fieldsWithheld: ['address', 'diagnoses'],
    transforms: {},
    restrictions: [],
    grants: ['nurse#0'],
    policyVersion: 'sha256:bench',
  };
}

async function sequential(store: AuditStore, n: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await store.append(entry(i));
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

async function concurrent(store: AuditStore, n: number, inFlight: number): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) await store.append(entry(next++));
    }),
  );
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

async function measure(name: string, open: () => Promise<AuditStore>): Promise<string[]> {
  const store = await open();
  const seq = await sequential(store, SEQUENTIAL);
  const conc = await concurrent(store, CONCURRENT, IN_FLIGHT);
  const verify = await store.verify();
  await store.close();
  if (!verify.ok) throw new Error(`${name}: chain broken after the run: ${verify.reason}`);
  return [name, Math.round(seq).toLocaleString('en-GB'), Math.round(conc).toLocaleString('en-GB'), `${(conc / seq).toFixed(1)}x`];
}

const rows: string[][] = [['store', 'sequential ev/s', `concurrent (${IN_FLIGHT} in flight) ev/s`, 'concurrent/sequential']];

const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-bench-'));
try {
  rows.push(await measure('sqlite', () => openAuditStore(join(dir, 'audit.db'))));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const pgUrl = process.env.FIELDMESH_BENCH_PG_URL ?? process.env.FIELDMESH_TEST_PG_URL;
if (pgUrl !== undefined) {
  const schema = `fm_audit_bench_${randomBytes(4).toString('hex')}`;
  try {
    rows.push(await measure('postgres', () => openAuditStore(pgUrl, { schema })));
  } finally {
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
} else {
  rows.push(['postgres', '(set FIELDMESH_BENCH_PG_URL)', '', '']);
}

const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
console.log(`${SEQUENTIAL} sequential appends, then ${CONCURRENT} with ${IN_FLIGHT} in flight; every append durable when it resolves`);
for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('   '));
