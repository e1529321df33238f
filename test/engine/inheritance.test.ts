import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { parse, stringify } from 'yaml';
import { AccessError, diffPolicies, formatTrace, PolicyError, policiesFromSources } from '../../src/index.js';

// Role inheritance through the package's own exports: a role holds the grants of the roles it inherits,
// an inherited grant keeps its label and the exemptions of the role that wrote it (docs/policy-language.md, "Roles").

const FILE = fileURLToPath(new URL('../fixtures/policies/inherits/policy.yaml', import.meta.url));
const TEXT = readFileSync(FILE, 'utf8');
const NOW = new Date('2026-11-24T12:00:00Z');

function setup(text = TEXT) {
  const policies = policiesFromSources([{ file: 'policy.yaml', text }], { now: NOW });
  const read = (roles: string[], record: object, claims: Record<string, unknown> = {}) =>
    policies.redact(record, {
      resource: 'Patient',
      purpose: 'direct-care',
      user: { sub: 'u1', roles, team: 'ward-7', ward: 'W7', training: '2026-06-01', ...claims },
      now: NOW,
    });
  return { policies, read };
}

const record = (extra: Record<string, unknown> = {}) => ({
  id: 'p1',
  name: 'Jan Doe',
  address: '1 High St',
  telecom: '0113 496 0000',
  diagnoses: ['E11'],
  ward: 'W7',
  careTeam: 'ward-7',
  caseload: 'nobody',
  ...extra,
});

describe('role inheritance', () => {
  it('gives an inheriting role the union of its own grants and those it inherits, transitively', () => {
    const { read } = setup();
    const { data, decision } = read(['senior-nurse'], record());
    expect(data).to.deep.equal({
      id: 'p1',
      name: 'Jan Doe',
      address: '1 High St',
      telecom: '0113 496 0000',
      diagnoses: ['E11'],
      ward: 'W7',
    });
    expect(decision.grants).to.have.members(['senior-nurse#0', 'ward-nurse#0', 'hca#0']);
    // The parent alone sees less: inheritance goes one way.
    expect(read(['ward-nurse'], record()).data).to.deep.equal({ id: 'p1', name: 'Jan Doe', diagnoses: ['E11'], ward: 'W7' });
    expect(read(['hca'], record()).data).to.deep.equal({ id: 'p1', name: 'Jan Doe', ward: 'W7' });
  });

  it('keeps each inherited grant its own row condition', () => {
    const { read } = setup();
    // Another care team: the inherited grants do not match; the role's own (by ward) still does.
    expect(read(['senior-nurse'], record({ careTeam: 'ward-9' })).data).to.deep.equal({ address: '1 High St', telecom: '0113 496 0000' });
    expect(() => read(['senior-nurse'], record({ careTeam: 'ward-9', ward: 'W9' })))
      .to.throw(AccessError)
      .with.property('code', 'record_withheld');
  });

  it('exempts an inheriting role where the role it inherits is exempt, through that role’s grant', () => {
    const { read } = setup();
    const dv = record({ flags: ['dv-risk'], caseload: 'u1', careTeam: 'ward-9' });
    // On the deputy's caseload through the lead's grant: the lead's exemption holds.
    expect(read(['deputy-lead'], dv).data).to.deep.equal({ id: 'p1', name: 'Jan Doe', address: '1 High St', telecom: '0113 496 0000' });
    expect(read(['deputy-lead'], dv).decision.restrictions).to.deep.equal([]);
    // Seen through the deputy's own grant only: the lead's exemption does not follow it.
    const own = read(['deputy-lead'], record({ flags: ['dv-risk'], caseload: 'u2' }));
    expect(own.data).to.deep.equal({ id: 'p1', name: 'Jan Doe' });
    expect(own.decision.restrictions).to.deep.equal(['dv-address']);
  });

  it('exempts a senior nurse from the sealed-record restriction through the inherited ward-nurse grant', () => {
    const { read } = setup();
    expect(read(['senior-nurse'], record({ sealed: true })).decision.grants).to.include('ward-nurse#0');
    expect(() => read(['hca'], record({ sealed: true }))).to.throw(AccessError);
    expect(() => read(['senior-nurse'], record({ sealed: true, careTeam: 'ward-9' }))).to.throw(AccessError);
  });

  it('names a grant held both directly and through inheritance once', () => {
    const { read, policies } = setup();
    const { decision } = read(['senior-nurse', 'ward-nurse', 'hca'], record());
    expect(decision.grants).to.have.length(new Set(decision.grants).size);
    const plan = policies.plan({
      resource: 'Patient',
      purpose: 'direct-care',
      user: { roles: ['senior-nurse', 'hca'], team: 'ward-7', ward: 'W7', training: '2026-06-01' },
      now: NOW,
    });
    const labels = plan.grants.map((g) => g.grant.label);
    expect(labels).to.have.members(['senior-nurse#0', 'ward-nurse#0', 'hca#0']).and.have.length(3);
    // The one held directly is kept: the decision names it plainly.
    expect(plan.grants.find((g) => g.grant.label === 'hca#0')!.grant.inheritedVia).to.equal(undefined);
  });

  it('keys the plan cache on the claims inherited grants read', () => {
    const { read } = setup();
    // The senior nurse's own grant reads only `ward`; the inherited ones read `team`. Same ward, other teams:
    expect(read(['senior-nurse'], record(), { team: 'ward-7' }).data).to.have.property('diagnoses');
    expect(read(['senior-nurse'], record(), { team: 'ward-9' }).data).to.deep.equal({ address: '1 High St', telecom: '0113 496 0000' });
  });

  it('lets an inheriting role write what it inherits', () => {
    const { policies } = setup();
    const ctx = {
      resource: 'Patient',
      purpose: 'direct-care',
      user: { sub: 'u1', roles: ['senior-nurse'], team: 'ward-7', ward: 'W7', training: '2026-06-01' },
      now: NOW,
      action: 'update' as const,
      existing: record(),
    };
    expect(policies.checkWrite({ ward: 'W9' }, ctx).grants).to.deep.equal(['ward-nurse#0']);
    expect(() => policies.checkWrite({ ward: 'W9' }, { ...ctx, user: { ...ctx.user, roles: ['hca'] } })).to.throw(AccessError);
  });

  it('changes the policy version when inherits changes', () => {
    const doc = parse(TEXT) as { roles: Record<string, { inherits?: string[] }> };
    const before = setup().policies.version;
    doc.roles['deputy-lead']!.inherits = ['hca'];
    expect(setup(stringify(doc)).policies.version).to.not.equal(before);
    delete doc.roles['deputy-lead']!.inherits;
    expect(setup(stringify(doc)).policies.version).to.not.equal(before);
  });

  describe('explain', () => {
    it('says where an inherited grant came from, in the rule and as data', () => {
      const { policies } = setup();
      const e = policies.explain({ roles: ['senior-nurse'], purpose: 'direct-care', resource: 'Patient' });
      const name = e.fields.find((f) => f.field === 'name')!;
      expect(name.rule).to.equal('grant hca#0 (inherited: senior-nurse → ward-nurse → hca)');
      expect(name.inherited).to.deep.equal([{ grant: 'hca#0', via: ['senior-nurse', 'ward-nurse', 'hca'] }]);
      expect(name.conditions[0]).to.equal(
        'disclosed only when {"careTeam":"${user.team}"} (grant hca#0 (inherited: senior-nurse → ward-nurse → hca))',
      );
      const address = e.fields.find((f) => f.field === 'address')!;
      expect(address.rule).to.equal('grant senior-nurse#0');
      expect(address).to.not.have.property('inherited');
    });

    it('shows a restriction as exempt only when every granting grant’s role is', () => {
      const { policies } = setup();
      const conditionsOf = (roles: string[]) =>
        policies.explain({ roles, purpose: 'direct-care', resource: 'Patient' }).fields.find((f) => f.field === 'address')!.conditions;
      expect(conditionsOf(['safeguarding-lead']).join('\n')).to.not.include('dv-address');
      // The deputy's own grant is not exempt: the restriction may still fire.
      expect(conditionsOf(['deputy-lead']).join('\n')).to.include('restriction dv-address');
    });
  });
});

