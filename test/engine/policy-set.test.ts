import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { PolicyError } from '../../src/lib/errors.js';
import { loadPolicies, policiesFromSources } from '../../src/engine/policy-set.js';
import { NOW, patient, refusal, user, VALID_POLICY, validPolicies } from '../helpers.js';

const POLICIES = fileURLToPath(new URL('../../policies', import.meta.url));
const source = () => [{ file: 'policy.yaml', text: readFileSync(VALID_POLICY, 'utf8') }];

describe('engine/policy-set', () => {
  describe('loadPolicies and policiesFromSources', () => {
    it('loads the example policy directory into a compiled set with a stable version', async () => {
      const a = await loadPolicies(POLICIES, { now: NOW });
      const b = await loadPolicies(POLICIES, { now: NOW });
      expect(a.resourceNames()).to.deep.equal(['Patient', 'SafeguardingConcern', 'CaseNote']);
      expect(a.version)
        .to.match(/^[0-9a-f]{16}$/)
        .and.equal(b.version);
      expect(a.usesPseudonyms).to.equal(true);
    });

    it('keeps warnings on the set and throws a PolicyError listing every error', () => {
      expect(validPolicies({ now: NOW }).warnings.map((w) => w.path)).to.include('purposes.old-flow.reviewBy');
      const text = readFileSync(VALID_POLICY, 'utf8')
        .replace('purpose: research', 'purpose: resarch')
        .replace('resource: Patient\n        read: [id, name, address]', 'resource: Patinet\n        read: [id, name, address]');
      try {
        policiesFromSources([{ file: 'policy.yaml', text }], { now: NOW });
        expect.fail('expected a PolicyError');
      } catch (e) {
        expect(e).to.be.instanceOf(PolicyError);
        expect((e as PolicyError).issues.filter((i) => i.severity === 'error').map((i) => i.message)).to.include.members([
          'unknown purpose "resarch" (did you mean "research"?)',
          'unknown resource "Patinet" (did you mean "Patient"?)',
        ]);
      }
    });

    it('refuses options that would make a rule answer at random, as a TypeError', () => {
      expect(() => policiesFromSources(source(), { trainingMaxAgeDays: Number.NaN })).to.throw(TypeError, /trainingMaxAgeDays/);
      expect(() => policiesFromSources(source(), { now: new Date('nope') })).to.throw(TypeError, /now must be a valid Date/);
    });

    it('applies the training age it was given to every plan', () => {
      const ctx = { resource: 'Patient', purpose: 'direct-care', user: user(['gp'], { training: '2026-10-01' }), now: NOW };
      expect(() => validPolicies({ trainingMaxAgeDays: 100 }).plan(ctx)).to.not.throw();
      expect(refusal(() => validPolicies({ trainingMaxAgeDays: 30 }).plan(ctx)).code).to.equal('training_expired');
    });
  });

  describe('PolicySet', () => {
    it('gives the pseudonym redact gives, per purpose, and undefined for what the transform drops', async () => {
      const policies = await loadPolicies(POLICIES, { pseudonymKey: 'fixture-pseudonym-key', now: NOW });
      const ctx = { resource: 'Patient', purpose: 'research', user: user(['researcher'], { training: '2026-06-01' }), now: NOW };
      const { data } = policies.redact({ id: 'pat-001', consent: { research: 'granted' } }, ctx);
      expect(policies.pseudonymOf('research', 'pat-001')).to.equal((data as { id: string }).id);
      expect(policies.pseudonymOf('service-planning', 'pat-001')).to.not.equal((data as { id: string }).id);
      expect(policies.pseudonymOf('research', { id: 'pat-001' })).to.equal(undefined);
      const keyless = await loadPolicies(POLICIES, { now: NOW });
      expect(() => keyless.pseudonymOf('research', 'pat-001'))
        .to.throw()
        .with.property('code', 'pseudonym_key_missing');
    });

    it('redacts as its plan and redactWith do, step by step', () => {
      const policies = validPolicies();
      const ctx = { resource: 'Patient', purpose: 'direct-care', user: user(['nurse']), now: NOW };
      const whole = policies.redact(patient(), ctx);
      const stepped = policies.redactWith(policies.plan(ctx), patient());
      expect(whole).to.deep.equal(stepped);
      expect(whole.data).to.not.have.property('diagnoses');
    });

    it('checks an update against the stored record as the read plan sees it: a hidden one is no such record', () => {
      const policies = validPolicies();
      const ctx = { resource: 'Patient', purpose: 'direct-care', user: user(['nurse']), now: NOW, action: 'update' as const };
      expect(policies.checkWrite({ ward: 'W8' }, { ...ctx, existing: patient() }).written).to.deep.equal(['ward']);
      expect(refusal(() => policies.checkWrite({ ward: 'W8' }, { ...ctx, existing: patient({ careTeam: 'ward-9' }) })).code).to.equal(
        'record_withheld',
      );
      expect(refusal(() => policies.checkWrite({ name: 'x' }, { ...ctx, existing: patient() })).code).to.equal('write_forbidden');
    });

    it('lets a request filter by fields every grant reads untransformed and no restriction withholds', () => {
      const policies = validPolicies();
      const plan = (roles: string[], purpose: string) => policies.plan({ resource: 'Patient', purpose, user: user(roles), now: NOW });
      expect(policies.filterableFields(plan(['nurse'], 'direct-care'))).to.deep.equal(['dateOfBirth', 'id', 'name', 'ward']);
      expect(policies.filterableFields(plan(['nurse', 'gp'], 'direct-care'))).to.deep.equal(['dateOfBirth', 'id', 'name', 'ward']);
      expect(policies.filterableFields(plan(['analyst'], 'service-planning'))).to.deep.equal(['diagnoses']);
    });

    it('withPseudonymKey: the same rules and training limit under another key, which is checked', async () => {
      const policies = await loadPolicies(POLICIES, { pseudonymKey: 'first-pseudonym-key', trainingMaxAgeDays: 30 });
      const other = policies.withPseudonymKey('second-pseudonym-key');
      expect(other.compiled).to.equal(policies.compiled);
      const ctx = (training: string) => ({
        resource: 'Patient',
        purpose: 'service-planning',
        user: { roles: ['analyst'], training },
        now: new Date('2026-11-24T12:00:00Z'),
      });
      const record = { id: 'pat-001', gender: 'female' };
      const id = (set: typeof policies) => (set.redact({ ...record }, ctx('2026-11-20')).data as { id: string }).id;
      expect(id(other)).to.not.equal(id(policies));
      expect(id(other)).to.equal(id(await loadPolicies(POLICIES, { pseudonymKey: 'second-pseudonym-key' })));
      // 40 days old: within the default 365, beyond the 30 this set was loaded with.
      expect(refusal(() => other.redact({ ...record }, ctx('2026-10-15'))).code).to.equal('training_expired');
      expect(() => policies.withPseudonymKey('short')).to.throw(TypeError, /withPseudonymKey: pseudonymKey/);
    });

    it('gives the mask of named fields and their subtrees, and explains a view', () => {
      const policies = validPolicies();
      const resource = policies.compiled.resources.get('Patient')!;
      expect(policies.maskOf('Patient', ['address'])).to.equal(resource.bits.get('address')! | resource.bits.get('address.postcode')!);
      expect(policies.explain({ roles: ['gp'], purpose: 'direct-care', resource: 'Patient' }).fields).to.have.length(resource.paths.length);
    });
  });
});
