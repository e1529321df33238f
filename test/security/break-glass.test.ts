import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import request from 'supertest';
import type { AuditEvent } from '../../src/audit/event.js';
import { as, cleanup, examplePolicies, NOW, onCleanup, patient, patientsHandler, setup, USERS } from '../express/harness.js';
import {
  as as gwAs,
  call,
  startJsonServer,
  startTestGateway,
  USERS as GW_USERS,
  type TestGateway,
  type TestUpstream,
} from '../gateway/helpers.js';

/**
 * Break-glass is the guardian's signal (Caldicott 7): only a verified
 * caller's declaration may reach the review queue or the alerts, and no
 * reason may carry characters that rewrite a terminal or a log line.
 */
const REASON = 'Collapsed in outpatients, own team unreachable';
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/;

/** A guardian's webhook on 127.0.0.1 that counts what it receives. */
async function webhook(): Promise<{ url: string; hits: { user: string; breakGlass?: string }[]; next: () => Promise<void> }> {
  const hits: { user: string; breakGlass?: string }[] = [];
  let waiting: (() => void) | undefined;
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => {
      text += c.toString();
    });
    req.on('end', () => {
      hits.push(JSON.parse(text) as { user: string });
      res.statusCode = 204;
      res.end();
      waiting?.();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onCleanup(() => new Promise((r) => server.close(() => r())));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    hits,
    next: () =>
      new Promise<void>((r) => {
        waiting = r;
      }),
  };
}

describe('security › break-glass from strangers (middleware)', () => {
  afterEach(cleanup);

  it('answers 401 to an unauthenticated X-Break-Glass: no break-glass event, no review, no alert; counted only', async () => {
    const hook = await webhook();
    const alerts: AuditEvent[] = [];
    const h = await setup((app, mesh) => app.get('/patients/:id', mesh.read('Patient'), patientsHandler), {
      breakGlassWebhook: hook.url,
      onBreakGlass: (e: AuditEvent) => void alerts.push(e),
    });
    const stranger = await request(h.app)
      .get('/patients/pat-006')
      .set({ 'X-Purpose': 'emergency', 'X-Break-Glass': 'Page the guardian: free text from anyone' });
    expect(stranger.status).to.equal(401);
    const forged = await request(h.app)
      .get('/patients/pat-006')
      .set({ Authorization: 'Bearer not.a.token', 'X-Purpose': 'emergency', 'X-Break-Glass': REASON });
    expect(forged.status).to.equal(401);
    expect(h.mesh.counters.unverifiedBreakGlass).to.equal(2);
    const events = await h.events();
    expect(events).to.have.length(2);
    for (const e of events) {
      expect(e).to.include({ user: 'anonymous', decision: 'refused' });
      expect(e).not.to.have.property('breakGlass');
    }
    expect(await h.mesh.audit.pendingReviews()).to.deep.equal([]);

    // A verified nurse's declaration is recorded, queued and alerted: the first webhook hit is hers.
    const arrived = hook.next();
    const nurse = await request(h.app)
      .get('/patients/pat-006')
      .set({ ...as(USERS.nurse, 'emergency'), 'X-Break-Glass': REASON });
    expect(nurse.status).to.equal(200);
    await arrived;
    expect(hook.hits.map((x) => x.user)).to.deep.equal(['nurse-1']);
    expect(alerts.map((a) => a.user)).to.deep.equal(['nurse-1']);
    expect(await h.mesh.audit.pendingReviews()).to.have.length(1);
  });

  it('alerts at most 5 times a minute for one user; every event is still queued for review', async () => {
    const alerts: string[] = [];
    const h = await setup((app, mesh) => app.get('/patients/:id', mesh.read('Patient'), patientsHandler), {
      onBreakGlass: (e: AuditEvent) => void alerts.push(e.user),
    });
    for (let i = 0; i < 7; i++) {
      const res = await request(h.app)
        .get('/patients/pat-006')
        .set({ ...as(USERS.nurse, 'emergency'), 'X-Break-Glass': REASON });
      expect(res.status).to.equal(200);
    }
    expect(alerts).to.have.length(5);
    expect(await h.mesh.audit.pendingReviews()).to.have.length(7);
  });

  for (const [name, reason] of [
    ['a tab', 'Collapsed in\toutpatients, team unreachable'],
    ['a C1 control (NEL, U+0085)', 'Collapsed in outpatients\u0085team unreachable'],
    ['a C1 CSI (U+009B) that a terminal reads as an escape', 'Collapsed \u009b2J in outpatients, team unreachable'],
  ] as const) {
    it(`refuses a reason with ${name} (400 break_glass_malformed), recording it without the control characters`, async () => {
      const h = await setup((app, mesh) => app.get('/patients/:id', mesh.read('Patient'), patientsHandler));
      const res = await request(h.app)
        .get('/patients/pat-006')
        .set({ ...as(USERS.nurse, 'emergency'), 'X-Break-Glass': reason });
      expect(res.status).to.equal(400);
      expect(res.body.error.code).to.equal('break_glass_malformed');
      const [event] = await h.events();
      expect(event).to.include({ user: 'nurse-1', decision: 'refused', code: 'break_glass_malformed' });
      expect(event?.breakGlass).to.be.a('string');
      expect(event?.breakGlass).not.to.match(CONTROLS);
    });
  }
});

