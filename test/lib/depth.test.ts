import { expect } from 'chai';
import { MAX_RECORD_DEPTH, nestedDeeperThan } from '../../src/lib/depth.js';

/** A value nesting `levels` lists inside one another, innermost holding `leaf`. */
function nested(levels: number, leaf: unknown = 1): unknown {
  let value: unknown = leaf;
  for (let i = 0; i < levels; i++) value = i % 2 === 0 ? [value] : { v: value };
  return value;
}

describe('lib/depth', () => {
  describe('nestedDeeperThan', () => {
    it('counts lists and objects alike, and is true only past the limit', () => {
      expect(nestedDeeperThan(nested(3), 3)).to.equal(false);
      expect(nestedDeeperThan(nested(4), 3)).to.equal(true);
      expect(nestedDeeperThan({ a: [{ b: 1 }] }, 3)).to.equal(false);
      expect(nestedDeeperThan(JSON.parse('[[[1]]]'), 2)).to.equal(true);
    });

    it('takes a scalar or null as no nesting at all', () => {
      for (const v of [null, undefined, 0, 'text', true]) expect(nestedDeeperThan(v, 0)).to.equal(false);
      expect(nestedDeeperThan({}, 0)).to.equal(true);
    });

    it('finds one deep branch among shallow siblings', () => {
      const record = { id: 'p1', name: [{ given: ['A'] }], notes: nested(8) };
      expect(nestedDeeperThan(record, 9)).to.equal(false);
      expect(nestedDeeperThan(record, 8)).to.equal(true);
    });

    it('defaults to the record limit of 100 levels', () => {
      expect(MAX_RECORD_DEPTH).to.equal(100);
      expect(nestedDeeperThan(nested(100))).to.equal(false);
      expect(nestedDeeperThan(nested(101))).to.equal(true);
    });

    it('walks a value nested far past the stack without overflowing', () => {
      const deep = JSON.parse('['.repeat(200_000) + ']'.repeat(200_000)) as unknown;
      expect(nestedDeeperThan(deep)).to.equal(true);
    });
  });
});
