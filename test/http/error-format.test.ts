import { expect } from 'chai';
import { fhirAnswer, JSON_ERRORS } from '../../src/http/error-format.js';

describe('fhirAnswer', () => {
  it('answers a FHIR route with OperationOutcomes on its resource type, whatever the client accepts', () => {
    expect(fhirAnswer('Observation', { accept: 'application/json' })).to.deep.equal({ fhir: true, resourceType: 'Observation' });
  });

  it('answers a client whose Accept or Content-Type names FHIR JSON with OperationOutcomes on any other path', () => {
    const fhir = { fhir: true, resourceType: undefined };
    expect(fhirAnswer(undefined, { accept: 'application/fhir+json' })).to.deep.equal(fhir);
    expect(fhirAnswer(undefined, { accept: 'text/html, Application/FHIR+JSON;q=0.9' })).to.deep.equal(fhir);
    expect(fhirAnswer(undefined, { accept: 'application/json+fhir' })).to.deep.equal(fhir);
    expect(fhirAnswer(undefined, { 'content-type': 'application/fhir+json; charset=utf-8' })).to.deep.equal(fhir);
  });

  it('keeps JSON for everyone else, and for a client that refuses FHIR (q=0)', () => {
    expect(fhirAnswer(undefined, {})).to.equal(JSON_ERRORS);
    expect(fhirAnswer(undefined, { accept: 'application/json, */*' })).to.equal(JSON_ERRORS);
    expect(fhirAnswer(undefined, { accept: 'application/fhir+json;q=0, application/json' })).to.equal(JSON_ERRORS);
    expect(fhirAnswer(undefined, { accept: 'application/vnd.fhir+json.example' })).to.equal(JSON_ERRORS);
    expect(fhirAnswer(undefined, { 'content-type': 'application/json' })).to.equal(JSON_ERRORS);
  });
});
