import { expect } from 'chai';
import { AccessError } from '../../src/engine/access-error.js';
import { examplePolicies, NOW, patient, USERS } from '../express/harness.js';

/** The engine on its own, fed records an upstream in another language might send. */
describe('security › engine on malformed records', () => {
  const receptionist = { resource: 'Patient', purpose: 'administration', user: USERS.receptionist, now: NOW };

  describe('restriction markers fail closed', () => {
    it('withholds a sealed record whose marker arrives as the string "true"', async () => {
      const policies = await examplePolicies();
      // pat-004 is sealed: with `sealed: true` a receptionist gets record_withheld.
      expect(() => policies.redact(patient('pat-004'), receptionist)).to.throw(AccessError);
      const record = { ...patient('pat-004'), sealed: 'true' };
      // The marker is there, saying the record is sealed, in a shape the condition does not compare equal.
      expect(() => policies.redact(record, receptionist), 'sealed: "true" must not disclose the record').to.throw(AccessError);
    });

    it('withholds the address of a dv-risk patient whose flags arrive nested ([["dv-risk"]])', async () => {
      const policies = await examplePolicies();
      const record = { ...patient('pat-002'), flags: [['dv-risk']] };
      const { data } = policies.redact(record, receptionist);
      expect(data).not.to.have.property('address');
      expect(data).not.to.have.property('telecom');
    });
  });

  describe('transforms never pass a value through', () => {
    it('does not disclose a full NHS number held as an object key under a masked field', async () => {
      const policies = await examplePolicies();
      // An upstream that sends { "<number>": "verified" }: mask is applied to the
      // leaf ("verified"), the key (the number itself) is copied as it is.
      const record = { ...patient('pat-001'), nhsNumber: { '9990000018': 'verified' } };
      const { data } = policies.redact(record, receptionist);
      expect(JSON.stringify(data)).not.to.include('9990000018');
    });

    it('does not disclose a date of birth held as an object key under an age band (de-identified purpose)', async () => {
      const policies = await examplePolicies();
      const record = { ...patient('pat-001'), dateOfBirth: { '1987-05-12': '1987-05-12' } };
      const { data } = policies.redact(record, { resource: 'Patient', purpose: 'service-planning', user: USERS.analyst, now: NOW });
      expect(JSON.stringify(data)).not.to.include('1987-05-12');
    });
  });
});
