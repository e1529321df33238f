import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import request from 'supertest';
import { as, cleanup, patientsHandler, setup, USERS } from './harness.js';

/** A list route whose handler would filter by anything it is given. */
async function listApp(options = {}) {
  let calls = 0;
  const h = await setup((app, mesh) => {
    app.get('/patients', mesh.read('Patient'), (req, res) => {
      calls += 1;
      patientsHandler(req, res);
    });
  }, options);
  return { ...h, calls: () => calls };
}

/** A list of safeguarding concerns, which the safeguarding lead reads whole: no row of it can be hidden from them. */
const CONCERNS: Record<string, unknown>[] = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../fixtures/records/SafeguardingConcern.json', import.meta.url)), 'utf8'),
) as Record<string, unknown>[];

describe('mesh.read query filters', () => {
  afterEach(cleanup);

  it('refuses a receptionist filtering by NHS number, which they only see masked', async () => {
    const { app, events, calls } = await listApp();
    const res = await request(app).get('/patients?nhsNumber=9990000018').set(as(USERS.receptionist, 'administration'));
    expect(res.status).to.equal(403);
    expect(res.body.error.code).to.equal('filter_forbidden');
    expect(res.body.error.message).to.include('"nhsNumber"');
    expect(res.body.error.message).not.to.include('9990000018');
    expect(calls()).to.equal(0);
    const [event] = await events();
    expect(event).to.include({ decision: 'refused', code: 'filter_forbidden', status: 403, user: 'rec-1', purpose: 'administration' });
  });

  it('lets a receptionist filter by a field they read in every row', async () => {
    const { app, calls } = await listApp();
    const res = await request(app).get('/patients?gp=B86001').set(as(USERS.receptionist, 'administration'));
    expect(res.status).to.equal(200);
    expect(calls()).to.equal(1);
  });

  it('refuses paging where rows may be hidden, with a filter or without (a page cut before they are dropped would show they matched, or where they sit)', async () => {
    const { app, calls } = await listApp();
    for (const query of ['gp=B86001&_page=1&_limit=10', '_page=1&_limit=10']) {
      const res = await request(app).get(`/patients?${query}`).set(as(USERS.receptionist, 'administration'));
      expect(res.status, query).to.equal(403);
      expect(res.body.error.code).to.equal('filter_forbidden');
      expect(res.body.error.message).to.include('Paging is not available');
    }
    expect(calls()).to.equal(0);
    expect((await request(app).get('/patients?gp=B86001').set(as(USERS.receptionist, 'administration'))).status).to.equal(200);
  });

  it('refuses a filter on a field a restriction withholds from some rows (the address of a person at risk)', async () => {
    const { app } = await listApp();
    const res = await request(app).get('/patients?address.city=Leeds').set(as(USERS.receptionist, 'administration'));
    expect(res.status).to.equal(403);
  });

  it('refuses an analyst sorting by date of birth, which planning only sees as an age band', async () => {
    const { app } = await listApp();
    const res = await request(app).get('/patients?_sort=dateOfBirth').set(as(USERS.analyst, 'service-planning'));
    expect(res.status).to.equal(403);
    expect(res.body.error.message).to.include('_sort=dateOfBirth');
  });

  for (const key of ['careTeam.lead', 'gender.text', 'diagnoses.code.text']) {
    it(`refuses an analyst filtering by ${key}, a key under a planning field that the output always drops`, async () => {
      const { app, calls } = await listApp();
      const res = await request(app).get(`/patients?${key}=Dr%20Jane%20Roe`).set(as(USERS.analyst, 'service-planning'));
      expect(res.status).to.equal(403);
      expect(res.body.error.code).to.equal('filter_forbidden');
      expect(res.body.error.message).not.to.include('Jane');
      expect(calls()).to.equal(0);
    });
  }

  it('lets an analyst filter by a field path planning discloses untransformed (careTeam), and a GP by a key under a granted field (careTeam.lead)', async () => {
    const { app, calls } = await listApp();
    expect((await request(app).get('/patients?careTeam=ward-7').set(as(USERS.analyst, 'service-planning'))).status).to.equal(200);
    expect((await request(app).get('/patients?careTeam.lead=Dr%20Jane%20Roe').set(as(USERS.gp, 'direct-care'))).status).to.equal(200);
    expect(calls()).to.equal(2);
  });

  it('lets an analyst sort by gender, in either direction', async () => {
    const { app } = await listApp();
    const res = await request(app).get('/patients?_sort=-gender&_order=desc').set(as(USERS.analyst, 'service-planning'));
    expect(res.status).to.equal(200);
  });

  it('reads json-server operators as filters on their field', async () => {
    const { app } = await listApp();
    const nurse = await request(app).get('/patients?dateOfBirth_gte=1980-01-01').set(as(USERS.nurse));
    expect(nurse.status).to.equal(200);
    const analyst = await request(app).get('/patients?dateOfBirth_gte=1980-01-01').set(as(USERS.analyst, 'service-planning'));
    expect(analyst.status).to.equal(403);
  });

  it('refuses keys that are neither paging nor a field (full-text search)', async () => {
    const { app } = await listApp();
    const res = await request(app).get('/patients?q=Testwood').set(as(USERS.gp));
    expect(res.status).to.equal(403);
  });

  it('takes the paging keys it is configured with', async () => {
    let calls = 0;
    const { app } = await setup(
      (a, mesh) => {
        a.get('/patients', mesh.read('Patient'), patientsHandler);
        a.get('/concerns', mesh.read('SafeguardingConcern'), (_req, res) => {
          calls += 1;
          res.json(CONCERNS);
        });
      },
      { pagingKeys: ['pageToken'] },
    );
    // No concern can be hidden from the safeguarding lead, so they may page: by the configured key only.
    const lead = as(USERS.lead, 'safeguarding');
    expect((await request(app).get('/concerns?pageToken=abc').set(lead)).status).to.equal(200);
    expect((await request(app).get('/concerns?riskLevel=high&pageToken=abc').set(lead)).status).to.equal(200);
    const unknown = await request(app).get('/concerns?_page=2').set(lead);
    expect(unknown.status).to.equal(403);
    expect(unknown.body.error.message).to.include('"_page"');
    expect(calls).to.equal(2);
    // The configured key is read as paging for a GP too, whose rows may be hidden: refused as paging, not as a filter.
    const gp = await request(app).get('/patients?pageToken=abc').set(as(USERS.gp));
    expect(gp.status).to.equal(403);
    expect(gp.body.error.message).to.include('Paging is not available');
  });
});
