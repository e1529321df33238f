import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { AccessError } from '../../src/engine/access-error.js';
import { loadPolicies, type PolicySet } from '../../src/engine/policy-set.js';
import { checkEntries, type QueryEntries } from '../../src/engine/query-check.js';
import { fhirDialect, searchProblems } from '../../src/fhir/search.js';

const POLICIES = fileURLToPath(new URL('../fixtures/policies/fhir-search', import.meta.url));
const NOW = new Date('2026-11-24T12:00:00Z');
const training = '2026-06-01';
const USERS = {
  clinician: { sub: 'clin-1', roles: ['clinician'], practice: 'Y00001', training },
  lead: { sub: 'lead-1', roles: ['clinical-lead'], training },
  nurse: { sub: 'nurse-1', roles: ['nurse'], training },
  clerk: { sub: 'clerk-1', roles: ['clerk'], training },
};

let loaded: Promise<PolicySet> | undefined;
async function setup(resource: 'Patient' | 'Observation', user: Record<string, unknown>, purpose = 'direct-care') {
  loaded ??= loadPolicies(POLICIES, { now: NOW });
  const policies = await loaded;
  const plan = policies.plan({ resource, purpose, user, now: NOW }, 'read');
  const dialect = fhirDialect(resource, resource === 'Patient' ? { deceased: ['deceasedBoolean', 'deceasedDateTime'], given: false } : {});
  const query = (q: string): QueryEntries => {
    const out = new Map<string, string[]>();
    for (const [k, v] of new URLSearchParams(q)) out.set(k, [...(out.get(k) ?? []), v]);
    return [...out];
  };
  const check = (q: string) => checkEntries(policies, plan, query(q), dialect, []);
  const refused = (q: string): AccessError => {
    try {
      check(q);
    } catch (e) {
      expect(e).to.be.instanceOf(AccessError);
      expect((e as AccessError).code).to.equal('filter_forbidden');
      return e as AccessError;
    }
    return expect.fail(`"${q}" was allowed`);
  };
  return { check, refused, dialect };
}

