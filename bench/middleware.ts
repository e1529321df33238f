/**
 * The cost of the Express middleware: the example Patient API
 * (examples/express-app) bare and with fieldmesh (JWT + plan + redact +
 * durable SQLite audit before each answer), side by side in one run, 10
 * connections, each alternating the 24-row list (as the safeguarding lead,
 * 23 rows returned) and one record (as a ward nurse). Both apps run in a
 * child process, so the load generator (autocannon, here) does not share
 * their event loop; they are measured in turn, in alternating order, for
 * several rounds, and the medians of req/s compared (ratio = with ÷ bare).
 *
 *   node --import tsx bench/middleware.ts            # 3 rounds × 5 s per app, after a 2 s warm-up
 *   node --import tsx bench/middleware.ts --quick    # 1 round × 1 s per app, after 0.5 s
 *   BENCH_ROUNDS, BENCH_SECONDS, BENCH_CONNECTIONS change the load.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Express } from 'express';
import { createApp } from '../examples/express-app/app.js';
import { createProtectedApp } from '../examples/express-app/server.js';
import { demoToken } from '../examples/express-app/token.js';
import { resultLine } from './lib/results.js';
import { load, median, perSecond } from './lib/servers.js';

const QUICK = process.argv.includes('--quick');
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? (QUICK ? 1 : 3));
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? (QUICK ? 1 : 5));
const WARMUP_SECONDS = QUICK ? 0.5 : 2;
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 10);

async function listen(app: Express): Promise<{ url: string; close: () => Promise<void> }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
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
    new Promise<Record<string, string | number>>((resolve, reject) => {
      child.once('message', (m) => resolve(m as Record<string, string | number>));
      child.once('exit', (code) => reject(new Error(`the app process exited (${code})`)));
    });
  const urls = (await next()) as { plain: string; guarded: string };
  const asUser = (role: string, purpose: string) => ({ authorization: `Bearer ${demoToken(role)}`, 'x-purpose': purpose });
  // Each connection alternates the two; the bare app gets the same headers and ignores them.
  const requests = [
    { method: 'GET', path: '/patients', headers: asUser('safeguarding-lead', 'safeguarding') },
    { method: 'GET', path: '/patients/pat-001', headers: asUser('ward-nurse', 'direct-care') },
  ];
  const apps = [
    { name: 'bare Express', url: urls.plain, samples: [] as number[], p50: [] as number[], p99: [] as number[] },
    { name: 'with fieldmesh', url: urls.guarded, samples: [] as number[], p50: [] as number[], p99: [] as number[] },
  ];
  let requestsToFieldmesh = 0;
  try {
    for (const a of apps) {
      const r = await load({ url: a.url, connections: CONNECTIONS, duration: WARMUP_SECONDS, requests });
      if (a === apps[1]) requestsToFieldmesh += r.requests.total;
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const a of round % 2 === 0 ? apps : [...apps].reverse()) {
        const r = await load({ url: a.url, connections: CONNECTIONS, duration: SECONDS, requests });
        if (a === apps[1]) requestsToFieldmesh += r.requests.total;
        a.samples.push(perSecond(r));
        a.p50.push(r.latency.p50);
        a.p99.push(r.latency.p99);
      }
    }
  } finally {
    child.send('stop');
  }
  const { events } = await next();
  const [bare, withMesh] = apps.map((a) => median(a.samples)) as [number, number];
  console.log(
    `\nmiddleware: ${CONNECTIONS} connections, ${ROUNDS} round(s) × ${SECONDS} s per app, medians (node ${process.version}${QUICK ? ', quick' : ''})`,
  );
  console.log(`${'app'.padEnd(16)}${'req/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}  rounds req/s`);
  for (const a of apps) {
    console.log(
      `${a.name.padEnd(16)}${Math.round(median(a.samples)).toString().padStart(9)}${median(a.p50).toString().padStart(9)}${median(a.p99).toString().padStart(9)}  ${a.samples.map((s) => Math.round(s)).join(', ')}`,
    );
  }
  console.log(`${events} audit events written for ${requestsToFieldmesh} requests answered with fieldmesh (warm-up included)`);
  if (Number(events) < requestsToFieldmesh)
    throw new Error('fewer audit events than answered requests: the figures are not of audited requests');
  const ratio = withMesh / bare;
  console.log(
    resultLine({
      id: 'middleware-vs-bare',
      what: `Express app with fieldmesh vs bare: req/s, ${CONNECTIONS} connections, list of 24 (safeguarding lead) and one record (ward nurse) alternately`,
      fieldmesh: Math.round(withMesh),
      baseline: Math.round(bare),
      unit: 'req/s',
      ratio: Number(ratio.toFixed(3)),
      target: '≥ 0.6× bare',
      met: ratio >= 0.6,
      note: `every request with fieldmesh verified (HS256), planned, redacted and its audit event fsynced (SQLite) before the answer${QUICK ? '; quick run (1 s)' : ''}`,
    }),
  );
}

if (process.env['FIELDMESH_BENCH_SERVER'] === '1') await serve();
else {
  await run();
  process.exit(process.exitCode ?? 0);
}
