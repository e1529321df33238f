import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withBreakGlassAlert, type AlertLogger } from '../../src/audit/alert.js';
import type { AuditEvent } from '../../src/audit/event.js';
import { openAuditStore } from '../../src/audit/store.js';
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
    const nextWarning = new Promise<void>((r) => { warned = r; });
    const logger: AlertLogger = { warn: (obj, msg) => { warnings.push({ obj, msg }); warned(); } };
    return { store, logger, warnings, nextWarning };
  }

  /** A guardian's webhook on 127.0.0.1 that answers `status` and hands over each body it receives. */
  async function webhook(status: number) {
    const bodies: unknown[] = [];
    let received: (body: unknown) => void = () => undefined;
    const first = new Promise<unknown>((r) => { received = r; });
    const server = createServer((req: IncomingMessage, res) => {
      let text = '';
      req.on('data', (c: Buffer) => { text += c.toString(); });
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
    const nextAlert = () => new Promise<void>((r) => { called = r; });
    const alerting = withBreakGlassAlert(store, { onBreakGlass: (e) => { seen.push(e); called(); } });
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
    const alerting = withBreakGlassAlert(store, { onBreakGlass: () => { throw new Error('pager offline'); }, logger });
    const bg = await alerting.append(breakGlassEntry());
    await nextWarning;
    expect(warnings[0]?.obj).to.deep.include({ eventId: bg.id, channel: 'onBreakGlass', err: 'pager offline' });
    await alerting.close();
  });

  it('refuses a webhook that is not an http(s) URL when it is configured, not when it first fires', async () => {
    const { store } = await setup();
    expect(() => withBreakGlassAlert(store, { breakGlassWebhook: 'guardian.example/hook' })).to.throw(TypeError, /http/);
    await store.close();
  });
});
