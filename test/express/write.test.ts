import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import express from 'express';
import request from 'supertest';
import type { Mesh } from '../../src/express/mesh.js';
import type { MeshOptions } from '../../src/express/options.js';
import { readPolicyDirectory } from '../../src/policy/load.js';
import { policiesFromSources } from '../../src/engine/policy-set.js';
import { as, cleanup, NOW, patient, PATIENTS, POLICIES, PSEUDONYM_KEY, setup, USERS } from './harness.js';
import { BIN } from '../cli/run.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const REGISTRAR = { sub: 'reg-1', roles: ['registrar'], training: '2026-06-01' };

/** The example policies plus a registrar who may update every declared Patient field. */
async function withRegistrar(): Promise<Partial<MeshOptions>> {
  const extra = { file: 'registrar.yaml', text: readFileSync(join(ROOT, 'test/fixtures/policies/registrar/registrar.yaml'), 'utf8') };
  return { policies: policiesFromSources([...(await readPolicyDirectory(POLICIES)), extra], { pseudonymKey: PSEUDONYM_KEY, now: NOW }) };
}

/**
 * PATCH and PUT /patients/:id and POST /notes over copies of the fixtures,
 * with a spy counting the handler calls: a refused write must never reach it.
 */
async function writeApp(
  opts: {
    load?: boolean;
    parse?: boolean;
    maxBodyBytes?: number;
    answer?: (req: express.Request) => unknown;
    mesh?: Partial<MeshOptions>;
  } = {},
) {
  const calls: unknown[] = [];
  const store = new Map(PATIENTS.map((p) => [String(p['id']), patient(String(p['id']))]));
  const h = await setup(
    (app, mesh: Mesh) => {
      if (opts.parse) app.use(express.json());
      const load = opts.load === false ? {} : { load: (req: express.Request) => store.get(String(req.params['id'])) };
      app.patch('/patients/:id', mesh.write('Patient', load), (req, res) => {
        calls.push(req.body);
        const record = { ...store.get(String(req.params['id'])), ...(req.body as object) };
        res.json(opts.answer ? opts.answer(req) : record);
      });
      app.put('/patients/:id', mesh.write('Patient', load), (req, res) => {
        calls.push(req.body);
        store.set(String(req.params['id']), { ...(req.body as object), id: req.params['id'] });
        res.json(store.get(String(req.params['id'])));
      });
      app.post('/notes', mesh.write('CaseNote'), (req, res) => {
        calls.push(req.body);
        res
          .status(201)
          .json({ id: 'cn-900', author: 'nurse-1', authoredAt: '2026-11-24T12:00:00Z', internal: 'x', ...(req.body as object) });
      });
      app.delete('/patients/:id', mesh.write('Patient'), () => calls.push('delete'));
    },
    { ...(opts.maxBodyBytes === undefined ? {} : { maxBodyBytes: opts.maxBodyBytes }), ...opts.mesh },
  );
  return { ...h, calls, store };
}

/** The headers a client could tell two answers apart by (not the date or the request id). */
function telling(headers: Record<string, string>): Record<string, string> {
  const { date: _d, 'x-request-id': _r, ...rest } = headers;
  return rest;
}

