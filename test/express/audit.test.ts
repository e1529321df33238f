import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import request from 'supertest';
import type { AuditEntry, AuditEvent } from '../../src/audit/event.js';
import { openAuditStore } from '../../src/audit/open.js';
import type { AuditStore } from '../../src/audit/types.js';
import { AccessError } from '../../src/engine/access-error.js';
import type { MeshOptions } from '../../src/express/options.js';
import { pseudonymiseRecordId } from '../../src/audit/event.js';
import { fieldmeshAsync } from '../cli/run.js';
import { as, cleanup, examplePolicies, onCleanup, patient, patientsHandler, setup, USERS } from './harness.js';

/** A store that holds every append until the test lets it through. */
function gatedStore() {
  const appended: AuditEntry[] = [];
  let open: () => void = () => undefined;
  let gate = new Promise<void>((resolve) => (open = resolve));
  const store: AuditStore = {
    async append(entry) {
      appended.push(entry);
      await gate;
      return {
        ...entry,
        id: `e${appended.length}`,
        chain: 'main',
        seq: appended.length,
        time: new Date().toISOString(),
        prevHash: '',
        hash: '',
      } as AuditEvent;
    },
    query: async () => [],
    count: async () => 0,
    verify: async () => ({ ok: true, events: 0, chains: 0, heads: [] }),
    pendingReviews: async () => [],
    acknowledge: async () => Promise.reject(new Error('not supported')),
    archive: async () => Promise.reject(new Error('not supported')),
    healthy: async () => true,
    close: async () => undefined,
  };
  return { store, appended, release: () => open(), reset: () => (gate = new Promise<void>((resolve) => (open = resolve))) };
}

const failingStore: AuditStore = {
  append: async () => Promise.reject(new AccessError('audit_unavailable', 'The audit trail db.example cannot be written: disk full')),
  query: async () => [],
  count: async () => 0,
  verify: async () => ({ ok: true, events: 0, chains: 0, heads: [] }),
  pendingReviews: async () => [],
  acknowledge: async () => Promise.reject(new Error('not supported')),
  archive: async () => Promise.reject(new Error('not supported')),
  healthy: async () => false,
  close: async () => undefined,
};

