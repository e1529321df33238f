import { expect } from 'chai';
import { canonicalJson } from '../../src/lib/canonical-json.js';

describe('lib/canonical-json', () => {
  describe('canonicalJson', () => {
    it('sorts keys at every depth and leaves out undefined members', () => {
      expect(canonicalJson({ b: 1, a: { d: [2, { y: 1, x: undefined }], c: 'x' }, e: undefined })).to.equal(
        '{"a":{"c":"x","d":[2,{"y":1}]},"b":1}',
      );
    });

    it('gives the same text for the same event whatever the key order', () => {
      expect(canonicalJson({ purpose: 'p', user: 'u' })).to.equal(canonicalJson({ user: 'u', purpose: 'p' }));
    });

    it('refuses numbers JSON cannot carry', () => {
      expect(() => canonicalJson({ n: Number.NaN })).to.throw(TypeError);
    });
  });
});
