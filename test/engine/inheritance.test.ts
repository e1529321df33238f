import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { parse, stringify } from 'yaml';
import { AccessError, diffPolicies, formatTrace, policiesFromSources } from '../../src/index.js';

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
