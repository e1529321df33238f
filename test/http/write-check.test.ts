import { expect } from 'chai';
import { admit } from '../../src/http/admit.js';
import { createVerifier } from '../../src/http/identity.js';
import { checkWrite } from '../../src/http/write-check.js';
import { examplePolicies, NOW, patient, SECRET, token, USERS } from '../express/harness.js';

async function setup(action: 'read' | 'update' = 'update') {
  const policies = await examplePolicies();
  const verifier = createVerifier({ secret: SECRET, now: () => NOW });
  const admitted = await admit(
    { headers: { authorization: `Bearer ${token(USERS.nurse)}`, 'x-purpose': 'direct-care' } },
    'Patient',
    action,
    { policies, verifier, now: () => NOW },
  );
  if (!admitted.ok) throw new Error('not admitted');
  return { policies, admitted };
}

describe('write-check', () => {
  describe('checkWrite', () => {
    it('permits a write the plan allows, with the entry to record before it is performed (status 0, the fields written)', async () => {
      const { policies, admitted } = await setup();
      const checked = checkWrite({ policies, admitted, body: { ward: 'Ward 8' }, existing: patient('pat-001'), replace: false });
      if (checked.kind !== 'permitted') return expect.fail('refused');
      expect(checked.entry).to.include({ action: 'update', decision: 'disclosed', status: 0 });
      expect(checked.entry.fieldsDisclosed).to.deep.equal(['ward']);
    });

    it('refuses a field the caller may not write, naming the field and never its value', async () => {
      const { policies, admitted } = await setup();
      const checked = checkWrite({
        policies,
        admitted,
        body: { address: [{ line: ['9 Elsewhere'] }] },
        existing: patient('pat-001'),
        replace: false,
      });
      if (checked.kind !== 'refusal') return expect.fail('permitted');
      expect(checked.error).to.have.property('code', 'write_forbidden');
      expect(checked.entry).to.include({ decision: 'refused', code: 'write_forbidden', status: 403 });
      expect(checked.entry.fieldsWithheld).to.deep.equal(['address.line']);
      expect(JSON.stringify(checked.entry)).not.to.include('Elsewhere');
    });

    it('refuses an update of a record the caller may not see exactly as one of a missing record', async () => {
      const { policies, admitted } = await setup();
      const hidden = checkWrite({ policies, admitted, body: { ward: 'Ward 8' }, existing: patient('pat-003'), replace: false });
      const missing = checkWrite({ policies, admitted, body: { ward: 'Ward 8' }, existing: undefined, replace: false });
      if (hidden.kind !== 'refusal' || missing.kind !== 'refusal') return expect.fail('permitted');
      expect(JSON.stringify(hidden.error)).to.equal(JSON.stringify(missing.error));
      expect(hidden.entry.status).to.equal(missing.entry.status);
    });

    it('refuses a request admitted for a read: it has no write plan', async () => {
      const { policies, admitted } = await setup('read');
      expect(checkWrite({ policies, admitted, body: { ward: 'Ward 8' }, replace: false })).to.have.property('kind', 'refusal');
    });
  });
});
