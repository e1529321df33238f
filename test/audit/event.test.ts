import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { Decision } from '../../src/engine/decision.js';
import {
  entryFromDecision,
  GENESIS_HASH,
  hashEvent,
  prepareEntry,
  pseudonymiseRecordId,
  sealEntries,
  type AuditEvent,
} from '../../src/audit/event.js';
import { sampleEntry } from './entries.js';

describe('audit/event', () => {
  describe('hashEvent', () => {
    it('is HMAC-SHA256 under the chain key when one is given, so the plain SHA-256 of the same event differs', () => {
      const [event] = sealEntries([prepareEntry(sampleEntry())], 'main', undefined, randomUUID, 'chain-key-0123456789');
      const { hash, ...rest } = event as AuditEvent;
      expect(hash).to.equal(hashEvent(rest, 'chain-key-0123456789'));
      expect(hash).to.not.equal(hashEvent(rest));
      expect(hash).to.not.equal(hashEvent(rest, 'chain-key-0123456789-other'));
    });
  });

  describe('sealEntries', () => {
    it('starts a chain from the genesis hash and links each event to the one before', () => {
      const entries = [sampleEntry(), sampleEntry({ requestId: 'req-2' })].map((e) => prepareEntry(e));
      const [first, second] = sealEntries(entries, 'main', undefined, randomUUID);
      expect(first?.seq).to.equal(1);
      expect(first?.prevHash).to.equal(GENESIS_HASH);
      expect(second?.seq).to.equal(2);
      expect(second?.prevHash).to.equal(first?.hash);
    });

    it('hashes every field but the hash, so changing any field changes the hash', () => {
      const [event] = sealEntries([prepareEntry(sampleEntry())], 'main', { seq: 9, hash: 'a'.repeat(64) }, randomUUID);
      if (event === undefined) throw new Error('no event');
      expect(event.seq).to.equal(10);
      expect(hashEvent(event)).to.equal(event.hash);
      expect(event.hash).to.match(/^[0-9a-f]{64}$/);
      expect(hashEvent({ ...event, fieldsDisclosed: [...event.fieldsDisclosed, 'address'] })).to.not.equal(event.hash);
      expect(hashEvent({ ...event, time: '2020-01-01T00:00:00.000Z' })).to.not.equal(event.hash);
    });
  });

  describe('prepareEntry', () => {
    it('escapes control characters in every text of the entry before it is hashed, lists and maps included', () => {
      const c1 = '\u0085';
      const e = prepareEntry(
        sampleEntry({
          user: `u${c1}`,
          purpose: `p\t`,
          requestId: 'r\n',
          roles: [`nurse${c1}`],
          fieldsDisclosed: [`name\u001b[2J`],
          transforms: { [`dob${c1}`]: `year\u009b` },
          breakGlass: `reason\u007f`,
          review: { of: 'e1', by: `G${c1}`, note: `n\r` },
        }),
      );
      expect(e).to.deep.include({ user: 'u\\u0085', purpose: 'p\\u0009', requestId: 'r\\u000a', breakGlass: 'reason\\u007f' });
      expect(e.roles).to.deep.equal(['nurse\\u0085']);
      expect(e.fieldsDisclosed).to.deep.equal(['name\\u001b[2J']);
      expect(e.transforms).to.deep.equal({ 'dob\\u0085': 'year\\u009b' });
      expect(e.review).to.deep.equal({ of: 'e1', by: 'G\\u0085', note: 'n\\u000d' });
    });

    it('normalises the time to ISO UTC with milliseconds, so stores round-trip it exactly', () => {
      expect(prepareEntry(sampleEntry({ time: '2026-03-01T14:02:11+01:00' })).time).to.equal('2026-03-01T13:02:11.000Z');
    });

    it('rejects an entry with a missing field or an unknown key as a programming error', () => {
      const { purpose: _p, ...noPurpose } = sampleEntry();
      expect(() => prepareEntry(noPurpose as never)).to.throw(TypeError, /purpose/);
      expect(() => prepareEntry({ ...sampleEntry(), patientName: 'x' } as never)).to.throw(TypeError, /patientName/);
    });

    it('replaces record ids by keyed pseudonyms when a key is configured', () => {
      const e = prepareEntry(sampleEntry({ recordIds: ['p-1'], withheldRecordIds: ['p-2'] }), { recordIdKey: 'k1' });
      expect(e.recordIds).to.deep.equal([pseudonymiseRecordId('p-1', 'k1')]);
      expect(e.withheldRecordIds).to.deep.equal([pseudonymiseRecordId('p-2', 'k1')]);
      expect(e.recordIds[0]).to.match(/^[0-9a-f]{32}$/);
      expect(pseudonymiseRecordId('p-1', 'k2')).to.not.equal(pseudonymiseRecordId('p-1', 'k1'));
    });
    it('pseudonymises subject ids as record ids (one pseudonym for a person and their record), each once, and leaves out an empty list', () => {
      const e = prepareEntry(sampleEntry({ subjectIds: ['p-1', 'p-1', 'p-2'], withheldSubjectIds: [] }), { recordIdKey: 'k1' });
      expect(e.subjectIds).to.deep.equal([pseudonymiseRecordId('p-1', 'k1'), pseudonymiseRecordId('p-2', 'k1')]);
      expect(e.withheldSubjectIds).to.equal(undefined);
      const plain = prepareEntry(sampleEntry({ withheldSubjectIds: ['p-3'] }));
      expect(plain).to.deep.include({ withheldSubjectIds: ['p-3'], subjectIds: undefined });
      expect(() => prepareEntry(sampleEntry({ subjectIds: [7] as never }))).to.throw(TypeError, /subjectIds/);
    });
  });

  describe('entryFromDecision', () => {
    function setup(overrides: Partial<Decision> = {}): Decision {
      return {
        outcome: 'disclosed',
        action: 'read',
        resource: 'Patient',
        purpose: 'direct-care',
        roles: ['nurse'],
        disclosed: ['id', 'name'],
        withheld: ['address'],
        transforms: { dateOfBirth: 'year' },
        restrictions: ['dv-address'],
        grants: ['nurse#0'],
        recordIds: ['p-1'],
        withheldRecordIds: ['p-2'],
        subjectIds: [],
        withheldSubjectIds: [],
        rowsReturned: 1,
        rowsWithheld: 1,
        rowReasons: { 'no-grant': 1 },
        policyVersion: 'sha256:abc',
        ...overrides,
      };
    }

    it('maps every decision field to its audit field, names only', () => {
      const entry = entryFromDecision(setup(), { requestId: 'r-9', user: 'u1', status: 200 });
      expect(entry).to.deep.include({
        requestId: 'r-9',
        user: 'u1',
        roles: ['nurse'],
        purpose: 'direct-care',
        resource: 'Patient',
        action: 'read',
        decision: 'disclosed',
        status: 200,
        recordIds: ['p-1'],
        withheldRecordIds: ['p-2'],
        fieldsDisclosed: ['id', 'name'],
        fieldsWithheld: ['address'],
        transforms: { dateOfBirth: 'year' },
        restrictions: ['dv-address'],
        grants: ['nurse#0'],
        policyVersion: 'sha256:abc',
      });
      expect(() => prepareEntry(entry)).to.not.throw();
    });

    it('keeps the refusal code and the break-glass reason', () => {
      const entry = entryFromDecision(setup({ outcome: 'refused', code: 'break_glass_refused' }), {
        requestId: 'r',
        user: 'u',
        status: 403,
        breakGlass: 'Collapsed in clinic, unresponsive',
      });
      expect(entry.decision).to.equal('refused');
      expect(entry.code).to.equal('break_glass_refused');
      expect(entry.breakGlass).to.equal('Collapsed in clinic, unresponsive');
    });

    it('carries the subjects of a decision, and leaves them out when there are none (an event hashed as before)', () => {
      const entry = entryFromDecision(setup({ subjectIds: ['p-1'], withheldSubjectIds: ['p-9'] }), {
        requestId: 'r',
        user: 'u',
        status: 200,
      });
      expect(entry).to.deep.include({ subjectIds: ['p-1'], withheldSubjectIds: ['p-9'] });
      const none = entryFromDecision(setup(), { requestId: 'r', user: 'u', status: 200 });
      expect(none.subjectIds).to.equal(undefined);
      expect(none.withheldSubjectIds).to.equal(undefined);
      const sealed = sealEntries([prepareEntry(none)], 'main', undefined, () => 'e-1');
      expect(Object.keys(sealed[0] as object)).to.not.include.members(['subjectIds', 'withheldSubjectIds']);
    });
  });
});
