import { join } from 'node:path';
import { expect } from 'chai';
import { Client } from 'fhir-kit-client';
import type { Bundle, Observation, Patient, Resource } from '@medplum/fhirtypes';
import { FieldmeshError } from '../../src/lib/errors.js';
import { loadPolicies } from '../../src/engine/policy-set.js';
import { parseRoutes } from '../../src/gateway/routes.js';
import { synthea } from '../fixtures/fhir/synthea.js';
import { startFhirServer } from './fhir-server.js';
import { NOW, ROOT, startTestGateway, token, type TestGateway, type TestUpstream } from './helpers.js';

const POLICIES = join(ROOT, 'test', 'fixtures', 'policies', 'fhir-search');
const ROUTES = join(ROOT, 'test', 'fixtures', 'gateway', 'fhir-search-routes.yaml');
const DATA = synthea();
/** A deceased patient of the first practice: what the route's own `deceased` mapping finds. */
const DECEASED: Patient = {
  resourceType: 'Patient',
  id: 'pt-900',
  name: [{ family: 'Evans', given: ['Megan'] }],
  gender: 'female',
  deceasedBoolean: true,
  generalPractitioner: [{ reference: 'Organization/Y00001' }],
};

const USERS = {
  clinician: { sub: 'clin-1', roles: ['clinician'], practice: 'Y00001' },
  lead: { sub: 'lead-1', roles: ['clinical-lead'] },
  nurse: { sub: 'nurse-1', roles: ['nurse'] },
  clerk: { sub: 'clerk-1', roles: ['clerk'] },
};
const PATIENT_FIELDS = [
  'resourceType',
  'id',
  'meta',
  'identifier',
  'name',
  'telecom',
  'gender',
  'birthDate',
  'deceasedBoolean',
  'address',
  'generalPractitioner',
];
const OBSERVATION_FIELDS = [
  'resourceType',
  'id',
  'meta',
  'status',
  'category',
  'code',
  'subject',
  'encounter',
  'performer',
  'effectiveDateTime',
  'valueQuantity',
];

type Params = Record<string, string | string[]>;

