import { expect } from 'chai';
import { safePath, upstreamHeaders, writeContentType } from '../../src/gateway/headers.js';
import { answerContentType, UPSTREAM_ACCEPT } from '../../src/http/media-type.js';

describe('gateway › headers and paths', () => {
  it('forwards only Accept-Language, plus its own JSON Accept, the request id and a write content type', () => {
    const out = upstreamHeaders(
      {
        accept: 'application/fhir+xml',
        'accept-language': 'en-GB',
        authorization: 'Bearer t',
        cookie: 'a=b',
        'if-none-match': '"x"',
        'if-modified-since': 'x',
        range: 'bytes=0-1',
        'x-purpose': 'direct-care',
        'x-forwarded-for': '10.0.0.1',
      },
      'req-1',
      'application/json',
    );
    // Never the caller's Accept: an upstream answering XML for records that exist and 404 for others would tell them apart.
    expect(out).to.deep.equal({
      accept: UPSTREAM_ACCEPT,
      'accept-language': 'en-GB',
      'x-request-id': 'req-1',
      'content-type': 'application/json',
    });
    expect(UPSTREAM_ACCEPT).to.equal('application/fhir+json, application/json');
  });

  it('labels a redacted answer with the upstream JSON media type, in UTF-8', () => {
    expect(answerContentType({ 'content-type': 'application/fhir+json;charset=ISO-8859-1' })).to.equal(
      'application/fhir+json; charset=utf-8',
    );
    expect(answerContentType({})).to.equal('application/json; charset=utf-8');
    expect(writeContentType({ 'content-type': 'text/plain' })).to.equal(undefined);
    expect(writeContentType({ 'content-type': 'application/merge-patch+json; charset=utf-8' })).to.equal('application/merge-patch+json');
  });

  it('keeps ordinary paths', () => {
    for (const p of ['/patients', '/patients/pat-001', '/Patient/3f1c-9a', '/notes/a%20b', '/x/']) expect(safePath(p)).to.equal(p);
  });

  it('refuses paths the upstream could normalise into another route', () => {
    for (const p of [
      'patients',
      '//patients',
      '/patients//x',
      '/patients/..',
      '/patients/.',
      '/patients/%2e%2E',
      '/a/..%2Fdb',
      '/a%5cb',
      '/a\\b',
      '/a%00',
      '/a%zz',
      '/a b',
      `/${'a'.repeat(3000)}`,
    ]) {
      expect(safePath(p), p).to.equal(undefined);
    }
  });
});
