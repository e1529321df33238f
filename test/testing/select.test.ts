import { expect } from 'chai';
import { caseFilter } from '../../src/testing/index.js';

describe('testing/select', () => {
  it('matches a substring of "file › name", or a /regex/ with flags', () => {
    expect(caseFilter('admin')('cases/administration.yaml', 'x')).to.equal(true);
    expect(caseFilter('yaml › a rec')('cases/a.yaml', 'a receptionist')).to.equal(true);
    expect(caseFilter('Receptionist')('cases/a.yaml', 'a receptionist')).to.equal(false);
    const re = caseFilter('/sealed|dv-/i');
    expect([re('a.yaml', 'a SEALED record'), re('a.yaml', 'dv-risk'), re('a.yaml', 'other')]).to.deep.equal([true, true, false]);
    // The same answer every time: no lastIndex state.
    expect([re('a.yaml', 'sealed'), re('a.yaml', 'sealed')]).to.deep.equal([true, true]);
  });

  it('refuses an empty pattern, a broken regex and stateful flags, naming the pattern', () => {
    expect(() => caseFilter('')).to.throw(TypeError, '--filter: the pattern is empty');
    expect(() => caseFilter('/a(/')).to.throw(TypeError, '--filter: /a(/ is not a valid regular expression');
    expect(() => caseFilter('/a/g')).to.throw(TypeError, '--filter: /a/g: a /regex/ takes the flags i, m, s and u only');
  });
});
