/**
 * Several gateways sharing one PostgreSQL trail: three `fieldmesh serve`
 * processes (the built CLI, the example policies and routes) in front of the
 * demo record API (src/demo/api.ts), all writing one chain in one schema.
 * Audit events committed per second are counted as rows of the trail (count
 * before and after each timed window) while autocannon drives 1, 2 or 3 of
 * the instances at once, the same total of connections split evenly between
 * them (a load balancer's round robin), one GP token alternating the patient
 * list and one record; the counts run in rotating order for several rounds
 * and medians are compared (ratio = N instances ÷ 1 instance). After the run
 * `fieldmesh audit verify` must pass on the trail: several writers, one
 * unbroken chain. Then a failover: two instances reach PostgreSQL through a
 * TCP proxy that cuts every connection and refuses new ones for a few
 * seconds, then lets them through again, while clients keep asking; no
 * request sent during the cut may be answered 200, and the time from the
 * restore until every instance answers 200 again is the recovery time.
 *
 *   node --import tsx bench/instances.ts            # 3 rounds × 5 s per count, after a 2 s warm-up
 *   node --import tsx bench/instances.ts --quick    # 1 round × 1.5 s per count
 *   FIELDMESH_BENCH_PG_URL (or FIELDMESH_TEST_PG_URL) names the server, default postgres://postgres@127.0.0.1:5432/test;
 *   BENCH_ROUNDS, BENCH_SECONDS, BENCH_CONNECTIONS change the load.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import pg from 'pg';
import { DEMO_PSEUDONYM_KEY } from '../src/demo/guide.js';
import { gpClaims, JWT_SECRET, PATHS, PURPOSE } from './baselines/scenario.js';
import { resultLine } from './lib/results.js';
import { ensureBuilt, freePort, load, median, type Served, serveChild } from './lib/servers.js';
import { startTcpProxy } from './lib/tcp-proxy.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BIN = join(ROOT, 'dist', 'cli', 'bin.js');
const QUICK = process.argv.includes('--quick');
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? (QUICK ? 1 : 3));
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? (QUICK ? 1.5 : 5));
const WARMUP_SECONDS = QUICK ? 0.5 : 2;
/** Split evenly between the instances driven: 24 divides by 1, 2 and 3. */
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 24);
const COUNTS = [1, 2, 3] as const;
const PG_URL = process.env['FIELDMESH_BENCH_PG_URL'] ?? process.env['FIELDMESH_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const CUT_SECONDS = QUICK ? 1.5 : 3;
const RECOVERY_CAP_MS = 60_000;

/** The trail URL the instances get: `search_path` puts its tables in the bench's own schema. */
function trailUrl(schema: string, port?: number): string {
  const url = new URL(PG_URL);
  if (port !== undefined) {
    url.hostname = '127.0.0.1';
    url.port = String(port);
  }
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

async function sql<R extends pg.QueryResultRow>(text: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return (await client.query<R>(text)).rows;
  } finally {
    await client.end();
  }
}

const countEvents = async (schema: string): Promise<number> =>
  Number((await sql<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".fieldmesh_audit_events`))[0]!.n);

async function startInstance(name: string, upstream: string, audit: string): Promise<Served> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = [BIN, 'serve', '--upstream', upstream, '--routes', join(ROOT, 'examples', 'gateway', 'routes.yaml')];
  args.push('--policies', join(ROOT, 'policies'), '--port', String(port), '--audit', audit);
  // Its info log (one line per request) goes to /dev/null: written, as in production, but not read.
  return serveChild(name, process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, FIELDMESH_JWT_SECRET: JWT_SECRET, FIELDMESH_PSEUDONYM_KEY: DEMO_PSEUDONYM_KEY },
    ready: async () => {
      const r = await fetch(`${url}/readyz`);
      if (!r.ok) throw new Error('not yet');
      return url;
    },
  });
}

