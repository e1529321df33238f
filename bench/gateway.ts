/**
 * Gateway overhead: autocannon against the demo record API directly and
 * through the gateway in front of it, side by side in one run, with ratios.
 * The API and the gateway run together in a child process (as `fieldmesh
 * demo` does); the load generator runs here, so neither measures the other.
 * Every gateway request is verified, planned, redacted and audited durably
 * (SQLite, synchronous=FULL, group-committed) before it is answered.
 *
 * Run: npx tsx bench/gateway.ts   (BENCH_SECONDS, BENCH_CONNECTIONS change the load;
 * BENCH_AUDIT=/dev/shm/audit.db puts the trail on tmpfs to see what the fsync costs)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { pino } from 'pino';
import { resolveConfig } from '../src/gateway/config.js';
import { startDemoApi } from '../src/demo/api.js';
import { DEMO_JWT_SECRET, DEMO_PSEUDONYM_KEY } from '../src/demo/guide.js';
import { gatewayLogger } from '../src/gateway/log.js';
import { startGateway } from '../src/gateway/start.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

if (process.argv.includes('--serve')) {
  // Child: the record API and the gateway in front of it, as in `fieldmesh demo`; info logs written to /dev/null.
  const api = await startDemoApi(join(ROOT, 'fixtures', 'records'));
  const config = resolveConfig(
    {
      upstream: api.url,
      routes: join(ROOT, 'examples', 'gateway', 'routes.yaml'),
      policies: join(ROOT, 'policies'),
      port: '0',
      jwtSecret: DEMO_JWT_SECRET,
      audit: process.env['BENCH_AUDIT'] ?? join(mkdtempSync(join(tmpdir(), 'fieldmesh-bench-')), 'audit.db'),
    },
    { FIELDMESH_PSEUDONYM_KEY: DEMO_PSEUDONYM_KEY },
  );
  const gateway = await startGateway(config, { logger: gatewayLogger({ destination: pino.destination('/dev/null') }), watch: false });
  process.stdout.write(`READY ${JSON.stringify({ api: api.url, gateway: gateway.url })}\n`);
} else {
  await measure();
}

interface Result {
  requests: { average: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}
type Autocannon = (opts: { url: string; connections: number; duration: number; headers?: Record<string, string> }) => Promise<Result>;

async function measure(): Promise<void> {
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  const seconds = Number(process.env['BENCH_SECONDS'] ?? 5);
  const connections = Number(process.env['BENCH_CONNECTIONS'] ?? 10);
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const urls = await new Promise<{ api: string; gateway: string }>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('READY '));
      if (line) resolve(JSON.parse(line.slice(6)) as { api: string; gateway: string });
    });
    child.once('exit', (code) => reject(new Error(`the server exited (${code})`)));
  });
  const training = new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10);
  const bearer = (claims: object) =>
    `Bearer ${jwt.sign({ ...claims, training }, DEMO_JWT_SECRET, { algorithm: 'HS256', expiresIn: '1h' })}`;
  const scenarios = [
    {
      label: 'one record: GP, direct care',
      path: '/patients/pat-001',
      purpose: 'direct-care',
      claims: { sub: 'gp-1', roles: ['gp'], practice: 'B86001' },
    },
    {
      label: 'one record: receptionist (mask)',
      path: '/patients/pat-001',
      purpose: 'administration',
      claims: { sub: 'rec-1', roles: ['receptionist'] },
    },
    {
      label: 'list of 24: analyst (pseudonyms)',
      path: '/patients',
      purpose: 'service-planning',
      claims: { sub: 'analyst-1', roles: ['analyst'] },
    },
  ];
  const lines = [`gateway: ${connections} connections, ${seconds}s per run (node ${process.version})`];
  lines.push(
    `${'scenario'.padEnd(34)}${'direct req/s'.padStart(13)}${'gateway req/s'.padStart(14)}${'ratio'.padStart(7)}${'p50 ms d/g'.padStart(13)}${'p99 ms d/g'.padStart(13)}`,
  );
  try {
    for (const s of scenarios) {
      const direct = await autocannon({ url: `${urls.api}${s.path}`, connections, duration: seconds });
      const headers = { authorization: bearer(s.claims), 'x-purpose': s.purpose };
      const through = await autocannon({ url: `${urls.gateway}${s.path}`, connections, duration: seconds, headers });
      if (through.non2xx > 0 || through.errors > 0 || direct.non2xx > 0)
        throw new Error(`${s.label}: ${through.non2xx} non-2xx, ${through.errors} errors through the gateway`);
      const ratio = through.requests.average / direct.requests.average;
      lines.push(
        `${s.label.padEnd(34)}${Math.round(direct.requests.average).toString().padStart(13)}${Math.round(through.requests.average).toString().padStart(14)}${ratio.toFixed(2).padStart(7)}` +
          `${`${direct.latency.p50}/${through.latency.p50}`.padStart(13)}${`${direct.latency.p99}/${through.latency.p99}`.padStart(13)}`,
      );
    }
  } finally {
    child.kill('SIGTERM');
  }
  lines.push('(ratio = gateway ÷ direct throughput; every gateway request is also audited durably before it is answered)');
  console.log(lines.join('\n'));
}
