import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { GENESIS_HASH, hashEvent, type AuditEvent } from '../../src/audit/event.js';
import type { AuditStore, AuditStoreOptions } from '../../src/audit/types.js';
import { FieldmeshError } from '../../src/lib/errors.js';
import { breakGlassEntry, sampleEntry } from './entries.js';

/** One fresh, empty trail and raw SQL access to it, bypassing the store. */
export interface Trail {
  open(opts?: AuditStoreOptions): Promise<AuditStore>;
  /** Runs statements as given (no parameters); `$T` is replaced by the events table, `$M` by the table recording the trail's chain and mode. */
  sql(statements: string): Promise<void>;
  /** Raw SELECT returning rows, `$T` and `$M` replaced. */
  rows(statement: string): Promise<Record<string, unknown>[]>;
  /** Inserts an event row exactly as given, as an attacker with database access could. */
  insert(event: AuditEvent): Promise<void>;
}

/**
 * The rules every AuditStore keeps, run against a real database. Each test
 * gets its own empty trail from `newTrail`.
 */
export function storeContract(newTrail: () => Promise<Trail>): void {
  async function setup(n = 0, opts: AuditStoreOptions = {}) {
    const trail = await newTrail();
    const store = await trail.open(opts);
    const events: AuditEvent[] = [];
    for (let i = 1; i <= n; i++) events.push(await store.append(sampleEntry({ requestId: `req-${i}` })));
    return { trail, store, events };
  }

  describe('chain', () => {
    it('chains events from the genesis hash and verifies them', async () => {
      const { store, events } = await setup(5);
      expect(events.map((e) => e.seq)).to.deep.equal([1, 2, 3, 4, 5]);
      expect(events[0]?.prevHash).to.equal('0'.repeat(64));
      events.slice(1).forEach((e, i) => expect(e.prevHash).to.equal(events[i]?.hash));
      const result = await store.verify();
      expect(result).to.deep.include({ ok: true, events: 5, chains: 1 });
      if (result.ok) expect(result.heads).to.deep.equal([{ chain: 'main', seq: 5, hash: events[4]?.hash, events: 5 }]);
      await store.close();
    });

    it('keeps an appended event once the store is closed and opened again, exactly as it was hashed', async () => {
      const { trail, store } = await setup();
      const written = await store.append(breakGlassEntry({ transforms: { dateOfBirth: 'year' }, code: undefined }));
      await store.close();
      const again = await trail.open();
      const [read] = await again.query({});
      expect(read).to.deep.equal(written);
      expect(hashEvent(read as AuditEvent)).to.equal(written.hash);
      await again.close();
    });

    it('writes 200 concurrent appends exactly once each, in one unbroken chain', async () => {
      const { store } = await setup();
      const appended = await Promise.all(Array.from({ length: 200 }, (_, i) => store.append(sampleEntry({ requestId: `c-${i}` }))));
      expect(appended.map((e) => e.seq).sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 200 }, (_, i) => i + 1));
      const stored = await store.query({});
      expect(stored).to.have.length(200);
      expect(new Set(stored.map((e) => e.requestId)).size).to.equal(200);
      expect(await store.verify()).to.deep.include({ ok: true, events: 200, chains: 1 });
      await store.close();
    });

    it('tells its trail id: one random id from the first write on, the same to every store that opens the trail', async () => {
      const { trail, store } = await setup(2);
      const id = await store.trailId?.();
      expect(id).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      await store.close();
      const reader = await trail.open({ readonly: true });
      expect(await reader.trailId?.()).to.equal(id);
      await reader.close();
      const other = await (await newTrail()).open();
      await other.append(sampleEntry());
      expect(await other.trailId?.()).to.not.equal(id);
      await other.close();
    });

    it('rejects a malformed entry and writes nothing', async () => {
      const { store } = await setup();
      const { purpose: _p, ...bad } = sampleEntry();
      let caught: unknown;
      await store.append(bad as never).catch((e: unknown) => {
        caught = e;
      });
      expect(caught).to.be.instanceOf(TypeError);
      expect(await store.query({})).to.have.length(0);
      await store.close();
    });
  });

  describe('tampering', () => {
    it('detects a changed field, naming the event', async () => {
      const { trail, store, events } = await setup(5);
      await trail.sql(`UPDATE $T SET purpose = 'research' WHERE seq = 3`);
      expect(await store.verify()).to.deep.include({ ok: false, eventId: events[2]?.id, seq: 3, kind: 'changed' });
      await store.close();
    });

    it('detects a changed list of disclosed fields', async () => {
      const { trail, store } = await setup(5);
      await trail.sql(`UPDATE $T SET fields_disclosed = '["id"]' WHERE seq = 2`);
      expect(await store.verify()).to.deep.include({ ok: false, seq: 2, kind: 'changed' });
      await store.close();
    });

    it('detects a deleted event at the event after the gap', async () => {
      const { trail, store, events } = await setup(5);
      await trail.sql('DELETE FROM $T WHERE seq = 3');
      const result = await store.verify();
      expect(result).to.deep.include({ ok: false, eventId: events[3]?.id, seq: 4, kind: 'gap' });
      if (!result.ok) expect(result.reason).to.match(/deleted/);
      await store.close();
    });

    it('detects deletion of the first event', async () => {
      const { trail, store } = await setup(3);
      await trail.sql('DELETE FROM $T WHERE seq = 1');
      expect(await store.verify()).to.deep.include({ ok: false, seq: 2, kind: 'gap' });
      await store.close();
    });

    it('detects an inserted event even when the forger renumbers the chain and hashes it correctly', async () => {
      const { trail, store, events } = await setup(5);
      await trail.sql('UPDATE $T SET seq = seq + 1000 WHERE seq >= 3; UPDATE $T SET seq = seq - 999 WHERE seq >= 1000');
      const forged = { ...(events[2] as AuditEvent), id: randomUUID(), user: 'u-cover-story', seq: 3, prevHash: events[1]?.hash as string };
      await trail.insert({ ...forged, hash: hashEvent(forged) });
      const result = await store.verify();
      expect(result).to.deep.include({ ok: false, eventId: events[2]?.id, seq: 4, kind: 'link' });
      if (!result.ok) expect(result.reason).to.match(/inserted/);
      await store.close();
    });

    it('detects two events swapped', async () => {
      const { trail, store, events } = await setup(5);
      await trail.sql('UPDATE $T SET seq = -3 WHERE seq = 3; UPDATE $T SET seq = 3 WHERE seq = 4; UPDATE $T SET seq = 4 WHERE seq = -3');
      const result = await store.verify();
      expect(result).to.deep.include({ ok: false, eventId: events[3]?.id, seq: 3, kind: 'link' });
      if (!result.ok) expect(result.reason).to.match(/reordered/);
      await store.close();
    });

    it('detects a forged acknowledgement', async () => {
      const { trail, store } = await setup();
      const bg = await store.append(breakGlassEntry());
      await store.acknowledge(bg.id, 'Dr A Guardian', 'Justified');
      await trail.sql(`UPDATE $T SET review_by = 'someone else' WHERE action = 'review'`);
      expect(await store.verify()).to.deep.include({ ok: false, seq: 2, kind: 'changed' });
      await store.close();
    });
  });

  describe('closed chain set', () => {
    /** An event under another chain name, hashed and linked exactly as the store would have. */
    function foreignEvent(template: AuditEvent, chain: string, overrides: Partial<AuditEvent> = {}): AuditEvent {
      const unsealed = { ...template, id: randomUUID(), chain, seq: 1, prevHash: GENESIS_HASH, ...overrides };
      const { hash: _h, ...rest } = unsealed;
      return { ...unsealed, hash: hashEvent(rest) };
    }

    it('fails on an event inserted under a new chain name, however correctly it is hashed, naming the chain and its count', async () => {
      const { trail, store, events } = await setup(3);
      const forged = foreignEvent(events[0] as AuditEvent, 'side', { user: 'u-cover-story' });
      await trail.insert(forged);
      const result = await store.verify();
      expect(result).to.deep.include({ ok: false, kind: 'foreign', chain: 'side', eventId: forged.id, seq: 1 });
      if (!result.ok)
        expect(result.reason).to.equal(
          'chain "side" (1 event) is not this trail\'s: its store writes only chain "main", so these events were put there by something else',
        );
      const head = (await store.query({})).filter((e) => e.chain === 'main').at(-1);
      expect(head?.hash).to.equal(events[2]?.hash);
      await store.close();
    });

    it("fails on a foreign chain even when it sorts after the trail's own", async () => {
      const { trail, store, events } = await setup(2);
      await trail.insert(foreignEvent(events[0] as AuditEvent, 'zzz'));
      await trail.insert(foreignEvent(events[0] as AuditEvent, 'zzz', { seq: 2, id: randomUUID() }));
      const result = await store.verify();
      expect(result).to.deep.include({ ok: false, kind: 'foreign', chain: 'zzz' });
      if (!result.ok) expect(result.reason).to.match(/^chain "zzz" \(2 events\)/);
      await store.close();
    });

    it("counts the events of the trail's chain when intact", async () => {
      const { store, events } = await setup(3);
      expect(await store.verify()).to.deep.equal({
        ok: true,
        events: 3,
        chains: 1,
        heads: [{ chain: 'main', seq: 3, hash: events[2]?.hash, events: 3 }],
      });
      await store.close();
    });

    it('records the chain on first write: a writer configured for another chain may not extend the trail', async () => {
      const { trail, store } = await setup(1);
      await store.close();
      const other = await trail.open({ chain: 'ward-7' });
      const err = await other.append(sampleEntry()).catch((e: unknown) => e);
      expect((err as FieldmeshError).code).to.equal('audit_unavailable');
      expect((err as FieldmeshError).message).to.include('this trail\'s chain is "main", not "ward-7"');
      expect(await other.healthy()).to.equal(false);
      expect(await other.verify()).to.deep.include({ ok: true, events: 1 });
      await other.close();
    });
  });

  describe('anchored head', () => {
    it('passes when the trail still holds the expected head, and when it has grown beyond it', async () => {
      const { store, events } = await setup(3);
      const head = { seq: 3, hash: events[2]?.hash as string };
      expect(await store.verify(undefined, { expectHead: head })).to.deep.include({ ok: true, events: 3 });
      await store.append(sampleEntry());
      expect(await store.verify(undefined, { expectHead: head })).to.deep.include({ ok: true, events: 4 });
      await store.close();
    });

    it('verifies a trail whose newest events were deleted, unless given the head recorded before', async () => {
      const { trail, store, events } = await setup(5);
      await trail.sql('DELETE FROM $T WHERE seq >= 4');
      expect(await store.verify()).to.deep.include({ ok: true, events: 3 });
      const result = await store.verify(undefined, { expectHead: { seq: 5, hash: events[4]?.hash as string } });
      expect(result).to.deep.include({ ok: false, kind: 'truncated', chain: 'main' });
      if (!result.ok)
        expect(result.reason).to.match(/ends at seq 3, before the expected head at seq 5: 2 events were deleted from its end/);
      await store.close();
    });

    it('fails when the event at the expected head was rewritten with recomputed hashes', async () => {
      const { trail, store, events } = await setup(3);
      const last = events[2] as AuditEvent;
      const { hash: _h, ...rest } = { ...last, purpose: 'research' };
      await trail.sql('DELETE FROM $T WHERE seq = 3');
      await trail.insert({ ...rest, hash: hashEvent(rest) });
      expect(await store.verify()).to.deep.include({ ok: true, events: 3 });
      expect(await store.verify(undefined, { expectHead: { seq: 3, hash: last.hash } })).to.deep.include({
        ok: false,
        kind: 'rewritten',
        seq: 3,
        eventId: last.id,
      });
      await store.close();
    });
  });

  describe('chain key', () => {
    const KEY = 'chain-key-0123456789abcdef';

    it('hashes with HMAC-SHA256 under the key, and verifies only with it', async () => {
      const { trail, store, events } = await setup(3, { chainKey: KEY });
      const { hash, ...rest } = events[0] as AuditEvent;
      expect(hash).to.equal(hashEvent(rest, KEY)).and.not.equal(hashEvent(rest));
      expect(await store.verify()).to.deep.include({ ok: true, events: 3 });
      await store.close();
      const keyless = await trail.open({ readonly: true });
      const result = await keyless.verify();
      expect(result).to.deep.include({ ok: false, kind: 'key' });
      if (!result.ok) expect(result.reason).to.match(/^this trail is keyed: set FIELDMESH_AUDIT_CHAIN_KEY/);
      await keyless.close();
      const wrong = await trail.open({ readonly: true, chainKey: 'another-key-0123456789' });
      const wrongResult = await wrong.verify();
      expect(wrongResult).to.deep.include({ ok: false, kind: 'key' });
      if (!wrongResult.ok) expect(wrongResult.reason).to.match(/not the key this trail was started with/);
      await wrong.close();
    });

    it('detects an event forged by someone who can write the database but lacks the key', async () => {
      const { trail, store, events } = await setup(3, { chainKey: KEY });
      const last = events[2] as AuditEvent;
      const forged = { ...last, id: randomUUID(), seq: 4, prevHash: last.hash, user: 'u-cover-story' };
      const { hash: _h, ...rest } = forged;
      await trail.insert({ ...rest, hash: hashEvent(rest) });
      expect(await store.verify()).to.deep.include({ ok: false, kind: 'changed', seq: 4, eventId: forged.id });
      await store.close();
    });

    it('fails when the record of the key is removed to pass SHA-256 forgeries off as an unkeyed trail', async () => {
      const { trail, store } = await setup(2, { chainKey: KEY });
      await trail.sql('DELETE FROM $M');
      const result = await store.verify();
      expect(result).to.deep.include({ ok: false, kind: 'key' });
      if (!result.ok) expect(result.reason).to.match(/^this trail is not keyed, but a chain key/);
      await store.close();
    });

    it('will not extend a keyed trail without the key or with another, nor key an unkeyed one', async () => {
      const keyed = await setup(1, { chainKey: KEY });
      await keyed.store.close();
      for (const opts of [{}, { chainKey: 'another-key-0123456789' }]) {
        const store = await keyed.trail.open(opts);
        const err = await store.append(sampleEntry()).catch((e: unknown) => e);
        expect((err as FieldmeshError).code).to.equal('audit_unavailable');
        expect(await store.healthy()).to.equal(false);
        await store.close();
      }
      const plain = await setup(1);
      await plain.store.close();
      const store = await plain.trail.open({ chainKey: KEY });
      const err = await store.append(sampleEntry()).catch((e: unknown) => e);
      expect((err as FieldmeshError).message).to.include('this trail is not keyed');
      await store.close();
      const again = await keyed.trail.open({ chainKey: KEY });
      expect(await again.verify()).to.deep.include({ ok: true, events: 1 });
      await again.close();
    });

    it('binds a keyed chain to its trail: events copied over from another trail under the same key do not verify', async () => {
      const a = await setup(2, { chainKey: KEY });
      const bg = await a.store.append(breakGlassEntry());
      const b = await setup(3, { chainKey: KEY });
      expect(a.events[0]?.prevHash).to.not.equal(GENESIS_HASH).and.not.equal(b.events[0]?.prevHash);
      const copied = await b.store.query({});
      await a.trail.sql('DELETE FROM $T');
      for (const event of copied) await a.trail.insert(event);
      expect((await a.store.pendingReviews()).map((e) => e.id)).to.not.include(bg.id);
      const result = await a.store.verify();
      expect(result).to.deep.include({ ok: false, kind: 'link', seq: 1, eventId: copied[0]?.id });
      if (!result.ok) expect(result.reason).to.include('copied from another trail');
      expect(await b.store.verify()).to.deep.include({ ok: true, events: 3 });
      await a.store.close();
      await b.store.close();
    });

    it('starts an unkeyed chain from the all-zero genesis, as trails always have', async () => {
      const { events } = await setup(1);
      expect(events[0]?.prevHash).to.equal(GENESIS_HASH);
    });

    it('refuses a key shorter than 16 characters when the store is opened', async () => {
      const trail = await newTrail();
      const err = await trail.open({ chainKey: 'short' }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(TypeError);
    });
  });

  describe('chain names', () => {
    it('refuses a chain name a terminal could act on, or any outside A-Z a-z 0-9 . _ -, when the store is opened', async () => {
      const trail = await newTrail();
      for (const chain of ['ward\u001b[2J', 'a\u0007', 'x\u009b1m', '', 'two words', 'x'.repeat(65)]) {
        const err = await trail.open({ chain }).catch((e: unknown) => e);
        expect(err, JSON.stringify(chain)).to.be.instanceOf(TypeError);
      }
      const ok = await trail.open({ chain: 'ward-7.b_2' });
      expect(await ok.append(sampleEntry())).to.deep.include({ chain: 'ward-7.b_2' });
      await ok.close();
    });

    it('fails verify when the trail record was changed to a chain name no store writes', async () => {
      const { trail, store } = await setup(1);
      await trail.sql("UPDATE $M SET chain = 'main; echo'");
      await trail.sql("UPDATE $T SET chain = 'main; echo'");
      expect(await store.verify()).to.deep.include({ ok: false, kind: 'trail', chain: 'main; echo' });
      await store.close();
    });
  });

  describe('control characters', () => {
    it('stores texts with C0, C1, DEL and tab escaped, and still verifies', async () => {
      const { trail, store } = await setup();
      const reason = 'Unconscious\ton arrival\u009b2J\u0085\u001b[31m\u007f, no consent';
      const event = await store.append(breakGlassEntry({ breakGlass: reason, user: 'u\u0090x' }));
      expect(event.breakGlass).to.equal('Unconscious\\u0009on arrival\\u009b2J\\u0085\\u001b[31m\\u007f, no consent');
      expect(event.user).to.equal('u\\u0090x');
      const [raw] = await trail.rows('SELECT break_glass FROM $T');
      expect(raw?.break_glass).to.equal(event.breakGlass);
      const review = await store.acknowledge(event.id, 'Dr\u0085 G', 'ok\u009b then\nforged line');
      expect(review.review).to.deep.equal({ of: event.id, by: 'Dr\\u0085 G', note: 'ok\\u009b then\\u000aforged line' });
      expect(await store.verify()).to.deep.include({ ok: true, events: 2 });
      await store.close();
    });

    it('still verifies an event stored with raw control characters before they were escaped', async () => {
      const { trail, store, events } = await setup(1);
      const first = events[0] as AuditEvent;
      const old = { ...first, id: randomUUID(), seq: 2, prevHash: first.hash, breakGlass: 'raw\u0085reason\there' };
      const { hash: _h, ...rest } = old;
      await trail.insert({ ...rest, hash: hashEvent(rest) });
      expect(await store.verify()).to.deep.include({ ok: true, events: 2 });
      const [stored] = await store.query({ breakGlass: true });
      expect(stored?.breakGlass).to.equal('raw\u0085reason\there');
      await store.close();
    });
  });

  describe('query', () => {
    async function populated() {
      const s = await setup();
      const at = (t: string) => `2026-03-0${t}Z`;
      await s.store.append(sampleEntry({ time: at('1T09:00:00'), recordIds: ['p-1'] }));
      await s.store.append(sampleEntry({ time: at('2T09:00:00'), user: 'u-2', purpose: 'service-planning', recordIds: ['p-2'] }));
      await s.store.append(sampleEntry({ time: at('3T09:00:00'), resource: 'Encounter', recordIds: ['e-1'] }));
      await s.store.append(
        sampleEntry({
          time: at('4T09:00:00'),
          decision: 'refused',
          code: 'purpose_not_granted',
          status: 403,
          recordIds: [],
          withheldRecordIds: ['p-1'],
          fieldsDisclosed: [],
        }),
      );
      await s.store.append(breakGlassEntry({ time: at('5T09:00:00'), recordIds: ['p-1'] }));
      return s;
    }
    const users = (events: AuditEvent[]) => events.map((e) => `${e.user}@${e.time.slice(8, 10)}`);

    it('filters by user, purpose, resource and decision', async () => {
      const { store } = await populated();
      expect(users(await store.query({ user: 'u-2' }))).to.deep.equal(['u-2@02']);
      expect(users(await store.query({ purpose: 'emergency' }))).to.deep.equal(['u-9001@05']);
      expect(users(await store.query({ resource: 'Encounter' }))).to.deep.equal(['u-4411@03']);
      expect(users(await store.query({ decision: 'refused' }))).to.deep.equal(['u-4411@04']);
      await store.close();
    });

    it('finds every event that disclosed or withheld a record', async () => {
      const { store } = await populated();
      expect(users(await store.query({ recordId: 'p-1' }))).to.deep.equal(['u-4411@01', 'u-4411@04', 'u-9001@05']);
      expect(await store.query({ recordId: 'p-404' })).to.deep.equal([]);
      await store.close();
    });

    it('filters by time (since inclusive, until exclusive) and by break-glass', async () => {
      const { store } = await populated();
      expect(users(await store.query({ since: '2026-03-02T09:00:00Z', until: new Date('2026-03-04T09:00:00Z') }))).to.deep.equal([
        'u-2@02',
        'u-4411@03',
      ]);
      expect(users(await store.query({ breakGlass: true }))).to.deep.equal(['u-9001@05']);
      expect(await store.query({ breakGlass: false })).to.have.length(4);
      await store.close();
    });

    it('limits to the most recent events, listed oldest first', async () => {
      const { store } = await populated();
      expect(users(await store.query({ limit: 2 }))).to.deep.equal(['u-4411@04', 'u-9001@05']);
      await store.close();
    });

    it('stores only keyed pseudonyms of record ids when configured, and still finds a record by its id', async () => {
      const { trail, store } = await setup(0, { recordIdKey: 'audit-key-of-16-chars+' });
      await store.append(sampleEntry({ recordIds: ['p-1002'], withheldRecordIds: ['p-1003'] }));
      const raw = await trail.rows('SELECT record_ids, withheld_record_ids FROM $T');
      expect(JSON.stringify(raw)).to.not.include('p-100');
      expect(await store.query({ recordId: 'p-1002' })).to.have.length(1);
      expect(await store.query({ recordId: 'p-1003' })).to.have.length(1);
      expect(await store.verify()).to.deep.include({ ok: true });
      await store.close();
    });
  });

  describe('subjects', () => {
    /** Two resources about p-1 (its Patient record and a case note), one about p-2, a refusal naming p-1, an event with none. */
    async function about(opts: AuditStoreOptions = {}) {
      const s = await setup(0, opts);
      const at = (t: string) => `2026-03-0${t}Z`;
      await s.store.append(sampleEntry({ time: at('1T09:00:00'), recordIds: ['p-1'], subjectIds: ['p-1'] }));
      await s.store.append(
        sampleEntry({ time: at('2T09:00:00'), resource: 'CaseNote', recordIds: ['n-1', 'n-2'], subjectIds: ['p-1', 'p-2'] }),
      );
      await s.store.append(
        sampleEntry({ time: at('3T09:00:00'), resource: 'CaseNote', recordIds: ['n-3'], subjectIds: ['p-2'], withheldSubjectIds: ['p-1'] }),
      );
      await s.store.append(
        sampleEntry({
          time: at('4T09:00:00'),
          user: 'u-7',
          decision: 'refused',
          code: 'purpose_not_granted',
          status: 403,
          recordIds: [],
          withheldRecordIds: ['p-1'],
          withheldSubjectIds: ['p-1'],
        }),
      );
      await s.store.append(sampleEntry({ time: at('5T09:00:00'), recordIds: ['p-1'], subjectIds: [] }));
      return s;
    }
    const resources = (events: AuditEvent[]) => events.map((e) => `${e.resource}@${e.time.slice(8, 10)}`);

    it('finds every event that disclosed or withheld a record about a person, whichever resource', async () => {
      const { store } = await about();
      expect(resources(await store.query({ subject: 'p-1' }))).to.deep.equal(['Patient@01', 'CaseNote@02', 'CaseNote@03', 'Patient@04']);
      expect(resources(await store.query({ subject: 'p-2' }))).to.deep.equal(['CaseNote@02', 'CaseNote@03']);
      expect(resources(await store.query({ subject: 'p-1', resource: 'CaseNote', since: '2026-03-03' }))).to.deep.equal(['CaseNote@03']);
      expect(await store.query({ subject: 'n-1' })).to.deep.equal([]);
      // A search by record is not one by subject: the case note's own ids are records, not people.
      expect(resources(await store.query({ recordId: 'n-1' }))).to.deep.equal(['CaseNote@02']);
      expect(await store.verify()).to.deep.include({ ok: true, events: 5 });
      await store.close();
    });

    it('leaves the subject fields out when empty, so the event hashes as one written before subjects', async () => {
      const { trail, store } = await about();
      const [last] = await store.query({ limit: 1 });
      expect(last).to.not.have.property('subjectIds');
      expect(last).to.not.have.property('withheldSubjectIds');
      const { subjectIds: _s, withheldSubjectIds: _w, ...without } = { ...last } as AuditEvent;
      expect(hashEvent(without)).to.equal(last?.hash);
      const rows = await trail.rows('SELECT subject_ids, withheld_subject_ids FROM $T ORDER BY seq');
      expect(
        rows.map((r) => [r['subject_ids'], r['withheld_subject_ids']].map((v) => (typeof v === 'string' ? JSON.parse(v) : v))),
      ).to.deep.equal([
        [['p-1'], null],
        [['p-1', 'p-2'], null],
        [['p-2'], ['p-1']],
        [null, ['p-1']],
        [null, null],
      ]);
      await store.close();
    });

    it('stores subjects as keyed pseudonyms, the same as the record ids of the person, and refuses a search without the key', async () => {
      const key = 'audit-key-of-16-chars+';
      const { trail, store } = await about({ recordIdKey: key });
      const raw = await trail.rows('SELECT subject_ids, withheld_subject_ids FROM $T');
      expect(JSON.stringify(raw)).to.not.include('p-');
      const [first] = await store.query({ limit: 5 });
      expect(first?.subjectIds).to.deep.equal(first?.recordIds);
      expect(resources(await store.query({ subject: 'p-1' }))).to.have.length(4);
      await store.close();
      const reader = await trail.open({ readonly: true });
      const err = await reader.query({ subject: 'p-1' }).catch((e: unknown) => e);
      expect((err as FieldmeshError).code).to.equal('audit_record_key');
      expect((err as FieldmeshError).message).to.include('Cannot search the trail by subject');
      await reader.close();
    });

    it('detects a subject added to, removed from or emptied in a stored event', async () => {
      for (const set of [
        `subject_ids = '["p-9"]' WHERE seq = 5`,
        'subject_ids = NULL WHERE seq = 2',
        `withheld_subject_ids = '["p-1","p-9"]' WHERE seq = 4`,
      ]) {
        const { trail, store } = await about();
        await trail.sql(`UPDATE $T SET ${set}`);
        expect(await store.verify(), set).to.deep.include({ ok: false, kind: 'changed' });
        await store.close();
      }
      const { trail, store } = await about();
      await trail.sql(`UPDATE $T SET subject_ids = '[]' WHERE seq = 5`);
      const result = await store.verify();
      expect(result).to.deep.include({ ok: false, seq: 5, kind: 'unreadable' });
      if (!result.ok)
        expect(result.reason).to.include('subject_ids is not stored as the type the store writes (NULL or a non-empty list of strings)');
      await store.close();
    });
  });

  describe('review', () => {
    it('lists break-glass events, disclosed or refused, until a guardian acknowledges them with a chained event', async () => {
      const { store } = await setup(2);
      const bg = await store.append(breakGlassEntry());
      const refused = await store.append(breakGlassEntry({ decision: 'refused', code: 'break_glass_refused', status: 403, recordIds: [] }));
      expect((await store.pendingReviews()).map((e) => e.id)).to.deep.equal([bg.id, refused.id]);
      const review = await store.acknowledge(bg.id, 'Dr A Guardian', 'Justified: cardiac arrest');
      expect(review).to.deep.include({ action: 'review', seq: 5, prevHash: refused.hash, user: 'Dr A Guardian' });
      expect(review.review).to.deep.equal({ of: bg.id, by: 'Dr A Guardian', note: 'Justified: cardiac arrest' });
      expect((await store.pendingReviews()).map((e) => e.id)).to.deep.equal([refused.id]);
      expect(await store.verify()).to.deep.include({ ok: true, events: 5 });
      await store.close();
    });

    it('does not count a forged review placed in another chain', async () => {
      const { trail, store } = await setup(1);
      const bg = await store.append(breakGlassEntry());
      const review = await store.acknowledge(bg.id, 'Dr A Guardian', 'Justified');
      await trail.sql("DELETE FROM $T WHERE action = 'review'");
      const { hash: _h, ...rest } = { ...review, id: randomUUID(), chain: 'side', seq: 1, prevHash: GENESIS_HASH };
      await trail.insert({ ...rest, hash: hashEvent(rest) });
      expect((await store.pendingReviews()).map((e) => e.id)).to.deep.equal([bg.id]);
      const real = await store.acknowledge(bg.id, 'Dr A Guardian', 'Justified');
      expect(real).to.deep.include({ chain: 'main', seq: 3 });
      expect(await store.pendingReviews()).to.deep.equal([]);
      await store.close();
    });

    it('does not count a review placed before the event it reviews', async () => {
      const { trail, store } = await setup(1);
      const bg = await store.append(breakGlassEntry());
      await trail.sql(`UPDATE $T SET action = 'review', review_of = '${bg.id}', review_by = 'G', review_note = 'n' WHERE seq = 1`);
      expect((await store.pendingReviews()).map((e) => e.id)).to.deep.equal([bg.id]);
      await store.close();
    });

    it('writes one review when two acknowledgements of the same event race, on one store or two', async () => {
      const { trail, store } = await setup(1);
      const other = await trail.open();
      for (const [first, second] of [
        [store, store],
        [store, other],
      ] as const) {
        const bg = await store.append(breakGlassEntry());
        const results = await Promise.allSettled([first.acknowledge(bg.id, 'G1', 'ok'), second.acknowledge(bg.id, 'G2', 'ok')]);
        expect(results.filter((r) => r.status === 'fulfilled')).to.have.length(1);
        const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
        expect((rejected.reason as FieldmeshError).code).to.equal('audit_review_duplicate');
        expect((await store.query({ action: 'review' })).filter((e) => e.review?.of === bg.id)).to.have.length(1);
      }
      expect(await store.verify()).to.deep.include({ ok: true, events: 5 });
      await other.close();
      await store.close();
    });

    it('refuses to acknowledge twice, an event that is not break-glass, an unknown event, or without a note', async () => {
      const { store, events } = await setup(1);
      const bg = await store.append(breakGlassEntry());
      await store.acknowledge(bg.id, 'G', 'ok');
      const code = (p: Promise<unknown>) =>
        p.then(
          () => 'resolved',
          (e: unknown) => (e instanceof FieldmeshError ? e.code : String(e)),
        );
      expect(await code(store.acknowledge(bg.id, 'G', 'again'))).to.equal('audit_review_duplicate');
      expect(await code(store.acknowledge(events[0]?.id as string, 'G', 'n'))).to.equal('audit_review_not_needed');
      expect(await code(store.acknowledge(randomUUID(), 'G', 'n'))).to.equal('audit_event_unknown');
      expect(await code(store.acknowledge(bg.id, 'G', '  '))).to.equal('audit_review_invalid');
      expect(await store.query({ action: 'review' })).to.have.length(1);
      await store.close();
    });
  });

  describe('record-id key', () => {
    const K1 = 'record-key-one-0123456789';
    const K2 = 'record-key-two-0123456789';

    it('records the record-id key (or that there is none) on first write: a writer with another may not write', async () => {
      const { trail, store } = await setup(1);
      await store.close();
      for (const recordIdKey of [K1, K2]) {
        const other = await trail.open({ recordIdKey });
        const err = await other.append(sampleEntry()).catch((e: unknown) => e);
        expect((err as FieldmeshError).code).to.equal('audit_unavailable');
        expect((err as FieldmeshError).message).to.include('this trail stores record ids as they are, but a record-id key');
        expect(await other.healthy()).to.equal(false);
        await other.close();
      }
      const keyed = await setup(1, { recordIdKey: K1 });
      await keyed.store.close();
      for (const [opts, text] of [
        [{}, 'set FIELDMESH_AUDIT_RECORD_KEY'],
        [{ recordIdKey: K2 }, 'not the key this trail was started with'],
      ] as const) {
        const other = await keyed.trail.open(opts);
        const err = await other.append(sampleEntry()).catch((e: unknown) => e);
        expect((err as FieldmeshError).message).to.include(text);
        await other.close();
      }
    });

    it('refuses to search by record id with a missing or different key instead of silently finding nothing', async () => {
      const { trail, store } = await setup(2, { recordIdKey: K1 });
      expect(await store.query({ recordId: 'p-1002' })).to.have.length(2);
      await store.close();
      for (const opts of [{ readonly: true }, { readonly: true, recordIdKey: K2 }]) {
        const reader = await trail.open(opts);
        const err = await reader.query({ recordId: 'p-1002' }).catch((e: unknown) => e);
        expect((err as FieldmeshError).code).to.equal('audit_record_key');
        expect(await reader.query({})).to.have.length(2);
        await reader.close();
      }
    });

    it('lets the first writer claim a trail that does not record its record-id key yet', async () => {
      const { trail, store } = await setup(1);
      await store.close();
      await trail.sql('UPDATE $M SET record_key = NULL');
      const keyed = await trail.open({ recordIdKey: K1 });
      await keyed.append(sampleEntry({ recordIds: ['p-9'] }));
      expect(await keyed.query({ recordId: 'p-9' })).to.have.length(1);
      await keyed.close();
      const plain = await trail.open();
      expect(((await plain.append(sampleEntry()).catch((e: unknown) => e)) as FieldmeshError).code).to.equal('audit_unavailable');
      await plain.close();
    });
  });

  describe('every stored value verify relies on', () => {
    const KEY = 'chain-key-0123456789abcdef';

    it('fails on a list stored as a JSON string, which rebuilds the same event but hides it from record searches', async () => {
      for (const opts of [{}, { chainKey: KEY }]) {
        const { trail, store, events } = await setup(3, opts);
        await trail.sql(`UPDATE $T SET record_ids = '"[\\"p-1002\\"]"' WHERE seq = 2`);
        const result = await store.verify();
        expect(result, JSON.stringify(opts)).to.deep.include({ ok: false, eventId: events[1]?.id, seq: 2, kind: 'unreadable' });
        if (!result.ok) expect(result.reason).to.include('record_ids is not stored as the type the store writes (a list of strings)');
        await store.close();
      }
    });

    it('names the event, as unreadable, whose values cannot be rebuilt or hashed: a number too large, nesting too deep', async () => {
      const deep = `${'{"a":'.repeat(5000)}"x"${'}'.repeat(5000)}`;
      for (const set of ["roles = '[1e999]'", 'grants = \'["nurse#0", 2]\'', `transforms = '{"a":${deep}}'`]) {
        const { trail, store, events } = await setup(3, { chainKey: KEY });
        await trail.sql(`UPDATE $T SET ${set} WHERE seq = 2`);
        expect(await store.verify(), set.slice(0, 30)).to.deep.include({ ok: false, eventId: events[1]?.id, seq: 2, kind: 'unreadable' });
        await store.close();
      }
    });

    it('fails on review columns set on an event that reviews nothing (the hash does not cover them there)', async () => {
      const { trail, store } = await setup(1);
      const bg = await store.append(breakGlassEntry());
      await store.append(sampleEntry());
      await trail.sql("UPDATE $T SET review_note = 'reviewed, fine' WHERE seq = 2");
      const result = await store.verify();
      expect(result).to.deep.include({ ok: false, eventId: bg.id, seq: 2, kind: 'unreadable' });
      if (!result.ok) expect(result.reason).to.include('review_note is set on an event that reviews nothing');
      await store.close();
    });

    it("binds a keyed trail's record of its record-id key to the chain: changing it fails verify", async () => {
      const { trail, store } = await setup(2, { chainKey: KEY, recordIdKey: 'record-key-0123456789abc' });
      expect(await store.verify()).to.deep.include({ ok: true, events: 2 });
      await trail.sql("UPDATE $M SET record_key = 'none'");
      expect(await store.verify()).to.deep.include({ ok: false, seq: 1, kind: 'link' });
      await store.close();
    });
  });

  describe('two writers opening one new trail', () => {
    const KA = 'record-key-AAAAAAAAAAAA';
    const KB = 'record-key-BBBBBBBBBBBB';

    it('never re-claims a recorded record-id key, even on an empty trail: the second writer is refused', async () => {
      const trail = await newTrail();
      const a = await trail.open({ recordIdKey: KA });
      expect(await a.healthy()).to.equal(true);
      const b = await trail.open({ recordIdKey: KB });
      expect(await b.healthy()).to.equal(false);
      await a.append(sampleEntry({ recordIds: ['p-1002'] }));
      const err = await b.append(sampleEntry({ recordIds: ['p-2000'] })).catch((e: unknown) => e);
      expect((err as FieldmeshError).code).to.equal('audit_unavailable');
      expect((err as FieldmeshError).message).to.include('not the key this trail was started with');
      expect(await a.query({ recordId: 'p-1002' })).to.have.length(1);
      expect(await a.query({})).to.have.length(1);
      await a.close();
      await b.close();
    });

    it("checks the trail's keys at every append: a writer whose chain key was replaced on the empty trail is refused", async () => {
      const trail = await newTrail();
      const a = await trail.open({ chainKey: 'chain-key-AAAAAAAAAAAA' });
      expect(await a.healthy()).to.equal(true);
      const b = await trail.open({ chainKey: 'chain-key-BBBBBBBBBBBB' });
      expect(await b.healthy()).to.equal(true);
      expect(await a.healthy()).to.equal(false);
      const err = await a.append(sampleEntry()).catch((e: unknown) => e);
      expect((err as FieldmeshError).code).to.equal('audit_unavailable');
      expect((err as FieldmeshError).message).to.include(
        'the chain key (FIELDMESH_AUDIT_CHAIN_KEY) is not the key this trail was started with',
      );
      await b.append(sampleEntry());
      expect(await b.verify()).to.deep.include({ ok: true, events: 1 });
      await a.close();
      await b.close();
    });

    it("refuses an append once the trail's record-id key was changed after the writer opened it", async () => {
      const { trail, store } = await setup(1, { recordIdKey: KA });
      await trail.sql("UPDATE $M SET record_key = 'none'");
      const err = await store.append(sampleEntry()).catch((e: unknown) => e);
      expect((err as FieldmeshError).code).to.equal('audit_unavailable');
      expect((err as FieldmeshError).message).to.include('this trail stores record ids as they are');
      await store.close();
    });

    it('lets a guardian without the record-id key review (a review names no record), but not append', async () => {
      const { trail, store } = await setup(1, { recordIdKey: KA });
      const bg = await store.append(breakGlassEntry());
      await store.close();
      const guardian = await trail.open();
      const review = await guardian.acknowledge(bg.id, 'Dr A Guardian', 'Justified');
      expect(review).to.deep.include({ action: 'review', recordIds: [] });
      const err = await guardian.append(sampleEntry()).catch((e: unknown) => e);
      expect((err as FieldmeshError).message).to.include('set FIELDMESH_AUDIT_RECORD_KEY');
      await guardian.close();
      const keyed = await trail.open({ recordIdKey: KA });
      expect(await keyed.verify()).to.deep.include({ ok: true, events: 3 });
      expect(await keyed.query({ recordId: 'p-1002' })).to.have.length(2);
      expect(await keyed.pendingReviews()).to.deep.equal([]);
      await keyed.close();
    });
  });

  describe('availability', () => {
    it('reports healthy when an event can be written, and unavailable once closed', async () => {
      const { store } = await setup();
      expect(await store.healthy()).to.equal(true);
      await store.close();
      expect(await store.healthy()).to.equal(false);
      const err = await store.append(sampleEntry()).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(FieldmeshError);
      expect((err as FieldmeshError).code).to.equal('audit_unavailable');
    });
  });
}
