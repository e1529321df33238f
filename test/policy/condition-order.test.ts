import { expect } from 'chai';
import fc from 'fast-check';
import { conditionKey, provablyWithin } from '../../src/policy/condition-order.js';
import { compileQuery } from '../../src/policy/evaluate.js';

type Cond = Record<string, unknown>;

describe('policy/condition-order', () => {
  describe('provablyWithin', () => {
    it('a condition with an extra conjunct lies within the one without', () => {
      expect(provablyWithin({ careTeam: '${user.team}', kind: 'clinical' }, { careTeam: '${user.team}' })).to.equal(true);
      expect(provablyWithin({ careTeam: '${user.team}' }, { careTeam: '${user.team}', kind: 'clinical' })).to.equal(false);
    });

    it('every condition lies within every row; every row lies within none but itself', () => {
      expect(provablyWithin({ a: 1 }, undefined)).to.equal(true);
      expect(provablyWithin({ a: 1 }, {})).to.equal(true);
      expect(provablyWithin(undefined, { a: 1 })).to.equal(false);
      expect(provablyWithin({}, undefined)).to.equal(true);
    });

    it('an $in list that keeps some values lies within; one that gains a value does not', () => {
      expect(provablyWithin({ k: { $in: ['a'] } }, { k: { $in: ['a', 'b'] } })).to.equal(true);
      expect(provablyWithin({ k: 'a' }, { k: { $in: ['a', 'b'] } })).to.equal(true);
      expect(provablyWithin({ k: { $in: ['a', 'c'] } }, { k: { $in: ['a', 'b'] } })).to.equal(false);
      expect(provablyWithin({ k: 'c' }, { k: { $in: ['a', 'b'] } })).to.equal(false);
    });

    it('a claim standing for a list is not a list it can compare', () => {
      expect(provablyWithin({ k: { $in: ['a'] } }, { k: { $in: '${user.teams}' } })).to.equal(false);
    });

    it('compares values by canonical JSON, not text: key order does not matter', () => {
      expect(provablyWithin({ k: { $gte: 1, $lte: 5 } }, { k: { $lte: 5, $gte: 1 } })).to.equal(true);
      expect(conditionKey({ b: 1, a: 2 })).to.equal(conditionKey({ a: 2, b: 1 }));
      expect(conditionKey(undefined)).to.equal(conditionKey({}));
    });

    it('is sound: every record the inner condition matches, the outer matches too', () => {
      const value = fc.constantFrom('a', 'b', 'c', 1, true);
      const requirement = fc.oneof(value, fc.record({ $in: fc.uniqueArray(value, { minLength: 1, maxLength: 3 }) }));
      const condition = fc.dictionary(fc.constantFrom('k', 'm', 'n'), requirement, { maxKeys: 3 }) as fc.Arbitrary<Cond>;
      const record = fc.dictionary(fc.constantFrom('k', 'm', 'n'), fc.oneof(value, fc.array(value, { maxLength: 2 })), { maxKeys: 3 });
      const match = (c: Cond, r: object) => compileQuery(c, { templates: false }).match!(r);
      let proved = 0;
      fc.assert(
        fc.property(condition, condition, fc.array(record, { minLength: 1, maxLength: 8 }), (inner, outer, records) => {
          if (!provablyWithin(inner, outer)) return;
          proved++;
          for (const r of records) if (match(inner, r)) expect(match(outer, r), JSON.stringify({ inner, outer, r })).to.equal(true);
        }),
        { numRuns: 2000 },
      );
      // The property is not vacuous: many generated pairs were provably ordered.
      expect(proved).to.be.greaterThan(100);
    });
  });
});
