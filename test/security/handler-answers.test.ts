import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import express from 'express';
import request from 'supertest';
import { as, cleanup, patient, PATIENTS, setup, USERS } from '../express/harness.js';
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
import { fieldmesh as cli } from '../cli/run.js';

/**
 * Answers that carry no record can still name one: a redirect's Location, a
 * 304 to "is it fresh?", an upstream that redirects only for records it has,
 * a Bundle entry's fullUrl, a body sent with a read, a query on a write.
 * Each must look the same for a hidden record as for a missing one, and
 * carry nothing of it.
 */
describe('security › answers without a record (middleware)', () => {
  afterEach(cleanup);
  const byNhs = (nhs: unknown) => PATIENTS.find((p) => p['nhsNumber'] === nhs);

  it('answers a handler redirect built from a record exactly as a missing record, and records it', async () => {
    const h = await setup((app, mesh) => {
      app.get('/patients/by-nhs/:nhs', mesh.read('Patient', { params: { nhs: 'nhsNumber' } }), (req, res) => {
        const p = byNhs(req.params['nhs']);
        if (!p) return void res.status(404).json({ error: 'none' });
        res.redirect(303, `/patients/${String(p['id'])}?nhs=${String(p['nhsNumber'])}`);
      });
    });
    // pat-003 is registered at another practice: hidden from this GP. 9999999999 is nobody.
    const hidden = await request(h.app)
      .get(`/patients/by-nhs/${String(patient('pat-003')['nhsNumber'])}`)
      .set(as(USERS.gp));
    const missing = await request(h.app).get('/patients/by-nhs/9999999999').set(as(USERS.gp));
    expect(hidden.status).to.equal(404);
    expect([hidden.status, hidden.body]).to.deep.equal([missing.status, missing.body]);
    expect(hidden.headers).not.to.have.property('location');
    expect(hidden.text).not.to.include('pat-003');
    const events = await h.events();
    expect(events.some((e) => e.code === 'redirect_withheld' && e.decision === 'refused')).to.equal(true);
  });

  it('drops conditional request headers before the handler, and answers a 304 as a missing record', async () => {
    let sawCondition = false;
    const h = await setup((app, mesh) => {
      app.get('/patients/:id', mesh.read('Patient'), (req, res) => {
        const p = PATIENTS.find((x) => x['id'] === req.params['id']);
        if (!p) return void res.status(404).json({ error: 'none' });
        sawCondition ||= req.headers['if-none-match'] !== undefined;
        res.set('ETag', '"v1"');
        if (req.fresh) return void res.status(304).end();
        res.json(p);
      });
    });
    const ask = async (id: string) => (await request(h.app).get(`/patients/${id}`).set(as(USERS.nurse)).set('if-none-match', '*')).status;
    // pat-004 is sealed; pat-999 does not exist; pat-001 is the nurse's own patient.
    expect(await ask('pat-004')).to.equal(404);
    expect(await ask('pat-999')).to.equal(404);
    expect(await ask('pat-001')).to.equal(200);
    expect(sawCondition).to.equal(false);
  });

  it('tells a negotiating handler the caller accepts JSON, so a hidden record answers as a missing one whatever Accept says', async () => {
    const h = await setup((app, mesh) => {
      app.get('/patients/:id', mesh.read('Patient'), (req, res) => {
        const p = PATIENTS.find((x) => x['id'] === req.params['id']);
        if (!p) return void res.status(404).json({ error: 'none' });
        res.format({ json: () => res.json(p) });
      });
    });
    for (const accept of ['image/png', 'application/xml', 'text/html']) {
      const hidden = await request(h.app).get('/patients/pat-004').set(as(USERS.nurse)).set('accept', accept);
      const missing = await request(h.app).get('/patients/pat-999').set(as(USERS.nurse)).set('accept', accept);
      expect([hidden.status, hidden.body], accept).to.deep.equal([missing.status, missing.body]);
      const own = await request(h.app).get('/patients/pat-001').set(as(USERS.nurse)).set('accept', accept);
      expect(own.status, accept).to.equal(200);
    }
  });

  it('refuses to run before a route matched (app.use in front of a router), where path parameters cannot be checked', async () => {
    let reached = 0;
    const h = await setup((app, mesh) => {
      const router = express.Router();
      router.get('/', (_req, res) => void res.json(PATIENTS));
      router.get('/:id', (req, res) => {
        reached += 1;
        res.json(PATIENTS.find((x) => x['id'] === req.params['id']) ?? {});
      });
      app.use('/patients', mesh.read('Patient'), router);
    });
    const lookup = await request(h.app).get('/patients/pat-001').set(as(USERS.analyst, 'service-planning'));
    expect(lookup.status).to.equal(500);
    expect(lookup.body.error.code).to.equal('mesh_unrouted');
    expect(reached).to.equal(0);
    const list = await request(h.app).get('/patients').set(as(USERS.analyst, 'service-planning'));
    expect(list.status).to.equal(200);
  });

  it('refuses a create at a path that names a record by id (an upsert could overwrite a hidden one)', async () => {
    let handled = 0;
    const h = await setup((app, mesh) => {
      app.post('/notes/:id', mesh.write('CaseNote'), (_req, res) => {
        handled++;
        res.status(201).json({});
      });
    });
    // cn-002 is a safeguarding note the GP may not read; a record API that upserts by id would overwrite it.
    const res = await request(h.app)
      .post('/notes/cn-002')
      .set(as(USERS.gp))
      .send({ subjectId: 'pat-001', kind: 'clinical', text: 'x', careTeam: 'ward-7' });
    expect(res.status).to.equal(500);
    expect(res.body.error.code).to.equal('create_names_record');
    expect(handled).to.equal(0);
  });

  it("answers a write's redirect as done (204), without its Location", async () => {
    const h = await setup((app, mesh) => {
      app.patch('/patients/:id', mesh.write('Patient', { load: (req) => patient(String(req.params['id'])) }), (req, res) => {
        const p = patient(String(req.params['id']));
        res.redirect(303, `/patients/by-nhs/${String(p['nhsNumber'])}`);
      });
    });
    const res = await request(h.app)
      .patch('/patients/pat-001')
      .set(as(USERS.receptionist, 'administration'))
      .send({ telecom: [{ system: 'phone', value: '0113 496 0000' }] })
      .redirects(0);
    expect(res.status).to.equal(204);
    expect(res.headers).not.to.have.property('location');
    expect(res.text).to.equal('');
  });

  it('refuses a read that carries a body, before the handler can merge it into a search', async () => {
    let reached = 0;
    const h = await setup((app, mesh) => {
      app.get('/patients', mesh.read('Patient'), (_req, res) => {
        reached += 1;
        res.json(PATIENTS);
      });
    });
    const res = await request(h.app)
      .get('/patients')
      .set(as(USERS.receptionist, 'administration'))
      .set('content-type', 'application/json')
      .send({ diagnoses: 'J45' });
    expect(res.status).to.equal(400);
    expect(res.body.error.code).to.equal('bad_request');
    expect(reached).to.equal(0);
  });

  it('refuses a write with a query string (a conditional update would let the handler pick the records)', async () => {
    let loaded = 0;
    const h = await setup((app, mesh) => {
      app.patch(
        '/patients/:id',
        mesh.write('Patient', {
          load: (req) => {
            loaded++;
            return patient(String(req.params['id']));
          },
        }),
        (_req, res) => void res.status(204).end(),
      );
    });
    const res = await request(h.app)
      .patch('/patients/pat-001?id=pat-004')
      .set(as(USERS.receptionist, 'administration'))
      .send({ telecom: [] });
    expect(res.status).to.equal(400);
    expect(res.body.error.code).to.equal('bad_request');
    expect(loaded).to.equal(0);
  });

  it('names the record a refused lookup by id in the query asked for, in its subject access report', async () => {
    const h = await setup((app, mesh) => {
      app.get('/patients', mesh.read('Patient'), (_req, res) => void res.json(PATIENTS));
    });
    const refused = await request(h.app).get('/patients?id=pat-001').set(as(USERS.nurse, 'no-such-purpose'));
    expect(refused.status).to.equal(403);
    const report = cli(['audit', 'report', '--record', 'pat-001', '--audit', h.auditFile, '--json']);
    expect(report.code).to.equal(0);
    const listed = (JSON.parse(report.stdout) as { events: { outcome: string; code?: string }[] }).events;
    expect(
      listed.some((e) => e.outcome === 'refused' && e.code === 'purpose_unknown'),
      report.stdout,
    ).to.equal(true);
  });
});