describe('security › break-glass from strangers (gateway)', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startJsonServer();
    gw = await startTestGateway(upstream.url);
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('answers 401 to an unauthenticated X-Break-Glass, queues nothing, and logs a count without the text', async () => {
    const text = 'Page the guardian: free text from anyone';
    const res = await call(`${gw.url}/patients/pat-006`, { headers: { 'x-purpose': 'emergency', 'x-break-glass': text } });
    expect(res.status).to.equal(401);
    expect(await gw.audit.pendingReviews()).to.deep.equal([]);
    const [event] = (await gw.audit.query({})).slice(-1);
    expect(event).to.include({ user: 'anonymous', decision: 'refused' });
    expect(event).not.to.have.property('breakGlass');
    const line = gw.logs.find((l) => l['event'] === 'break_glass_unverified');
    expect(line).to.include({ count: 1 });
    expect(gw.logText()).not.to.include(text);
  });

  it('refuses a reason with a tab or a C1 control (400 break_glass_malformed), and never forwards the request', async () => {
    const before = upstream.seen.length;
    for (const reason of ['Collapsed in\toutpatients, team unreachable', 'Collapsed in outpatients\u0085team unreachable']) {
      const res = await call(`${gw.url}/patients/pat-006`, { headers: { ...gwAs(GW_USERS.nurse, 'emergency'), 'x-break-glass': reason } });
      expect(res.status, res.text).to.equal(400);
      expect(res.json.error.code).to.equal('break_glass_malformed');
    }
    expect(upstream.seen.length).to.equal(before);
    for (const e of await gw.audit.pendingReviews()) expect(e.breakGlass).not.to.match(CONTROLS);
  });
});

/**
 * A reason is for the guardian to read: only visible characters count
 * towards its 10-character minimum, in every entry point (one rule:
 * engine/plan.ts breakGlassReasonRefusal). And a refused declaration still
 * records the purpose the caller declared.
 */
