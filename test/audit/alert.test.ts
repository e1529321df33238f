import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withBreakGlassAlert, type AlertLogger } from '../../src/audit/alert.js';
import type { AuditEvent } from '../../src/audit/event.js';
import { openAuditStore } from '../../src/audit/open.js';
import { breakGlassEntry, sampleEntry } from './entries.js';

describe('audit/alert', () => {
  const dirs: string[] = [];
  const servers: Server[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    for (const s of servers) s.close();
  });

  async function setup() {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-alert-'));
    dirs.push(dir);
    const store = await openAuditStore(join(dir, 'audit.db'));
    const warnings: { obj: object; msg: string }[] = [];
    let warned: () => void = () => undefined;
    const nextWarning = new Promise<void>((r) => {
      warned = r;
    });
    const logger: AlertLogger = {
      warn: (obj, msg) => {
        warnings.push({ obj, msg });
        warned();
      },
    };
    return { store, logger, warnings, nextWarning };
  }

  /** A guardian's webhook on 127.0.0.1 that answers `status` and hands over each body it receives. */
  async function webhook(status: number) {
    const bodies: unknown[] = [];
    let received: (body: unknown) => void = () => undefined;
    const first = new Promise<unknown>((r) => {
      received = r;
    });
    const server = createServer((req: IncomingMessage, res) => {
      let text = '';
      req.on('data', (c: Buffer) => {
        text += c.toString();
      });
      req.on('end', () => {
        const body = { contentType: req.headers['content-type'], method: req.method, json: JSON.parse(text) as unknown };
        bodies.push(body);
        res.statusCode = status;
        res.end();
        received(body);
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/break-glass`, bodies, first };
  }

  it('calls onBreakGlass with each break-glass event once it is recorded, and only those', async () => {
    const { store } = await setup();
    const seen: AuditEvent[] = [];
    let called: () => void = () => undefined;
    const nextAlert = () =>
      new Promise<void>((r) => {
        called = r;
      });
    const alerting = withBreakGlassAlert(store, {
      onBreakGlass: (e) => {
        seen.push(e);
        called();
      },
    });
    let alerted = nextAlert();
    await alerting.append(sampleEntry());
    const bg = await alerting.append(breakGlassEntry());
    await alerted;
    alerted = nextAlert();
    await alerting.acknowledge(bg.id, 'G', 'ok');
    const bg2 = await alerting.append(breakGlassEntry({ requestId: 'req-bg-2' }));
    await alerted;
    expect(seen.map((e) => e.id)).to.deep.equal([bg.id, bg2.id]);
    await alerting.close();
  });

  it('POSTs the event as JSON to the webhook', async () => {
    const { store } = await setup();
    const hook = await webhook(204);
    const alerting = withBreakGlassAlert(store, { breakGlassWebhook: hook.url });
    const bg = await alerting.append(breakGlassEntry());
    expect(await hook.first).to.deep.equal({ contentType: 'application/json', method: 'POST', json: bg });
    await alerting.close();
  });

  it('logs a failing webhook and still records the event and answers the request', async () => {
    const { store, logger, warnings, nextWarning } = await setup();
    const hook = await webhook(500);
    const alerting = withBreakGlassAlert(store, { breakGlassWebhook: hook.url, logger });
    const bg = await alerting.append(breakGlassEntry());
    await nextWarning;
    expect(warnings[0]?.msg).to.equal('break-glass alert failed');
    expect(warnings[0]?.obj).to.deep.include({ eventId: bg.id, channel: 'webhook', err: 'webhook answered 500' });
    expect(await alerting.query({ breakGlass: true })).to.have.length(1);
    await alerting.close();
  });

  it('logs a throwing onBreakGlass hook without failing the append', async () => {
    const { store, logger, warnings, nextWarning } = await setup();
    const alerting = withBreakGlassAlert(store, {
      onBreakGlass: () => {
        throw new Error('pager offline');
      },
      logger,
    });
    const bg = await alerting.append(breakGlassEntry());
    await nextWarning;
    expect(warnings[0]?.obj).to.deep.include({ eventId: bg.id, channel: 'onBreakGlass', err: 'pager offline' });
    await alerting.close();
  });

  it('rate-limits alerts per user and overall per minute, counting and logging each dropped one by event id only', async () => {
    const { store, logger, warnings } = await setup();
    let clock = Date.parse('2026-11-24T12:00:00Z');
    const seen: string[] = [];
    const alerting = withBreakGlassAlert(store, {
      onBreakGlass: (e) => void seen.push(e.user),
      logger,
      perUserPerMinute: 2,
      perMinute: 3,
      now: () => clock,
    });
    const reason = 'Unconscious on arrival, no consent possible';
    for (const user of ['a', 'a', 'a', 'b', 'c', 'd']) await alerting.append(breakGlassEntry({ user, breakGlass: reason }));
    await Promise.resolve();
    // a, a pass; the third a hits the per-user limit; b passes; c and d hit the global limit of 3.
    expect(seen).to.deep.equal(['a', 'a', 'b']);
    const dropped = warnings.filter((w) => w.msg.startsWith('break-glass alert dropped'));
    expect(dropped.map((w) => (w.obj as { limit: string }).limit)).to.deep.equal(['user', 'global', 'global']);
    expect(dropped.map((w) => (w.obj as { dropped: number }).dropped)).to.deep.equal([1, 2, 3]);
    for (const w of dropped) expect(JSON.stringify(w.obj)).not.to.include(reason);
    // Every event is in the trail and the review queue, alerted or not.
    expect(await alerting.pendingReviews()).to.have.length(6);
    clock += 60_000;
    await alerting.append(breakGlassEntry({ user: 'a', breakGlass: reason }));
    await Promise.resolve();
    expect(seen).to.deep.equal(['a', 'a', 'b', 'a']);
    await alerting.close();
  });

  it('never alerts for an unauthenticated refusal, whatever it carries', async () => {
    const { store } = await setup();
    const hook = await webhook(204);
    const seen: string[] = [];
    const alerting = withBreakGlassAlert(store, { onBreakGlass: (e) => void seen.push(e.requestId), breakGlassWebhook: hook.url });
    await alerting.append(
      breakGlassEntry({ requestId: 'stranger', user: 'anonymous', roles: [], decision: 'refused', code: 'unauthenticated', status: 401 }),
    );
    await alerting.append(breakGlassEntry({ requestId: 'nurse' }));
    expect(((await hook.first) as { json: { requestId: string } }).json.requestId).to.equal('nurse');
    expect(seen).to.deep.equal(['nurse']);
    expect(hook.bodies).to.have.length(1);
    await alerting.close();
  });

  it('refuses a webhook that is not an http(s) URL when it is configured, not when it first fires', async () => {
    const { store } = await setup();
    expect(() => withBreakGlassAlert(store, { breakGlassWebhook: 'guardian.example/hook' })).to.throw(TypeError, /http/);
    await store.close();
  });
});
