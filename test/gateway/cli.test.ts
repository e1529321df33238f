import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { openAuditStore } from '../../src/audit/open.js';
import { startFieldmesh } from '../cli/run.js';
import { as, call, POLICIES, PSEUDONYM_KEY, ROUTES, SECRET, startJsonServer, USERS } from './helpers.js';
import { parseProm } from '../http/prom-text.js';

/** The built CLI as a child process, its output collected as it comes. */
const run = (args: string[], env: Record<string, string> = {}) => startFieldmesh(args, { env });

/** Its exit code, once it has exited. */
const exitCode = async (p: ReturnType<typeof run>): Promise<number | null> => (await p.exited).code;

/** The URL and headers of a printed curl command. */
function parseCurl(line: string): { url: string; headers: Record<string, string> } {
  const quoted = [...line.matchAll(/'([^']*)'/g)].map((m) => m[1]!);
  const [url, ...headers] = quoted;
  return {
    url: url!,
    headers: Object.fromEntries(headers.map((h) => [h.slice(0, h.indexOf(':')).toLowerCase(), h.slice(h.indexOf(':') + 1).trim()])),
  };
}

describe('gateway › CLI', () => {
  it('serve --help lists the flags and their variables', async () => {
    const p = run(['serve', '--help']);
    expect(await exitCode(p)).to.equal(0);
    for (const text of [
      '--upstream <url>',
      '--routes <file>',
      '--policies <dir>',
      '--port <n>',
      'FIELDMESH_UPSTREAM_AUTHORIZATION',
      '--break-glass-webhook <url>',
      'FIELDMESH_JWT_SECRET_FILE',
      '/readyz',
      '/metrics',
      'SIGHUP',
    ]) {
      expect(p.out.stdout).to.include(text);
    }
  });

  it('serve without an upstream or routes exits 2 naming both', async () => {
    const p = run(['serve'], { FIELDMESH_JWT_SECRET: SECRET });
    expect(await exitCode(p)).to.equal(2);
    expect(p.out.stderr).to.include('--upstream / FIELDMESH_UPSTREAM: required');
    expect(p.out.stderr).to.include('--routes / FIELDMESH_ROUTES: required');
  });

  it('serve runs the gateway until SIGTERM, then finishes and exits 0', async () => {
    const upstream = await startJsonServer();
    const audit = join(mkdtempSync(join(tmpdir(), 'fieldmesh-cli-')), 'audit.db');
    const p = run(['serve', '--upstream', upstream.url, '--routes', ROUTES, '--policies', POLICIES, '--port', '0', '--audit', audit], {
      FIELDMESH_JWT_SECRET: SECRET,
      FIELDMESH_PSEUDONYM_KEY: PSEUDONYM_KEY,
    });
    try {
      await p.waitFor('"gateway listening"');
      const { url } = JSON.parse(p.out.stdout.split('\n').find((l) => l.includes('"gateway listening"'))!) as { url: string };
      const res = await call(`${url}/patients/pat-001`, { headers: as(USERS.receptionist, 'administration') });
      expect(res.status).to.equal(200);
      expect(res.json.nhsNumber).to.equal('******0018');
      // The binary serves its metrics, with the process's own.
      const scrape = parseProm((await call(`${url}/metrics`)).text);
      expect(scrape.value('fieldmesh_requests_total', { route: '/patients/:id', outcome: 'disclosed' })).to.equal(1);
      expect(scrape.types.get('process_cpu_user_seconds_total')).to.equal('counter');
      p.stop('SIGTERM');
      expect(await exitCode(p)).to.equal(0);
      expect(p.out.stdout).to.include('"gateway stopped"');
    } finally {
      p.stop('SIGKILL');
      await upstream.close();
    }
  });

  describe('demo (npm start)', () => {
    it('prints curl commands that work, answers them redacted, audits them, and stops on Ctrl-C', async () => {
      const audit = join(mkdtempSync(join(tmpdir(), 'fieldmesh-demo-')), 'audit.db');
      const p = run(['demo', '--port', '0', '--audit', audit]);
      try {
        await p.waitFor('Press Ctrl-C');
        expect(p.out.stdout).to.include('DEMO ONLY');
        expect(p.out.stdout).to.include(`npx fieldmesh audit query --audit ${audit}`);
        const curls = p.out.stdout.split('\n').filter((l) => l.startsWith('curl '));
        expect(curls).to.have.length(5);
        const [gp, receptionist, analyst, hiddenFilter, breakGlass] = curls.map(parseCurl);
        const rec = await call(receptionist!.url, { headers: receptionist!.headers });
        expect(rec.status).to.equal(200);
        expect(rec.json).to.include({ id: 'pat-001', nhsNumber: '******0018' });
        expect(rec.json).not.to.have.property('diagnoses');
        expect((await call(gp!.url, { headers: gp!.headers })).json).to.have.property('diagnoses');
        const planning = await call(analyst!.url, { headers: analyst!.headers });
        expect(planning.status).to.equal(200);
        expect(planning.text).not.to.include('pat-0');
        expect((await call(hiddenFilter!.url, { headers: hiddenFilter!.headers })).status).to.equal(403);
        expect((await call(breakGlass!.url, { headers: breakGlass!.headers })).status).to.equal(200);
        p.stop('SIGINT');
        expect(await exitCode(p)).to.equal(0);
        const store = await openAuditStore(audit, { readonly: true });
        const events = await store.query();
        await store.close();
        expect(events.map((e) => e.decision)).to.deep.equal(['disclosed', 'disclosed', 'disclosed', 'refused', 'disclosed']);
        expect(events.filter((e) => e.breakGlass !== undefined)).to.have.length(1);
      } finally {
        p.stop('SIGKILL');
      }
    });

    it('says clearly that the port is taken, and exits 2, as serve does', async () => {
      const busy = createServer();
      await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', () => resolve()));
      const port = (busy.address() as AddressInfo).port;
      try {
        const p = run(['demo', '--port', String(port), '--audit', join(mkdtempSync(join(tmpdir(), 'fieldmesh-demo-')), 'audit.db')]);
        expect(await exitCode(p)).to.equal(2);
        expect(p.out.stderr).to.include(`port ${port} on 127.0.0.1 is already in use`);
        expect(p.out.stderr).to.include('--port 0');
      } finally {
        busy.close();
      }
    });
  });
});
