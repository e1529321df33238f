import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import request from 'supertest';
import { as, cleanup, PATIENTS, setup, USERS } from '../express/harness.js';
import {
  as as gwAs,
  call,
  records,
  startRawUpstream,
  startTestGateway,
  USERS as GW_USERS,
  type TestGateway,
  type TestUpstream,
} from '../gateway/helpers.js';

/**
 * Statuses a record source may answer with that say something without a
 * body, or that no final answer may have. Both shells read them through one
 * lifecycle (src/http/outcome.ts), so each rule is proved once per shell.
 */
describe('security › odd statuses from a record source (middleware)', () => {
  afterEach(cleanup);

  for (const status of [102, 600, 999, 1000]) {
    it(`refuses a handler's status ${status} (500 unredactable_body), recording one refusal and no disclosure`, async () => {
      const h = await setup((app, mesh) => {
        app.get('/patients/:id', mesh.read('Patient'), (req, res) => {
          const p = PATIENTS.find((x) => x['id'] === req.params['id']);
          // Assigned directly: express's res.status() may refuse some of these itself.
          res.statusCode = status;
          res.json(p);
        });
      });
      const res = await request(h.app).get('/patients/pat-001').set(as(USERS.nurse)).timeout(10_000);
      expect(res.status).to.equal(500);
      expect(res.body.error.code).to.equal('unredactable_body');
      expect(res.text).not.to.include('pat-001');
      const events = await h.events();
      expect(events.map((e) => e.decision)).to.deep.equal(['refused']);
    });
  }

  it('answers a bodiless success for a named record exactly as a missing record (a hidden one would answer so too)', async () => {
    const h = await setup((app, mesh) => {
      app.get('/patients/:id', mesh.read('Patient'), (req, res) => {
        const p = PATIENTS.find((x) => x['id'] === req.params['id']);
        if (!p) return void res.status(404).json({ error: 'none' });
        res.status(204).end();
      });
    });
    // pat-004 is sealed (hidden from the nurse); pat-999 does not exist; pat-001 is the nurse's own patient.
    const ask = async (id: string) => {
      const r = await request(h.app).get(`/patients/${id}`).set(as(USERS.nurse));
      return [r.status, r.body] as const;
    };
    const hidden = await ask('pat-004');
    expect(hidden[0]).to.equal(404);
    expect(hidden).to.deep.equal(await ask('pat-999'));
    expect(await ask('pat-001')).to.deep.equal(hidden);
  });
});

describe('security › odd statuses from a record source (gateway)', () => {
  let dir: string;
  let upstream: TestUpstream;
  let gateway: TestGateway;
  const patients: Record<string, unknown>[] = records('Patient');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fieldmesh-odd-'));
    const routes = join(dir, 'routes.yaml');
    writeFileSync(routes, ['routes:', '  - { path: /patients/:id, resource: Patient, methods: [GET, PATCH] }', ''].join('\n'));
    // The caller picks the upstream's answer through the one header the gateway forwards.
    upstream = await startRawUpstream((req, res) => {
      const mode = String(req.headers['accept-language'] ?? '');
      const id = /^\/patients\/(.+)$/.exec(new URL(req.url ?? '/', 'http://x').pathname)?.[1];
      const p = patients.find((x) => x['id'] === id);
      if (!p) return void res.writeHead(404).end();
      const json = { 'content-type': 'application/json' };
      if (req.method === 'PATCH' && mode === 'x-redirect')
        return void res.writeHead(303, { location: `/patients/${String(p['nhsNumber'])}` }).end();
      if (req.method === 'GET' && mode === 'x-205') return void res.writeHead(205, json).end(JSON.stringify(p));
      if (req.method === 'GET' && mode === 'x-204') return void res.writeHead(204).end();
      res.writeHead(200, json).end(JSON.stringify(p));
    });
    gateway = await startTestGateway(upstream.url, { routes });
  });

  after(async () => {
    await gateway?.close();
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers an upstream's redirect after a write as done (204), without its Location, recorded as the write", async () => {
    const headers = { ...gwAs(GW_USERS.receptionist, 'administration'), 'accept-language': 'x-redirect' };
    const res = await call(`${gateway.url}/patients/pat-001`, { method: 'PATCH', headers, body: { telecom: [] } });
    expect(res.status).to.equal(204);
    expect(res.headers).not.to.have.property('location');
    expect(res.text).to.equal('');
    const events = (await gateway.audit.query({})).filter((e) => e.requestId === res.headers['x-request-id']);
    expect(events.map((e) => [e.action, e.decision, e.status])).to.deep.equal([
      ['update', 'disclosed', 0],
      ['update', 'disclosed', 204],
    ]);
  });

  it('sends nothing of the body an upstream put on a 205 (no content by RFC 9110): for one record it answers as missing', async () => {
    const res = await call(`${gateway.url}/patients/pat-002`, {
      headers: { ...gwAs(GW_USERS.receptionist, 'administration'), 'accept-language': 'x-205' },
    });
    expect(res.status).to.equal(404);
    expect(res.json.error.code).to.equal('not_found');
    expect(res.text).not.to.include('pat-002');
  });

  it('answers a bodiless success for one record exactly as a missing record', async () => {
    const headers = { ...gwAs(GW_USERS.gp, 'direct-care'), 'accept-language': 'x-204' };
    const hidden = await call(`${gateway.url}/patients/pat-003`, { headers });
    const missing = await call(`${gateway.url}/patients/pat-999`, { headers });
    expect(hidden.status).to.equal(404);
    expect([hidden.status, hidden.json]).to.deep.equal([missing.status, missing.json]);
  });
});
