import { expect } from 'chai';
import { admit, type Admitted } from '../../src/http/admit.js';
import { createVerifier } from '../../src/http/identity.js';
import { readOutcome, writeOutcome, type OutcomeInput, type SourceAnswer } from '../../src/http/outcome.js';
import { FieldmeshError } from '../../src/lib/errors.js';
import { examplePolicies, NOW, PATIENTS, patient, SECRET, token, USERS } from '../express/harness.js';
import { NURSE_ROWS } from '../helpers.js';

const JSON_TYPE = 'application/json; charset=utf-8';

async function setup(action: 'read' | 'update' = 'read', user: Record<string, unknown> = USERS.nurse, purpose = 'direct-care') {
  const policies = await examplePolicies();
  const verifier = createVerifier({ secret: SECRET, now: () => NOW });
  const headers = { authorization: `Bearer ${token(user)}`, 'x-purpose': purpose };
  const admitted = await admit({ headers }, 'Patient', action, { policies, verifier, now: () => NOW });
  if (!admitted.ok) throw new Error(`not admitted: ${String(admitted.error)}`);
  const input = (answer: Partial<SourceAnswer> & Pick<SourceAnswer, 'status'>, list: OutcomeInput['list'] = undefined): OutcomeInput => ({
    policies,
    admitted: admitted as Admitted,
    answer: { origin: 'upstream', contentType: JSON_TYPE, ...answer },
    list,
  });
  return { policies, admitted, input };
}

