import { expect } from 'chai';
import type { ConditionProblem } from '../../src/policy/operands.js';
import { listOperand, regexOperand, scalarOperand } from '../../src/policy/operands.js';

function setup(templates = false) {
  const problems: ConditionProblem[] = [];
  return { problems, ctx: { problems, templates } };
}

describe('policy/operands', () => {
  describe('scalarOperand', () => {
    it('takes strings, finite numbers, booleans and null for an equality', () => {
      const { problems } = setup();
      for (const v of ['a', 2, true, null]) expect(scalarOperand(v, 'ward', 'ward', problems, 'eq')).to.deep.equal({ value: v });
      expect(problems).to.deep.equal([]);
    });

    it('refuses a whole list, naming the forms that match an element', () => {
      const { problems } = setup();
      expect(scalarOperand(['dv-risk'], 'flags', 'flags', problems, 'eq')).to.equal(undefined);
      expect(problems).to.have.length(1);
      expect(problems[0]![0]).to.equal('flags');
      expect(problems[0]![1]).to.include('{ flags: dv-risk }').and.include('$in').and.include('$all');
    });

    it('refuses a whole object, naming $elemMatch and the dotted paths for its keys', () => {
      const { problems } = setup();
      scalarOperand({ code: 'E11' }, 'diagnoses', 'diagnoses', problems, 'eq');
      expect(problems[0]![1]).to.include('{ diagnoses: { $elemMatch: { code: … } } }').and.include('"diagnoses.code": …');
    });

    it('refuses NaN and infinities', () => {
      const { problems } = setup();
      expect(scalarOperand(Number.NaN, 'x', 'x', problems, 'eq')).to.equal(undefined);
      expect(scalarOperand(Infinity, 'x.$lt', 'x', problems, 'range')).to.equal(undefined);
      expect(problems.map(([, m]) => m)).to.deep.equal(['a condition compares with finite numbers only', '$lt takes a finite number']);
    });

    it('takes only a number or a string for a range comparison', () => {
      const { problems } = setup();
      expect(scalarOperand('2026-01-01', 'd.$gte', 'd', problems, 'range')).to.deep.equal({ value: '2026-01-01' });
      expect(scalarOperand(true, 'd.$gte', 'd', problems, 'range')).to.equal(undefined);
      expect(scalarOperand(null, 'd.$gte', 'd', problems, 'range')).to.equal(undefined);
      expect(problems).to.have.length(2);
      expect(problems[0]![1]).to.match(/^\$gte compares numbers with numbers/);
    });

    it('refuses a list nested in a list', () => {
      const { problems } = setup();
      expect(scalarOperand(['a'], 'x.$in[0]', 'x', problems, 'list')).to.equal(undefined);
      expect(problems[0]![1]).to.match(/^a list inside a list/);
    });
  });

  describe('listOperand', () => {
    it('returns the plain values of a list', () => {
      const { ctx, problems } = setup();
      expect(listOperand('$in', ['a', null, 3], 'ward.$in', 'ward', ctx)).to.deep.equal(['a', null, 3]);
      expect(problems).to.deep.equal([]);
    });

    it('refuses a value that is not a list, naming the list form', () => {
      const { ctx, problems } = setup();
      expect(listOperand('$nin', 'a', 'ward.$nin', 'ward', ctx)).to.equal(undefined);
      expect(problems).to.deep.equal([['ward.$nin', '$nin takes a list, such as { ward: { $nin: [a, b] } }']]);
    });

    it('lets a whole claim stand for the list at load only', () => {
      expect(listOperand('$in', '${user.teams}', 'ward.$in', 'ward', setup(true).ctx)).to.deep.equal([]);
      const { ctx, problems } = setup(false);
      expect(listOperand('$in', '${user.teams}', 'ward.$in', 'ward', ctx)).to.equal(undefined);
      expect(problems).to.have.length(1);
    });

    it('refuses $all: [] (it matches nothing) and reports each bad element by index', () => {
      const { ctx, problems } = setup();
      expect(listOperand('$all', [], 'flags.$all', 'flags', ctx)).to.equal(undefined);
      expect(listOperand('$in', ['a', { b: 1 }, ['c']], 'f.$in', 'f', ctx)).to.equal(undefined);
      expect(problems.map(([p]) => p)).to.deep.equal(['flags.$all', 'f.$in[1]', 'f.$in[2]']);
    });
  });

  describe('regexOperand', () => {
    it('compiles a pattern with its i, m, s options', () => {
      const re = regexOperand('^ward-', 'i', 'ward.$regex', 'ward', setup(true).ctx);
      expect(re?.test('WARD-7')).to.equal(true);
      expect(regexOperand('^ward-', undefined, 'ward.$regex', 'ward', setup().ctx)?.test('WARD-7')).to.equal(false);
    });

    it('refuses a pattern that is not a string, unknown options and invalid syntax', () => {
      const { ctx, problems } = setup();
      expect(regexOperand(5, undefined, 'a.$regex', 'a', ctx)).to.equal(undefined);
      expect(regexOperand('x', 'g', 'a.$regex', 'a', ctx)).to.equal(undefined);
      expect(regexOperand('(', undefined, 'a.$regex', 'a', ctx)).to.equal(undefined);
      expect(problems.map(([, m]) => m.slice(0, 30))).to.deep.equal([
        '$regex takes a pattern string,',
        '$options takes any of the lett',
        '$regex: not a valid JavaScript',
      ]);
    });

    it('never builds a pattern from a claim: its contents would become syntax', () => {
      const { ctx, problems } = setup(true);
      expect(regexOperand('^${user.team}', undefined, 'ward.$regex', 'ward', ctx)).to.equal(undefined);
      expect(problems[0]![1]).to.match(/^a claim cannot be part of a pattern/);
    });
  });
});
