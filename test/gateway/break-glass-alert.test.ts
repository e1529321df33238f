import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { openAuditStore } from '../../src/audit/open.js';
import { startFieldmesh, type Running } from '../cli/run.js';
import { as, call, POLICIES, PSEUDONYM_KEY, ROUTES, SECRET, startJsonServer, USERS, type TestUpstream } from './helpers.js';

/**
 * `fieldmesh serve --break-glass-webhook`: the built binary alerts a real
 * receiver on 127.0.0.1 with the middleware's payload, retries, and never
 * lets the receiver hold up an answer.
 */
const REASON = 'Patient collapsed in the corridor, ward-9 team unreachable';
const TOKEN = 's3cret-hook-token';

/** A guardian's receiver: answers with the next of `statuses` (the last repeats; 'hang' never answers). */
async function receiver(...statuses: (number | 'hang')[]) {
  const bodies: Record<string, unknown>[] = [];
  const held: ServerResponse[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => {
      text += c.toString();
    });
    req.on('end', () => {
      const status = statuses[Math.min(bodies.length, statuses.length - 1)] ?? 204;
      bodies.push({ method: req.method, url: req.url, contentType: req.headers['content-type'], json: JSON.parse(text) });
      for (const w of waiters.filter((x) => x.n <= bodies.length)) w.resolve();
      if (status === 'hang') return void held.push(res);
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/break-glass?token=${TOKEN}`,
    bodies,
    held,
    received: (n: number) => new Promise<void>((resolve) => waiters.push({ n, resolve })),
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

describe('gateway › break-glass alerts (the built binary)', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function serve(
    env: Record<string, string>,
    args: string[] = [],
  ): Promise<{ p: Running; url: string; upstream: TestUpstream; audit: string }> {
    const upstream = await startJsonServer();
    cleanups.push(() => upstream.close());
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-bg-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const p = startFieldmesh(
      [
        'serve',
        '--upstream',
        upstream.url,
        '--routes',
        ROUTES,
        '--policies',
        POLICIES,
        '--port',
        '0',
        '--audit',
        join(dir, 'audit.db'),
        ...args,
      ],
      { env: { FIELDMESH_JWT_SECRET: SECRET, FIELDMESH_PSEUDONYM_KEY: PSEUDONYM_KEY, ...env } },
    );
    cleanups.push(() => p.stop('SIGKILL'));
    await p.waitFor('"gateway listening"');
    const { url } = JSON.parse(p.out.stdout.split('\n').find((l) => l.includes('"gateway listening"'))!) as { url: string };
    return { p, url, upstream, audit: join(dir, 'audit.db') };
  }

  const breakGlass = (url: string) =>
    call(`${url}/patients/pat-003`, { headers: as(USERS.nurse, 'emergency', { 'x-break-glass': REASON }) });

  it('POSTs the break-glass event to --break-glass-webhook, the payload the trail holds, and only for break-glass', async () => {
    const hook = await receiver(204);
    cleanups.push(hook.close);
    const { p, url, audit } = await serve({}, ['--break-glass-webhook', hook.url]);
    expect((await call(`${url}/patients/pat-001`, { headers: as(USERS.receptionist, 'administration') })).status).to.equal(200);
    const arrived = hook.received(1);
    const res = await breakGlass(url);
    expect(res.status).to.equal(200);
    await arrived;
    expect(hook.bodies).to.have.length(1);
    const [body] = hook.bodies;
    expect(body).to.deep.include({ method: 'POST', url: `/hooks/break-glass?token=${TOKEN}`, contentType: 'application/json' });
    expect(body?.json).to.deep.include({ requestId: res.headers['x-request-id'], user: 'nurse-1', breakGlass: REASON });
    p.stop('SIGTERM');
    expect((await p.exited).code).to.equal(0);
    const store = await openAuditStore(audit, { readonly: true });
    const trail = await store.query({ breakGlass: true });
    await store.close();
    expect(trail).to.have.length(1);
    expect(body?.json).to.deep.equal(trail[0]);
    // The token in the URL's query is never written, at start, per request or at stop.
    expect(p.out.stdout + p.out.stderr).not.to.include(TOKEN);
  });

  it('answers a break-glass request while the webhook holds its alert unanswered, and still stops on SIGTERM', async () => {
    const hook = await receiver('hang');
    cleanups.push(hook.close);
    const { p, url } = await serve({ FIELDMESH_BREAK_GLASS_WEBHOOK: hook.url });
    const order: string[] = [];
    const arrived = hook.received(1).then(() => order.push('alert arrived'));
    const res = await breakGlass(url);
    order.push(`answered ${res.status} with ${hook.held.filter((r) => r.writableEnded).length} alerts answered`);
    await arrived;
    // Whichever came first, the answer did not wait for the receiver: it has answered nothing.
    expect(order).to.include('answered 200 with 0 alerts answered');
    expect(hook.held).to.have.length(1);
    expect(hook.held[0]?.writableEnded).to.equal(false);
    p.stop('SIGTERM');
    // The attempt in flight ends at its time limit; its retry is dropped and logged, and the process exits.
    expect((await p.exited).code).to.equal(0);
    const dropped = p.out.stdout.split('\n').find((l) => l.includes('break-glass alert dropped'));
    expect(JSON.parse(dropped!)).to.deep.include({ channel: 'webhook', limit: 'closed', dropped: 1 });
    expect(p.out.stdout + p.out.stderr).not.to.include(TOKEN);
    expect(p.out.stdout + p.out.stderr).not.to.include(REASON);
  });

  it('retries a webhook answering 500 three times, then logs one failure by event id, the answer unaffected', async () => {
    const hook = await receiver(500);
    cleanups.push(hook.close);
    const { p, url } = await serve({ FIELDMESH_BREAK_GLASS_WEBHOOK: hook.url });
    const res = await breakGlass(url);
    expect(res.status).to.equal(200);
    await p.waitFor('"break-glass alert failed"');
    expect(hook.bodies).to.have.length(3);
    const [eventId] = new Set(hook.bodies.map((b) => (b.json as { id: string }).id));
    const failed = JSON.parse(p.out.stdout.split('\n').find((l) => l.includes('"break-glass alert failed"'))!) as Record<string, unknown>;
    expect(failed).to.deep.include({ eventId, channel: 'webhook', attempts: 3, err: 'webhook answered 500' });
    expect(p.out.stdout).not.to.include(TOKEN);
    expect(p.out.stdout).not.to.include(REASON);
  });

  it('reads the webhook from FIELDMESH_BREAK_GLASS_WEBHOOK_FILE, one trailing CRLF taken off', async () => {
    const hook = await receiver(204);
    cleanups.push(hook.close);
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-bg-file-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'webhook'), `${hook.url}\r\n`);
    const { url } = await serve({ FIELDMESH_BREAK_GLASS_WEBHOOK_FILE: join(dir, 'webhook') });
    const arrived = hook.received(1);
    expect((await breakGlass(url)).status).to.equal(200);
    await arrived;
    expect(hook.bodies[0]).to.deep.include({ url: `/hooks/break-glass?token=${TOKEN}` });
  });

  for (const [name, bad] of [
    ['a URL that is not http(s)', `ftp://guardian.example/hook?token=${TOKEN}`],
    ['no URL at all', `guardian.example/hook?token=${TOKEN}`],
  ] as const) {
    it(`refuses ${name} at start-up: exit 2, the setting named, the URL not echoed`, async () => {
      for (const [args, env, source] of [
        [['--break-glass-webhook', bad], {}, '--break-glass-webhook'],
        [[], { FIELDMESH_BREAK_GLASS_WEBHOOK: bad }, 'FIELDMESH_BREAK_GLASS_WEBHOOK'],
      ] as const) {
        const p = startFieldmesh(['serve', '--upstream', 'http://127.0.0.1:9', '--routes', ROUTES, '--policies', POLICIES, ...args], {
          env: { FIELDMESH_JWT_SECRET: SECRET, FIELDMESH_PSEUDONYM_KEY: PSEUDONYM_KEY, ...env },
        });
        expect((await p.exited).code).to.equal(2);
        const line = JSON.parse(p.out.stderr) as { problems: string[] };
        expect(line.problems).to.deep.equal([`${source}: must be an http:// or https:// URL`]);
        expect(p.out.stdout + p.out.stderr).not.to.include(TOKEN);
      }
    });
  }
});
