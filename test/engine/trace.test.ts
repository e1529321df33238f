import { expect } from 'chai';
import { AccessError, FieldmeshError, formatTrace, policiesFromSources, type PolicySet, type Trace } from '../../src/index.js';
import type { RequestContext } from '../../src/engine/plan.js';
import { NOW, patient, refusal, user, validPolicies } from '../helpers.js';

/**
 * A second small policy set for what the valid one lacks: a purpose without
 * a view of the resource, a restriction exempt by purpose alone, and one
 * whose condition reads a claim.
 */
const EXTRA = `
resources:
  Patient:
    fields: { id: identifier, name: direct, ward: operational, notes: special }
  Ward:
    fields: { id: identifier }
purposes:
  care:
    lawfulBasis: { article6: "6(1)(e)", article9: "9(2)(h)" }
    reviewBy: 2027-03-31
    views: { Patient: { fields: [id, name, ward, notes] } }
  wards-only:
    lawfulBasis: { article6: "6(1)(e)" }
    reviewBy: 2027-03-31
    views: { Ward: { fields: [id] } }
roles:
  clerk:
    grants:
      - { purpose: care, resource: Patient, read: [id, name, ward, notes] }
      - { purpose: wards-only, resource: Ward, read: view }
restrictions:
  - name: vip
    resource: Patient
    when: { vip: true }
    withhold: [name]
    unless: { purposes: [care] }
    because: Public figures' names are kept from every purpose but care
  - name: other-ward-notes
    resource: Patient
    when: { ward: { $ne: "\${user.ward}" } }
    withhold: [notes]
    because: Notes stay on the ward that wrote them
`;

function extraPolicies(): PolicySet {
  return policiesFromSources([{ file: 'extra.yaml', text: EXTRA }]);
}

const ctxOf = (u: Record<string, unknown>, purpose = 'direct-care', extra: Partial<RequestContext> = {}): RequestContext => ({
  resource: 'Patient',
  purpose,
  user: u,
  now: NOW,
  ...extra,
});

/** The gates as `name:outcome`, in order. */
const gates = (t: Trace) => t.gates.map((g) => `${g.gate}:${g.outcome}`);
const field = (t: Trace, name: string, row = 0) => t.rows[row]!.fields.find((f) => f.field === name)!;
const restriction = (t: Trace, name: string, row = 0) => t.rows[row]!.restrictions.find((r) => r.restriction === name)!;