describe('fhir › search', () => {
  describe('fhirDialect', () => {
    it('reads a parameter as every field its expression reads, whatever the modifier or prefix', async () => {
      const { dialect } = await setup('Observation', USERS.lead);
      const effective = ['effectiveDateTime', 'effectiveInstant', 'effectivePeriod', 'effectiveTiming'];
      expect(dialect.fieldsOf('date', ['ge2024-06-01'])).to.deep.equal([{ name: 'date', fields: effective }]);
      expect(dialect.fieldsOf('code:not', ['http://loinc.org|8867-4'])).to.deep.equal([{ name: 'code:not', fields: ['code'] }]);
      expect(dialect.fieldsOf('subject:Patient', ['pt-001'])).to.deep.equal([{ name: 'subject:Patient', fields: ['subject'] }]);
      expect(dialect.fieldsOf('_id', ['obs-001-01'])).to.deep.equal([{ name: '_id', fields: ['id'] }]);
      expect(dialect.fieldsOf('_lastUpdated', ['ge2020'])).to.deep.equal([{ name: '_lastUpdated', fields: ['meta.lastUpdated'] }]);
      expect(dialect.pagingKeys).to.deep.equal(['_count', '_offset']);
      expect(dialect.idKey).to.equal('_id');
    });

    it('reads _sort values as the parameters they name, each by its fields', async () => {
      const { dialect } = await setup('Patient', USERS.lead);
      expect(dialect.fieldsOf('_sort', ['-birthdate,family', '_lastUpdated'])).to.deep.equal([
        { name: '_sort=birthdate', fields: ['birthDate'] },
        { name: '_sort=family', fields: ['name.family'] },
        { name: '_sort=_lastUpdated', fields: ['meta.lastUpdated'] },
      ]);
    });

    it('lets _pretty, _total and a JSON _format through as reading nothing, and refuses another format', async () => {
      const { dialect } = await setup('Patient', USERS.lead);
      expect(dialect.fieldsOf('_pretty', ['true'])).to.deep.equal([]);
      expect(dialect.fieldsOf('_total', ['accurate'])).to.deep.equal([]);
      for (const f of ['json', 'application/json', 'application/fhir+json', 'application/fhir+json; fhirVersion=4.0'])
        expect(dialect.fieldsOf('_format', [f])).to.deep.equal([]);
      expect(dialect.fieldsOf('_format', ['xml'])[0])
        .to.have.property('refused')
        .that.match(/format other than JSON/);
      expect(dialect.fieldsOf('_total', ['all'])[0]).to.have.property('refused');
    });

    it('maps what a route adds, and refuses what it refuses', async () => {
      const { dialect } = await setup('Patient', USERS.lead);
      expect(dialect.fieldsOf('deceased', ['true'])).to.deep.equal([{ name: 'deceased', fields: ['deceasedBoolean', 'deceasedDateTime'] }]);
      expect(dialect.fieldsOf('given', ['Amara'])[0])
        .to.have.property('refused')
        .that.match(/this route refuses/);
      // Unmapped in the R4 table and not mapped by this route: refused, saying how to map it.
      expect(fhirDialect('Patient').fieldsOf('deceased', ['true'])[0])
        .to.have.property('refused')
        .that.match(/cannot be read as fields.*search/);
    });
  });

  describe('checkEntries with the FHIR dialect', () => {
    it('lets a clinician search by the parameters whose fields they read in every row', async () => {
      const { check, refused } = await setup('Observation', USERS.clinician);
      for (const q of [
        'patient=Patient/pt-001',
        'subject=pt-001&code=http://loinc.org|8867-4',
        'date=ge2024-06-01&date=lt2025-01-01',
        'status=final',
        '_id=obs-001-01',
        '_lastUpdated=ge2020-01-01',
        '_sort=-date',
        'code:text=heart&_format=json&_pretty=true',
      ]) {
        expect(check(q), q).to.deep.equal({ filtered: true });
      }
      expect(check('_pretty=true')).to.deep.equal({ filtered: false });
      // Paging keys are no filter, but rows may be hidden from a clinician: a page would show where they sit.
      expect(refused('_count=5&_offset=5').message).to.include('Paging is not available here');
      const lead = await setup('Observation', USERS.lead);
      expect(lead.check('_count=5&_offset=5')).to.deep.equal({ filtered: false });
    });

    it('refuses a parameter that also reads a field the policy never declared: value-quantity reads valueSampledData too', async () => {
      const { refused } = await setup('Observation', USERS.lead);
      expect(refused('value-quantity=gt100').fields).to.deep.equal(['valueSampledData']);
    });

    it('refuses a parameter when any one of the fields it reads is hidden: a nurse never sees an effectivePeriod', async () => {
      const { check, refused } = await setup('Observation', USERS.nurse);
      expect(() => check('code=8867-4&patient=pt-001')).not.to.throw();
      const e = refused('date=ge2024-06-01');
      expect(e.message).to.include('"date"');
      expect(e.fields).to.deep.equal(['effectiveInstant', 'effectivePeriod', 'effectiveTiming']);
      expect(refused('date:missing=true').message).to.include('"date:missing"');
      expect(refused('_sort=-date').message).to.include('"_sort=date"');
    });

    it('keeps the check through every modifier and prefix: a clerk cannot search by birth date or identifier at all', async () => {
      const { check, refused } = await setup('Patient', USERS.clerk, 'administration');
      expect(() => check('name=Patel&family:exact=Patel&address-city=Leeds')).not.to.throw();
      for (const q of [
        'birthdate=1980-01-01',
        'birthdate=ge1980',
        'birthdate:missing=false',
        'identifier=https://fhir.nhs.uk/Id/nhs-number|9990000018',
        'identifier:not=9990000018',
        'identifier:of-type=MR|9990000018',
        'identifier:text=hospital-number',
        'gender:not=male',
        '_lastUpdated=lt2030',
        '_sort=birthdate',
      ]) {
        const e = refused(q);
        expect(e.message, q).to.include(JSON.stringify(q.split('=')[0] === '_sort' ? q : q.split('=')[0]));
        // Never a value: only the names of keys and fields (a sort's values are parameter names).
        if (!q.startsWith('_sort')) expect(e.message, q).not.to.include(q.split('=')[1]);
      }
    });

    it('refuses chains, reverse chains, includes, summaries and the other keys it cannot check, saying why', async () => {
      const { refused } = await setup('Observation', USERS.lead);
      const why: Record<string, RegExp> = {
        'subject.name=Patel': /chained parameter/,
        'subject:Patient.birthdate=1980': /chained parameter/,
        '_has:Observation:patient:code=1234': /reverse chaining/,
        '_include=Observation:subject': /adds other resources/,
        '_include:iterate=Observation:subject': /adds other resources/,
        '_revinclude=Provenance:target': /adds other resources/,
        '_elements=status': /cut each resource/,
        '_summary=count': /count rows hidden/,
        '_contained=true': /contained/,
        '_containedType=contained': /contained/,
        '_filter=status eq final': /expression/,
        '_query=mine': /named query/,
        '_text=cough': /narrative/,
        '_content=cough': /whole resource/,
        '_list=list-1': /List/,
        '_type=Patient': /resource types/,
        '_cursor=abc': /position/,
        'code-value-quantity=8867-4$gt100': /composite/,
        'focus=x': /./,
        'bogus=1': /not a search parameter of Observation/,
        'code:wibble=1': /modifier fieldmesh does not know/,
        'subject:Practitioner=1': /modifier fieldmesh does not know/,
        '_sort=bogus': /not a search parameter/,
        '_format=xml': /JSON/,
      };
      for (const [q, reason] of Object.entries(why)) {
        const key = q.slice(0, q.indexOf('='));
        const e = refused(q);
        expect(e.message, q).to.match(reason);
        expect(e.message, q).to.include(JSON.stringify(key === '_sort' ? q : key));
      }
    });

    it('refuses paging a search where rows may be hidden, filtered or not, and allows it where none can be', async () => {
      const clinician = await setup('Patient', USERS.clinician);
      for (const q of ['_count=10', '_count=1&_offset=4', 'birthdate=ge1980&_count=10', '_sort=birthdate&_offset=10']) {
        expect(clinician.refused(q).message, q).to.match(/Paging is not available here/);
      }
      expect(clinician.check('birthdate=ge1980')).to.deep.equal({ filtered: true });
      const lead = await setup('Patient', USERS.lead);
      expect(lead.check('_count=10')).to.deep.equal({ filtered: false });
      expect(lead.check('birthdate=ge1980&_count=10&_sort=-birthdate')).to.deep.equal({ filtered: true });
    });
  });

  describe('searchProblems', () => {
    const selectable = (f: string) => ['identifier', 'birthDate', 'deceasedBoolean'].includes(f);
    it('wants a FHIR route, plain names that FHIR does not reserve, and declared fields', () => {
      expect(searchProblems(undefined, 'Patient', { nhs: ['identifier'] }, selectable)).to.have.length(1);
      expect(searchProblems(undefined, 'Patient', {}, selectable)).to.deep.equal([]);
      expect(
        searchProblems('Patient', 'Patient', { nhs: ['identifier'], deceased: ['deceasedBoolean'], given: false }, selectable),
      ).to.deep.equal([]);
      expect(searchProblems('Patient', 'Patient', { nhs: ['nhsNumber'] }, selectable)).to.deep.equal([
        { name: 'nhs', message: 'unknown field "nhsNumber" of resource "Patient"' },
      ]);
      expect(
        searchProblems('Patient', 'Patient', { 'subject.name': ['identifier'], 'x:exact': false }, selectable).map((p) => p.name),
      ).to.deep.equal(['subject.name', 'x:exact']);
      for (const name of ['_sort', '_count', '_include', '_has', '_format'])
        expect(searchProblems('Patient', 'Patient', { [name]: ['identifier'] }, selectable)[0]?.message, name).to.match(
          /control parameter/,
        );
    });

    it('refuses a name no query could carry as a key, and the paging keys of other record APIs', () => {
      for (const name of ['a;b', 'a=b', 'gender ', 'a&b', ''])
        expect(searchProblems('Patient', 'Patient', { [name]: ['identifier'] }, selectable)[0]?.message, JSON.stringify(name)).to.match(
          /letters, digits/,
        );
      for (const name of ['_page', '_limit', 'cursor'])
        expect(searchProblems('Patient', 'Patient', { [name]: ['identifier'] }, selectable)[0]?.message, name).to.match(/pages a search/);
    });
  });
});
