import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { DEFINITIONS_FILE, definitionsModule } from '../../scripts/fhir-definitions.js';
import { isResourceType, r4 } from '../../src/fhir/definitions.js';

describe('fhir › definitions', () => {
  it('is exactly what `npm run fhir-definitions` writes from the published R4 definitions', function () {
    this.timeout(120_000);
    expect(readFileSync(DEFINITIONS_FILE, 'utf8') === definitionsModule(), 'run `npm run fhir-definitions` and commit the result').to.equal(
      true,
    );
  });

  it('knows the R4 resource types, and nothing else is one', () => {
    expect(r4().resourceTypes).to.have.length(147); // R4's, as the published definitions list them
    expect(isResourceType('Patient')).to.equal(true);
    expect(isResourceType('patients')).to.equal(false);
    expect(isResourceType('Resource')).to.equal(false);
    expect(isResourceType('__proto__')).to.equal(false);
  });

  it('reads search parameters as the field paths their expressions read, choice elements expanded', () => {
    const obs = r4().search['Observation']!;
    expect(obs['date']?.paths).to.deep.equal(['effectiveDateTime', 'effectiveInstant', 'effectivePeriod', 'effectiveTiming']);
    expect(obs['patient']).to.deep.include({ type: 'reference', paths: ['subject'], targets: ['Patient'] });
    expect(obs['_lastUpdated']?.paths).to.deep.equal(['meta.lastUpdated']);
    expect(r4().search['Patient']?.['family']?.paths).to.deep.equal(['name.family']);
    expect(r4().search['Patient']?.['phone']?.paths).to.deep.equal(['telecom']);
  });

  it('leaves a parameter it cannot read as fields unmapped, with the reason', () => {
    expect(r4().search['Observation']?.['code-value-quantity']).to.deep.include({ paths: [] });
    expect(r4().search['Observation']?.['code-value-quantity']?.unmapped).to.match(/composite/);
    expect(r4().search['Patient']?.['_text']?.unmapped).to.match(/no expression/);
  });

  it('lists required elements, a choice element under every JSON name it takes', () => {
    expect(r4().types['Observation']?.required).to.deep.equal([
      { names: ['status'], primitive: true },
      { names: ['code'], primitive: false },
    ]);
    expect(r4().types['Observation']?.complex['component']).to.equal('ObservationComponent');
    expect(r4().types['ObservationComponent']?.required).to.deep.equal([{ names: ['code'], primitive: false }]);
  });
});
