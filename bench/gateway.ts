/**
 * `fieldmesh serve` (the built CLI, durable SQLite audit on) against three
 * peers in front of the same in-memory JSON record API (src/demo/api.ts):
 * a plain http-proxy reverse proxy, a hand-written jsonwebtoken + CASL
 * redacting proxy without audit, and a proxy asking a Cerbos PDP (one
 * batched CheckResources per answer). One fixed GP token, 16 connections,
 * each connection alternating the 24-row list (13 rows returned) and one
 * dv-risk record; every server in its own process, autocannon here. The
 * redacted answers of fieldmesh, CASL and Cerbos are checked equal before
 * timing; the variants run in turn, in rotating order, for several rounds,
 * and the medians of req/s are compared (ratio = fieldmesh ÷ baseline).
 *
 *   node --import tsx bench/gateway.ts            # 3 rounds × 5 s per variant, after a 2 s warm-up
 *   node --import tsx bench/gateway.ts --quick    # 1 round × 1 s per variant, after 0.5 s
 *   BENCH_ROUNDS, BENCH_SECONDS, BENCH_CONNECTIONS change the load.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { openAuditStore } from '../src/audit/open.js';
import { DEMO_PSEUDONYM_KEY } from '../src/demo/guide.js';
import { gpClaims, JWT_SECRET, PATHS, PURPOSE } from './baselines/scenario.js';
import { resultLine } from './lib/results.js';
import { canonical, ensureBuilt, freePort, load, median, perSecond, type Served, serveChild } from './lib/servers.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const QUICK = process.argv.includes('--quick');
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? (QUICK ? 1 : 3));
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? (QUICK ? 1 : 5));
const WARMUP_SECONDS = QUICK ? 0.5 : 2;
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 16);
const tsx = (file: string, ...args: string[]) => [process.execPath, ['--import', 'tsx', join(ROOT, 'bench', file), ...args]] as const;

async function startCerbos(dir: string, http: number, grpc: number): Promise<Served> {
  const config = join(dir, 'cerbos.yaml');
  writeFileSync(
    config,
    [
      'server:',
      `  httpListenAddr: "127.0.0.1:${http}"`,
      `  grpcListenAddr: "127.0.0.1:${grpc}"`,
      'storage:',
      '  driver: disk',
      '  disk:',
      `    directory: ${JSON.stringify(join(ROOT, 'bench', 'baselines', 'cerbos'))}`,
      '    watchForChanges: false',
      'audit:',
      '  enabled: false',
      'telemetry:',
      '  disabled: true',
      '',
    ].join('\n'),
  );
  const url = `http://127.0.0.1:${http}`;
  return serveChild('cerbos', join(ROOT, 'node_modules', '.bin', 'cerbos'), ['server', `--config=${config}`, '--log-level=error'], {
    // Its error log names every check a client gave up on when a timed run ends; not read.
    quiet: true,
    ready: async () => {
      const r = await fetch(`${url}/_cerbos/health`);
      if (!r.ok) throw new Error('not yet');
      return url;
    },
  });
}

async function startFieldmesh(upstream: string, dir: string): Promise<Served> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = [
    join(ROOT, 'dist', 'cli', 'bin.js'),
    'serve',
    '--upstream',
    upstream,
    '--routes',
    join(ROOT, 'examples', 'gateway', 'routes.yaml'),
    '--policies',
    join(ROOT, 'policies'),
    '--port',
    String(port),
    '--audit',
    join(dir, 'audit.db'),
  ];
  // Its info log (one line per request) goes to /dev/null: written, as in production, but not read.
  return serveChild('fieldmesh', process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, FIELDMESH_JWT_SECRET: JWT_SECRET, FIELDMESH_PSEUDONYM_KEY: DEMO_PSEUDONYM_KEY },
    ready: async () => {
      const r = await fetch(`${url}/readyz`);
      if (!r.ok) throw new Error('not yet');
      return url;
    },
  });
}

async function getJson(url: string, headers: Record<string, string>): Promise<{ status: number; body: unknown }> {
  const r = await fetch(url, { headers });
  return { status: r.status, body: await r.json() };
}

/** Every request fieldmesh answered has its event in the trail, or its figures are not of audited requests. */
async function checkAudited(path: string, answered: number): Promise<void> {
  const store = await openAuditStore(path);
  try {
    const events = (await store.query({})).length;
    console.log(`${events} audit events in fieldmesh's trail for ${answered} requests it answered under load (checks not counted)`);
    if (events < answered) throw new Error('fewer audit events than answered requests');
  } finally {
    await store.close();
  }
}

