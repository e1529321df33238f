import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { openAuditStore } from '../../src/audit/open.js';
import type { AuditStore } from '../../src/audit/types.js';
import { refusalEntry } from '../../src/http/audit-entry.js';
import { recordFirst, refuseWithAudit, trailDown } from '../../src/http/refuse.js';
import { FieldmeshError } from '../../src/lib/errors.js';
import { AccessError } from '../../src/engine/access-error.js';

const FACTS = { requestId: 'req-1', resource: 'Patient', action: 'read', policyVersion: 'v1', purposeLabel: '(unknown)' } as const;

describe('refuse', () => {
  const stores: AuditStore[] = [];
  after(async () => {
    for (const store of stores) await store.close();
  });

  /** A real SQLite trail; `down` puts it in a directory that does not exist, so every append fails. */
  async function setup(down = false) {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-refuse-'));
    const store = await openAuditStore(join(dir, down ? 'missing/audit.db' : 'audit.db'));
    stores.push(store);
    return { store };
  }

  describe('refuseWithAudit', () => {
    it('records the refusal, then answers with the error itself', async () => {
      const { store } = await setup();
      const error = new AccessError('purpose_unknown', 'unknown purpose');
      const answer = await refuseWithAudit(store, error, refusalEntry(error, FACTS));
      expect(answer).to.equal(error);
      const events = await store.query({});
      expect(events).to.have.length(1);
      expect(events[0]).to.include({ requestId: 'req-1', decision: 'refused', code: 'purpose_unknown', status: 403 });
    });

    it('answers 503 audit_unavailable when even the refusal cannot be recorded', async () => {
      const { store } = await setup(true);
      const error = new AccessError('purpose_unknown', 'unknown purpose');
      const answer = await refuseWithAudit(store, error, refusalEntry(error, FACTS));
      expect(answer).to.be.instanceOf(FieldmeshError).with.property('code', 'audit_unavailable');
      expect((answer as FieldmeshError).status).to.equal(503);
    });

    it('appends nothing for an error that says the trail is down: no second append after a failed one', async () => {
      const { store } = await setup();
      const down = new AccessError('audit_unavailable', 'The audit trail cannot be written');
      expect(await refuseWithAudit(store, down, refusalEntry(down, FACTS))).to.equal(down);
      expect(await store.query({})).to.have.length(0);
    });
  });

  describe('recordFirst', () => {
    it('makes the entry durable, or throws the trail being down whatever the store threw', async () => {
      const { store } = await setup();
      await recordFirst(store, refusalEntry(new Error('x'), FACTS));
      expect(await store.query({})).to.have.length(1);
      const { store: broken } = await setup(true);
      const err = await recordFirst(broken, refusalEntry(new Error('x'), FACTS)).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(FieldmeshError).with.property('code', 'audit_unavailable');
      const odd = await recordFirst(
        { append: () => Promise.reject(new Error('socket closed')) },
        refusalEntry(new Error('x'), FACTS),
      ).catch((e: unknown) => e);
      expect(odd).to.have.property('code', 'audit_unavailable');
    });
  });

  describe('trailDown', () => {
    it("keeps the store's own audit_unavailable and makes one for anything else, never a 500 that was recorded nowhere", () => {
      const own = new AccessError('audit_unavailable', 'SQLITE_BUSY');
      expect(trailDown(own)).to.equal(own);
      expect(trailDown(new Error('disk full'))).to.include({ code: 'audit_unavailable', status: 503 });
      expect(trailDown(new FieldmeshError('internal', 'x'))).to.include({ code: 'audit_unavailable' });
    });
  });
});