describe('security › break-glass reasons that say nothing, and the purpose of refused ones', () => {
  const INVISIBLE = [
    ['12 soft hyphens (U+00AD)', '\u00ad'.repeat(12)],
    ['soft hyphens around 3 letters', '\u00adA\u00ad\u00adB\u00ad\u00adC\u00ad\u00ad\u00ad\u00ad'],
  ] as const;
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startJsonServer();
    gw = await startTestGateway(upstream.url);
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });
  afterEach(cleanup);

  for (const [name, reason] of INVISIBLE) {
    it(`refuses a reason of ${name} (break_glass_refused) in the engine, the middleware and the gateway: nothing disclosed`, async () => {
      const policies = await examplePolicies();
      const engine = (() => {
        try {
          policies.redact(patient('pat-003'), {
            resource: 'Patient',
            purpose: 'emergency',
            user: USERS.nurse,
            breakGlass: reason,
            now: NOW,
          });
          return 'disclosed';
        } catch (e) {
          return (e as { code?: string }).code;
        }
      })();
      expect(engine).to.equal('break_glass_refused');
      // Zero-width and other format characters cannot travel in a header, but the engine sees them from the library.
      expect(() =>
        policies.redact(patient('pat-003'), {
          resource: 'Patient',
          purpose: 'emergency',
          user: USERS.nurse,
          breakGlass: '\u200b'.repeat(12),
          now: NOW,
        }),
      )
        .to.throw()
        .with.property('code', 'break_glass_refused');
      // Blank letters and symbols, and marks over nothing, say nothing either.
      for (const blank of ['\u3164'.repeat(12), '\u2800'.repeat(12), `x${'\ufe0f'.repeat(12)}`, `a${'\u0301'.repeat(12)}`]) {
        expect(
          () =>
            policies.redact(patient('pat-003'), {
              resource: 'Patient',
              purpose: 'emergency',
              user: USERS.nurse,
              breakGlass: blank,
              now: NOW,
            }),
          JSON.stringify(blank),
        )
          .to.throw()
          .with.property('code', 'break_glass_refused');
      }

      const h = await setup((app, mesh) => app.get('/patients/:id', mesh.read('Patient'), patientsHandler));
      const mw = await request(h.app)
        .get('/patients/pat-003')
        .set({ ...as(USERS.nurse, 'emergency'), 'X-Break-Glass': reason });
      expect(mw.body.error?.code).to.equal('break_glass_refused');
      expect(mw.body).not.to.have.property('id');
      // The guardian learns of an attempt, never of an access: the one event is a refusal.
      expect((await h.events()).map((e) => [e.decision, e.code])).to.deep.equal([['refused', 'break_glass_refused']]);

      const seen = upstream.seen.length;
      const res = await call(`${gw.url}/patients/pat-003`, { headers: { ...gwAs(GW_USERS.nurse, 'emergency'), 'x-break-glass': reason } });
      expect(res.json?.error?.code).to.equal('break_glass_refused');
      expect(res.status).to.equal(mw.status);
      expect(upstream.seen.length).to.equal(seen);
    });
  }

  for (const [name, reason, code] of [
    ['too short', 'urgent', 'break_glass_refused'],
    ['with a tab', 'Collapsed in\toutpatients, team unreachable', 'break_glass_malformed'],
  ] as const) {
    it(`records the declared purpose of a break-glass refused as ${name} (${code}), in both shells`, async () => {
      const h = await setup((app, mesh) => app.get('/patients/:id', mesh.read('Patient'), patientsHandler));
      const mw = await request(h.app)
        .get('/patients/pat-003')
        .set({ ...as(USERS.nurse, 'emergency'), 'X-Break-Glass': reason });
      expect(mw.body.error.code).to.equal(code);
      const [event] = await h.events();
      expect(event).to.include({ user: 'nurse-1', decision: 'refused', code, purpose: 'emergency' });

      const res = await call(`${gw.url}/patients/pat-003`, { headers: { ...gwAs(GW_USERS.nurse, 'emergency'), 'x-break-glass': reason } });
      expect(res.json.error.code).to.equal(code);
      const [last] = (await gw.audit.query({})).slice(-1);
      expect(last).to.include({ user: 'nurse-1', decision: 'refused', code, purpose: 'emergency' });
    });
  }

  it('records no purpose that is not a purpose name, and none for a caller whose token did not verify', async () => {
    const h = await setup((app, mesh) => app.get('/patients/:id', mesh.read('Patient'), patientsHandler));
    const malformed = await request(h.app)
      .get('/patients/pat-003')
      .set({ ...as(USERS.nurse, 'emergency'), 'X-Purpose': 'emergency; see ward 9', 'X-Break-Glass': 'urgent' });
    expect(malformed.body.error.code).to.equal('purpose_malformed');
    const stranger = await request(h.app)
      .get('/patients/pat-003')
      .set({ Authorization: 'Bearer not.a.token', 'X-Purpose': 'emergency', 'X-Break-Glass': 'urgent' });
    expect(stranger.status).to.equal(401);
    expect((await h.events()).map((e) => e.purpose)).to.deep.equal(['', '']);
  });
});
