import { join } from 'node:path';
import { expect } from 'chai';
import request from 'supertest';
import { as, cleanup, patient, setup, USERS } from '../express/harness.js';
import { call, ROOT, startRawUpstream, startTestGateway, token, type TestGateway, type TestUpstream } from '../gateway/helpers.js';

/**
 * A route's policy describes one resource: an entry or record of another
 * FHIR type (a RelatedPerson in a Patient search) has fields the policy never
 * declared, so it is never redacted "as a Patient" and passed on.
 */
const POLICIES = join(ROOT, 'test', 'fixtures', 'policies', 'fhir');
const ROUTES = join(ROOT, 'test', 'fixtures', 'gateway', 'fhir-routes.yaml');

const PATIENT = {
  resourceType: 'Patient',
  id: 'pt-01',
  gender: 'female',
  birthDate: '1980-01-02',
  name: [{ family: 'Family-pt-01', given: ['Alex'] }],
  generalPractitioner: [{ reference: 'Organization/A' }],
};
const RELATED = {
  resourceType: 'RelatedPerson',
  id: 'rp-01',
  patient: { reference: 'Patient/pt-01' },
  name: [{ family: 'Carer-Hidden', given: ['Sam'] }],
  telecom: [{ system: 'phone', value: '07700 900999' }],
  address: [{ line: ['9 Secret Lane'], postalCode: 'ZZ9 9ZZ' }],
  generalPractitioner: [{ reference: 'Organization/A' }],
};

describe('security › FHIR entries of another type (gateway)', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let answer: unknown;
  before(async () => {
    upstream = await startRawUpstream((_req, res) => {
      res.setHeader('content-type', 'application/fhir+json');
      res.end(JSON.stringify(answer));
    });
    gw = await startTestGateway(upstream.url, { policies: POLICIES, routes: ROUTES });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });
  const clinician = { sub: 'clin-a', roles: ['clinician'], practice: 'A' };
  const headers = () => ({ authorization: `Bearer ${token(clinician)}`, 'x-purpose': 'direct-care' });

  it('drops a RelatedPerson entry from a Patient search, and a search.mode that is not a FHIR code', async () => {
    answer = {
      resourceType: 'Bundle',
      type: 'searchset',
      total: 4,
      entry: [
        { fullUrl: 'https://fhir.example/Patient/pt-01', resource: PATIENT, search: { mode: 'match' } },
        { fullUrl: 'https://fhir.example/RelatedPerson/rp-01', resource: RELATED, search: { mode: 'match' } },
        { resource: { ...PATIENT, id: 'pt-04' }, search: { mode: 'carer is Sam Carer-Hidden, 07700 900999' } },
        { resource: { id: 'pt-05', gender: 'male', generalPractitioner: [{ reference: 'Organization/A' }] }, search: { mode: 'match' } },
      ],
    };
    const res = await call(`${gw.url}/Patient`, { headers: headers() });
    expect(res.status, res.text).to.equal(200);
    expect(res.json.entry.map((e: { resource: { id: string } }) => e.resource.id)).to.deep.equal(['pt-01', 'pt-04']);
    expect(res.json.entry[0].search).to.deep.equal({ mode: 'match' });
    expect(res.json.entry[1]).not.to.have.property('search');
    expect(res.json.total).to.equal(2);
    for (const leak of ['Carer-Hidden', '07700 900999', 'Secret Lane', 'rp-01', 'pt-05']) expect(res.text).not.to.include(leak);
    const [event] = (await gw.audit.query({})).slice(-1);
    expect(event?.recordIds).to.deep.equal(['pt-01', 'pt-04']);
  });

  it('answers 502 upstream_invalid for a single record of another type on a Patient read', async () => {
    answer = RELATED;
    const res = await call(`${gw.url}/Patient/pt-01`, { headers: headers() });
    expect(res.status).to.equal(502);
    // A FHIR route answers its errors as an OperationOutcome, the code in details (docs/fhir.md).
    expect(res.json.issue[0].details.coding[0].code).to.equal('upstream_invalid');
    expect(res.text).not.to.include('Carer-Hidden');
  });
});

describe('security › records of another type (middleware)', () => {
  afterEach(cleanup);

  it('drops a row naming another resourceType from a list, and refuses a single one (500, nothing sent)', async () => {
    const other = { ...patient('pat-001'), resourceType: 'RelatedPerson', id: 'rp-1' };
    const h = await setup((app, mesh) => {
      app.get('/patients', mesh.read('Patient'), (_req, res) => res.json([patient('pat-001'), other]));
      app.get('/patients/:id', mesh.read('Patient'), (_req, res) => res.json(other));
    });
    const list = await request(h.app).get('/patients').set(as(USERS.gp));
    expect(list.status).to.equal(200);
    expect(list.body.map((r: { id: string }) => r.id)).to.deep.equal(['pat-001']);
    const one = await request(h.app).get('/patients/pat-001').set(as(USERS.gp));
    expect(one.status).to.equal(500);
    expect(one.body.error.code).to.equal('unredactable_body');
    expect(one.text).not.to.include('rp-1');
  });
});
