import { expect } from 'chai';
import { answerContentType, UPSTREAM_ACCEPT } from '../../src/http/content-type.js';

describe('http › content type', () => {
  it('asks a record source for JSON only', () => {
    expect(UPSTREAM_ACCEPT).to.equal('application/fhir+json, application/json');
  });

  it('labels a redacted answer with the upstream JSON media type, in UTF-8', () => {
    expect(answerContentType({ 'content-type': 'application/fhir+json;charset=ISO-8859-1' })).to.equal('application/fhir+json; charset=utf-8');
    expect(answerContentType({})).to.equal('application/json; charset=utf-8');
  });
});