describe('gateway › FHIR searches (medplum) read with fhir-kit-client', () => {
  let fhir: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    fhir = await startFhirServer([...DATA.all, DECEASED]);
    gw = await startTestGateway(fhir.url, { policies: POLICIES, routes: ROUTES });
  });
  after(async () => {
    await gw.close();
    await fhir.close();
  });

  function client(user: Record<string, unknown>, purpose = 'direct-care'): Client {
    return new Client({ baseUrl: gw.url, customHeaders: { Authorization: `Bearer ${token(user)}`, 'X-Purpose': purpose } });
  }
  async function through<T extends Resource>(user: Record<string, unknown>, resourceType: string, searchParams: Params, purpose?: string) {
    return (await client(user, purpose).search({ resourceType, searchParams })) as unknown as Bundle<T>;
  }
  /** What the FHIR server itself answers for the same search. */
  async function direct<T extends Resource>(resourceType: string, searchParams: Params): Promise<Bundle<T>> {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(searchParams)) for (const x of Array.isArray(v) ? v : [v]) query.append(k, x);
    const res = await fetch(`${fhir.url}/${resourceType}?${query.toString()}`);
    expect(res.status).to.equal(200);
    return (await res.json()) as Bundle<T>;
  }
  const ids = (b: Bundle): string[] => (b.entry ?? []).map((e) => e.resource?.id ?? '');
  /** A search refused by the gateway: the status, what it said, and whether the server saw it. */
  async function refused(user: Record<string, unknown>, resourceType: string, searchParams: Params, purpose?: string) {
    const before = fhir.seen.length;
    let status: number | undefined;
    let body = '';
    await client(user, purpose)
      .search({ resourceType, searchParams })
      .then(
        () => undefined,
        (e: { response?: { status?: number; data?: unknown } }) => {
          status = e.response?.status;
          body = JSON.stringify(e.response?.data);
        },
      );
    return { status, body, reachedServer: fhir.seen.length !== before };
  }
  const ofPractice = (practice: string) => (r: Resource | undefined) =>
    r?.resourceType === 'Observation'
      ? (r as Observation).performer?.[0]?.reference === `Organization/${practice}`
      : (r as Patient | undefined)?.generalPractitioner?.[0]?.reference === `Organization/${practice}`;

  describe('answered, and redacted, where the fields behind the parameters are readable', () => {
    const observationSearches: Params[] = [
      { patient: 'Patient/pt-001' },
      { subject: 'Patient/pt-004', _sort: '-date' },
      { code: 'http://loinc.org|8867-4' },
      { subject: 'Patient/pt-001', date: ['ge2024-06-01', 'lt2025-01-01'] },
      { status: 'amended' },
      { _id: 'obs-001-02,obs-002-02' },
      { _lastUpdated: 'ge2020-01-01', code: '8480-6' },
      { 'code:not': 'http://loinc.org|8867-4', subject: 'Patient/pt-001' },
    ];
    for (const searchParams of observationSearches) {
      it(`gives a clinician the server's answer to Observation?${new URLSearchParams(searchParams as Record<string, string>).toString()} less the other practices' rows`, async () => {
        const server = await direct<Observation>('Observation', searchParams);
        const bundle = await through<Observation>(USERS.clinician, 'Observation', searchParams);
        const expected = (server.entry ?? []).filter((e) => ofPractice('Y00001')(e.resource)).map((e) => e.resource?.id);
        expect(ids(server).length, 'the search finds rows on the server').to.be.greaterThan(0);
        expect(ids(bundle)).to.deep.equal(expected);
        for (const e of bundle.entry ?? []) {
          expect(PATIENT_FIELDS.concat(OBSERVATION_FIELDS)).to.include.members(Object.keys(e.resource ?? {}));
          expect(Object.keys(e.resource?.meta ?? {})).to.deep.equal(['lastUpdated']);
          const stored = server.entry?.find((s) => s.resource?.id === e.resource?.id)?.resource;
          expect(e.resource?.valueQuantity).to.deep.equal(stored?.valueQuantity);
        }
      });
    }

    const patientSearches: Params[] = [
      { birthdate: ['ge1960', 'lt2000'], _count: '100' },
      { name: 'Patel', _count: '100' },
      { family: DATA.patients[0]!.name![0]!.family!, _count: '100' },
      { identifier: `https://fhir.nhs.uk/Id/nhs-number|${DATA.patients[3]!.identifier![0]!.value!}` },
      { gender: 'female', _sort: '-birthdate,_id', _count: '100' },
      { _id: 'pt-003' },
      { _lastUpdated: 'ge2020-01-01', _sort: 'birthdate', _count: '5' },
      { _count: '5', _offset: '5', _sort: '_id' },
      { 'birthdate:missing': 'true', _format: 'json', _pretty: 'true' },
    ];
    for (const searchParams of patientSearches) {
      it(`gives a clinical lead exactly the server's answer to Patient?${new URLSearchParams(searchParams as Record<string, string>).toString()}`, async () => {
        const server = await direct<Patient>('Patient', searchParams);
        const bundle = await through<Patient>(USERS.lead, 'Patient', searchParams);
        expect(ids(server).length, 'the search finds rows on the server').to.be.greaterThan(0);
        expect(ids(bundle)).to.deep.equal(ids(server));
        for (const e of bundle.entry ?? []) {
          const stored = server.entry?.find((s) => s.resource?.id === e.resource?.id)?.resource;
          expect(e.resource?.birthDate).to.equal(stored?.birthDate);
          expect(PATIENT_FIELDS).to.include.members(Object.keys(e.resource ?? {}));
        }
      });
    }

    it("answers a clinician's birth date search with their practice's patients only", async () => {
      const searchParams = { birthdate: 'ge1960' };
      const server = await direct<Patient>('Patient', searchParams);
      const bundle = await through<Patient>(USERS.clinician, 'Patient', searchParams);
      expect(ids(server).some((id) => !ofPractice('Y00001')(server.entry?.find((e) => e.resource?.id === id)?.resource))).to.equal(true);
      expect(ids(bundle)).to.deep.equal((server.entry ?? []).filter((e) => ofPractice('Y00001')(e.resource)).map((e) => e.resource?.id));
    });

    it('lets a clerk search by name and family, and gives back only what administration reads', async () => {
      const bundle = await through<Patient>(USERS.clerk, 'Patient', { family: 'Patel', 'name:contains': 'Pat' }, 'administration');
      const server = await direct<Patient>('Patient', { family: 'Patel', 'name:contains': 'Pat' });
      expect(ids(bundle)).to.deep.equal(ids(server));
      for (const e of bundle.entry ?? []) {
        expect(['resourceType', 'id', 'name', 'telecom', 'address', 'generalPractitioner']).to.include.members(
          Object.keys(e.resource ?? {}),
        );
        expect(e.resource).not.to.have.property('birthDate');
      }
    });

    it("maps what the route adds: `deceased` (unmapped in R4's table) reads deceasedBoolean and deceasedDateTime", async () => {
      const bundle = await through<Patient>(USERS.lead, 'Patient', { deceased: 'true' });
      expect(ids(bundle)).to.deep.equal(['pt-900']);
      expect(ids(await direct('Patient', { deceased: 'true' }))).to.deep.equal(['pt-900']);
    });
  });

  describe('refused with 403 filter_forbidden before the FHIR server sees the search', () => {
    const hidden: [string, Record<string, unknown>, string, Params, string | undefined, string][] = [
      ['a clerk searching by birth date', USERS.clerk, 'Patient', { birthdate: 'ge1980' }, 'administration', 'birthdate'],
      [
        'a clerk searching by NHS number',
        USERS.clerk,
        'Patient',
        { identifier: 'https://fhir.nhs.uk/Id/nhs-number|9990000018' },
        'administration',
        'identifier',
      ],
      ['a clerk sorting by birth date', USERS.clerk, 'Patient', { _sort: '-birthdate' }, 'administration', '_sort=birthdate'],
      ['a clerk searching by when a record changed', USERS.clerk, 'Patient', { _lastUpdated: 'ge2020' }, 'administration', '_lastUpdated'],
      [
        'a clerk asking which patients have a birth date (:missing)',
        USERS.clerk,
        'Patient',
        { 'birthdate:missing': 'false' },
        'administration',
        'birthdate:missing',
      ],
      [
        'a clerk searching identifiers with :not',
        USERS.clerk,
        'Patient',
        { 'identifier:not': '9990000018' },
        'administration',
        'identifier:not',
      ],
      ['a nurse searching by date (effectivePeriod is hidden)', USERS.nurse, 'Observation', { date: 'ge2024-06-01' }, undefined, 'date'],
      ['a nurse sorting by date', USERS.nurse, 'Observation', { _sort: 'date', patient: 'Patient/pt-001' }, undefined, '_sort=date'],
      [
        'anyone by value-quantity (it reads valueSampledData too)',
        USERS.lead,
        'Observation',
        { 'value-quantity': 'gt100' },
        undefined,
        'value-quantity',
      ],
    ];
    for (const [what, user, type, searchParams, purpose, named] of hidden) {
      it(`refuses ${what}`, async () => {
        const r = await refused(user, type, searchParams, purpose);
        expect(r.status).to.equal(403);
        expect(r.body).to.include('filter_forbidden');
        expect(r.body).to.include(`\\"${named}\\"`);
        expect(r.body).not.to.include('9990000018');
        expect(r.reachedServer).to.equal(false);
      });
    }

    const cannotCheck: Params[] = [
      { 'subject.name': 'Patel' },
      { 'subject:Patient.birthdate': '1980' },
      { '_has:Observation:patient:code': '8867-4' },
      { _include: 'Observation:subject' },
      { _revinclude: 'Provenance:target' },
      { _elements: 'status' },
      { _summary: 'count' },
      { _contained: 'true' },
      { _containedType: 'container' },
      { _filter: 'status eq final' },
      { _query: 'mine' },
      { _text: 'cough' },
      { _content: 'cough' },
      { _list: 'list-1' },
      { _type: 'Patient' },
      { 'code-value-quantity': '8867-4$gt100' },
      { bogus: '1' },
      { 'code:wibble': '1' },
      { _format: 'xml' },
    ];
    for (const searchParams of cannotCheck) {
      const key = Object.keys(searchParams)[0]!;
      it(`refuses ${key}, which it cannot check, even for a clinical lead, saying why`, async () => {
        const r = await refused(USERS.lead, 'Observation', searchParams);
        expect(r.status).to.equal(403);
        expect(r.body).to.include('filter_forbidden');
        expect(r.body).to.include(`\\"${key}\\": `);
        // Never the value asked for (but `count` is a FHIR code the reason names).
        if (key !== '_summary') expect(r.body).not.to.include(String(searchParams[key]));
        expect(r.reachedServer).to.equal(false);
      });
    }

    it('refuses a parameter the route refuses (given: false), whoever asks', async () => {
      const r = await refused(USERS.lead, 'Patient', { given: 'Megan' });
      expect(r.status).to.equal(403);
      expect(r.body).to.include('this route refuses the search parameter');
      expect(r.reachedServer).to.equal(false);
    });

    it('refuses paging a search where rows may be hidden, filtered or not: a short page would show a hidden row matched, or where it sits', async () => {
      for (const searchParams of [
        { birthdate: 'ge1960', _count: '5' },
        { _count: '1', _offset: '4' },
      ]) {
        const r = await refused(USERS.clinician, 'Patient', searchParams);
        expect(r.status).to.equal(403);
        expect(r.body).to.include('filter_forbidden');
        expect(r.body).to.include('Paging is not available here');
        expect(r.reachedServer).to.equal(false);
      }
    });
  });

  describe('the routes file', () => {
    const text = (route: string) => `routes:\n  - ${route}\n`;
    async function problems(route: string): Promise<string> {
      const policies = await loadPolicies(POLICIES, { now: NOW });
      try {
        parseRoutes(text(route), 'routes.yaml', policies.resourceNames(), policies);
      } catch (e) {
        expect(e).to.be.instanceOf(FieldmeshError);
        expect((e as FieldmeshError).code).to.equal('routes_invalid');
        return (e as FieldmeshError).message;
      }
      return expect.fail('the routes were accepted');
    }

    it('takes search mappings on a FHIR route, to declared fields', async () => {
      const policies = await loadPolicies(POLICIES, { now: NOW });
      const table = parseRoutes(
        text('{ path: /fhir/Patient, resource: Patient, list: entry.resource, search: { nhs: [identifier], given: false } }'),
        'routes.yaml',
        policies.resourceNames(),
        policies,
      );
      expect(table.routes[0]?.dialect?.fieldsOf('nhs', ['1'])).to.deep.equal([{ name: 'nhs', fields: ['identifier'] }]);
    });

    it('refuses search mappings on a route that is not FHIR', async () => {
      expect(await problems('{ path: /patients, resource: Patient, list: "", search: { nhs: [identifier] } }')).to.include(
        'routes.yaml › routes.0.search: only a FHIR route maps search parameters',
      );
    });

    it('refuses a mapping to a field the resource does not declare, naming the file, route and key', async () => {
      expect(await problems('{ path: /Patient, resource: Patient, list: entry.resource, search: { nhs: [nhsNumber] } }')).to.include(
        'routes.yaml › routes.0.search.nhs: unknown field "nhsNumber" of resource "Patient"',
      );
    });

    it('refuses mapping a chain, a modifier or a control parameter', async () => {
      const message = await problems(
        '{ path: /Patient, resource: Patient, list: entry.resource, search: { subject.name: [name], "name:exact": [name], _include: [name] } }',
      );
      expect(message).to.include('routes.0.search.subject.name: a search parameter name has no');
      expect(message).to.include('routes.0.search.name:exact: a search parameter name has no');
      expect(message).to.include('routes.0.search._include: "_include" is a FHIR control parameter');
    });
  });
});
