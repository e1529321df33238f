import { expect } from 'chai';
import { AccessError } from '../../src/engine/access-error.js';
import { admit, type AdmissionDeps } from '../../src/http/admit.js';
import { refusalEntry } from '../../src/http/audit-entry.js';
import { createVerifier } from '../../src/http/identity.js';
import { examplePolicies, NOW, SECRET, token, USERS } from '../express/harness.js';

async function setup() {
  const policies = await examplePolicies();
  const deps: AdmissionDeps = { policies, verifier: createVerifier({ secret: SECRET, now: () => NOW }), now: () => NOW };
  const headers = (claims: Record<string, unknown>, purpose: string) => ({
    authorization: `Bearer ${token(claims)}`,
    'x-purpose': purpose,
  });
  return { policies, deps, headers };
}

describe('admit', () => {
  describe('admission', () => {
    it('admits a request with its plans, and a write with its write plan', async () => {
      const { deps, headers } = await setup();
      const read = await admit({ headers: headers(USERS.gp, 'direct-care') }, 'Patient', 'read', deps);
      expect(read.ok).to.equal(true);
      const write = await admit({ headers: headers(USERS.gp, 'direct-care') }, 'Patient', 'update', deps);
      if (!write.ok) return expect.fail('refused');
      expect(write.writePlan?.action).to.equal('update');
      expect(write.plan.action).to.equal('read');
    });

    it('never throws: a refusal carries its error and what was known (the verified user)', async () => {
      const { deps, headers } = await setup();
      const a = await admit({ headers: headers(USERS.gp, 'research') }, 'Patient', 'read', deps);
      if (a.ok) return expect.fail('admitted');
      expect(a.error).to.be.instanceOf(AccessError).with.property('code', 'purpose_not_granted');
      expect(a.verified?.sub).to.equal('gp-1');
      expect(refusalEntry(a.error, a)).to.include({ user: 'gp-1', purpose: 'research', decision: 'refused', status: 403 });
    });

    it('names the person a refusal is about when the route selects by id and the resource is the person (subject: id)', async () => {
      const { deps, headers } = await setup();
      const param = [{ name: 'id', value: 'pat-001' }];
      const patient = await admit({ headers: headers(USERS.gp, 'research'), params: param }, 'Patient', 'read', deps);
      if (patient.ok) return expect.fail('admitted');
      expect(refusalEntry(patient.error, patient)).to.deep.include({ withheldRecordIds: ['pat-001'], withheldSubjectIds: ['pat-001'] });
      // A case note's id names the note, not the person it is about: no subject is guessed.
      const note = await admit(
        { headers: headers(USERS.gp, 'research'), params: [{ name: 'id', value: 'n-1' }] },
        'CaseNote',
        'read',
        deps,
      );
      if (note.ok) return expect.fail('admitted');
      const entry = refusalEntry(note.error, note);
      expect(entry.withheldRecordIds).to.deep.equal(['n-1']);
      expect(entry.withheldSubjectIds).to.equal(undefined);
      expect(entry.subjectIds).to.equal(undefined);
    });

    it('checks the query of a raw URL as a gateway passes it', async () => {
      const { deps, headers } = await setup();
      const a = await admit(
        { headers: headers(USERS.receptionist, 'administration'), query: 'nhsNumber=9990000018&_page=2' },
        'Patient',
        'read',
        deps,
      );
      expect(a.ok).to.equal(false);
      expect((a as { error: AccessError }).error.code).to.equal('filter_forbidden');
    });
  });

  describe('unauthenticated break-glass', () => {
    it('keeps no reason from a caller whose token did not verify, and counts the declaration', async () => {
      const { deps } = await setup();
      const counters = { unverifiedBreakGlass: 0 };
      const a = await admit({ headers: { 'x-purpose': 'emergency', 'x-break-glass': 'Anyone can write here' } }, 'Patient', 'read', {
        ...deps,
        counters,
      });
      if (a.ok) return expect.fail('admitted');
      expect(a.breakGlass).to.equal(undefined);
      expect(a.unverifiedBreakGlass).to.equal(true);
      expect(counters.unverifiedBreakGlass).to.equal(1);
      expect(refusalEntry(a.error, a).breakGlass).to.equal(undefined);
    });
  });
});