describe('trace', () => {
  describe('gates', () => {
    const setup = () => validPolicies();

    it('lists every request gate in the order the engine applies it, then the row gates', () => {
      const t = setup().trace(patient(), ctxOf(user(['gp'])));
      expect(gates(t)).to.deep.equal([
        'roles-claim:passed',
        'purpose-declared:passed',
        'break-glass-reason:not-applicable',
        'training:passed',
        'purpose-known:passed',
        'purpose-view:passed',
        'review-date:passed',
        'break-glass:not-applicable',
        'role-granted:passed',
      ]);
      expect(t.rows[0]!.gates.map((g) => `${g.gate}:${g.outcome}`)).to.deep.equal(['opt-out:not-applicable', 'consent:not-applicable']);
      expect(t.outcome).to.equal('disclosed');
    });

    // Each refusing gate: the trace stops where the engine stops, with the engine's code, and names the gate as the cause.
    const refusing: [string, (p: PolicySet) => { input: unknown; ctx: RequestContext }, string][] = [
      ['roles-claim', () => ({ input: patient(), ctx: ctxOf(user(['gp'], { roles: 7 })) }), 'unauthenticated'],
      ['purpose-declared', () => ({ input: patient(), ctx: ctxOf(user(['gp']), '') }), 'purpose_required'],
      [
        'break-glass-reason',
        () => ({ input: patient(), ctx: ctxOf(user(['nurse']), 'emergency', { breakGlass: 'short' }) }),
        'break_glass_refused',
      ],
      ['training', () => ({ input: patient(), ctx: ctxOf(user(['gp'], { training: '2020-01-01' })) }), 'training_expired'],
      ['purpose-known', () => ({ input: patient(), ctx: ctxOf(user(['gp']), 'marketing') }), 'purpose_unknown'],
      ['review-date', () => ({ input: patient(), ctx: ctxOf(user(['analyst']), 'old-flow') }), 'purpose_expired'],
      ['break-glass', () => ({ input: patient(), ctx: ctxOf(user(['nurse']), 'emergency') }), 'break_glass_required'],
      ['role-granted', () => ({ input: patient(), ctx: ctxOf(user(['gp']), 'research') }), 'purpose_not_granted'],
    ];
    for (const [gate, make, code] of refusing) {
      it(`stops at a refusing ${gate} gate with the engine's code (${code})`, () => {
        const policies = setup();
        const { input, ctx } = make(policies);
        const t = policies.trace(input, ctx);
        expect(refusal(() => policies.redact(input, ctx)).code).to.equal(code);
        expect(t).to.include({ outcome: 'refused', code, cause: `gate ${gate} refused` });
        expect(t.gates.at(-1)).to.include({ gate, outcome: 'refused' });
        expect(t.gates.slice(0, -1).every((g) => g.outcome !== 'refused')).to.equal(true);
        expect(t.rows).to.deep.equal([]);
      });
    }

    it('refuses at purpose-view a purpose that carries no records of the resource', () => {
      const policies = extraPolicies();
      const t = policies.trace({ id: 'p1' }, { resource: 'Patient', purpose: 'wards-only', user: user(['clerk']), now: NOW });
      expect(t).to.include({ outcome: 'refused', code: 'purpose_not_granted', cause: 'gate purpose-view refused' });
      expect(gates(t).at(-1)).to.equal('purpose-view:refused');
    });

    it('passes the break-glass gates with a reason, and never carries the reason', () => {
      const reason = 'Unconscious patient in A&E, no next of kin';
      const t = setup().trace(patient(), ctxOf(user(['nurse']), 'emergency', { breakGlass: reason }));
      expect(gates(t)).to.include.members(['break-glass-reason:passed', 'break-glass:passed']);
      expect(t).to.include({ breakGlass: true, outcome: 'disclosed' });
      expect(JSON.stringify(t)).to.not.include('Unconscious');
    });

    it('withholds a row at the opt-out gate and at the consent gate, naming the gate as the cause', () => {
      const policies = setup();
      const optedOut = policies.trace(patient({ optOut: true }), ctxOf(user(['analyst']), 'service-planning'));
      expect(optedOut.rows[0]!.gates[0]).to.include({ gate: 'opt-out', outcome: 'refused' });
      expect(optedOut).to.include({ outcome: 'refused', code: 'record_withheld' });
      expect(optedOut.cause).to.match(/^gate opt-out refused: the record is opted out \(a marker at optOut\)$/);
      expect(optedOut.rows[0]!.grants[0]).to.include({ matched: false, why: 'not tried: withheld by gate opt-out' });

      const noConsent = policies.trace(patient({ consent: { research: 'refused' } }), ctxOf(user(['analyst']), 'research'));
      expect(noConsent.rows[0]!.gates.map((g) => `${g.gate}:${g.outcome}`)).to.deep.equal(['opt-out:not-applicable', 'consent:refused']);
      expect(noConsent.cause).to.match(/^gate consent refused: no granted consent at consent\.research/);

      const consented = policies.trace(patient({ consent: { research: 'granted' } }), ctxOf(user(['analyst']), 'research'));
      expect(consented.rows[0]!.gates[1]).to.include({ gate: 'consent', outcome: 'passed' });
      expect(consented.outcome).to.equal('disclosed');
    });
  });

  describe('grants', () => {
    const setup = () => validPolicies();

    it('says a grant did not match because the user lacks a claim its condition reads', () => {
      const { team: _team, ...noTeam } = user(['nurse']);
      const t = setup().trace(patient(), ctxOf(noTeam));
      expect(t.rows[0]!.grants).to.deep.equal([{ grant: 'nurse#0', role: 'nurse', matched: false, why: 'missing claim user.team' }]);
      expect(t).to.include({ outcome: 'refused', code: 'record_withheld', cause: 'grant nurse#0 did not match: missing claim user.team' });
    });

    it('says a grant did not match because its condition is false, naming the record keys it reads', () => {
      const t = setup().trace(patient(), ctxOf(user(['nurse'], { team: 'ward-9' })));
      expect(t.rows[0]!.grants).to.deep.equal([{ grant: 'nurse#0', role: 'nurse', matched: false, why: 'condition false on careTeam' }]);
      expect(t.cause).to.equal('grant nurse#0 did not match: condition false on careTeam');
    });

    it('says which claim cannot fill a condition when the user holds it in a form it cannot use', () => {
      const t = setup().trace(patient(), ctxOf(user(['nurse'], { team: { ward: 'ward-7' } })));
      expect(t.rows[0]!.grants[0]!.why).to.match(/^claim user\.team cannot fill the condition/);
    });

    it('lists a matched grant, and every grant of every role for this purpose and resource', () => {
      const t = setup().trace(patient(), ctxOf(user(['nurse', 'gp'])));
      expect(t.rows[0]!.grants).to.deep.equal([
        { grant: 'nurse#0', role: 'nurse', matched: true },
        { grant: 'gp#0', role: 'gp', matched: true },
      ]);
    });
  });

  describe('restrictions', () => {
    it('shows a restriction fired, and the fields it withholds out by its name', () => {
      const t = validPolicies().trace(patient({ flags: ['dv-risk'] }), ctxOf(user(['nurse'])));
      expect(restriction(t, 'dv-address')).to.deep.equal({
        restriction: 'dv-address',
        withholds: ['address', 'telecom.value'],
        outcome: 'fired',
        detail: 'condition true on flags',
      });
      expect(field(t, 'address')).to.include({ status: 'out', rule: 'restriction dv-address' });
      expect(field(t, 'name')).to.include({ status: 'in', rule: 'grant nurse#0' });
    });

    it('shows a restriction exempt by role, through the grant that matched', () => {
      const t = validPolicies().trace(patient({ flags: ['dv-risk'] }), ctxOf(user(['safeguarding-lead'])));
      expect(restriction(t, 'dv-address')).to.include({ outcome: 'exempt', detail: 'exempt by role safeguarding-lead' });
      expect(field(t, 'address')).to.include({ status: 'in', rule: 'grant safeguarding-lead#0' });
    });

    it('shows a restriction exempt by role and purpose together', () => {
      const t = validPolicies().trace(patient({ sealed: true }), ctxOf(user(['gp'])));
      expect(restriction(t, 'sealed')).to.include({ outcome: 'exempt', detail: 'exempt by role gp and purpose direct-care' });
      expect(t.outcome).to.equal('disclosed');
    });

    it('shows a restriction exempt by purpose alone', () => {
      const t = extraPolicies().trace(
        { id: 'p1', vip: true, ward: 'w1' },
        { resource: 'Patient', purpose: 'care', user: user(['clerk'], { ward: 'w1' }), now: NOW },
      );
      expect(restriction(t, 'vip')).to.include({ outcome: 'exempt', detail: 'exempt by purpose care' });
      expect(restriction(t, 'other-ward-notes')).to.include({ outcome: 'not-fired', detail: 'condition false on ward' });
    });

    it('shows a restriction whose condition this user cannot fill as fired, failing closed, naming the claim', () => {
      const t = extraPolicies().trace(
        { id: 'p1', ward: 'w1', notes: 'x' },
        { resource: 'Patient', purpose: 'care', user: user(['clerk']), now: NOW },
      );
      expect(restriction(t, 'other-ward-notes')).to.include({ outcome: 'fired', detail: 'missing claim user.ward: fired, failing closed' });
      expect(field(t, 'notes')).to.include({ status: 'out', rule: 'restriction other-ward-notes' });
    });

    it('shows a restriction not fired, and one fired by a marker of an unexpected shape', () => {
      const t = validPolicies().trace(patient(), ctxOf(user(['nurse'])));
      expect(restriction(t, 'dv-address')).to.include({ outcome: 'not-fired', detail: 'condition false on flags' });
      const odd = validPolicies().trace(patient({ sealed: 'true' }), ctxOf(user(['nurse'])));
      expect(restriction(odd, 'sealed').outcome).to.equal('fired');
      expect(restriction(odd, 'sealed').detail).to.include('shape the condition does not expect');
      expect(odd).to.include({ outcome: 'refused', code: 'record_withheld' });
      expect(odd.cause).to.match(/^restriction sealed withholds the whole record/);
    });

    it('shows restrictions as not evaluated when no grant matched', () => {
      const t = validPolicies().trace(patient({ flags: ['dv-risk'] }), ctxOf(user(['nurse'], { team: 'ward-9' })));
      expect(restriction(t, 'dv-address')).to.include({ outcome: 'not-evaluated' });
      expect(t.rows[0]!.fields.every((f) => f.status === 'out' && f.rule === 'no grant matched')).to.equal(true);
    });
  });

  describe('fields', () => {
    it('shows a transformed field with its transform, and one outside the view as not in it', () => {
      const t = validPolicies().trace(patient(), ctxOf(user(['analyst']), 'service-planning'));
      expect(field(t, 'id')).to.deep.equal({
        field: 'id',
        class: 'identifier',
        status: 'transformed',
        transform: 'pseudonym',
        rule: 'grant analyst#0, view transform pseudonym',
      });
      expect(field(t, 'dateOfBirth')).to.include({ status: 'transformed', transform: 'year' });
      expect(field(t, 'name')).to.include({ status: 'out', rule: 'not in the view of purpose service-planning' });
    });

    it('shows a field in the view that no matched grant reads as not granted', () => {
      const t = validPolicies().trace(patient(), ctxOf(user(['nurse'])));
      expect(field(t, 'diagnoses')).to.include({ status: 'out', rule: 'not granted by the grants that matched (nurse#0)' });
    });
  });

  describe('lists', () => {
    it('traces each row by its index, and never refuses a list', () => {
      const rows = [patient({ id: 'a' }), patient({ id: 'b', careTeam: 'x' }), 'not a record'];
      const t = validPolicies().trace(rows, ctxOf(user(['nurse'])));
      expect(t).to.include({ input: 'list', outcome: 'disclosed' });
      expect(t.rows.map((r) => [r.index, r.outcome, r.reason])).to.deep.equal([
        [0, 'disclosed', undefined],
        [1, 'withheld', 'no-grant'],
        [2, 'withheld', 'not-a-record'],
      ]);
      expect(t).to.not.have.property('cause');
    });

    it('throws what redact throws for an input that is neither a record nor a list', () => {
      const policies = validPolicies();
      for (const input of [42, 'text', null]) {
        expect(() => policies.trace(input, ctxOf(user(['gp']))))
          .to.throw(FieldmeshError)
          .with.property('code', 'unredactable_body');
        expect(() => policies.redact(input, ctxOf(user(['gp']))))
          .to.throw(FieldmeshError)
          .with.property('code', 'unredactable_body');
      }
      expect(() => policies.trace(patient(), { ...ctxOf(user(['gp'])), resource: 'Patint' }))
        .to.throw(FieldmeshError)
        .with.property('code', 'resource_unknown');
    });

    it('throws what redact throws while it redacts: no pseudonym key for a purpose that pseudonymises, a row too deep to copy', () => {
      const keyless = validPolicies({ pseudonymKey: '' });
      const analyst = ctxOf(user(['analyst']), 'service-planning');
      for (const input of [patient(), [patient()]]) {
        expect(() => keyless.redact(input, analyst))
          .to.throw(FieldmeshError)
          .with.property('code', 'pseudonym_key_missing');
        expect(() => keyless.trace(input, analyst))
          .to.throw(FieldmeshError)
          .with.property('code', 'pseudonym_key_missing');
      }
      // A refusal comes first, as in redact: a keyless set still traces a request refused at a gate.
      expect(keyless.trace(patient(), ctxOf(user(['analyst'], { training: undefined }), 'service-planning'))).to.include({
        outcome: 'refused',
        code: 'training_missing',
      });
      let deep: unknown = 'x';
      for (let i = 0; i < 150; i++) deep = [deep];
      // In a list, a row is checked where it is copied: the nurse's grant copies name.
      const rows = [patient({ id: 'a' }), patient({ id: 'b', name: deep })];
      const policies = validPolicies();
      expect(() => policies.redact(rows, ctxOf(user(['nurse']))))
        .to.throw(FieldmeshError)
        .with.property('code', 'unredactable_body');
      expect(() => policies.trace(rows, ctxOf(user(['nurse']))))
        .to.throw(FieldmeshError)
        .with.property('code', 'unredactable_body');
    });
  });

  describe('formatTrace', () => {
    it('reads top to bottom: gates, the record, the outcome and its cause', () => {
      const text = formatTrace(validPolicies().trace(patient(), ctxOf(user(['nurse'], { team: 'ward-9' }))));
      const lines = text.split('\n');
      expect(lines[0]).to.match(/^read Patient for purpose "direct-care" as nurse \(policy version [0-9a-f]{16}\)$/);
      expect(text).to.include('record: withheld (no-grant)');
      expect(text).to.match(/no match {2}nurse#0 {2}condition false on careTeam/);
      expect(lines.at(-3)).to.equal('refused: record_withheld: No Patient record you may see for purpose "direct-care"');
      expect(lines.at(-2)).to.equal('cause: grant nurse#0 did not match: condition false on careTeam');
    });

    it('never prints a role the policy set does not define: the roles claim is a value (control characters included)', () => {
      const t = validPolicies().trace(patient(), ctxOf(user(['gp', 'gp\u001b[2J', 'Amelia Testwood'])));
      expect(t).to.deep.include({ roles: ['gp'], rolesNotInPolicySet: 2 });
      expect(t.gates[0]).to.deep.equal({ gate: 'roles-claim', outcome: 'passed', detail: 'roles gp and 2 roles not in the policy set' });
      const text = formatTrace(t);
      expect(text.split('\n')[0]).to.match(/^read Patient for purpose "direct-care" as gp and 2 roles not in the policy set \(/);
      for (const shown of [text, JSON.stringify(t)]) expect(shown).to.not.include('Amelia').and.not.include('[2J');
      const none = validPolicies().trace(patient(), ctxOf(user(['Amelia Testwood'])));
      expect(none).to.deep.include({ roles: [], rolesNotInPolicySet: 1, outcome: 'refused', cause: 'gate role-granted refused' });
      expect(formatTrace(none)).to.include('as 1 role not in the policy set (').and.not.include('Amelia');
      expect(formatTrace(validPolicies().trace(patient(), ctxOf(user([]))))).to.include('as no roles (');
    });
  });

  it('is a refusal with the decision redact throws, never a throw, for a refused request', () => {
    const policies = validPolicies();
    const ctx = ctxOf(user(['gp'], { training: undefined }));
    expect(() => policies.redact(patient(), ctx)).to.throw(AccessError);
    expect(policies.trace(patient(), ctx)).to.include({ outcome: 'refused', code: 'training_missing' });
  });
});