describe('role inheritance, seen by the trace and by diff', () => {
  it('the trace names the chain an inherited grant is held through, in its JSON and its text', () => {
    const { policies } = setup();
    const ctx = {
      resource: 'Patient',
      purpose: 'direct-care',
      user: { sub: 'u1', roles: ['senior-nurse'], team: 'ward-7', ward: 'W7', training: '2026-06-01' },
      now: NOW,
    };
    const trace = policies.trace(record(), ctx);
    const grants = trace.rows[0]!.grants;
    expect(grants.find((g) => g.grant === 'hca#0')).to.deep.include({
      matched: true,
      inheritedVia: ['senior-nurse', 'ward-nurse', 'hca'],
    });
    expect(grants.find((g) => g.grant === 'senior-nurse#0')).to.not.have.property('inheritedVia');
    expect(formatTrace(trace)).to.match(/matched\s+hca#0\s+\(inherited: senior-nurse → ward-nurse → hca\)/);
  });

  it('diff sees a role gaining `inherits:` as the fields its new grants disclose, and exits the review as widening', () => {
    const before = policiesFromSources([{ file: 'policy.yaml', text: TEXT }], { now: NOW });
    const doc = parse(TEXT);
    doc.roles.hca.inherits = ['safeguarding-lead'];
    const after = policiesFromSources([{ file: 'policy.yaml', text: stringify(doc) }], { now: NOW });
    const diff = diffPolicies(before, after, { now: NOW });
    expect(diff.widened).to.equal(true);
    // Every role holding hca, directly or through inheritance, gains what safeguarding-lead reads.
    const gained = diff.changes.filter((c) => c.kind === 'fields-gained').map((c) => `${c.role}:${(c as { fields: string[] }).fields}`);
    expect(gained).to.include.members(['hca:address,telecom', 'ward-nurse:address,telecom']);
  });

  it('diff sees a role losing `inherits:` as narrowing only', () => {
    const before = policiesFromSources([{ file: 'policy.yaml', text: TEXT }], { now: NOW });
    const doc = parse(TEXT);
    delete doc.roles['senior-nurse'].inherits;
    const after = policiesFromSources([{ file: 'policy.yaml', text: stringify(doc) }], { now: NOW });
    const diff = diffPolicies(before, after, { now: NOW });
    expect(diff.widened).to.equal(false);
    expect(diff.changes.some((c) => c.role === 'senior-nurse' && c.effect === 'narrowing')).to.equal(true);
  });
});

describe('role inheritance at scale', () => {
  /** The fixture set with `extra` roles added after its own, as one file. */
  const withRoles = (extra: Record<string, { inherits: string[] }>) => {
    const doc = parse(TEXT);
    Object.assign(doc.roles, extra);
    return stringify(doc);
  };
  /** `c0` inherits `hca`, `c1` inherits `c0`, …: with hca, a chain of `n + 1` roles ending at `c{n-1}`. */
  const chainOverHca = (n: number) =>
    Object.fromEntries(Array.from({ length: n }, (_, i) => [`c${i}`, { inherits: [i === 0 ? 'hca' : `c${i - 1}`] }]));
  const reads = (policies: ReturnType<typeof setup>['policies'], role: string) =>
    policies.redact(record(), {
      resource: 'Patient',
      purpose: 'direct-care',
      user: { sub: 'u1', roles: [role], team: 'ward-7', ward: 'W7', training: '2026-06-01' },
      now: NOW,
    });

  it('refuses at load a chain one past the limit, with its place in the file', () => {
    const text = withRoles(chainOverHca(32));
    let error: unknown;
    try {
      policiesFromSources([{ file: 'policy.yaml', text }], { now: NOW });
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(PolicyError).with.property('code', 'policy_invalid');
    const issues = (error as PolicyError).issues.filter((i) => i.severity === 'error');
    expect(issues).to.have.length(1);
    expect(issues[0]).to.include({
      file: 'policy.yaml',
      path: 'roles.c31.inherits[0]',
      message: 'an inheritance chain deeper than 32 roles (c31 → c30 → c29 → … → c0 → hca, 33 roles): flatten it',
    });
    // The entry itself (`- c30`, two lines below `c31:`), 1-based.
    const line = text.split('\n').findIndex((l) => l.startsWith('  c31:')) + 3;
    expect(issues[0]).to.include({ line });
    expect(issues[0]!.col).to.be.a('number');
  });

  it('loads a chain at the limit, and its top role holds the grants at its foot', () => {
    const { policies } = setup(withRoles(chainOverHca(31)));
    const { data, decision } = reads(policies, 'c30');
    expect(data).to.deep.equal({ id: 'p1', name: 'Jan Doe', ward: 'W7' });
    expect(decision.grants).to.deep.equal(['hca#0']);
    const e = policies.explain({ roles: ['c30'], purpose: 'direct-care', resource: 'Patient' });
    expect(e.fields.find((f) => f.field === 'name')!.inherited![0]!.via).to.have.length(32);
  });

  it('refuses a chain of 2,000 roles once, at load, without running out of memory', () => {
    expect(() => setup(withRoles(chainOverHca(2000))))
      .to.throw(PolicyError)
      .that.satisfies((e: PolicyError) => e.issues.filter((i) => i.path.includes('.inherits')).length === 1);
  });

  it('loads 2,000 roles each inheriting one common role, each holding exactly its grants', () => {
    const wide = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`w${i}`, { inherits: [i % 2 ? 'senior-nurse' : 'hca'] }]));
    const { policies } = setup(withRoles(wide));
    expect(reads(policies, 'w1998').decision.grants).to.deep.equal(['hca#0']);
    expect(reads(policies, 'w1999').decision.grants).to.have.members(['senior-nurse#0', 'ward-nurse#0', 'hca#0']);
    expect(reads(policies, 'w1999').data).to.deep.equal(reads(policies, 'senior-nurse').data);
  });

  it('loads 1,000 roles in a tree 30 deep, a leaf holding the grants of every role above it', () => {
    // t0 inherits ward-nurse; t{i} inherits t{floor((i-1)/2)}… flattened to a 30-deep tree of 1,000 roles.
    const tree: Record<string, { inherits: string[] }> = {};
    for (let i = 0; i < 1000; i++) tree[`t${i}`] = { inherits: [i === 0 ? 'ward-nurse' : `t${i < 30 ? i - 1 : i % 29}`] };
    const { policies } = setup(withRoles(tree));
    const deepest = reads(policies, 't29');
    expect(deepest.decision.grants).to.have.members(['ward-nurse#0', 'hca#0']);
    expect(deepest.data).to.deep.equal({ id: 'p1', name: 'Jan Doe', diagnoses: ['E11'], ward: 'W7' });
    const e = policies.explain({ roles: ['t999'], purpose: 'direct-care', resource: 'Patient' });
    expect(e.fields.find((f) => f.field === 'name')!.rule).to.match(
      /^grant hca#0 \(inherited: t999 → t13 → t12 → .* → t0 → ward-nurse → hca\)$/,
    );
  });
});
