/**
 * The cost of the Express middleware: the example Patient API
 * (examples/express-app) without and with fieldmesh, side by side, measured
 * with autocannon over 127.0.0.1.
 *
 *   npx tsx bench/middleware.ts
 *   BENCH_SECONDS=10 BENCH_CONNECTIONS=50 npx tsx bench/middleware.ts
 *
 * With fieldmesh every request is verified (HS256, token cache on), planned,
 * redacted and audited to a SQLite file (synchronous=FULL, group-committed)
 * before its answer is sent: the figures include that durable write.
 * The two apps run in a child process, so the load generator does not share
 * their event loop.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Express } from 'express';
import { createApp } from '../examples/express-app/app.js';
import { createProtectedApp } from '../examples/express-app/server.js';
import { demoToken } from '../examples/express-app/token.js';

interface Histogram {
  average: number;
  p50: number;
  p99: number;
}
interface Result {
  requests: Histogram;
  latency: Histogram;
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Autocannon = (opts: { url: string; connections: number; duration: number; headers: Record<string, string> }) => Promise<Result>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const WARMUP = Number(process.env['BENCH_WARMUP_SECONDS'] ?? 2);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 10);

async function listen(app: Express): Promise<{ url: string; close: () => Promise<void> }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function measure(url: string, headers: Record<string, string>): Promise<Result> {
  await autocannon({ url, connections: CONNECTIONS, duration: WARMUP, headers });
  const result = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, headers });
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(
      `${url}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts: the figures would not be of successful requests`,
    );
  }
  return result;
}

/** The child: both apps on 127.0.0.1, their URLs sent to the parent, audit events counted on request. */
async function serve(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-bench-'));
  const plain = await listen(createApp());
  const { app, mesh } = await createProtectedApp({ audit: join(dir, 'audit.db') });
  const guarded = await listen(app);
  process.on('message', (message) => {
    if (message !== 'stop') return;
    void (async () => {
      const events = (await mesh.audit.query({})).length;
      await plain.close();
      await guarded.close();
      await mesh.close();
      rmSync(dir, { recursive: true, force: true });
      process.send!({ events }, () => process.exit(0));
    })();
  });
  process.send!({ plain: plain.url, guarded: guarded.url });
}

async function run(): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, FIELDMESH_BENCH_SERVER: '1' },
    execArgv: ['--import', 'tsx'],
  });
  const next = () =>
    new Promise<Record<string, string | number>>((resolve) => child.once('message', (m) => resolve(m as Record<string, string | number>)));
  const urls = (await next()) as { plain: string; guarded: string };
  const cases = [
    { name: 'GET /patients/pat-001 (one record, ward nurse)', path: '/patients/pat-001', role: 'ward-nurse', purpose: 'direct-care' },
    {
      name: 'GET /patients (24 rows, safeguarding lead; 23 returned)',
      path: '/patients',
      role: 'safeguarding-lead',
      purpose: 'safeguarding',
    },
  ];
  const rows: string[][] = [];
  const fmt = (n: number, digits = 0) => n.toFixed(digits);
  try {
    for (const c of cases) {
      const without = await measure(urls.plain + c.path, {});
      const headers = { Authorization: `Bearer ${demoToken(c.role)}`, 'X-Purpose': c.purpose };
      const withMesh = await measure(urls.guarded + c.path, headers);
      rows.push(
        [c.name, 'without', fmt(without.requests.average), fmt(without.latency.p50, 1), fmt(without.latency.p99, 1), ''],
        [
          '',
          'with fieldmesh',
          fmt(withMesh.requests.average),
          fmt(withMesh.latency.p50, 1),
          fmt(withMesh.latency.p99, 1),
          fmt(withMesh.requests.average / without.requests.average, 2),
        ],
      );
    }
  } finally {
    child.send('stop');
  }
  const { events } = await next();
  console.log(`\n${SECONDS}s per run after ${WARMUP}s warm-up, ${CONNECTIONS} connections, Node ${process.version}\n`);
  console.log('| route | app | req/s | p50 ms | p99 ms | with/without req/s |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log(`\n${events} audit events written (every request with fieldmesh, warm-up included).`);
}

await (process.env['FIELDMESH_BENCH_SERVER'] === '1' ? serve() : run());
