import { join } from 'node:path';
import { expect } from 'chai';
import { Client } from 'fhir-kit-client';
import type { Bundle, Observation, Patient, Resource } from '@medplum/fhirtypes';
import { startFhirServer } from './fhir-server.js';
import { call, ROOT, startTestGateway, token, type TestGateway, type TestUpstream } from './helpers.js';

const POLICIES = join(ROOT, 'test', 'fixtures', 'policies', 'fhir');
const ROUTES = join(ROOT, 'test', 'fixtures', 'gateway', 'fhir-routes.yaml');
const RESTRICTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' };

function patient(id: string, practice: string, extra: Partial<Patient> = {}): Patient {
  return {
    resourceType: 'Patient',
    id,
    identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: `99900000${id.slice(-2)}` }],
    name: [{ family: `Family-${id}`, given: ['Alex'] }],
    telecom: [{ system: 'phone', value: `07700 9000${id.slice(-2)}` }],
    gender: 'female',
    birthDate: '1980-01-02',
    generalPractitioner: [{ reference: `Organization/${practice}` }],
    ...extra,
  };
}
function observation(id: string, subject: string, practice: string): Observation {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: `Patient/${subject}` },
    performer: [{ reference: `Organization/${practice}` }],
    valueQuantity: { value: 72, unit: 'beats/minute' },
  };
}
const RESOURCES: Resource[] = [
  patient('pt-01', 'A'),
  patient('pt-02', 'A', { meta: { security: [RESTRICTED] } }),
  patient('pt-03', 'B'),
  patient('pt-04', 'A'),
  observation('ob-01', 'pt-01', 'A'),
  observation('ob-02', 'pt-03', 'B'),
];

describe('gateway › FHIR R4 server (medplum) read with fhir-kit-client', () => {
  let fhir: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    fhir = await startFhirServer(RESOURCES);
    gw = await startTestGateway(fhir.url, { policies: POLICIES, routes: ROUTES });
  });
  after(async () => {
    await gw.close();
    await fhir.close();
  });
  function client(claims: Record<string, unknown>, purpose: string): Client {
    return new Client({ baseUrl: gw.url, customHeaders: { Authorization: `Bearer ${token(claims)}`, 'X-Purpose': purpose } });
  }
  const clinicianA = { sub: 'clin-a', roles: ['clinician'], practice: 'A' };

  it("gives a clinician a searchset of the practice's patients: other practices and the restricted patient removed, total adjusted", async () => {
    // No _count: rows may be hidden from a clinician, so a page is refused (docs/fhir.md); the whole result is answered.
    const bundle = (await client(clinicianA, 'direct-care').search({ resourceType: 'Patient' })) as unknown as Bundle<Patient>;
    expect(bundle.resourceType).to.equal('Bundle');
    expect(bundle.type).to.equal('searchset');
    const ids = (bundle.entry ?? []).map((e) => e.resource?.id).sort();
    expect(ids).to.deep.equal(['pt-01', 'pt-04']);
    expect(bundle.total).to.equal(2);
    for (const e of bundle.entry ?? []) {
      expect(e.resource).not.to.have.property('meta');
      expect(e.resource?.name?.[0]?.family).to.match(/^Family-/);
    }
    const text = JSON.stringify(bundle);
    expect(text).not.to.include('pt-02');
    expect(text).not.to.include('pt-03');
  });

  it('withholds a patient labelled restricted (meta.security R) on a direct read: 404', async () => {
    let status: number | undefined;
    await client(clinicianA, 'direct-care')
      .read({ resourceType: 'Patient', id: 'pt-02' })
      .catch((e: { response?: { status?: number } }) => (status = e.response?.status));
    expect(status).to.equal(404);
  });

  it('shows the restricted patient to the privacy officer, without its security labels', async () => {
    const p = (await client({ sub: 'po-1', roles: ['privacy-officer'] }, 'direct-care').read({
      resourceType: 'Patient',
      id: 'pt-02',
    })) as Patient;
    expect(p.id).to.equal('pt-02');
    expect(p).not.to.have.property('meta');
  });

  it('gives a clerk names and contacts for administration, never birth dates or identifiers', async () => {
    const bundle = (await client({ sub: 'clerk-1', roles: ['clerk'] }, 'administration').search({
      resourceType: 'Patient',
    })) as unknown as Bundle<Patient>;
    expect((bundle.entry ?? []).map((e) => e.resource?.id).sort()).to.deep.equal(['pt-01', 'pt-03', 'pt-04']);
    for (const e of bundle.entry ?? []) {
      expect(Object.keys(e.resource ?? {}).sort()).to.deep.equal(['generalPractitioner', 'id', 'name', 'resourceType', 'telecom']);
    }
  });

  it("redacts an Observation searchset to the clinician's practice", async () => {
    const bundle = (await client(clinicianA, 'direct-care').search({ resourceType: 'Observation' })) as unknown as Bundle<Observation>;
    expect((bundle.entry ?? []).map((e) => e.resource?.id)).to.deep.equal(['ob-01']);
    expect(bundle.entry?.[0]?.resource?.valueQuantity?.value).to.equal(72);
  });

  it('passes an empty searchset (FHIR omits its entry) as an empty Bundle', async () => {
    const bundle = (await client(clinicianA, 'direct-care').search({
      resourceType: 'Patient',
      searchParams: { gender: 'male' },
    })) as unknown as Bundle<Patient>;
    expect(bundle.resourceType).to.equal('Bundle');
    expect(bundle.entry ?? []).to.deep.equal([]);
    expect(bundle.total).to.equal(0);
  });

  it('refuses a search parameter on a field the user may not read, before the FHIR server sees it', async () => {
    const before = fhir.seen.length;
    let status: number | undefined;
    await client({ sub: 'clerk-1', roles: ['clerk'] }, 'administration')
      .search({ resourceType: 'Patient', searchParams: { birthdate: '1980-01-02' } })
      .catch((e: { response?: { status?: number } }) => (status = e.response?.status));
    expect(status).to.equal(403);
    expect(fhir.seen.length).to.equal(before);
  });

  it('keeps the FHIR media type of the answer', async () => {
    const res = await call(`${gw.url}/Patient/pt-01`, {
      headers: { authorization: `Bearer ${token(clinicianA)}`, 'x-purpose': 'direct-care', accept: 'application/fhir+json' },
    });
    expect(res.status).to.equal(200);
    expect(res.headers['content-type']).to.equal('application/fhir+json; charset=utf-8');
    // The gateway's own Accept (JSON only), not the caller's.
    expect(fhir.seen.at(-1)?.headers['accept']).to.equal('application/fhir+json, application/json');
  });
});
