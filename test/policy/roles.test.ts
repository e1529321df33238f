import { expect } from 'chai';
import { formatChain, inheritProblems, roleAncestry } from '../../src/policy/roles.js';

type Roles = Record<string, { inherits?: string[] }>;

const held = (roles: Roles, role: string) =>
  roleAncestry(roles)
    .get(role)!
    .map((h) => formatChain(h.chain));
const problems = (roles: Roles) => inheritProblems(roles).map((p) => `${p.path}: ${p.message}`);

describe('roleAncestry', () => {
  it('holds the role itself first, then what it inherits breadth-first, with the chain each came through', () => {
    const roles: Roles = {
      hca: {},
      'ward-nurse': { inherits: ['hca'] },
      'senior-nurse': { inherits: ['ward-nurse', 'pharmacist'] },
      pharmacist: {},
    };
    expect(held(roles, 'senior-nurse')).to.deep.equal([
      'senior-nurse',
      'senior-nurse → ward-nurse',
      'senior-nurse → pharmacist',
      'senior-nurse → ward-nurse → hca',
    ]);
    expect(held(roles, 'hca')).to.deep.equal(['hca']);
  });

  it('holds the common role of a diamond once, through the first chain met', () => {
    const roles: Roles = { base: {}, left: { inherits: ['base'] }, right: { inherits: ['base'] }, top: { inherits: ['left', 'right'] } };
    expect(held(roles, 'top')).to.deep.equal(['top', 'top → left', 'top → right', 'top → left → base']);
  });

  it('ends on a cycle and skips unknown names, which validation refuses', () => {
    const roles: Roles = { a: { inherits: ['b', 'ghost'] }, b: { inherits: ['a'] } };
    expect(held(roles, 'a')).to.deep.equal(['a', 'a → b']);
    expect(held(roles, 'b')).to.deep.equal(['b', 'b → a']);
  });

  it('never reads an inherited name off the prototype', () => {
    expect(held({ a: { inherits: ['toString', 'constructor'] } }, 'a')).to.deep.equal(['a']);
  });
});

describe('inheritProblems', () => {
  it('finds nothing in a tree or a diamond', () => {
    expect(
      problems({ base: {}, left: { inherits: ['base'] }, right: { inherits: ['base'] }, top: { inherits: ['left', 'right'] } }),
    ).to.deep.equal([]);
  });

  it('refuses an unknown role, suggesting the near name', () => {
    expect(problems({ 'ward-nurse': {}, senior: { inherits: ['ward-nurce'] } })).to.deep.equal([
      'roles.senior.inherits[0]: unknown role "ward-nurce" (did you mean "ward-nurse"?)',
    ]);
    expect(problems({ a: { inherits: ['constructor'] } })).to.deep.equal(['roles.a.inherits[0]: unknown role "constructor"']);
  });

  it('refuses a role inheriting itself', () => {
    expect(problems({ a: { inherits: ['a'] } })).to.deep.equal(['roles.a.inherits[0]: a role cannot inherit itself: remove "a"']);
  });

  it('refuses a name listed twice, at the second entry', () => {
    expect(problems({ a: {}, b: { inherits: ['a', 'a'] } })).to.deep.equal(['roles.b.inherits[1]: "a" is listed twice: keep one']);
  });

  it('names a whole cycle at the entry that closes it', () => {
    expect(problems({ a: { inherits: ['b'] }, b: { inherits: ['c'] }, c: { inherits: ['a'] } })).to.deep.equal([
      'roles.c.inherits[0]: inheritance cycle: a → b → c → a',
    ]);
    expect(problems({ a: { inherits: ['b'] }, b: { inherits: ['a'] } })).to.deep.equal([
      'roles.b.inherits[0]: inheritance cycle: a → b → a',
    ]);
  });

  it('finds a cycle reached from a role outside it, and two cycles apart', () => {
    const found = problems({
      entry: { inherits: ['x'] },
      x: { inherits: ['y'] },
      y: { inherits: ['x'] },
      p: { inherits: ['q'] },
      q: { inherits: ['p'] },
    });
    expect(found).to.deep.equal(['roles.y.inherits[0]: inheritance cycle: x → y → x', 'roles.q.inherits[0]: inheritance cycle: p → q → p']);
  });
});