describe('mesh audit trail', () => {
  afterEach(cleanup);

  it('records a disclosure with field names, record ids, restrictions and the policy version', async () => {
    const { app, events } = await setup((a, mesh) => a.get('/patients/:id', mesh.read('Patient'), patientsHandler));
    const res = await request(app).get('/patients/pat-002').set(as(USERS.nurse)).set('X-Request-Id', 'r-2');
    expect(res.status).to.equal(200);
    const [event] = await events();
    expect(event).to.include({
      requestId: 'r-2',
      user: 'nurse-1',
      purpose: 'direct-care',
      resource: 'Patient',
      action: 'read',
      decision: 'disclosed',
      status: 200,
    });
    expect(event!.roles).to.deep.equal(['ward-nurse']);
    expect(event!.recordIds).to.deep.equal(['pat-002']);
    expect(event!.fieldsDisclosed).to.include.members(['id', 'name', 'diagnoses']);
    expect(event!.fieldsWithheld).to.include.members(['address', 'telecom', 'gp']);
    expect(event!.restrictions).to.deep.equal(['dv-address']);
    expect(event!.policyVersion).to.equal((await examplePolicies()).version);
  });

  it('stores keyed pseudonyms of record ids when auditRecordIdKey is set', async () => {
    const { app, events } = await setup((a, mesh) => a.get('/patients/:id', mesh.read('Patient'), patientsHandler), {
      auditRecordIdKey: 'audit-record-key-0123456789',
    });
    await request(app).get('/patients/pat-002').set(as(USERS.nurse));
    const [event] = await events();
    expect(event!.recordIds).to.have.length(1);
    expect(event!.recordIds[0]).to.match(/^[0-9a-f]{32}$/);
    expect(event!.recordIds[0]).to.not.equal('pat-002');
  });

  it('keys the audit chain when auditChainKey is set: the trail verifies with the key only', async () => {
    const key = 'audit-chain-key-0123456789';
    const { app, mesh, auditFile } = await setup((a, m) => a.get('/patients/:id', m.read('Patient'), patientsHandler), {
      auditChainKey: key,
    });
    expect((await request(app).get('/patients/pat-002').set(as(USERS.nurse))).status).to.equal(200);
    expect(await mesh.audit.verify()).to.deep.include({ ok: true, events: 1 });
    const keyless = await openAuditStore(auditFile, { readonly: true });
    onCleanup(() => keyless.close());
    expect(await keyless.verify()).to.deep.include({ ok: false, kind: 'key' });
  });

  it('records the rows a list withheld, by id', async () => {
    const { app, events } = await setup((a, mesh) => a.get('/patients', mesh.read('Patient'), patientsHandler));
    await request(app).get('/patients').set(as(USERS.nurse));
    const [event] = await events();
    expect(event!.withheldRecordIds).to.include.members(['pat-003', 'pat-004']);
    expect(event!.recordIds).not.to.include('pat-003');
  });

  it('records a hidden single record as a refusal (404)', async () => {
    const { app, events } = await setup((a, mesh) => a.get('/patients/:id', mesh.read('Patient'), patientsHandler));
    await request(app).get('/patients/pat-003').set(as(USERS.nurse));
    const [event] = await events();
    expect(event).to.include({ decision: 'refused', code: 'record_withheld', status: 404 });
    expect(event!.withheldRecordIds).to.deep.equal(['pat-003']);
  });

  it('names the record a route selects by id in a refusal that came before any record was read, so a subject access report lists it', async () => {
    const key = 'audit-record-key-0123456789';
    const { app, auditFile, mesh } = await setup(
      (a, m) => {
        a.get('/patients/:id', m.read('Patient'), patientsHandler);
        a.patch('/patients/:id', m.write('Patient', { load: (req) => patient(String(req.params['id'])) }), (req, res) =>
          res.json(req.body),
        );
      },
      { auditRecordIdKey: key, maxBodyBytes: 256 },
    );
    await request(app).get('/patients/pat-019').set(as(USERS.receptionist, 'direct-care'));
    await request(app).get('/patients/pat-017').set(as(USERS.receptionist, 'nonsense'));
    await request(app).patch('/patients/pat-007').set(as(USERS.nurse)).set('Content-Type', 'application/json').send('{"ward": [');
    await request(app)
      .patch('/patients/pat-015')
      .set(as(USERS.nurse))
      .send({ ward: 'W'.repeat(1000) });
    const events = await mesh.audit.query({});
    expect(events.map((e) => [e.code, e.recordIds, e.withheldRecordIds])).to.deep.equal([
      ['purpose_not_granted', [], [pseudonymiseRecordId('pat-019', key)]],
      ['purpose_unknown', [], [pseudonymiseRecordId('pat-017', key)]],
      ['invalid_body', [], [pseudonymiseRecordId('pat-007', key)]],
      ['payload_too_large', [], [pseudonymiseRecordId('pat-015', key)]],
    ]);
    await mesh.close();
    const expected = {
      'pat-019': 'purpose_not_granted',
      'pat-017': 'purpose_unknown',
      'pat-007': 'invalid_body',
      'pat-015': 'payload_too_large',
    };
    for (const [id, code] of Object.entries(expected)) {
      const r = await fieldmeshAsync(['audit', 'report', '--audit', auditFile, '--record', id, '--json'], {
        env: { FIELDMESH_AUDIT_RECORD_KEY: key, FIELDMESH_AUDIT_CHAIN_KEY: undefined },
      });
      expect(r.code, id).to.equal(0);
      const report = JSON.parse(r.stdout) as { events: { outcome: string; code: string }[] };
      expect(report.events, id).to.have.length(1);
      expect(report.events[0], id).to.include({ outcome: 'refused', code });
    }
  });

  it('names whom the records are about, for Patient and CaseNote alike, and the person a refused Patient route names', async () => {
    const notes = JSON.parse(readFileSync('fixtures/records/CaseNote.json', 'utf8')) as Record<string, unknown>[];
    const { app, mesh } = await setup((a, m) => {
      a.get('/patients/:id', m.read('Patient'), patientsHandler);
      a.get('/notes', m.read('CaseNote'), (_req, res) => res.json(notes));
    });
    expect((await request(app).get('/patients/pat-001').set(as(USERS.nurse))).status).to.equal(200);
    expect((await request(app).get('/notes').set(as(USERS.nurse))).status).to.equal(200);
    expect((await request(app).get('/patients/pat-002').set(as(USERS.receptionist, 'research'))).status).to.equal(403);
    const events = await mesh.audit.query({});
    // The nurse's care team (ward-7) notes are disclosed, the others withheld whole: each person named once, on the side they fell.
    expect(events.map((e) => [e.resource, e.subjectIds ?? [], e.withheldSubjectIds ?? []])).to.deep.equal([
      ['Patient', ['pat-001'], []],
      ['CaseNote', ['pat-001', 'pat-002'], ['pat-003', 'pat-010', 'pat-014']],
      ['Patient', [], ['pat-002']],
    ]);
    expect((await mesh.audit.query({ subject: 'pat-002' })).map((e) => [e.resource, e.decision])).to.deep.equal([
      ['CaseNote', 'disclosed'],
      ['Patient', 'refused'],
    ]);
  });

  it('never writes a record value to the trail file, whatever was asked, refused or disclosed', async () => {
    const { app, auditFile, mesh } = await setup((a, m) => {
      a.get('/patients', m.read('Patient'), patientsHandler);
      a.get('/patients/:id', m.read('Patient'), patientsHandler);
      a.patch('/patients/:id', m.write('Patient', { load: (req) => patient(String(req.params['id'])) }), (req, res) =>
        res.json({ id: 'pat-001', ...(req.body as object) }),
      );
    });
    await request(app).get('/patients').set(as(USERS.gp));
    await request(app).get('/patients/pat-001').set(as(USERS.receptionist, 'administration'));
    await request(app).get('/patients/pat-003').set(as(USERS.nurse));
    await request(app).get('/patients?nhsNumber=9990000018').set(as(USERS.receptionist, 'administration'));
    await request(app)
      .patch('/patients/pat-001')
      .set(as(USERS.receptionist, 'administration'))
      .send({ name: [{ family: 'Forgedname' }] });
    await request(app).get('/patients').set(as(USERS.analyst, 'service-planning'));
    await mesh.close();
    const bytes = [auditFile, `${auditFile}-wal`]
      .filter(existsSync)
      .map((f) => readFileSync(f).toString('latin1'))
      .join('');
    expect(bytes).to.include('pat-001'); // the trail is there, with ids
    for (const value of [
      'Testwood',
      'Amelia',
      '9990000018',
      '1 Example Street',
      'LS1 4AP',
      '07700 900001',
      'Asthma',
      'penicillin',
      'Forgedname',
      '1987-05-12',
    ]) {
      expect(bytes, value).not.to.include(value);
    }
  });

  it('sends nothing until the event is durable', async () => {
    const gated = gatedStore();
    const { app } = await setup((a, mesh) => a.get('/patients/:id', mesh.read('Patient'), patientsHandler), { audit: gated.store });
    let answered = false;
    const pending = request(app)
      .get('/patients/pat-001')
      .set(as(USERS.nurse))
      .then((r) => {
        answered = true;
        return r;
      });
    while (gated.appended.length === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
    expect(answered).to.equal(false);
    gated.release();
    const res = await pending;
    expect(res.status).to.equal(200);
    expect(res.body.id).to.equal('pat-001');
  });

  describe('when the trail cannot be written (503, nothing disclosed)', () => {
    /** Patient routes over a trail at `audit`, with a spy on the write handler. */
    async function appOver(audit: MeshOptions['audit'] | ((dir: string) => string)) {
      const writes: unknown[] = [];
      const scratch = mkdtempSync(join(tmpdir(), 'fieldmesh-trail-'));
      onCleanup(async () => rmSync(scratch, { recursive: true, force: true }));
      const target = typeof audit === 'function' ? audit(scratch) : audit;
      const h = await setup(
        (a, mesh) => {
          a.get('/patients/:id', mesh.read('Patient'), patientsHandler);
          a.patch('/patients/:id', mesh.write('Patient', { load: (req) => patient(String(req.params['id'])) }), (req, res) => {
            writes.push(req.body);
            res.json(patient(String(req.params['id'])));
          });
        },
        target === undefined ? {} : { audit: target },
      );
      return { ...h, writes };
    }
    async function expectUnavailable(app: Parameters<typeof request>[0], writes: unknown[]) {
      const read = await request(app).get('/patients/pat-001').set(as(USERS.nurse));
      expect(read.status).to.equal(503);
      expect(read.body.error.code).to.equal('audit_unavailable');
      expect(read.text).not.to.include('Testwood');
      expect(read.text).not.to.include('disk full');
      const write = await request(app).patch('/patients/pat-001').set(as(USERS.nurse)).send({ ward: 'Ward 8' });
      expect(write.status).to.equal(503);
      expect(writes, 'the handler ran without a record of the write').to.have.length(0);
      const anonymous = await request(app).get('/patients/pat-001').set('X-Purpose', 'direct-care');
      expect(anonymous.status).to.equal(503);
    }

    it('a trail whose directory is a file', async () => {
      const { app, writes } = await appOver((dir) => {
        writeFileSync(join(dir, 'trail'), 'not a directory');
        return join(dir, 'trail', 'audit.db');
      });
      await expectUnavailable(app, writes);
    });

    it('a trail whose directory is removed under the running app', async () => {
      let trail = '';
      const { app, writes } = await appOver((dir) => {
        trail = join(dir, 'trail');
        mkdirSync(trail);
        return join(trail, 'audit.db');
      });
      expect((await request(app).get('/patients/pat-001').set(as(USERS.nurse))).status).to.equal(200);
      rmSync(trail, { recursive: true, force: true });
      await expectUnavailable(app, writes);
    });

    it('a trail closed under the running app', async () => {
      const { app, writes, mesh } = await appOver(undefined);
      expect((await request(app).get('/patients/pat-001').set(as(USERS.nurse))).status).to.equal(200);
      const permitted = await request(app).patch('/patients/pat-001').set(as(USERS.nurse)).send({ ward: 'Ward 8' });
      expect(permitted.status, 'the same write passes while the trail is up').to.equal(200);
      writes.length = 0;
      await mesh.audit.close();
      await expectUnavailable(app, writes);
    });

    it('a store whose appends reject', async () => {
      const { app, writes } = await appOver(failingStore);
      await expectUnavailable(app, writes);
    });
  });
});
