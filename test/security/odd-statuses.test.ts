import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
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

describe('security › answers without a record, for a lookup (middleware)', () => {
  afterEach(cleanup);
  const nhsOf = (id: string) => String(PATIENTS.find((p) => p['id'] === id)!['nhsNumber']);

  // Each way a handler can answer "found" without a record: it must answer for a hidden record as for a missing one.
  const empties: [string, (res: import('express').Response) => void][] = [
    ['a 204', (res) => void res.status(204).end()],
    ['an empty 200', (res) => void res.status(200).end()],
    ['a JSON null', (res) => void res.json(null)],
  ];
  for (const [what, answer] of empties) {
    it(`answers ${what} to a lookup by NHS number exactly as a missing record`, async () => {
      const h = await setup((app, mesh) => {
        app.get('/patients/by-nhs/:nhs', mesh.read('Patient', { params: { nhs: 'nhsNumber' } }), (req, res) => {
          const p = PATIENTS.find((x) => x['nhsNumber'] === req.params['nhs']);
          if (!p) return void res.status(404).json({ error: 'none' });
          answer(res);
        });
      });
      const ask = async (nhs: string) => {
        const r = await request(h.app).get(`/patients/by-nhs/${nhs}`).set(as(USERS.gp));
        return [r.status, r.body] as const;
      };
      // pat-003 is registered at another practice: hidden from this GP. 9999999999 is nobody.
      const hidden = await ask(nhsOf('pat-003'));
      expect(hidden[0]).to.equal(404);
      expect(hidden).to.deep.equal(await ask('9999999999'));
    });
  }

  it('never lets an interim 100 or 102 out before the decision (sent only for a record that exists, it would tell one)', async () => {
    const h = await setup((app, mesh) => {
      app.get('/patients/:id', mesh.read('Patient'), (req, res) => {
        const p = PATIENTS.find((x) => x['id'] === req.params['id']);
        if (!p) return void res.status(404).json({ error: 'none' });
        res.writeProcessing();
        res.writeContinue();
        res.json(p);
      });
    });
    const server = h.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const { port } = server.address() as { port: number };
      const interim: number[] = [];
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path: '/patients/pat-004', headers: as(USERS.nurse) }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('information', (info) => interim.push(info.statusCode));
        req.on('error', reject);
        req.end();
      });
      // pat-004 is sealed: hidden from the nurse.
      expect(status).to.equal(404);
      expect(interim).to.deep.equal([]);
    } finally {
      await new Promise((r) => server.close(r));
    }
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
      if (mode === 'x-empty-205') return void res.writeHead(205).end();
      if (req.method === 'PATCH' && mode === 'w-empty-205') return void res.writeHead(205).end();
      if (req.method === 'GET' && mode === 'x-empty-200') return void res.writeHead(200, json).end();
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

  it('answers an empty 205 or an empty 200 for one record exactly as a missing record', async () => {
    for (const mode of ['x-empty-205', 'x-empty-200']) {
      const headers = { ...gwAs(GW_USERS.gp, 'direct-care'), 'accept-language': mode };
      const visible = await call(`${gateway.url}/patients/pat-001`, { headers });
      const hidden = await call(`${gateway.url}/patients/pat-003`, { headers });
      const missing = await call(`${gateway.url}/patients/pat-999`, { headers });
      expect(hidden.status, mode).to.equal(404);
      expect([hidden.status, hidden.json]).to.deep.equal([missing.status, missing.json]);
      expect([visible.status, visible.json]).to.deep.equal([missing.status, missing.json]);
    }
  });

  it('answers a write the upstream answered with an empty 205 as done, not as a failure that invites a retry', async () => {
    const headers = { ...gwAs(GW_USERS.receptionist, 'administration'), 'accept-language': 'w-empty-205' };
    const before = upstream.seen.length;
    const res = await call(`${gateway.url}/patients/pat-001`, { method: 'PATCH', headers, body: { telecom: [] } });
    expect(res.status).to.equal(205);
    expect(res.text).to.equal('');
    expect(upstream.seen.slice(before).filter((x) => x.method === 'PATCH')).to.have.length(1);
  });

  it('refuses an update whose stored record comes back as an empty 205, as a missing record, writing nothing', async () => {
    const headers = { ...gwAs(GW_USERS.receptionist, 'administration'), 'accept-language': 'x-empty-205' };
    const before = upstream.seen.length;
    const res = await call(`${gateway.url}/patients/pat-001`, { method: 'PATCH', headers, body: { telecom: [] } });
    expect(res.status).to.equal(404);
    expect(res.json.error.code).to.equal('not_found');
    expect(upstream.seen.slice(before).filter((x) => x.method === 'PATCH')).to.have.length(0);
  });
});