/** `fieldmesh audit verify` on the trail, as an operator would run it: the chain must be whole. */
function verify(schema: string): string {
  try {
    return execFileSync(process.execPath, [BIN, 'audit', 'verify', '--audit', trailUrl(schema)], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    throw new Error(`audit verify failed (exit ${e.status}): ${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

interface Sample {
  instance: number;
  sent: number;
  answered: number;
  status: number;
  code?: string;
}

/**
 * Clients asking the instances without pause while the proxy in front of
 * PostgreSQL is cut and restored; every answer kept with when it was sent.
 */
async function failover(
  upstream: string,
  headers: Record<string, string>,
): Promise<{ recoveryMs: number; lastRefusalMs: number; during: Sample[] }> {
  const schema = `fm_bench_failover_${randomBytes(5).toString('hex')}`;
  await sql(`CREATE SCHEMA "${schema}"`);
  const target = new URL(PG_URL);
  const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  const instances: Served[] = [];
  try {
    for (const i of [1, 2]) instances.push(await startInstance(`fieldmesh-f${i}`, upstream, trailUrl(schema, proxy.port)));
    const samples: Sample[] = [];
    let stop = false;
    const client = async (instance: number, k: number) => {
      for (let n = k; !stop; n++) {
        const sent = performance.now();
        const r = await fetch(instances[instance]!.url + PATHS[n % PATHS.length], { headers });
        const text = await r.text();
        const code = r.status === 503 ? (JSON.parse(text) as { error?: { code?: string } }).error?.code : undefined;
        samples.push({ instance, sent, answered: performance.now(), status: r.status, ...(code === undefined ? {} : { code }) });
      }
    };
    const clients = instances.flatMap((_, i) => [0, 1, 2, 3].map((k) => client(i, k)));
    await sleep(1000);
    const cutAt = performance.now();
    await proxy.cut();
    await sleep(CUT_SECONDS * 1000);
    const restoredAt = performance.now();
    await proxy.restore();
    const back = () => instances.every((_, i) => samples.some((s) => s.instance === i && s.sent >= restoredAt && s.status === 200));
    while (!back() && performance.now() - restoredAt < RECOVERY_CAP_MS) await sleep(50);
    await sleep(500);
    stop = true;
    await Promise.all(clients);
    if (!back()) throw new Error(`an instance still refused ${RECOVERY_CAP_MS / 1000} s after PostgreSQL came back`);

    const during = samples.filter((s) => s.sent >= cutAt && s.answered <= restoredAt);
    const disclosed = during.filter((s) => s.status === 200);
    if (disclosed.length > 0) throw new Error(`${disclosed.length} request(s) sent while the trail was cut were answered 200`);
    const odd = samples.filter((s) => s.status !== 200 && !(s.status === 503 && s.code === 'audit_unavailable'));
    if (odd.length > 0)
      throw new Error(`answers other than 200 or 503 audit_unavailable: ${[...new Set(odd.map((s) => s.status))].join(', ')}`);
    if (during.length === 0) throw new Error('no request was answered while the trail was cut: the failover was not exercised');
    const recoveryMs = Math.max(
      ...instances.map(
        (_, i) =>
          Math.min(...samples.filter((s) => s.instance === i && s.sent >= restoredAt && s.status === 200).map((s) => s.answered)) -
          restoredAt,
      ),
    );
    const refusalsAfter = samples.filter((s) => s.status === 503 && s.answered > restoredAt);
    const lastRefusalMs = refusalsAfter.length === 0 ? 0 : Math.max(...refusalsAfter.map((s) => s.answered)) - restoredAt;
    const answered200 = samples.filter((s) => s.status === 200).length;
    const events = await countEvents(schema);
    console.log(
      `failover: ${samples.length} answers, ${during.length} while cut (${CUT_SECONDS} s), all 503 audit_unavailable; ` +
        `every instance answered 200 again ${Math.round(recoveryMs)} ms after the restore (last 503 at +${Math.round(lastRefusalMs)} ms); ` +
        `${answered200} answers 200, ${events} events in the trail`,
    );
    if (events < answered200) throw new Error('fewer audit events than 200 answers in the failover trail');
    console.log(`failover trail: ${verify(schema)}`);
    return { recoveryMs, lastRefusalMs, during };
  } finally {
    await Promise.all(instances.map((s) => s.stop()));
    await proxy.close();
    await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }
}

async function main(): Promise<void> {
  ensureBuilt(ROOT);
  try {
    await sql('SELECT 1');
  } catch (err) {
    throw new Error(`this bench needs PostgreSQL (FIELDMESH_BENCH_PG_URL, default ${PG_URL}): ${(err as Error).message}`);
  }
  const schema = `fm_bench_instances_${randomBytes(5).toString('hex')}`;
  await sql(`CREATE SCHEMA "${schema}"`);
  const servers: Served[] = [];
  const resultLines: string[] = [];
  try {
    const api = await serveChild('api', process.execPath, [
      '--import',
      'tsx',
      join(ROOT, 'bench', 'baselines', 'api.ts'),
      String(await freePort()),
    ]);
    servers.push(api);
    const instances: Served[] = [];
    // One after another: the first creates the trail's tables, the others find them.
    for (const i of [1, 2, 3]) instances.push(await startInstance(`fieldmesh-${i}`, api.url, trailUrl(schema)));
    servers.push(...instances);
    const headers = {
      authorization: `Bearer ${jwt.sign(gpClaims(), JWT_SECRET, { algorithm: 'HS256', expiresIn: '2h' })}`,
      'x-purpose': PURPOSE,
    };
    const versions = new Set<string>();
    for (const inst of instances) {
      const ready = (await (await fetch(`${inst.url}/readyz`)).json()) as { policyVersion: string };
      versions.add(ready.policyVersion);
      for (const path of PATHS) {
        const r = await fetch(inst.url + path, { headers });
        if (r.status !== 200) throw new Error(`${inst.url}${path} answered ${r.status}`);
      }
    }
    if (versions.size !== 1) throw new Error(`the instances serve different policy versions: ${[...versions].join(', ')}`);
    console.log(`3 instances up, one trail (schema ${schema}), one policy version ${[...versions][0]}`);

    const requests = PATHS.map((path) => ({ method: 'GET', path }));
    let answered = 0;
    for (const inst of instances)
      answered += (await load({ url: inst.url, connections: CONNECTIONS / 3, duration: WARMUP_SECONDS, headers, requests })).requests.total;
    const eventsPerSecond = new Map<number, number[]>(COUNTS.map((n) => [n, []]));
    const requestsPerSecond = new Map<number, number[]>(COUNTS.map((n) => [n, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < COUNTS.length; k++) {
        const n = COUNTS[(k + round) % COUNTS.length]!;
        const before = await countEvents(schema);
        const t0 = performance.now();
        const runs = await Promise.all(
          instances.slice(0, n).map((inst) => load({ url: inst.url, connections: CONNECTIONS / n, duration: SECONDS, headers, requests })),
        );
        const after = await countEvents(schema);
        const seconds = (performance.now() - t0) / 1000;
        const total = runs.reduce((s, r) => s + r.requests.total, 0);
        answered += total;
        eventsPerSecond.get(n)!.push((after - before) / seconds);
        requestsPerSecond.get(n)!.push(total / seconds);
        console.log(
          `round ${round + 1}, ${n} instance(s): ${after - before} events committed in ${seconds.toFixed(1)} s, ${total} requests answered`,
        );
      }
    }
    const events = await countEvents(schema);
    console.log(`${events} audit events in the shared trail for ${answered} requests answered under load`);
    if (events < answered) throw new Error('fewer audit events than answered requests');
    console.log(`shared trail: ${verify(schema)}`);

    const [ev1, ev2, ev3] = COUNTS.map((n) => median(eventsPerSecond.get(n)!)) as [number, number, number];
    console.log(
      `\ninstances: ${CONNECTIONS} connections in all, ${ROUNDS} round(s) × ${SECONDS} s per count, medians (node ${process.version}${QUICK ? ', quick' : ''})`,
    );
    console.log(`${'instances'.padEnd(12)}${'events/s'.padStart(10)}${'req/s'.padStart(10)}  rounds events/s`);
    for (const n of COUNTS) {
      const ev = eventsPerSecond.get(n)!;
      console.log(
        `${String(n).padEnd(12)}${Math.round(median(ev)).toString().padStart(10)}${Math.round(median(requestsPerSecond.get(n)!))
          .toString()
          .padStart(10)}  ${ev.map((s) => Math.round(s)).join(', ')}`,
      );
    }

    const f = await failover(api.url, headers);
    const what = (n: number) =>
      `audit events/s committed to one PostgreSQL trail by ${n} fieldmesh serve instance${n === 1 ? '' : 's'}, ${CONNECTIONS} connections split evenly, GP list and record alternately`;
    const quick = QUICK ? '; quick run' : '';
    resultLines.push(
      resultLine({
        id: 'instances-1',
        what: what(1),
        fieldmesh: Math.round(ev1),
        baseline: null,
        unit: 'events/s',
        ratio: null,
        target: '–',
        met: null,
        note: `the baseline of the other instance rows; one event per answered request, counted as rows of the trail${quick}`,
      }),
    );
    for (const [n, ev] of [
      [2, ev2],
      [3, ev3],
    ] as const) {
      resultLines.push(
        resultLine({
          id: `instances-${n}`,
          what: what(n),
          fieldmesh: Math.round(ev),
          baseline: Math.round(ev1),
          unit: 'events/s',
          ratio: Number((ev / ev1).toFixed(3)),
          target: '–',
          met: null,
          note: `ratio against 1 instance on the same machine (the instances, the load generator, the record API and PostgreSQL share its cores); audit verify passed on the shared chain${quick}`,
        }),
      );
    }
    resultLines.push(
      resultLine({
        id: 'instances-failover-recovery',
        what: `PostgreSQL cut for ${CUT_SECONDS} s behind a TCP proxy, 2 instances under 8 clients: time from the restore until every instance answers 200 again`,
        fieldmesh: Math.round(f.recoveryMs),
        baseline: null,
        unit: 'ms',
        ratio: null,
        target: 'no 200 while cut',
        met: true,
        note: `${f.during.length} answers to requests sent while the trail was cut, every one 503 audit_unavailable; audit verify passed after${quick}`,
      }),
    );
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }
  for (const line of resultLines) console.log(line);
}

await main();
// Sockets of the load generator and of fetch may linger after the servers are gone: the bench is done.
process.exit(process.exitCode ?? 0);
