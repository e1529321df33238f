import { expect } from 'chai';
import { getPath, HOSTILE_KEYS, isPlainObject, isWithin, longestPrefix, own, splitPath, valuesAt } from '../../src/lib/paths.js';

describe('lib/paths', () => {
  describe('splitPath and isWithin', () => {
    it('splits a dotted path into its segments', () => {
      expect(splitPath('address.postcode')).to.deep.equal(['address', 'postcode']);
      expect(splitPath('id')).to.deep.equal(['id']);
    });

    it('holds a path within itself and its ancestors, never within a sibling sharing a prefix', () => {
      expect(isWithin('address.postcode', 'address')).to.equal(true);
      expect(isWithin('address', 'address')).to.equal(true);
      expect(isWithin('addressBook', 'address')).to.equal(false);
      expect(isWithin('address', 'address.postcode')).to.equal(false);
    });
  });

  describe('isPlainObject', () => {
    it('accepts object literals and null-prototype objects only', () => {
      expect(isPlainObject({ a: 1 })).to.equal(true);
      expect(isPlainObject(Object.create(null))).to.equal(true);
      for (const v of [null, [], 'x', 1, new Date(), new Map(), new (class Row {})()]) expect(isPlainObject(v)).to.equal(false);
    });
  });

  describe('getPath', () => {
    it('reads a nested own value without walking arrays', () => {
      expect(getPath({ consent: { research: 'granted' } }, 'consent.research')).to.equal('granted');
      expect(getPath({ org: [{ team: 'a' }] }, 'org.team')).to.equal(undefined);
    });

    it('never reads through a hostile key or an inherited property', () => {
      expect(getPath({}, 'constructor')).to.equal(undefined);
      expect(getPath({ a: {} }, 'a.toString')).to.equal(undefined);
      expect(getPath(JSON.parse('{"__proto__":{"x":1}}'), '__proto__.x')).to.equal(undefined);
    });
  });

  describe('valuesAt', () => {
    it('walks every element of each array met, and flattens an array at the end', () => {
      const record = { prefs: [{ dataOptOut: false }, { dataOptOut: [true, null] }, {}] };
      expect(valuesAt(record, 'prefs.dataOptOut')).to.deep.equal({ values: [false, true, null], malformed: false });
    });

    it('ends a branch at null or a missing key without a value', () => {
      expect(valuesAt({ a: null }, 'a.b')).to.deep.equal({ values: [], malformed: false });
      expect(valuesAt({}, 'a')).to.deep.equal({ values: [], malformed: false });
    });

    it('says the record is malformed when the path meets a scalar, a class instance or a hostile key', () => {
      expect(valuesAt({ a: 'text' }, 'a.b').malformed).to.equal(true);
      expect(valuesAt({ a: new Date() }, 'a.b').malformed).to.equal(true);
      expect(valuesAt({ a: {} }, ['a', '__proto__']).malformed).to.equal(true);
      expect(valuesAt({ a: [{ b: 1 }, 7] }, 'a.b')).to.deep.equal({ values: [1], malformed: true });
    });

    it('takes a list of segments, so a segment may hold a dot', () => {
      expect(valuesAt({ consent: { 'audit.2024': 'granted' } }, ['consent', 'audit.2024']).values).to.deep.equal(['granted']);
    });
  });

  describe('longestPrefix', () => {
    it('picks the most specific prefix a path lies within', () => {
      expect(longestPrefix(['address', 'address.postcode'], 'address.postcode.x')).to.equal('address.postcode');
      expect(longestPrefix(['address.postcode', 'address'], 'address.line')).to.equal('address');
      expect(longestPrefix(['name'], 'address')).to.equal(undefined);
    });
  });

  describe('own', () => {
    it('finds own entries only, never a built-in property', () => {
      expect(own({ a: 1 }, 'a')).to.equal(1);
      expect(own({ a: 1 }, 'toString')).to.equal(undefined);
      expect(own({ a: 1 }, 'constructor')).to.equal(undefined);
    });
  });

  it('lists the keys that would pollute prototypes', () => {
    expect([...HOSTILE_KEYS].sort()).to.deep.equal(['__proto__', 'constructor', 'prototype']);
  });
});
