import { expect } from 'chai';
import { formatChain, inheritProblems, MAX_INHERITANCE_DEPTH, roleAncestry, rolesHolding } from '../../src/policy/roles.js';

type Roles = Record<string, { inherits?: string[] }>;

const held = (roles: Roles, role: string) =>
  roleAncestry(roles)
    .get(role)!
    .map((h) => formatChain(h.chain));
const problems = (roles: Roles) => inheritProblems(roles).map((p) => `${p.path}: ${p.message}`);
/** `r{n-1}` inherits `r{n-2}` … inherits `r0`: a chain of `n` roles, `prefix` naming them. */
const chain = (n: number, prefix = 'r', roles: Roles = {}): Roles => {
  for (let i = 0; i < n; i++) roles[`${prefix}${i}`] = i === 0 ? {} : { inherits: [`${prefix}${i - 1}`] };
  return roles;
};

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

describe('inheritance depth', () => {
  it('loads a chain of exactly the limit', () => {
    expect(MAX_INHERITANCE_DEPTH).to.equal(32);
    expect(problems(chain(MAX_INHERITANCE_DEPTH))).to.deep.equal([]);
  });

  it('refuses a chain one past the limit, once, at the role where it becomes too deep, naming the chain', () => {
    expect(problems(chain(MAX_INHERITANCE_DEPTH + 1))).to.deep.equal([
      'roles.r32.inherits[0]: an inheritance chain deeper than 32 roles (r32 → r31 → r30 → … → r1 → r0, 33 roles): flatten it',
    ]);
  });

  it('reports a long chain once, and each chain that grows too deep apart', () => {
    expect(problems(chain(2000))).to.deep.equal([
      'roles.r32.inherits[0]: an inheritance chain deeper than 32 roles (r32 → r31 → r30 → … → r1 → r0, 33 roles): flatten it',
    ]);
    const two = chain(40, 'b', chain(40, 'a'));
    expect(inheritProblems(two).map((p) => p.role)).to.deep.equal(['a32', 'b32']);
  });

  it('measures the longest chain, not the first met, and points at its entry', () => {
    // top inherits a short branch first and the long one second: the long one is what is too deep.
    const roles = chain(MAX_INHERITANCE_DEPTH, 'r', { short: {}, top: { inherits: ['short', 'r31'] } });
    expect(problems(roles)).to.deep.equal([
      'roles.top.inherits[1]: an inheritance chain deeper than 32 roles (top → r31 → r30 → … → r1 → r0, 33 roles): flatten it',
    ]);
  });

  it('walks a chain of tens of thousands of roles without overflowing the stack, cycle included', () => {
    const roles = chain(50_000);
    roles['r0'] = { inherits: ['r49999'] };
    const found = inheritProblems(roles);
    // Named by its ends and length: a message of fifty thousand names helps nobody.
    expect(found.filter((p) => p.message.startsWith('inheritance cycle')).map((p) => p.message)).to.deep.equal([
      'inheritance cycle: r0 → r49999 → r49998 → … → r1 → r0, 50001 roles',
    ]);
  });
});

describe('roleAncestry at scale', () => {
  it('shares chain prefixes: a role held deep down the chain is one object pointing at the one before', () => {
    const held = roleAncestry(chain(MAX_INHERITANCE_DEPTH)).get('r31')!;
    expect(held).to.have.length(MAX_INHERITANCE_DEPTH);
    expect(held[2]!.through).to.equal(held[1]);
    expect(held[31]!.chain).to.have.length(MAX_INHERITANCE_DEPTH);
    expect(formatChain(held[31]!.chain.slice(0, 3))).to.equal('r31 → r30 → r29');
  });
});

describe('rolesHolding', () => {
  it('finds the roles holding a role, through any depth, once', () => {
    const roles: Roles = { hca: {}, nurse: { inherits: ['hca'] }, senior: { inherits: ['nurse', 'hca'] }, clerk: {} };
    expect([...rolesHolding(roles, (r) => r === 'hca')].sort()).to.deep.equal(['hca', 'nurse', 'senior']);
    expect([...rolesHolding(roles, () => false)]).to.deep.equal([]);
  });

  it('ends on cycles and skips unknown names', () => {
    const roles: Roles = { a: { inherits: ['b', 'ghost'] }, b: { inherits: ['a'] }, c: { inherits: ['toString'] } };
    expect([...rolesHolding(roles, (r) => r === 'b')].sort()).to.deep.equal(['a', 'b']);
  });
});