describe('security › answers without a record (gateway)', () => {
  let dir: string;
  let upstream: TestUpstream;
  let gateway: TestGateway;
  const patients: Record<string, unknown>[] = records('Patient');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fieldmesh-answers-'));
    const routes = join(dir, 'routes.yaml');
    writeFileSync(
      routes,
      [
        'routes:',
        '  - { path: /patients/by-nhs/:nhs, resource: Patient, params: { nhs: nhsNumber } }',
        '  - { path: /patients/:id, resource: Patient, methods: [GET, PATCH] }',
        '  - { path: /Patient, resource: Patient, list: entry.resource }',
        '',
      ].join('\n'),
    );
    upstream = await startRawUpstream((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const nhs = /^\/patients\/by-nhs\/(.+)$/.exec(url.pathname)?.[1];
      if (nhs !== undefined) {
        // A record API that redirects a lookup to the canonical URL, only for records it has.
        const p = patients.find((x) => x['nhsNumber'] === nhs);
        res.writeHead(p ? 303 : 404, p ? { location: `/patients/${String(p['id'])}` } : {}).end();
        return;
      }
      const id = /^\/patients\/(.+)$/.exec(url.pathname)?.[1];
      if (id !== undefined) {
        // Answers the same record whatever id is asked for: the gateway must notice.
        const aliases: Record<string, string> = { 'pat-777': 'pat-001', 'pat-778': 'pat-004' };
        const p = patients.find((x) => x['id'] === (aliases[id] ?? id));
        if (req.method === 'PATCH') return void res.writeHead(204).end();
        res.writeHead(p ? 200 : 404, { 'content-type': 'application/json' }).end(p ? JSON.stringify(p) : '{}');
        return;
      }
      const p2 = patients.find((x) => x['id'] === 'pat-002')!;
      const bundle = {
        resourceType: 'Bundle',
        type: `searchset ${String(p2['nhsNumber'])}`,
        entry: [
          {
            fullUrl: `urn:x:${String(p2['nhsNumber'])}:${JSON.stringify(p2['address'])}/pat-002`,
            resource: { resourceType: 'Patient', ...p2 },
          },
          {
            fullUrl: 'http://fhir.example/base/Patient/pat-001',
            resource: { resourceType: 'Patient', ...patients.find((x) => x['id'] === 'pat-001')! },
          },
        ],
      };
      res.writeHead(200, { 'content-type': `application/vnd.nhs-${String(p2['nhsNumber'])}+json` }).end(JSON.stringify(bundle));
    });
    gateway = await startTestGateway(upstream.url, { routes });
  });

  after(async () => {
    await gateway?.close();
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers an upstream redirect for one record exactly as a missing record', async () => {
    const gp = gwAs(GW_USERS.gp, 'direct-care');
    const hidden = await call(`${gateway.url}/patients/by-nhs/${String(patients.find((p) => p['id'] === 'pat-003')!['nhsNumber'])}`, {
      headers: gp,
    });
    const missing = await call(`${gateway.url}/patients/by-nhs/9999999999`, { headers: gp });
    expect(hidden.status).to.equal(404);
    expect([hidden.status, hidden.json]).to.deep.equal([missing.status, missing.json]);
    expect(hidden.headers).not.to.have.property('location');
  });

  it('refuses a write with a query', async () => {
    const before = upstream.seen.length;
    const withQuery = await call(`${gateway.url}/patients/pat-001?id=pat-004`, {
      method: 'PATCH',
      headers: gwAs(GW_USERS.receptionist, 'administration'),
      body: { telecom: [] },
    });
    expect(withQuery.status).to.equal(400);
    expect(withQuery.json.error.code).to.equal('bad_request');
    expect(upstream.seen.slice(before).filter((s) => s.method === 'PATCH')).to.have.length(0);
  });

  it("drops a Bundle's free text: every entry's fullUrl, and a type that is not a FHIR code; sends only a JSON media type", async () => {
    const res = await call(`${gateway.url}/Patient`, { headers: gwAs(GW_USERS.receptionist, 'administration') });
    expect(res.status).to.equal(200);
    const p2 = patients.find((x) => x['id'] === 'pat-002')!;
    expect(res.text).not.to.include(String(p2['nhsNumber']));
    expect(res.text).not.to.include('urn:x');
    expect(res.text).not.to.include('fhir.example');
    expect((res.json.entry as unknown[]).length).to.equal(2);
    expect(res.json).not.to.have.property('type');
    expect(res.headers['content-type']).to.equal('application/json; charset=utf-8');
  });

  it('answers an update of a record named another way than its id (/patients/0001 read as record 1) as a missing record', async () => {
    const before = upstream.seen.length;
    const headers = gwAs(GW_USERS.receptionist, 'administration');
    const visible = await call(`${gateway.url}/patients/pat-777`, { method: 'PATCH', headers, body: { telecom: [] } });
    const sealed = await call(`${gateway.url}/patients/pat-778`, { method: 'PATCH', headers, body: { telecom: [] } });
    const missing = await call(`${gateway.url}/patients/pat-999`, { method: 'PATCH', headers, body: { telecom: [] } });
    expect(sealed.status).to.equal(404);
    expect([sealed.status, sealed.json]).to.deep.equal([missing.status, missing.json]);
    expect([visible.status, visible.json]).to.deep.equal([missing.status, missing.json]);
    expect(upstream.seen.slice(before).filter((s) => s.method === 'PATCH')).to.have.length(0);
  });
});
