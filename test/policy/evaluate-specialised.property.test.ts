import { expect } from 'chai';
import fc from 'fast-check';
import { compileQuery } from '../../src/policy/evaluate.js';

/**
 * The specialised predicates (equality to a plain value, `$in`, `$exists`)
 * against the general evaluator (`reference: true`), over random conditions
 * and random records: lists on the path and at its end, null, missing keys,
 * objects, class instances, mixed types. Same answer every time.
 */

const KEYS = ['a', 'b'];
// Few distinct values, so that operands and record values often meet.
const scalar = fc.constantFrom<unknown>('x', 'y', '1', 1, 0, -0, true, false, null);
const leaf = fc.oneof(scalar, fc.constant(undefined), fc.constant(new Date(0)));
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...KEYS), tie('v'), { maxKeys: 3 }),
  ),
})).v;
const record = fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: 3 });
const path = fc.array(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 2 }).map((s) => s.join('.'));
const operand = fc.oneof(
  scalar,
  fc.record({ $eq: scalar }),
  fc.record({ $in: fc.array(scalar, { maxLength: 4 }) }),
  fc.record({ $exists: fc.boolean() }),
  fc.record({ $ne: scalar }),
);
const condition = fc.dictionary(path, operand, { minKeys: 1, maxKeys: 2 });

describe('policy/evaluate specialised predicates', () => {
  it('answer exactly as the general evaluator, over random conditions and records', () => {
    fc.assert(
      fc.property(condition, fc.array(record, { minLength: 1, maxLength: 20 }), (cond, records) => {
        const fast = compileQuery(cond, { templates: false }).match;
        const general = compileQuery(cond, { templates: false, reference: true }).match;
        expect(fast === undefined).to.equal(general === undefined);
        if (!fast || !general) return;
        for (const r of records) expect(fast(r), JSON.stringify(cond)).to.equal(general(r));
      }),
      { numRuns: 3000 },
    );
  });

  it('takes a list on the way to the general evaluator, which walks its objects', () => {
    const match = compileQuery({ 'a.b': 'x' }, { templates: false }).match!;
    expect(match({ a: [{ b: 'y' }, { b: ['x'] }] })).to.equal(true);
    expect(match({ a: [{ b: 'y' }, 'x'] })).to.equal(false);
    expect(match({ a: { b: 'x' } })).to.equal(true);
    expect(match({ a: new Map([['b', 'x']]) })).to.equal(false);
    const exists = compileQuery({ 'a.b': { $exists: false } }, { templates: false }).match!;
    expect(exists({ a: [{ c: 1 }] })).to.equal(true);
    expect(exists({ a: [{ b: null }] })).to.equal(false);
  });
});
