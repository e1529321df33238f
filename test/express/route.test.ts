import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { loadPolicies, type PolicySet } from '../../src/engine/policy-set.js';
import { meshRoute } from '../../src/express/route.js';

const POLICIES = fileURLToPath(new URL('../fixtures/policies/fhir-search', import.meta.url));

describe('express › route', () => {
  let policies: PolicySet;
  before(async () => {
    policies = await loadPolicies(POLICIES);
  });

  it('reads the R4 type a route serves from fhir, and keeps markWithheld unset when the route says nothing', () => {
    const marked = meshRoute('read', 'Observation', { fhir: true, markWithheld: true, list: 'entry.resource' }, policies);
    expect(marked).to.include({ fhirType: 'Observation', markWithheld: true, list: 'entry.resource' });
    expect(marked.dialect, 'a FHIR route reads its query as search parameters').to.not.equal(undefined);
    const plain = meshRoute('write', 'Observation', {}, policies);
    expect(plain).to.include({ fhirType: undefined, markWithheld: undefined, list: null, dialect: undefined });
    expect(plain.params).to.deep.equal({});
  });

  it('refuses, with a TypeError, markers or search mappings on a route not said to be FHIR and an fhir type R4 does not have', () => {
    expect(() => meshRoute('read', 'Observation', { markWithheld: true }, policies)).to.throw(TypeError, /only FHIR routes are marked/);
    expect(() => meshRoute('read', 'Observation', { fhir: false, markWithheld: true }, policies)).to.throw(TypeError);
    expect(() => meshRoute('write', 'Observation', { fhir: 'Observations' }, policies)).to.throw(TypeError, /not an R4 resource type/);
    expect(() => meshRoute('read', 'Observation', { search: { status: ['status'] } }, policies)).to.throw(TypeError, /search/);
  });

  it('refuses a route parameter mapped to a field the resource does not declare', () => {
    expect(() => meshRoute('read', 'Patient', { params: { nhs: 'nhsNumbr' } }, policies)).to.throw(
      TypeError,
      /params\.nhs: unknown field "nhsNumbr"/,
    );
  });
});
