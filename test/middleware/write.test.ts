import { expect } from 'chai';
import express from 'express';
import request from 'supertest';
import type { Mesh } from '../../src/middleware/mesh.js';
import { as, cleanup, patient, setup, USERS } from './harness.js';

/**
 * PATCH /patients/:id and POST /notes over copies of the fixtures, with a
 * spy counting the handler calls: a refused write must never reach it.
 */
async function writeApp(opts: { load?: boolean; parse?: boolean; maxBodyBytes?: number; answer?: (req: express.Request) => unknown } = {}) {
  const calls: unknown[] = [];
  const store = new Map(['pat-001', 'pat-003'].map((id) => [id, patient(id)]));
  const h = await setup((app, mesh: Mesh) => {
    if (opts.parse) app.use(express.json());
    const load = opts.load === false ? {} : { load: (req: express.Request) => store.get(String(req.params['id'])) };
    app.patch('/patients/:id', mesh.write('Patient', load), (req, res) => {
      calls.push(req.body);
      const record = { ...store.get(String(req.params['id'])), ...(req.body as object) };
      res.json(opts.answer ? opts.answer(req) : record);
    });
    app.post('/notes', mesh.write('CaseNote'), (req, res) => {
      calls.push(req.body);
      res.status(201).json({ id: 'cn-900', author: 'nurse-1', authoredAt: '2026-11-24T12:00:00Z', internal: 'x', ...(req.body as object) });
    });
    app.delete('/patients/:id', mesh.write('Patient'), () => calls.push('delete'));
  }, opts.maxBodyBytes === undefined ? {} : { maxBodyBytes: opts.maxBodyBytes });
  return { ...h, calls };
}

describe('mesh.write', () => {
  afterEach(cleanup);

  it("lets a GP update the clinical record of the practice's patient, and answers with the GP's view", async () => {
    const { app, calls } = await writeApp();
    const res = await request(app).patch('/patients/pat-001').set(as(USERS.gp)).send({ allergies: ['latex'] });
    expect(res.status).to.equal(200);
    expect(calls).to.deep.equal([{ allergies: ['latex'] }]);
    expect(res.body.allergies).to.deep.equal(['latex']);
    expect(res.body).not.to.have.any.keys('flags', 'consent', 'optOut');
  });

  it('refuses a body with a field the role may not write, naming it, and never calls the handler', async () => {
    const { app, calls, events } = await writeApp();
    const res = await request(app).patch('/patients/pat-001').set(as(USERS.gp)).send({ allergies: ['latex'], name: [{ family: 'Renamed' }] });
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
    const res = await request(app).patch('/patients/pat-003').set(as(USERS.gp)).send({ allergies: ['latex'] });
    // The GP may not read it either: it answers exactly as a record that does not exist.
    expect(res.status).to.equal(404);
    expect(res.body).to.deep.equal({ error: { code: 'not_found', message: 'No such record' } });
    expect(calls).to.have.length(0);
  });

  it('refuses a conditional update when the route gives no way to load the record (fail closed)', async () => {
    const { app, calls } = await writeApp({ load: false });
    const res = await request(app).patch('/patients/pat-001').set(as(USERS.gp)).send({ allergies: ['latex'] });
    expect(res.status).to.equal(403);
    expect(res.body.error.code).to.equal('write_forbidden');
    expect(calls).to.have.length(0);
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
    expect(answer).to.include({ requestId: 'w-1', action: 'read', status: 200 });
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
    const res = await request(app).patch('/patients/pat-001').set(as(USERS.nurse)).send({ ward: 'W'.repeat(200) });
    expect(res.status).to.equal(413);
    expect(res.body.error.code).to.equal('payload_too_large');
    expect(calls).to.have.length(0);
  });

  it('checks a create against the create grant and the new record, and redacts the 201 answer', async () => {
    const { app, calls } = await writeApp();
    const note = { subjectId: 'pat-001', kind: 'clinical', text: 'Reviewed inhaler technique', careTeam: 'ward-7' };
    const res = await request(app).post('/notes').set(as(USERS.nurse)).send(note);
    expect(res.status).to.equal(201);
    expect(res.body).to.include({ id: 'cn-900', author: 'nurse-1', text: note.text });
    expect(res.body).not.to.have.property('internal');
    const otherTeam = await request(app).post('/notes').set(as(USERS.nurse)).send({ ...note, careTeam: 'ward-9' });
    expect(otherTeam.status).to.equal(403);
    const forged = await request(app).post('/notes').set(as(USERS.nurse)).send({ ...note, author: 'gp-1' });
    expect(forged.status).to.equal(403);
    expect(calls).to.have.length(1);
  });

  it('answers 204 when the written record is one the user may not read', async () => {
    const { app } = await writeApp({ answer: () => patient('pat-003') });
    const res = await request(app).patch('/patients/pat-001').set(as(USERS.nurse)).send({ ward: 'Ward 8' });
    expect(res.status).to.equal(204);
    expect(res.text).to.equal('');
  });

  it('refuses a method that is not a write (405) before the handler', async () => {
    const { app, calls } = await writeApp();
    const res = await request(app).delete('/patients/pat-001').set(as(USERS.gp));
    expect(res.status).to.equal(405);
    expect(calls).to.have.length(0);
  });
});
