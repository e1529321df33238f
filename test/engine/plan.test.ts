import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parse, stringify } from 'yaml';
import { FieldmeshError } from '../../src/lib/errors.js';
import {
  breakGlassReasonRefusal,
  isExempt,
  isValidDate,
  planDecision,
  planRequest,
  refusedDecision,
  rolesFrom,
  rolesOf,
  trainingMaxAgeProblem,
  trainingRefusal,
  type RequestContext,
} from '../../src/engine/plan.js';
import { policiesFromSources } from '../../src/engine/policy-set.js';
import { NOW, patient, refusal, user, VALID_POLICY, validPolicies } from '../helpers.js';

function setup() {
  const { compiled } = validPolicies({ now: NOW });
  const plan = (roles: string[], purpose: string, extra: Partial<RequestContext> = {}, action: 'read' | 'update' | 'create' = 'read') =>
    planRequest(compiled, { resource: 'Patient', purpose, user: user(roles), now: NOW, ...extra }, action, { trainingMaxAgeDays: 365 });
  const restriction = (name: string) => compiled.restrictions.get('Patient')!.find((r) => r.name === name)!;
  return { compiled, plan, restriction };
}

describe('engine/plan', () => {
  describe('planDecision', () => {
    it('starts a disclosed decision naming who asked, for what, under which policy version, with nothing decided yet', () => {
      const plan = setup().plan(['nurse'], 'direct-care');
      const d = planDecision(plan);
      expect(d).to.include({
        outcome: 'disclosed',
        action: 'read',
        resource: 'Patient',
        purpose: 'direct-care',
        policyVersion: plan.policyVersion,
      });
      expect(d.roles).to.deep.equal(['nurse']);
      expect([d.disclosed, d.withheld, d.recordIds]).to.deep.equal([[], [], []]);
    });
  });

  describe('planRequest', () => {
    it('plans the grants of every held role for the purpose and resource, each with its row test', () => {
      const plan = setup().plan(['nurse', 'gp'], 'direct-care');
      expect(plan.grants.map((g) => g.grant.label).sort()).to.deep.equal(['gp#0', 'nurse#0']);
      expect(plan.roles).to.deep.equal(['nurse', 'gp']);
      const nurse = plan.grants.find((g) => g.grant.role === 'nurse')!;
      expect(nurse.matches(patient({ careTeam: 'ward-7' }))).to.equal(true);
      expect(nurse.matches(patient({ careTeam: 'ward-9' }))).to.equal(false);
    });

    it('fills a grant condition from the claims, and drops a grant whose claim is missing', () => {
      const { plan } = setup();
      const withoutTeam = plan(['nurse'], 'emergency', {
        user: user(['nurse'], { team: undefined }),
        breakGlass: 'Unconscious patient in A&E',
      });
      expect(withoutTeam.grants.map((g) => g.grant.label)).to.deep.equal(['nurse#1']);
      const p = plan(['nurse', 'gp'], 'direct-care', { user: user(['nurse', 'gp'], { team: undefined }) });
      expect(p.grants.map((g) => g.grant.label)).to.deep.equal(['gp#0']);
    });

    it('plans every restriction exempt by role: whether it is depends on which grant matches the row', () => {
      const { plan } = setup();
      expect(
        plan(['gp'], 'direct-care')
          .restrictions.map((r) => r.restriction.name)
          .sort(),
      ).to.deep.equal(['dv-address', 'sealed']);
      const dv = plan(['gp'], 'direct-care').restrictions.find((r) => r.restriction.name === 'dv-address')!;
      expect(dv.matches(patient({ flags: ['dv-risk'] }))).to.equal(true);
      expect(dv.matches(patient())).to.equal(false);
    });

    it('leaves out a restriction exempt by purpose alone, for that purpose only', () => {
      const doc = parse(readFileSync(VALID_POLICY, 'utf8')) as { restrictions: unknown[] };
      doc.restrictions.push({
        name: 'vip',
        resource: 'Patient',
        when: { flags: 'vip' },
        withhold: ['telecom.value'],
        unless: { purposes: ['emergency'] },
        because: 'Public figures',
      });
      const { compiled } = policiesFromSources([{ file: 'policy.yaml', text: stringify(doc) }], { now: NOW });
      const names = (purpose: string, breakGlass?: string) =>
        planRequest(compiled, { resource: 'Patient', purpose, user: user(['nurse']), now: NOW, breakGlass }, 'read', {
          trainingMaxAgeDays: 365,
        }).restrictions.map((r) => r.restriction.name);
      expect(names('direct-care')).to.include('vip');
      expect(names('emergency', 'Unconscious patient in A&E')).to.not.include('vip');
    });

    it('says whether rows may be hidden: conditional grants, whole-record restrictions, consent or opt-out', () => {
      const { plan } = setup();
      expect(plan(['nurse'], 'direct-care').mayHideRows).to.equal(true); // sealed withholds whole records
      expect(plan(['analyst'], 'service-planning').mayHideRows).to.equal(true); // opt-out respected
      expect(plan(['analyst'], 'research').mayHideRows).to.equal(true); // consent required
      const doc = parse(readFileSync(VALID_POLICY, 'utf8')) as { restrictions: { name: string }[] };
      doc.restrictions = doc.restrictions.filter((r) => r.name !== 'sealed');
      const { compiled } = policiesFromSources([{ file: 'policy.yaml', text: stringify(doc) }], { now: NOW });
      const unsealed = (roles: string[]) =>
        planRequest(compiled, { resource: 'Patient', purpose: 'direct-care', user: user(roles), now: NOW }, 'read', {
          trainingMaxAgeDays: 365,
        });
      expect(unsealed(['gp']).mayHideRows).to.equal(false); // an unconditional grant, field restrictions only
      expect(unsealed(['nurse']).mayHideRows).to.equal(true); // the nurse's grant holds for her team only
      expect(unsealed(['nurse', 'gp']).mayHideRows).to.equal(false);
    });

    it('refuses in the order the shells check: who asks, then what for', () => {
      const { plan } = setup();
      const codes = [
        refusal(() => plan(['gp'], 'direct-care', { user: { sub: 'u1', roles: 7 } })).code,
        refusal(() => plan(['gp'], '')).code,
        refusal(() => plan(['gp'], 'direct-care', { breakGlass: 'short' })).code,
        refusal(() => plan(['gp'], 'direct-care', { user: user(['gp'], { training: '2020-01-01' }) })).code,
        refusal(() => plan(['gp'], 'dirct-care')).code,
        refusal(() => plan(['gp'], 'old-flow')).code,
        refusal(() => plan(['gp'], 'emergency')).code,
        refusal(() => plan(['gp'], 'direct-care', { breakGlass: 'Unconscious patient in A&E' })).code,
        refusal(() => plan(['analyst'], 'direct-care')).code,
        refusal(() => plan(['gp'], 'direct-care', {}, 'update')).code,
      ];
      expect(codes).to.deep.equal([
        'unauthenticated',
        'purpose_required',
        'break_glass_refused',
        'training_expired',
        'purpose_unknown',
        'purpose_expired',
        'break_glass_required',
        'bad_request',
        'purpose_not_granted',
        'purpose_not_granted',
      ]);
    });

    it('carries a refused decision naming the request and never a record', () => {
      const e = refusal(() => setup().plan(['analyst'], 'dirct-care'));
      expect(e.message).to.include('did you mean "direct-care"?');
      expect(e.decision).to.deep.include({
        outcome: 'refused',
        code: 'purpose_unknown',
        resource: 'Patient',
        purpose: 'dirct-care',
        roles: ['analyst'],
        recordIds: [],
      });
    });

    it('throws a server error, not a refusal, for a resource the set does not declare, and a TypeError for an invalid clock', () => {
      const { plan } = setup();
      expect(() => plan(['gp'], 'direct-care', { resource: 'Encounter' }))
        .to.throw(FieldmeshError)
        .with.property('code', 'resource_unknown');
      expect(() => plan(['gp'], 'direct-care', { now: new Date('nope') })).to.throw(TypeError);
    });
  });

  describe('rolesFrom and rolesOf', () => {
    it('reads one role or a list, deduplicated, and none when the claim is missing', () => {
      expect(rolesFrom('nurse')).to.deep.equal(['nurse']);
      expect(rolesFrom(['nurse', 'gp', 'nurse'])).to.deep.equal(['nurse', 'gp']);
      expect(rolesFrom(undefined)).to.deep.equal([]);
    });

    it('refuses any other shape rather than guess', () => {
      for (const v of [7, '', ['nurse', 7], [''], { 0: 'gp' }, null]) expect(rolesFrom(v), JSON.stringify(v)).to.equal(undefined);
      expect(rolesOf({ roles: ['nurse', 7] })).to.deep.equal([]);
      expect(rolesOf({ roles: 'gp' })).to.deep.equal(['gp']);
    });
  });

  describe('isExempt', () => {
    it('needs every key of unless: a role and, when given, the purpose', () => {
      const { restriction } = setup();
      expect(isExempt(restriction('dv-address'), ['safeguarding-lead'], 'direct-care')).to.equal(true);
      expect(isExempt(restriction('dv-address'), ['gp'], 'direct-care')).to.equal(false);
      expect(isExempt(restriction('sealed'), ['gp'], 'direct-care')).to.equal(true);
      expect(isExempt(restriction('sealed'), ['gp'], 'emergency')).to.equal(false);
      expect(isExempt(restriction('sealed'), ['nurse'], 'direct-care')).to.equal(false);
    });
  });

  describe('trainingRefusal', () => {
    it('counts whole UTC days: a year-old training holds on its anniversary and expires the day after', () => {
      expect(trainingRefusal('2025-06-01', new Date('2026-06-01T23:59:00Z'), 365)).to.equal(undefined);
      expect(trainingRefusal('2025-06-01', new Date('2026-06-02T00:00:00Z'), 365)?.code).to.equal('training_expired');
    });

    it('takes an ISO timestamp too, refuses anything else, and a date more than a day ahead', () => {
      expect(trainingRefusal('2026-05-01T09:00:00+01:00', NOW, 365)).to.equal(undefined);
      for (const claim of [undefined, 'yesterday', 20260501, '2026-13-01'])
        expect(trainingRefusal(claim, NOW, 365)?.code, String(claim)).to.equal('training_missing');
      expect(trainingRefusal('2026-11-25', NOW, 365)).to.equal(undefined);
      expect(trainingRefusal('2026-11-26', NOW, 365)?.message).to.include('in the future');
    });
  });

  describe('trainingMaxAgeProblem and isValidDate', () => {
    it('accepts a whole number of days from 1 to 3650 only', () => {
      for (const ok of [1, 365, 3650]) expect(trainingMaxAgeProblem(ok)).to.equal(undefined);
      for (const bad of [0, 3651, 1.5, Number.NaN, Infinity, '365'])
        expect(trainingMaxAgeProblem(bad), String(bad)).to.equal('must be a whole number of days from 1 to 3650');
    });

    it('accepts a Date holding a real instant only', () => {
      expect(isValidDate(NOW)).to.equal(true);
      expect(isValidDate(new Date('nope'))).to.equal(false);
      expect(isValidDate('2026-01-01')).to.equal(false);
    });
  });

  describe('breakGlassReasonRefusal', () => {
    it('accepts a reason of 10 to 1000 visible characters on one line', () => {
      expect(breakGlassReasonRefusal('Unconscious patient in A&E')).to.equal(undefined);
      expect(breakGlassReasonRefusal('x'.repeat(1000))).to.equal(undefined);
    });

    it('refuses a short reason, invisible padding and an over-long one', () => {
      expect(breakGlassReasonRefusal('urgent')?.code).to.equal('break_glass_refused');
      expect(breakGlassReasonRefusal(`ok${'\u00ad'.repeat(12)}`)?.code).to.equal('break_glass_refused');
      expect(breakGlassReasonRefusal(`ok${'\u200b'.repeat(12)}`)?.code).to.equal('break_glass_refused');
      expect(breakGlassReasonRefusal('x'.repeat(1001))?.message).to.include('at most 1000');
    });

    it('refuses control characters rather than clean them', () => {
      for (const reason of [
        'Unconscious\npatient',
        'Unconscious\tpatient in A&E',
        'Unconscious\u2028patient',
        'Unconscious \u202epatient',
      ]) {
        expect(breakGlassReasonRefusal(reason)?.code, JSON.stringify(reason)).to.equal('break_glass_malformed');
      }
    });
  });

  describe('refusedDecision', () => {
    it('is an empty refused decision with the request, the policy version and a trimmed break-glass reason', () => {
      const { compiled } = setup();
      const d = refusedDecision(
        compiled,
        { resource: 'Patient', purpose: 'emergency', user: user(['gp']), breakGlass: '  Unconscious patient  ' },
        'read',
        ['gp'],
        'break_glass_refused',
      );
      expect(d).to.deep.include({
        outcome: 'refused',
        code: 'break_glass_refused',
        resource: 'Patient',
        purpose: 'emergency',
        roles: ['gp'],
        breakGlass: 'Unconscious patient',
        policyVersion: compiled.version,
        rowsReturned: 0,
      });
      expect(d.disclosed).to.deep.equal([]);
    });
  });
});
