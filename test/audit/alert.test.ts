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

  /**
   * A guardian's webhook on 127.0.0.1 that answers each request with the next
   * of `statuses` (the last repeats; 'hang' never answers) and hands over each
   * body it receives.
   */
  async function webhook(...statuses: (number | 'hang')[]) {
    const bodies: unknown[] = [];
    const waiters: { n: number; resolve: () => void }[] = [];
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
        const status = statuses[Math.min(bodies.length, statuses.length - 1)] ?? 204;
        bodies.push(body);
        received(body);
        for (const w of waiters.filter((x) => x.n <= bodies.length)) w.resolve();
        if (status === 'hang') return;
        res.statusCode = status;
        res.end();
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/break-glass`,
      bodies,
      first,
      /** Resolves once `n` requests have arrived. */
      received: (n: number) => new Promise<void>((resolve) => waiters.push({ n, resolve })),
      stop: () => server.closeAllConnections(),
    };
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

  it('retries a failing webhook three times, then logs it once; the event is recorded all the same', async () => {
    const { store, logger, warnings, nextWarning } = await setup();
    const hook = await webhook(500);
    const alerting = withBreakGlassAlert(store, { breakGlassWebhook: hook.url, logger, webhookBackoffMs: 1 });
    const bg = await alerting.append(breakGlassEntry());
    await nextWarning;
    expect(hook.bodies).to.have.length(3);
    expect(warnings).to.have.length(1);
    expect(warnings[0]?.msg).to.equal('break-glass alert failed');
    expect(warnings[0]?.obj).to.deep.equal({ eventId: bg.id, channel: 'webhook', attempts: 3, err: 'webhook answered 500' });
    expect(await alerting.query({ breakGlass: true })).to.have.length(1);
    await alerting.close();
  });

  it('delivers on a retry after a 503, a 429 and a 408, each the same event, and logs nothing', async () => {
    const { store, logger, warnings } = await setup();
    const hook = await webhook(503, 429, 408, 204);
    const alerting = withBreakGlassAlert(store, { breakGlassWebhook: hook.url, logger, webhookBackoffMs: 1, webhookAttempts: 4 });
    const bg = await alerting.append(breakGlassEntry());
    await hook.received(4);
    await alerting.close();
    expect(hook.bodies.map((b) => (b as { json: { id: string } }).json.id)).to.deep.equal([bg.id, bg.id, bg.id, bg.id]);
    expect(warnings).to.deep.equal([]);
  });

  for (const status of [400, 401, 404, 410]) {
    it(`does not retry a webhook that answers ${status}: it would answer the same again`, async () => {
      const { store, logger, warnings, nextWarning } = await setup();
      const hook = await webhook(status, 204);
      const alerting = withBreakGlassAlert(store, { breakGlassWebhook: hook.url, logger, webhookBackoffMs: 1 });
      await alerting.append(breakGlassEntry());
      await nextWarning;
      await alerting.close();
      expect(hook.bodies).to.have.length(1);
      expect(warnings[0]?.obj).to.deep.include({ attempts: 1, err: `webhook answered ${status}` });
    });
  }

  it('never logs the webhook URL nor the reason when the webhook cannot be reached (its query may hold a token)', async () => {
    const { store, logger, warnings, nextWarning } = await setup();
    const hook = await webhook(204);
    const url = `${hook.url}?token=s3cret-token`;
    await new Promise<void>((r) => servers.pop()?.close(() => r()));
    const alerting = withBreakGlassAlert(store, { breakGlassWebhook: url, logger, webhookBackoffMs: 1 });
    const reason = 'Unconscious on arrival, no consent possible';
    const bg = await alerting.append(breakGlassEntry({ breakGlass: reason }));
    await nextWarning;
    await alerting.close();
    expect(warnings[0]?.obj).to.deep.equal({ eventId: bg.id, channel: 'webhook', attempts: 3, err: 'ECONNREFUSED' });
    const logged = JSON.stringify(warnings);
    for (const secret of ['s3cret-token', reason, '127.0.0.1']) expect(logged).not.to.include(secret);
  });

  it('bounds the deliveries pending on a webhook that never answers: one more is dropped, counted and logged by event id', async () => {
    const { store, logger, warnings, nextWarning } = await setup();
    const hook = await webhook('hang');
    const alerting = withBreakGlassAlert(store, {
      breakGlassWebhook: hook.url,
      logger,
      webhookMaxPending: 2,
      webhookAttempts: 1,
    });
    const reason = 'Unconscious on arrival, no consent possible';
    const arrived = hook.received(2);
    const events = [];
    for (const requestId of ['one', 'two', 'three']) events.push(await alerting.append(breakGlassEntry({ requestId, breakGlass: reason })));
    await nextWarning;
    expect(warnings).to.have.length(1);
    expect(warnings[0]?.msg).to.match(/^break-glass alert dropped/);
    expect(warnings[0]?.obj).to.deep.equal({ eventId: events[2]?.id, channel: 'webhook', limit: 'pending', dropped: 1 });
    expect(JSON.stringify(warnings)).not.to.include(reason);
    // Every event is in the trail and its review queue, alerted or not.
    expect(await alerting.pendingReviews()).to.have.length(3);
    await arrived;
    expect(hook.bodies.map((b) => (b as { json: { requestId: string } }).json.requestId)).to.deep.equal(['one', 'two']);
    hook.stop();
    await alerting.close();
  });

  it('drops the retries still waiting when the store closes, logging each, instead of holding the process', async () => {
    const { store, logger, warnings, nextWarning } = await setup();
    const hook = await webhook(500);
    const alerting = withBreakGlassAlert(store, { breakGlassWebhook: hook.url, logger, webhookBackoffMs: 3_600_000 });
    const arrived = hook.received(1);
    const bg = await alerting.append(breakGlassEntry());
    await arrived;
    // The first attempt fails (before or after close); its retry would wait an hour. Closing must not wait for it.
    await alerting.close();
    await nextWarning;
    expect(warnings.map((w) => w.obj)).to.deep.equal([{ eventId: bg.id, channel: 'webhook', limit: 'closed', dropped: 1 }]);
    expect(hook.bodies).to.have.length(1);
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
    expect(() => withBreakGlassAlert(store, { breakGlassWebhook: 'guardian.example/hook?token=s3cret' }))
      .to.throw(TypeError, /http/)
      .with.property('message')
      .that.does.not.include('s3cret');
    expect(() => withBreakGlassAlert(store, { breakGlassWebhook: 'file:///etc/passwd' })).to.throw(TypeError, /http/);
    // Userinfo is not sent: refused rather than silently dropped, and never quoted.
    expect(() => withBreakGlassAlert(store, { breakGlassWebhook: 'https://hook:s3cret@g.example/alert' }))
      .to.throw(TypeError, /breakGlassWebhook must not hold user:password@/)
      .with.property('message')
      .that.does.not.include('s3cret');
    expect(() => withBreakGlassAlert(store, { breakGlassWebhook: 'https://g.example/', webhookAttempts: 0 })).to.throw(
      TypeError,
      /webhookAttempts/,
    );
    await store.close();
  });
});
