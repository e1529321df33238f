import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import request from 'supertest';
import { as, cleanup, patient, PATIENTS, setup, USERS } from '../express/harness.js';
import {
  as as gwAs,
  call,
  startJsonServer,
  startRawUpstream,
  startTestGateway,
  USERS as GW_USERS,
  type TestGateway,
  type TestUpstream,
} from '../gateway/helpers.js';

/**
 * A path parameter that selects records is a filter (docs/middleware.md, "Route parameters";
 * docs/gateway.md, "Routes file"):
 * a user who sees a field transformed or not at all may not look records up
 * by it, or the answer would map every pseudonym or mask back to the value.
 * And the query checked is the one the handler can read: all of it.
 */
const PAD = Array.from({ length: 1000 }, (_, i) => `_page=${i}`).join('&');

function byNhs(req: { params: Record<string, unknown> }): Record<string, unknown> | undefined {
  return PATIENTS.find((p) => p['nhsNumber'] === req.params['nhs']);
}

describe('security › lookups and queries (middleware)', () => {
  afterEach(cleanup);

  it("refuses an analyst's GET /patients/:id (the id is pseudonymised for planning) and lets a GP read it", async () => {
    let reached = 0;
    const h = await setup((app, mesh) => {
      app.get('/patients/:id', mesh.read('Patient'), (req, res) => {
        reached += 1;
        res.json(patient(String(req.params['id'])));
      });
    });
    const refused = await request(h.app).get('/patients/pat-001').set(as(USERS.analyst, 'service-planning'));
    expect(refused.status).to.equal(403);
    expect(refused.body.error.code).to.equal('filter_forbidden');
    expect(refused.text).not.to.include('pat-001');
    expect(reached).to.equal(0);
    const events = await h.events();
    expect(events.at(-1)).to.include({ decision: 'refused', code: 'filter_forbidden', user: 'analyst-1' });

    const gp = await request(h.app).get('/patients/pat-001').set(as(USERS.gp));
    expect(gp.status).to.equal(200);
    expect(gp.body.id).to.equal('pat-001');
  });

  it('refuses a receptionist a lookup by NHS number (masked for them), named with params, and lets a GP use it', async () => {
    const h = await setup((app, mesh) => {
      app.get('/patients/by-nhs/:nhs', mesh.read('Patient', { params: { nhs: 'nhsNumber' } }), (req, res) => res.json(byNhs(req) ?? {}));
    });
    const refused = await request(h.app).get('/patients/by-nhs/9990000018').set(as(USERS.receptionist, 'administration'));
    expect(refused.status).to.equal(403);
    expect(refused.body.error.code).to.equal('filter_forbidden');
    expect(refused.text).not.to.include('9990000018');
    const gp = await request(h.app).get('/patients/by-nhs/9990000018').set(as(USERS.gp));
    expect(gp.status).to.equal(200);
    expect(gp.body.nhsNumber).to.equal('9990000018');
  });

  it('refuses a route parameter that names no field, whoever asks (fail closed)', async () => {
    const h = await setup((app, mesh) => {
      app.get('/patients/by-nhs/:nhs', mesh.read('Patient'), (req, res) => res.json(byNhs(req) ?? {}));
    });
    const res = await request(h.app).get('/patients/by-nhs/9990000018').set(as(USERS.gp));
    expect(res.status).to.equal(403);
    expect(res.body.error.code).to.equal('filter_forbidden');
    expect(res.body.error.message).to.include(':nhs');
  });

  it('refuses a params mapping to a field the resource does not declare when the route is declared', async () => {
    await setup((app, mesh) => {
      expect(() => mesh.read('Patient', { params: { nhs: 'nhsNumbr' } })).to.throw(TypeError, /unknown field "nhsNumbr"/);
      expect(() => mesh.write('Patient', { params: { nhs: 'nhsNumbr' }, load: () => undefined })).to.throw(
        TypeError,
        /unknown field "nhsNumbr"/,
      );
      app.get('/x', (_req, res) => res.end());
    });
  });

  it('checks an update the same way: a lookup by a masked field and a padded hidden filter are refused before load runs', async () => {
    let loaded = 0;
    let handled = 0;
    const load = (req: { params: Record<string, unknown> }) => {
      loaded += 1;
      return byNhs(req);
    };
    const h = await setup((app, mesh) => {
      app.patch('/patients/by-nhs/:nhs', mesh.write('Patient', { params: { nhs: 'nhsNumber' }, load }), (_req, res) => {
        handled += 1;
        res.status(204).end();
      });
    });
    const byMasked = await request(h.app)
      .patch('/patients/by-nhs/9990000018')
      .set(as(USERS.receptionist, 'administration'))
      .send({ phone: '01234' });
    expect(byMasked.status).to.equal(403);
    expect(byMasked.body.error.code).to.equal('filter_forbidden');
    const padded = await request(h.app)
      .patch(`/patients/by-nhs/9990000018?${PAD}&nhsNumber=9990000018`)
      .set(as(USERS.gp))
      .send({ phone: '01234' });
    expect(padded.status).to.equal(414);
    expect(padded.body.error.code).to.equal('query_too_long');
    expect(loaded).to.equal(0);
    expect(handled).to.equal(0);
  });

  it('checks the raw query: a hidden-field filter after 1,000 padding parameters is refused, not cut off', async () => {
    let raw: string | undefined;
    const h = await setup((app, mesh) => {
      // A handler that reads the query string itself, past what express parses.
      app.get('/patients', mesh.read('Patient'), (req, res) => {
        raw = req.originalUrl;
        res.json(PATIENTS.filter((p) => new URL(req.originalUrl, 'http://x').searchParams.get('nhsNumber') === p['nhsNumber']));
      });
    });
    const res = await request(h.app).get(`/patients?${PAD}&nhsNumber=9990000018`).set(as(USERS.receptionist, 'administration'));
    expect(res.status).to.equal(414);
    expect(res.body.error.code).to.equal('query_too_long');
    expect(raw).to.equal(undefined);
  });

  it('finds a hidden-field filter behind 999 empty pieces, which a parser limited to 1,000 pieces would cut', async () => {
    let reached = false;
    const h = await setup((app, mesh) =>
      app.get('/patients', mesh.read('Patient'), (_req, res) => {
        reached = true;
        res.json([]);
      }),
    );
    const res = await request(h.app)
      .get(`/patients?${'&'.repeat(999)}nhsNumber=9990000018`)
      .set(as(USERS.receptionist, 'administration'));
    expect(res.status).to.equal(403);
    expect(res.body.error.code).to.equal('filter_forbidden');
    expect(reached).to.equal(false);
  });

  it('refuses more than 1,000 parameters even when each is allowed, and accepts 1,000', async () => {
    // Paging pieces are allowed only where no row can be hidden: the safeguarding lead reading concerns.
    const h = await setup((app, mesh) => app.get('/concerns', mesh.read('SafeguardingConcern'), (_req, res) => res.json([])));
    const lead = as(USERS.lead, 'safeguarding');
    const over = await request(h.app).get(`/concerns?${PAD}&_limit=1`).set(lead);
    expect(over.status).to.equal(414);
    expect(over.body.error.code).to.equal('query_too_long');
    const at = await request(h.app).get(`/concerns?${PAD}`).set(lead);
    expect(at.status).to.equal(200);
  });

  for (const [name, query] of [
    ['a percent-encoded key', '%6EhsNumber=9990000018'],
    ["a ';'-separated pair", 'gp=B86001;nhsNumber=9990000018'],
    ['an extended-syntax key', 'gp[nhsNumber]=9990000018'],
    ['a duplicate key after an allowed one', 'gp=B86001&nhsNumber=1&nhsNumber=9990000018'],
  ] as const) {
    it(`refuses a hidden-field filter hidden in ${name}`, async () => {
      let reached = false;
      const h = await setup((app, mesh) =>
        app.get('/patients', mesh.read('Patient'), (_req, res) => {
          reached = true;
          res.json([]);
        }),
      );
      const res = await request(h.app).get(`/patients?${query}`).set(as(USERS.receptionist, 'administration'));
      expect(res.status).to.equal(403);
      expect(res.body.error.code).to.equal('filter_forbidden');
      expect(res.text).not.to.include('9990000018');
      expect(reached).to.equal(false);
    });
  }
});

