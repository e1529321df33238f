import { expect } from 'chai';
import { FieldmeshError } from '../../src/lib/errors.js';
import { AccessError } from '../../src/engine/access-error.js';
import { refusalEntry } from '../../src/http/audit-entry.js';
import { examplePolicies } from '../express/harness.js';

async function setup() {
  return { policies: await examplePolicies() };
}

describe('audit entries', () => {
  describe('refusalEntry', () => {
    it('records an unauthenticated caller as anonymous, with the code and status', async () => {
      const { policies } = await setup();
      const entry = refusalEntry(new AccessError('unauthenticated', 'token expired'), {
        requestId: 'r1',
        resource: 'Patient',
        action: 'read',
        policyVersion: policies.version,
        purposeLabel: '(unknown)',
      });
      expect(entry).to.include({ user: 'anonymous', code: 'unauthenticated', status: 401, decision: 'refused', purpose: '' });
    });
    it('records an unexpected error as a 500 internal refusal', async () => {
      const entry = refusalEntry(new Error('boom'), {
        requestId: 'r1',
        resource: 'Patient',
        action: 'read',
        policyVersion: 'v',
        purposeLabel: '(unknown)',
      });
      expect(entry).to.include({ code: 'internal', status: 500 });
      const known = refusalEntry(new FieldmeshError('unredactable_body', 'x'), {
        requestId: 'r1',
        resource: 'Patient',
        action: 'read',
        policyVersion: 'v',
        purposeLabel: '(unknown)',
      });
      expect(known.code).to.equal('unredactable_body');
    });
  });
});
