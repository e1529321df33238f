import { expect } from 'chai';
import fc from 'fast-check';
import { canonicalJson } from '../../src/lib/canonical-json.js';

/** The plain definition the fast one must match byte for byte: trails already written were hashed with it. */
function reference(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : reference(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${reference(obj[k])}`).join(',')}}`;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
  return JSON.stringify(value) ?? 'null';
}

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

    it('writes the same bytes as the plain definition for any value (property)', () => {
      const value = fc.letrec((tie) => ({
        node: fc.oneof(
          { depthSize: 'small' },
          fc.string({ maxLength: 4 }),
          fc.double({ noNaN: true, noDefaultInfinity: true }),
          fc.integer(),
          fc.boolean(),
          fc.constantFrom(null, undefined, -0),
          tie('list'),
          tie('map'),
        ),
        list: fc.sparseArray(tie('node'), { maxLength: 4 }),
        map: fc.dictionary(fc.string({ maxLength: 3 }), tie('node'), { maxKeys: 4 }),
      })).node;
      fc.assert(
        fc.property(value, (v) => canonicalJson(v) === reference(v)),
        { numRuns: 3000 },
      );
      const holed = [1, undefined, new Date(0), { a: [] }];
      delete holed[1];
      expect(canonicalJson(holed)).to.equal(reference(holed));
    });

    it('refuses numbers JSON cannot carry', () => {
      expect(() => canonicalJson({ n: Number.NaN })).to.throw(TypeError);
    });
  });
});