describe('mesh.write', () => {
  afterEach(cleanup);

  it("lets a GP update the clinical record of the practice's patient, and answers with the GP's view", async () => {
    const { app, calls } = await writeApp();
    const res = await request(app)
      .patch('/patients/pat-001')
      .set(as(USERS.gp))
      .send({ allergies: ['latex'] });
    expect(res.status).to.equal(200);
    expect(calls).to.deep.equal([{ allergies: ['latex'] }]);
    expect(res.body.allergies).to.deep.equal(['latex']);
    expect(res.body).not.to.have.any.keys('flags', 'consent', 'optOut');
  });

  it('refuses a body with a field the role may not write, naming it, and never calls the handler', async () => {
    const { app, calls, events } = await writeApp();
    const res = await request(app)
      .patch('/patients/pat-001')
      .set(as(USERS.gp))
      .send({ allergies: ['latex'], name: [{ family: 'Renamed' }] });
    expect(res.status).to.equal(403);
    expect(res.body.error.code).to.equal('write_forbidden');
    expect(res.body.error.message).to.include('"name"');
    expect(res.body.error.message).not.to.include('Renamed');
    expect(calls).to.deep.equal([]);
    const [event] = await events();
    expect(event).to.include({ action: 'update', decision: 'refused', code: 'write_forbidden', status: 403 });
    expect(event!.fieldsWithheld).to.deep.equal(['name.family']);
  });

  it("refuses a GP's update of a patient registered elsewhere: the row condition is read on the stored record", async () => {
    const { app, calls } = await writeApp();
    const res = await request(app)
      .patch('/patients/pat-003')
      .set(as(USERS.gp))
      .send({ allergies: ['latex'] });
    // The GP may not read it either: it answers exactly as a record that does not exist.
    expect(res.status).to.equal(404);
    expect(res.body).to.deep.equal({ error: { code: 'not_found', message: 'No such record' } });
    expect(calls).to.have.length(0);
  });

  it('refuses every update on a route without load (500 write_needs_load), even an unconditional grant, and still creates', async () => {
    const { app, calls, events } = await writeApp({ load: false });
    for (const [user, purpose, body] of [
      [USERS.gp, 'direct-care', { allergies: ['latex'] }],
      [USERS.receptionist, 'administration', { telecom: [] }],
    ] as const) {
      const res = await request(app).patch('/patients/pat-001').set(as(user, purpose)).send(body);
      expect(res.status).to.equal(500);
      expect(res.body.error.code).to.equal('write_needs_load');
      expect(res.body.error.message).to.include('load option');
    }
    const put = await request(app).put('/patients/pat-001').set(as(USERS.receptionist, 'administration')).send({ telecom: [] });
    expect(put.body.error.code).to.equal('write_needs_load');
    expect(calls).to.have.length(0);
    expect((await events()).map((e) => [e.action, e.decision, e.code])).to.deep.equal(
      Array(3).fill(['update', 'refused', 'write_needs_load']),
    );
    // POST needs no stored record: the same kind of route without load creates.
    const note = { subjectId: 'pat-001', kind: 'clinical', text: 'Reviewed', careTeam: 'ward-7' };
    expect((await request(app).post('/notes').set(as(USERS.nurse)).send(note)).status).to.equal(201);
  });

  it("refuses a receptionist's update of a sealed record exactly as one of a missing record, and never calls the handler", async () => {
    const { app, calls, events } = await writeApp();
    const body = { address: [{ line: ['1 Overwritten Road'], city: 'Leeds', postcode: 'LS1 1AA' }] };
    const sealed = await request(app).patch('/patients/pat-004').set(as(USERS.receptionist, 'administration')).send(body);
    const missing = await request(app).patch('/patients/pat-999').set(as(USERS.receptionist, 'administration')).send(body);
    expect(sealed.status).to.equal(404);
    expect(sealed.body).to.deep.equal({ error: { code: 'not_found', message: 'No such record' } });
    expect([sealed.status, sealed.text, telling(sealed.headers)]).to.deep.equal([missing.status, missing.text, telling(missing.headers)]);
    // PUT, and a body that would be refused anyway, answer the same for the sealed record.
    const put = await request(app).put('/patients/pat-004').set(as(USERS.receptionist, 'administration')).send({ diagnoses: [] });
    expect([put.status, put.text]).to.deep.equal([missing.status, missing.text]);
    expect(calls).to.have.length(0);
    const [hidden] = await events();
    // The trail keeps the real reason and the record's id.
    expect(hidden).to.include({ action: 'update', decision: 'refused', code: 'record_withheld', status: 404 });
    expect(hidden!.withheldRecordIds).to.deep.equal(['pat-004']);
    expect(JSON.stringify(await events())).not.to.include('Overwritten');
  });

  it('refuses a receptionist overwriting the address of a person at risk of domestic violence (403), which the receptionist may not see', async () => {
    const { app, calls } = await writeApp();
    const res = await request(app)
      .patch('/patients/pat-002')
      .set(as(USERS.receptionist, 'administration'))
      .send({ address: [{ line: ['1 New St'] }] });
    expect(res.status).to.equal(403);
    expect(res.body.error.code).to.equal('write_forbidden');
    expect(res.body.error.message).to.include('"address"');
    expect(calls).to.have.length(0);
    // The same change to a record without the flag goes through.
    const ok = await request(app)
      .patch('/patients/pat-001')
      .set(as(USERS.receptionist, 'administration'))
      .send({ address: [{ line: ['1 New St'] }] });
    expect(ok.status).to.equal(200);
    expect(calls).to.have.length(1);
  });

  it('refuses a PUT by a user who may not update every declared field, naming them, and lets a registrar replace a record', async () => {
    const { app, calls, store } = await writeApp({ mesh: await withRegistrar() });
    const partial = await request(app)
      .put('/patients/pat-005')
      .set(as(USERS.receptionist, 'administration'))
      .send({ telecom: [], address: [] });
    expect(partial.status).to.equal(403);
    expect(partial.body.error.code).to.equal('write_forbidden');
    expect(partial.body.error.message).to.include('PUT').and.include('"name"').and.include('"nhsNumber"').and.include('"diagnoses"');
    expect(calls).to.have.length(0);
    const record = { ...patient('pat-005'), ward: 'Ward 8' };
    const full = await request(app).put('/patients/pat-005').set(as(REGISTRAR)).send(record);
    expect(full.status).to.equal(200);
    expect(full.body.ward).to.equal('Ward 8');
    expect(store.get('pat-005')).to.deep.equal(record);
    // A stored record with markers (flags, consent, opt-out) cannot be replaced: the PUT would erase them.
    const marked = await request(app).put('/patients/pat-001').set(as(REGISTRAR)).send(patient('pat-005'));
    expect(marked.status).to.equal(403);
    expect(marked.body.error.message).to.include('outside the declared fields');
    expect(calls).to.have.length(1);
  });

  it('reads a loaded document that is not plain data (an ORM model) through JSON, as its answer is', async () => {
    class Model {
      constructor(data: Record<string, unknown>) {
        Object.assign(this, data);
      }
      toJSON(): Record<string, unknown> {
        return { ...(this as object) } as Record<string, unknown>;
      }
    }
    let handled = 0;
    const { app } = await setup((a, mesh) => {
      a.patch('/patients/:id', mesh.write('Patient', { load: (req) => new Model(patient(String(req.params['id']))) }), (_req, res) => {
        handled++;
        res.status(204).end();
      });
    });
    expect(
      (await request(app).patch('/patients/pat-001').set(as(USERS.receptionist, 'administration')).send({ telecom: [] })).status,
    ).to.equal(204);
    expect(
      (await request(app).patch('/patients/pat-004').set(as(USERS.receptionist, 'administration')).send({ telecom: [] })).status,
    ).to.equal(404);
    expect(handled).to.equal(1);
  });

  it('refuses a role with no update grant for the purpose', async () => {
    const { app, calls, events } = await writeApp();
    const res = await request(app).patch('/patients/pat-001').set(as(USERS.analyst, 'service-planning')).send({ gender: 'x' });
    expect(res.status).to.equal(403);
    expect(res.body.error.code).to.equal('purpose_not_granted');
    expect(calls).to.have.length(0);
    expect((await events())[0]).to.include({ action: 'update', decision: 'refused' });
  });

  it('records the write before the handler runs, then the answer, both with the request id', async () => {
    const { app, events } = await writeApp();
    const res = await request(app).patch('/patients/pat-001').set(as(USERS.nurse)).set('X-Request-Id', 'w-1').send({ ward: 'Ward 8' });
    expect(res.status).to.equal(200);
    expect(res.body).not.to.have.property('address');
    const [write, answer] = await events();
    expect(write).to.include({ requestId: 'w-1', action: 'update', decision: 'disclosed', status: 0 });
    expect(write!.fieldsDisclosed).to.deep.equal(['ward']);
    expect(write!.recordIds).to.deep.equal(['pat-001']);
    // The answer is recorded as the update it answers, not as a read.
    expect(answer).to.include({ requestId: 'w-1', action: 'update', decision: 'disclosed', status: 200 });
    expect(answer!.recordIds).to.deep.equal(['pat-001']);
  });

  it('lists the update in the subject access report of the record (the built CLI)', async () => {
    const { app, auditFile } = await writeApp();
    const res = await request(app)
      .patch('/patients/pat-001')
      .set(as(USERS.receptionist, 'administration'))
      .send({ telecom: [{ system: 'phone', value: '07700 900111' }] });
    expect(res.status).to.equal(200);
    const run = spawnSync(process.execPath, [BIN, 'audit', 'report', '--record', 'pat-001', '--audit', auditFile, '--json'], {
      encoding: 'utf8',
      env: { ...process.env, FIELDMESH_AUDIT_RECORD_KEY: '' },
    });
    expect(run.status, run.stderr).to.equal(0);
    const report = JSON.parse(run.stdout) as { events: { user: string; action: string; outcome: string; fields: string[] }[] };
    expect(report.events.map((e) => [e.user, e.action, e.outcome])).to.deep.equal([
      ['rec-1', 'update', 'written'],
      ['rec-1', 'update', 'disclosed'],
    ]);
    expect(report.events[0]!.fields).to.deep.equal(['telecom']);
    expect(run.stdout).not.to.include('07700');
  });

  it('parses the body itself when no parser ran, and uses req.body when one did', async () => {
    for (const parse of [false, true]) {
      const { app, calls } = await writeApp({ parse });
      const res = await request(app).patch('/patients/pat-001').set(as(USERS.nurse)).send({ ward: 'Ward 8' });
      expect(res.status, `parse=${parse}`).to.equal(200);
      expect(calls).to.deep.equal([{ ward: 'Ward 8' }]);
    }
  });

  const badBodies: [string, (r: request.Test) => request.Test, number, string][] = [
    ['invalid JSON', (r) => r.set('Content-Type', 'application/json').send('{"ward": '), 400, 'invalid_body'],
    ['a form instead of JSON', (r) => r.set('Content-Type', 'text/plain').send('ward=Ward 8'), 400, 'invalid_body'],
    ['no body', (r) => r, 400, 'invalid_body'],
    ['a JSON array', (r) => r.send([{ ward: 'Ward 8' }]), 400, 'invalid_body'],
    // Read as the gateway reads a caller's body (http/json-body.ts), before load() is called.
    [
      'a body nested deeper than a record may be',
      (r) => r.set('Content-Type', 'application/json').send(`{"ward":${'['.repeat(150)}${']'.repeat(150)}}`),
      400,
      'invalid_body',
    ],
  ];
  for (const [what, send, status, code] of badBodies) {
    it(`refuses ${what} (${status} ${code}) before the handler`, async () => {
      const { app, calls } = await writeApp();
      const res = await send(request(app).patch('/patients/pat-001').set(as(USERS.nurse)));
      expect(res.status).to.equal(status);
      expect(res.body.error.code).to.equal(code);
      expect(calls).to.have.length(0);
    });
  }

  it('refuses a body larger than maxBodyBytes with 413', async () => {
    const { app, calls } = await writeApp({ maxBodyBytes: 64 });
    const res = await request(app)
      .patch('/patients/pat-001')
      .set(as(USERS.nurse))
      .send({ ward: 'W'.repeat(200) });
    expect(res.status).to.equal(413);
    expect(res.body.error.code).to.equal('payload_too_large');
    // The rest of the body is left unread, as the gateway leaves it: the connection closes after the answer.
    expect(res.headers['connection']).to.equal('close');
    expect(calls).to.have.length(0);
  });

  it('checks a create against the create grant and the new record, and redacts the 201 answer', async () => {
    const { app, calls } = await writeApp();
    const note = { subjectId: 'pat-001', kind: 'clinical', text: 'Reviewed inhaler technique', careTeam: 'ward-7' };
    const res = await request(app).post('/notes').set(as(USERS.nurse)).send(note);
    expect(res.status).to.equal(201);
    expect(res.body).to.include({ id: 'cn-900', author: 'nurse-1', text: note.text });
    expect(res.body).not.to.have.property('internal');
    const otherTeam = await request(app)
      .post('/notes')
      .set(as(USERS.nurse))
      .send({ ...note, careTeam: 'ward-9' });
    expect(otherTeam.status).to.equal(403);
    const forged = await request(app)
      .post('/notes')
      .set(as(USERS.nurse))
      .send({ ...note, author: 'gp-1' });
    expect(forged.status).to.equal(403);
    expect(calls).to.have.length(1);
  });

  it('answers 204 when the written record is one the user may not read', async () => {
    const { app, events } = await writeApp({ answer: () => patient('pat-003') });
    const res = await request(app).patch('/patients/pat-001').set(as(USERS.nurse)).send({ ward: 'Ward 8' });
    expect(res.status).to.equal(204);
    expect(res.text).to.equal('');
    // Recorded as the done update whose result was withheld, not as a refused read.
    const answer = (await events())[1]!;
    expect(answer).to.include({ action: 'update', decision: 'disclosed', status: 204 });
    expect(answer.code).to.equal(undefined);
    expect(answer.withheldRecordIds).to.deep.equal(['pat-003']);
  });

  it('refuses a method that is not a write (405) before the handler', async () => {
    const { app, calls } = await writeApp();
    const res = await request(app).delete('/patients/pat-001').set(as(USERS.gp));
    expect(res.status).to.equal(405);
    expect(calls).to.have.length(0);
  });
});
