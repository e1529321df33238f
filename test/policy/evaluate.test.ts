import { expect } from 'chai';
import { compareStrings, compileQuery } from '../../src/policy/evaluate.js';

/** The predicate of a condition that must compile. */
function match(condition: Record<string, unknown>) {
  const { match: m, problems } = compileQuery(condition, { templates: false });
  expect(problems).to.deep.equal([]);
  return m!;
}

/** The paths of the problems of a condition that must not compile. */
function problems(condition: Record<string, unknown>, templates = false) {
  const r = compileQuery(condition, { templates });
  expect(r.match).to.equal(undefined);
  return r.problems;
}

describe('policy/evaluate', () => {
  describe('compileQuery', () => {
    it('matches a plain value against the field or any element of a list there', () => {
      const m = match({ flags: 'dv-risk' });
      expect(m({ flags: 'dv-risk' })).to.equal(true);
      expect(m({ flags: ['vip', 'dv-risk'] })).to.equal(true);
      expect(m({ flags: ['vip'] })).to.equal(false);
    });

    it('walks lists of objects on the way to a field', () => {
      const m = match({ 'diagnoses.code': 'E11' });
      expect(m({ diagnoses: [{ code: 'I10' }, { code: 'E11' }] })).to.equal(true);
      expect(m({ diagnoses: [{ code: 'I10' }] })).to.equal(false);
    });

    it('compares ranges only within a type: a missing, null or differently typed value never matches', () => {
      const m = match({ riskLevel: { $lte: 2 } });
      expect(m({ riskLevel: 1 })).to.equal(true);
      expect(m({ riskLevel: 3 })).to.equal(false);
      for (const riskLevel of [undefined, null, 'high', '1']) expect(m({ riskLevel }), String(riskLevel)).to.equal(false);
      expect(m({})).to.equal(false);
      expect(match({ reviewed: { $gt: '2026-01-01' } })({ reviewed: '2026-02-01' })).to.equal(true);
    });

    it('lets null match a missing field, and $exists tell them apart', () => {
      expect(match({ deceased: null })({})).to.equal(true);
      expect(match({ deceased: null })({ deceased: null })).to.equal(true);
      expect(match({ deceased: { $exists: false } })({ deceased: null })).to.equal(false);
      expect(match({ deceased: { $exists: true } })({ deceased: null })).to.equal(true);
    });

    it('evaluates $ne and $nin as "no value equals", lists expanded', () => {
      expect(match({ flags: { $ne: 'vip' } })({ flags: ['a', 'vip'] })).to.equal(false);
      expect(match({ flags: { $nin: ['vip', 'x'] } })({ flags: ['a'] })).to.equal(true);
      expect(match({ flags: { $nin: ['vip', 'x'] } })({ flags: ['x'] })).to.equal(false);
    });

    it('evaluates $all, $size, $regex and $not', () => {
      expect(match({ flags: { $all: ['a', 'b'] } })({ flags: ['b', 'c', 'a'] })).to.equal(true);
      expect(match({ flags: { $all: ['a', 'b'] } })({ flags: ['a'] })).to.equal(false);
      expect(match({ flags: { $size: 2 } })({ flags: ['a', 'b'] })).to.equal(true);
      expect(match({ flags: { $size: 2 } })({ flags: 'ab' })).to.equal(false);
      expect(match({ ward: { $regex: '^w', $options: 'i' } })({ ward: 'W7' })).to.equal(true);
      expect(match({ ward: { $regex: '^w' } })({ ward: 7 })).to.equal(false);
      expect(match({ riskLevel: { $not: { $gt: 2 } } })({})).to.equal(true);
    });

    it('matches $elemMatch on one element holding every part, as a record or as a value', () => {
      const m = match({ diagnoses: { $elemMatch: { code: 'E11', active: true } } });
      expect(m({ diagnoses: [{ code: 'E11', active: true }] })).to.equal(true);
      expect(
        m({
          diagnoses: [
            { code: 'E11', active: false },
            { code: 'I10', active: true },
          ],
        }),
      ).to.equal(false);
      expect(match({ scores: { $elemMatch: { $gt: 5, $lt: 8 } } })({ scores: [1, 6] })).to.equal(true);
      expect(match({ scores: { $elemMatch: { $gt: 5, $lt: 8 } } })({ scores: [1, 9] })).to.equal(false);
    });

    it('combines $and, $or and $nor, and every key of an object', () => {
      const m = match({ ward: 'W7', $or: [{ flags: 'vip' }, { riskLevel: { $gte: 3 } }], $nor: [{ deceased: true }] });
      expect(m({ ward: 'W7', riskLevel: 3 })).to.equal(true);
      expect(m({ ward: 'W8', riskLevel: 3 })).to.equal(false);
      expect(m({ ward: 'W7', flags: ['vip'], deceased: true })).to.equal(false);
      expect(match({ $and: [{ a: 1 }, { b: 2 }] })({ a: 1, b: 2 })).to.equal(true);
    });

    it('reads own keys only: an inherited property is missing', () => {
      expect(match({ toString: { $exists: true } })({})).to.equal(false);
    });

    it('reports every problem with its path instead of compiling a wrong predicate', () => {
      expect(problems({ $where: 'x', a: { $foo: 1 }, b: { $size: -1 }, c: { $exists: 'yes' } }).map(([p]) => p)).to.deep.equal([
        '$where',
        'a.$foo',
        'b.$size',
        'c.$exists',
      ]);
      expect(problems({ $or: [] })[0]).to.deep.equal(['$or', '$or takes a non-empty list of conditions']);
      expect(problems({ a: { $options: 'i' } })[0]?.[1]).to.equal('$options goes with $regex, in the same object');
      expect(problems({ a: { $eq: 1, b: 2 } })[0]?.[1]).to.equal('do not mix operators and field names in one object');
      expect(problems({ a: { $not: 1 } })[0]?.[1]).to.match(/^\$not takes an operator object/);
      expect(problems({ a: { $elemMatch: 1 } })[0]?.[1]).to.match(/^\$elemMatch takes a condition/);
    });

    it('refuses field paths that are empty, hostile, templated, operators or list positions', () => {
      for (const key of ['a..b', '__proto__', 'a.constructor', 'team.${user.x}', 'a.$b']) {
        expect(problems({ [key]: 1 })[0]?.[1], key).to.equal(`"${key}" is not a usable field path`);
      }
      expect(problems({ 'diagnoses.0.code': 'E11' })[0]?.[1]).to.include('{ "diagnoses": { $elemMatch: { … } } }');
    });

    it('never throws on records of any shape', () => {
      const m = match({ 'a.b': { $gt: 1 }, c: { $elemMatch: { d: 1 } } });
      for (const r of [{}, { a: 'x' }, { a: [1, null, { b: 2 }] }, { c: 'x' }, { c: [null, 1] }, { a: Object.create(null) }]) {
        expect(() => m(r)).to.not.throw();
      }
    });
  });

  describe('compareStrings', () => {
    it('orders by Unicode code point, as MongoDB binary collation does', () => {
      expect(compareStrings('a', 'b')).to.be.below(0);
      expect(compareStrings('b', 'a')).to.be.above(0);
      expect(compareStrings('ab', 'ab')).to.equal(0);
      expect(compareStrings('ab', 'abc')).to.be.below(0);
      expect(compareStrings('Z', 'a')).to.be.below(0);
    });

    it('puts characters above U+FFFF after those in U+E000–U+FFFF, unlike UTF-16 order', () => {
      expect('😀' < '\uff21').to.equal(true); // UTF-16 units say otherwise
      expect(compareStrings('😀', '\uff21')).to.be.above(0);
      expect(compareStrings('\ud7ff', '😀')).to.be.below(0);
    });
  });
});