describe('security › lookups and queries (gateway)', () => {
  let json: TestUpstream;
  let raw: TestUpstream;
  let gw: TestGateway;
  let nhsGw: TestGateway;
  before(async () => {
    json = await startJsonServer();
    gw = await startTestGateway(json.url);
    raw = await startRawUpstream((req, res) => {
      const nhs = decodeURIComponent((req.url ?? '').split('/').pop() ?? '');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(PATIENTS.find((p) => p['nhsNumber'] === nhs) ?? {}));
    });
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-routes-'));
    const routes = join(dir, 'routes.yaml');
    writeFileSync(routes, 'routes:\n  - path: /patients/by-nhs/:nhs\n    resource: Patient\n    params: { nhs: nhsNumber }\n');
    nhsGw = await startTestGateway(raw.url, { routes });
  });
  after(async () => {
    await gw.close();
    await nhsGw.close();
    await json.close();
    await raw.close();
  });

  it("refuses an analyst's GET /patients/pat-001 before the upstream sees it, and lets a GP read it", async () => {
    const before = json.seen.length;
    const refused = await call(`${gw.url}/patients/pat-001`, { headers: gwAs(GW_USERS.analyst, 'service-planning') });
    expect(refused.status).to.equal(403);
    expect(refused.json.error.code).to.equal('filter_forbidden');
    expect(json.seen.length).to.equal(before);
    const gp = await call(`${gw.url}/patients/pat-001`, { headers: gwAs(GW_USERS.gp, 'direct-care') });
    expect(gp.status).to.equal(200);
    expect(gp.json.id).to.equal('pat-001');
  });

  it('refuses a receptionist a route parameter mapped to nhsNumber, and lets a GP use it', async () => {
    const before = raw.seen.length;
    const refused = await call(`${nhsGw.url}/patients/by-nhs/9990000018`, { headers: gwAs(GW_USERS.receptionist, 'administration') });
    expect(refused.status).to.equal(403);
    expect(refused.json.error.code).to.equal('filter_forbidden');
    expect(raw.seen.length).to.equal(before);
    const gp = await call(`${nhsGw.url}/patients/by-nhs/9990000018`, { headers: gwAs(GW_USERS.gp, 'direct-care') });
    expect(gp.status).to.equal(200);
    expect(gp.json.nhsNumber).to.equal('9990000018');
  });

  it('refuses more than 1,000 query parameters (414) and a hidden-field filter after 1,000 padding ones, forwarding neither', async () => {
    const before = json.seen.length;
    const padded = await call(`${gw.url}/patients?${PAD}&nhsNumber=9990000018`, { headers: gwAs(GW_USERS.receptionist, 'administration') });
    expect(padded.status).to.equal(414);
    expect(padded.json.error.code).to.equal('query_too_long');
    expect(json.seen.length).to.equal(before);
  });

  it("refuses a hidden-field filter after a ';' even though the gateway would forward it encoded", async () => {
    const res = await call(`${gw.url}/patients?gp=B86001;nhsNumber=9990000018`, { headers: gwAs(GW_USERS.receptionist, 'administration') });
    expect(res.status).to.equal(403);
    expect(res.json.error.code).to.equal('filter_forbidden');
  });
});
