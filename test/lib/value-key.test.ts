import { expect } from 'chai';
import fc from 'fast-check';
import { valueKey } from '../../src/lib/value-key.js';

describe('lib/value-key', () => {
  describe('valueKey', () => {
    it('gives equal plain values the same key', () => {
      expect(valueKey({ team: '${user.team}', n: [1, null, true] })).to.equal(valueKey({ team: '${user.team}', n: [1, null, true] }));
    });

    it('tells apart values that JSON would merge or that differ only in type', () => {
      const values = [
        1,
        '1',
        null,
        Number.NaN,
        0,
        -0,
        Number.POSITIVE_INFINITY,
        'null',
        true,
        'true',
        [1],
        ['1'],
        { a: 1 },
        { a: '1' },
        [],
        {},
      ];
      const keys = values.map(valueKey);
      expect(new Set(keys).size).to.equal(values.length);
    });

    it('has no key for what a policy file never holds, so it is never shared', () => {
      for (const v of [
        undefined,
        new Date(0),
        [1, undefined],
        { a: undefined },
        1n,
        Object.assign(new Array<number>(2), { 1: 1 }),
        new Map(),
      ])
        expect(valueKey(v)).to.equal(undefined);
    });

    it('gives two values the same key only when they are deeply equal (property)', () => {
      const plain = fc.letrec((tie) => ({
        node: fc.oneof(
          { depthSize: 'small' },
          fc.string({ maxLength: 3 }),
          fc.double(),
          fc.boolean(),
          fc.constant(null),
          tie('list'),
          tie('map'),
        ),
        list: fc.array(tie('node'), { maxLength: 3 }),
        map: fc.dictionary(fc.string({ maxLength: 2 }), tie('node'), { maxKeys: 3 }),
      })).node;
      fc.assert(
        fc.property(plain, plain, (a, b) => {
          if (valueKey(a) !== valueKey(b)) return true;
          expect(a).to.deep.equal(b);
          // deep-eql treats -0 and 0 alike and ignores key order; the key does not.
          expect(JSON.stringify(a, (_, v) => (Object.is(v, -0) ? '-0' : v))).to.equal(
            JSON.stringify(b, (_, v) => (Object.is(v, -0) ? '-0' : v)),
          );
          return true;
        }),
        { numRuns: 2000 },
      );
    });
  });
});
