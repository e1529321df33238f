import { expect } from 'chai';
import { answerContentType, isJsonType, UPSTREAM_ACCEPT } from '../../src/http/media-type.js';

describe('http/media-type', () => {
  describe('isJsonType', () => {
    it('accepts application/json and any +json type, with parameters', () => {
      for (const t of [
        'application/json',
        'application/fhir+json; charset=utf-8',
        ' Application/JSON;charset=utf-8',
        'application/vnd.api+json',
      ])
        expect(isJsonType(t), t).to.equal(true);
    });

    it('refuses every other type, and a missing one', () => {
      for (const t of [
        undefined,
        'text/html',
        'application/jsonp',
        'text/json',
        'application/json-patch',
        'multipart/form-data; boundary=application/json',
      ]) {
        expect(isJsonType(t), String(t)).to.equal(false);
      }
    });
  });
});

describe('http › content type', () => {
  it('asks a record source for JSON only', () => {
    expect(UPSTREAM_ACCEPT).to.equal('application/fhir+json, application/json');
  });

  it('labels a redacted answer with the upstream JSON media type, in UTF-8', () => {
    expect(answerContentType({ 'content-type': 'application/fhir+json;charset=ISO-8859-1' })).to.equal(
      'application/fhir+json; charset=utf-8',
    );
    expect(answerContentType({})).to.equal('application/json; charset=utf-8');
  });
});