describe('outcome', () => {
  describe('readOutcome', () => {
    it('answers the rows the plan lets through, redacted, with the entry to record first', async () => {
      const { input, policies, admitted } = await setup();
      const outcome = readOutcome(input({ status: 200, body: structuredClone(PATIENTS) }, ''));
      if (outcome.kind !== 'answer') return expect.fail('refused');
      expect((outcome.body as { id: string }[]).map((r) => r.id)).to.deep.equal(NURSE_ROWS);
      expect(outcome.body).to.deep.equal(policies.redactWith(admitted.plan, structuredClone(PATIENTS)).data);
      expect(outcome.entry).to.include({ decision: 'disclosed', status: 200, user: USERS.nurse.sub, action: 'read' });
      expect(outcome.entry.recordIds).to.deep.equal(NURSE_ROWS);
      expect(outcome.entry.withheldRecordIds).to.include('pat-003');
      expect(outcome.error).to.equal(undefined);
    });

    it('is pure: the same answer gives the same outcome, and the answer is left as it was', async () => {
      const { input } = await setup();
      const rows = structuredClone(PATIENTS);
      const first = readOutcome(input({ status: 200, body: rows }, ''));
      const second = readOutcome(input({ status: 200, body: rows }, ''));
      expect(second).to.deep.equal(first);
      expect(rows).to.deep.equal(PATIENTS);
    });

    it('refuses one record the caller may not see as a missing one, naming it in the entry', async () => {
      const { input } = await setup();
      const outcome = readOutcome(input({ status: 200, body: patient('pat-003') }));
      if (outcome.kind !== 'refusal') return expect.fail('answered');
      expect(outcome.error).to.be.instanceOf(FieldmeshError).with.property('code', 'record_withheld');
      expect(outcome.entry).to.include({ decision: 'refused', code: 'record_withheld', status: 404 });
      expect(outcome.entry.withheldRecordIds).to.deep.equal(['pat-003']);
    });

    it("passes on an upstream's error status without its body, and answers its 404 as a missing record", async () => {
      const { input } = await setup();
      const missing = readOutcome(input({ status: 404 }));
      if (missing.kind !== 'answer') return expect.fail('refused');
      expect(missing).to.deep.include({ status: 404 });
      expect(missing.error?.code).to.equal('not_found');
      expect(missing.entry).to.include({ decision: 'disclosed', status: 404 });
      expect(missing.entry.recordIds).to.deep.equal([]);
      const busy = readOutcome(input({ status: 503 }, ''));
      if (busy.kind !== 'answer') return expect.fail('refused');
      expect(busy.error?.code).to.equal('upstream_error');
      expect(busy.status).to.equal(503);
    });

    it("refuses an upstream's 401 (the gateway's own credential) and a list of the wrong shape as upstream_invalid", async () => {
      const { input } = await setup();
      for (const outcome of [
        readOutcome(input({ status: 401 }, '')),
        readOutcome(input({ status: 200, body: patient('pat-001') }, 'entry.resource')),
      ]) {
        if (outcome.kind !== 'refusal') return expect.fail('answered');
        expect(outcome.error).to.be.instanceOf(FieldmeshError).with.property('code', 'upstream_invalid');
        expect(outcome.entry).to.include({ decision: 'refused', code: 'upstream_invalid', status: 502 });
      }
    });

    it("answers a handler's redirect as a missing record, recorded as a withheld redirect", async () => {
      const { input } = await setup();
      const outcome = readOutcome(input({ origin: 'handler', status: 302 }, null));
      if (outcome.kind !== 'refusal') return expect.fail('answered');
      expect(outcome.error).to.have.property('code', 'not_found');
      expect(outcome.entry).to.include({ decision: 'refused', code: 'redirect_withheld', status: 404 });
    });

    it("replaces a handler's error body with a generic error of the same status, and refuses a body it cannot read", async () => {
      const { input } = await setup();
      const conflict = readOutcome(input({ origin: 'handler', status: 409, body: patient('pat-003') }, null));
      if (conflict.kind !== 'answer') return expect.fail('refused');
      expect(conflict.body).to.equal(undefined);
      expect(conflict.error).to.include({ code: 'conflict', status: 409 });
      expect(conflict.entry.recordIds).to.deep.equal([]);
      const unreadable = new FieldmeshError('unredactable_body', 'not JSON');
      const refused = readOutcome(input({ origin: 'handler', status: 200, unreadable }, null));
      expect(refused).to.deep.include({ kind: 'refusal', error: unreadable });
    });

    it('infers the shape of a handler answer when the route names none: an array is a list', async () => {
      const { input } = await setup();
      const outcome = readOutcome(input({ origin: 'handler', status: 200, body: structuredClone(PATIENTS) }, null));
      if (outcome.kind !== 'answer') return expect.fail('refused');
      expect((outcome.body as { id: string }[]).map((r) => r.id)).to.deep.equal(NURSE_ROWS);
    });
  });

  describe('writeOutcome', () => {
    it('records the answer to a write as the write it is, with the fields it disclosed', async () => {
      const { input } = await setup('update');
      const outcome = writeOutcome(input({ status: 200, body: patient('pat-001') }));
      if (outcome.kind !== 'answer') return expect.fail('refused');
      expect(outcome.entry).to.include({ action: 'update', decision: 'disclosed', status: 200 });
      expect(outcome.entry.recordIds).to.deep.equal(['pat-001']);
      expect(outcome.body).to.have.property('id', 'pat-001');
    });

    it('answers 204 when the written record is not for the caller to see: the write was done, nothing of it is shown', async () => {
      const { input } = await setup('update');
      for (const origin of ['upstream', 'handler'] as const) {
        const outcome = writeOutcome(input({ origin, status: 200, body: patient('pat-003') }, origin === 'handler' ? null : undefined));
        if (outcome.kind !== 'answer') return expect.fail('refused');
        expect(outcome.status).to.equal(204);
        expect(outcome.body).to.equal(undefined);
        expect(outcome.entry).to.include({ action: 'update', decision: 'disclosed', status: 204 });
        expect(outcome.entry.code).to.equal(undefined);
      }
    });

    it("answers a handler's redirect after a write as done (204), with nothing to follow", async () => {
      const { input } = await setup('update');
      const outcome = writeOutcome(input({ origin: 'handler', status: 303 }, null));
      if (outcome.kind !== 'answer') return expect.fail('refused');
      expect(outcome.status).to.equal(204);
      expect(outcome.body).to.equal(undefined);
      expect(outcome.error).to.equal(undefined);
      expect(outcome.entry).to.include({ action: 'update', status: 204 });
    });
  });
});