interface Variant {
  name: string;
  url: string;
  samples: number[];
  p50: number[];
  p99: number[];
}

async function main(): Promise<void> {
  const t0 = performance.now();
  ensureBuilt(ROOT);
  const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-bench-gateway-'));
  const servers: Served[] = [];
  let answeredByFieldmesh = 0;
  let measured = false;
  // Printed only once the trail is checked: rows of unaudited requests would be a lie.
  const resultLines: string[] = [];
  try {
    // Ports chosen first, so every server starts at once (the proxies reach their upstream only when asked).
    const [apiPort, pdpHttp, pdpGrpc] = [await freePort(), await freePort(), await freePort()];
    const upstream = `http://127.0.0.1:${apiPort}`;
    const pdpUrl = `http://127.0.0.1:${pdpHttp}`;
    // All settled before going on, so a server that failed to start leaves none of the others running.
    const settled = await Promise.allSettled([
      serveChild('api', ...tsx('baselines/api.ts', String(apiPort))),
      startFieldmesh(upstream, dir),
      serveChild('http-proxy', ...tsx('baselines/http-proxy.ts', upstream)),
      serveChild('casl-proxy', ...tsx('baselines/casl-proxy.ts', upstream)),
      startCerbos(dir, pdpHttp, pdpGrpc),
      serveChild('cerbos-proxy', ...tsx('baselines/cerbos-proxy.ts', upstream, pdpUrl)),
    ]);
    for (const r of settled) if (r.status === 'fulfilled') servers.push(r.value);
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
    const [api, fm, plain, casl, , cerbos] = servers as [Served, Served, Served, Served, Served, Served];
    const headers = {
      authorization: `Bearer ${jwt.sign(gpClaims(), JWT_SECRET, { algorithm: 'HS256', expiresIn: '2h' })}`,
      'x-purpose': PURPOSE,
    };

    // The peers must give the same answers, or their figures mean nothing.
    for (const path of PATHS) {
      const want = await getJson(fm.url + path, headers);
      if (want.status !== 200) throw new Error(`fieldmesh answered ${path} with ${want.status}`);
      for (const peer of [casl, cerbos]) {
        const got = await getJson(peer.url + path, headers);
        if (got.status !== 200 || canonical(got.body) !== canonical(want.body)) {
          throw new Error(
            `${peer === casl ? 'the CASL proxy' : 'the Cerbos proxy'} answers ${path} otherwise than fieldmesh:\n` +
              `  fieldmesh: ${canonical(want.body)}\n  peer:      ${canonical(got.body)}`,
          );
        }
      }
      const raw = await getJson(api.url + path, {});
      const proxied = await getJson(plain.url + path, headers);
      if (canonical(raw.body) !== canonical(proxied.body)) throw new Error(`http-proxy does not pass ${path} through unchanged`);
    }
    // And the scenario must exercise what it claims: a row condition that drops rows, a restriction that withholds fields.
    const rowsOut = (await getJson(fm.url + PATHS[0], headers)).body as Record<string, unknown>[];
    const rowsIn = (await getJson(api.url + PATHS[0], {})).body as unknown[];
    const dv = (await getJson(fm.url + PATHS[1], headers)).body as Record<string, unknown>;
    if (!(rowsOut.length > 0 && rowsOut.length < rowsIn.length) || 'address' in dv || !('name' in dv)) {
      throw new Error('the GP scenario no longer filters rows or withholds the dv-risk fields: the bench would not measure redaction');
    }
    console.log(`servers up and answers checked in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    console.log(
      `answers checked equal (fieldmesh = CASL proxy = Cerbos proxy): list ${rowsOut.length} of ${rowsIn.length} rows, one dv-risk record`,
    );

    const variants: Variant[] = [
      { name: 'fieldmesh serve', url: fm.url },
      { name: 'http-proxy', url: plain.url },
      { name: 'jwt + CASL proxy', url: casl.url },
      { name: 'Cerbos proxy', url: cerbos.url },
    ].map((v) => ({ ...v, samples: [], p50: [], p99: [] }));
    const requests = PATHS.map((path) => ({ method: 'GET', path }));
    for (const v of variants) {
      const r = await load({ url: v.url, connections: CONNECTIONS, duration: WARMUP_SECONDS, headers, requests });
      if (v.url === fm.url) answeredByFieldmesh += r.requests.total;
    }
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order each round, so no variant always runs first or last.
      for (let k = 0; k < variants.length; k++) {
        const v = variants[(k + round) % variants.length]!;
        const r = await load({ url: v.url, connections: CONNECTIONS, duration: SECONDS, headers, requests });
        if (v.url === fm.url) answeredByFieldmesh += r.requests.total;
        v.samples.push(perSecond(r));
        v.p50.push(r.latency.p50);
        v.p99.push(r.latency.p99);
      }
    }

    const [fmV, plainV, caslV, cerbosV] = variants.map((v) => ({ ...v, rps: median(v.samples) })) as [
      Variant & { rps: number },
      Variant & { rps: number },
      Variant & { rps: number },
      Variant & { rps: number },
    ];
    console.log(
      `\ngateway: ${CONNECTIONS} connections, ${ROUNDS} round(s) × ${SECONDS} s per variant, medians (node ${process.version}${QUICK ? ', quick' : ''})`,
    );
    console.log(`${'variant'.padEnd(20)}${'req/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}  rounds req/s`);
    for (const v of [fmV, plainV, caslV, cerbosV]) {
      console.log(
        `${v.name.padEnd(20)}${Math.round(v.rps).toString().padStart(9)}${median(v.p50).toString().padStart(9)}${median(v.p99).toString().padStart(9)}  ${v.samples.map((s) => Math.round(s)).join(', ')}`,
      );
    }
    const what = `req/s, ${CONNECTIONS} connections, list of ${rowsIn.length} (${rowsOut.length} returned) and one dv-risk record alternately, GP direct care`;
    const rows = [
      {
        id: 'gateway-vs-http-proxy',
        base: plainV,
        target: '≥ 0.5× http-proxy',
        min: 0.5,
        note: 'http-proxy passes the records through unredacted; fieldmesh verifies, plans, redacts and fsyncs an audit event before each answer',
      },
      {
        id: 'gateway-vs-jwt-casl-proxy',
        base: caslV,
        target: '≥ 1.5×',
        min: 1.5,
        note: 'the CASL proxy (jsonwebtoken + per-request MongoAbility + permittedFieldsOf + pick) writes no audit at all; answers checked equal',
      },
      {
        id: 'gateway-vs-cerbos',
        base: cerbosV,
        target: '≥ 1.5×',
        min: 1.5,
        note: 'one batched CheckResources (rows × read:<field>) per answer to a Cerbos 0.51 PDP, its audit off; answers checked equal',
      },
    ];
    measured = true;
    for (const r of rows) {
      const ratio = fmV.rps / r.base.rps;
      resultLines.push(
        resultLine({
          id: r.id,
          what: `fieldmesh serve vs ${r.base.name}: ${what}`,
          fieldmesh: Math.round(fmV.rps),
          baseline: Math.round(r.base.rps),
          unit: 'req/s',
          ratio: Number(ratio.toFixed(3)),
          target: r.target,
          met: ratio >= r.min,
          note: `${r.note}${QUICK ? '; quick run (1 s)' : ''}`,
        }),
      );
    }
  } finally {
    const t1 = performance.now();
    await Promise.all(servers.map((s) => s.stop()));
    console.log(`servers stopped in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
    if (measured) await checkAudited(join(dir, 'audit.db'), answeredByFieldmesh);
    rmSync(dir, { recursive: true, force: true });
  }
  for (const line of resultLines) console.log(line);
}

await main();
// Sockets of the load generator and of fetch may linger after the servers are gone: the bench is done.
process.exit(process.exitCode ?? 0);
