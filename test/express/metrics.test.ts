import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type express from 'express';
import { Registry } from 'prom-client';
import request from 'supertest';
import { parseProm } from '../http/prom-text.js';
import { as, cleanup, onCleanup, patient, patientsHandler, setup, USERS } from './harness.js';

const REASON = 'Patient collapsed in clinic, care team unreachable';

/** Listen on 127.0.0.1, port 0, closed after the test. */
async function listen(app: express.Express): Promise<string> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  onCleanup(
    () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('express › metrics', () => {
  afterEach(cleanup);

  /** An app with a read route, a write route, an app.use mount, and the mesh's registry mounted at /metrics as documented. */
  async function app(options: Parameters<typeof setup>[1] = {}) {
    const h = await setup((a, mesh) => {
      a.get('/metrics', async (_req, res) => void res.type(mesh.metrics.contentType).send(await mesh.metrics.metrics()));
      a.get('/patients', mesh.read('Patient'), patientsHandler);
      a.get('/patients/:id', mesh.read('Patient'), patientsHandler);
      a.patch('/patients/:id', mesh.write('Patient', { load: (req) => patient(String(req.params['id'])) }), (req, res) => {
        res.json({ ...patient(String(req.params['id'])), ...(req.body as object) });
      });
      a.use('/mounted', mesh.read('Patient'), patientsHandler);
    }, options);
    return { ...h, url: await listen(h.app) };
  }

  it('labels a refusal with the declared purpose the request named, whenever it was refused, as the gateway does', async () => {
    const { url } = await app();
    await request(url).get('/patients/pat-001').set({ 'X-Purpose': 'direct-care' }).expect(401);
    await request(url)
      .get('/patients/pat-001')
      .set({ ...as(USERS.nurse, 'direct-care'), 'X-Acting-Role': 'gp' })
      .expect(403);
    await request(url)
      .get('/patients/pat-001')
      .set({ ...as(USERS.nurse, 'emergency'), 'X-Break-Glass': 'urgent' })
      .expect(403);
    const s = parseProm((await request(url).get('/metrics').expect(200)).text);
    const count = (purpose: string, code: string) => s.value('fieldmesh_requests_total', { route: '/patients/:id', purpose, code });
    expect(count('direct-care', 'unauthenticated')).to.equal(1);
    expect(count('direct-care', 'role_not_held')).to.equal(1);
    expect(count('emergency', 'break_glass_refused')).to.equal(1);
  });

  it('counts each request by route pattern, purpose, outcome and code, with no user id, path or value in a label', async () => {
    const { url, mesh } = await app();
    await request(url).get('/patients').set(as(USERS.nurse, 'direct-care')).expect(200);
    await request(url).get('/patients/pat-001').set(as(USERS.receptionist, 'administration')).expect(200);
    await request(url).get('/patients/pat-001').set(as(USERS.receptionist, 'zzjunk-purpose-4711')).expect(403);
    await request(url)
      .get('/patients/pat-003')
      .set({ ...as(USERS.nurse, 'emergency'), 'X-Break-Glass': REASON })
      .expect(200);
    await request(url).get('/patients/pat-003').set({ 'X-Purpose': 'emergency', 'X-Break-Glass': 'stranger-text-abc123' }).expect(401);
    await request(url)
      .patch('/patients/pat-001')
      .set(as(USERS.receptionist, 'administration'))
      .send({ diagnoses: ['x'] })
      .expect(403);
    await request(url).get('/mounted/pat-002').set(as(USERS.nurse, 'direct-care')).expect(500);

    const res = await request(url).get('/metrics').expect(200);
    expect(res.headers['content-type']).to.match(/^text\/plain; version=0\.0\.4/);
    const s = parseProm(res.text);
    const req = (labels: Record<string, string>) => s.value('fieldmesh_requests_total', labels);
    expect(
      req({ route: '/patients', method: 'GET', resource: 'Patient', purpose: 'direct-care', outcome: 'disclosed', code: 'none' }),
    ).to.equal(1);
    expect(req({ route: '/patients/:id', purpose: 'administration', outcome: 'disclosed', code: 'none' })).to.equal(1);
    expect(req({ route: '/patients/:id', purpose: '(unknown)', outcome: 'refused', code: 'purpose_unknown' })).to.equal(1);
    expect(req({ route: '/patients/:id', method: 'PATCH', outcome: 'refused', code: 'write_forbidden' })).to.equal(1);
    // Mounted with app.use the middleware runs before any route matched: refused, and labelled as such.
    expect(req({ route: '(no route)', outcome: 'refused', code: 'mesh_unrouted' })).to.equal(1);
    expect(s.value('fieldmesh_refusals_total', { code: 'unauthenticated' })).to.equal(1);
    expect(s.value('fieldmesh_break_glass_total', { purpose: 'emergency', outcome: 'disclosed' })).to.equal(1);
    expect(s.value('fieldmesh_break_glass_unverified_total')).to.equal(mesh.counters.unverifiedBreakGlass).and.to.equal(1);
    expect(s.value('fieldmesh_rows_withheld_total', { resource: 'Patient' })).to.be.greaterThan(0);
    expect(s.value('fieldmesh_fields_withheld_total', { resource: 'Patient' })).to.be.greaterThan(0);
    expect(s.value('fieldmesh_audit_append_seconds_count', { result: 'ok' })).to.equal(7);
    expect(s.value('fieldmesh_audit_batch_size_sum')).to.equal(7);
    expect(s.value('fieldmesh_policy_info', { version: mesh.policies.version })).to.equal(1);
    expect(s.all('fieldmesh_upstream_seconds_count'), 'the middleware has no upstream').to.deep.equal([]);
    for (const leak of ['nurse-1', 'rec-1', 'zzjunk', 'stranger-text', 'pat-00', REASON, 'ward-7'])
      expect(res.text, leak).to.not.include(leak);
  });

  it("fills the app's own registry when given one, and refuses a second mesh on the same registry", async () => {
    const registry = new Registry();
    const { url } = await app({ metrics: registry });
    await request(url).get('/patients').set(as(USERS.nurse, 'direct-care')).expect(200);
    const s = parseProm(await registry.metrics());
    expect(s.value('fieldmesh_requests_total', { route: '/patients' })).to.equal(1);
    let thrown: unknown;
    try {
      await setup(() => undefined, { metrics: registry });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).to.be.instanceOf(TypeError);
    expect((thrown as Error).message).to.match(/already holds fieldmesh metrics/);
  });

  it('refuses a metrics option that is not a registry, at creation', async () => {
    let thrown: unknown;
    try {
      await setup(() => undefined, { metrics: {} as Registry });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).to.be.instanceOf(TypeError);
    expect((thrown as Error).message).to.include('metrics must be a prom-client Registry');
  });

  it('gives each mesh its own registry by default', async () => {
    const a = await app();
    const b = await app();
    await request(a.url).get('/patients').set(as(USERS.nurse, 'direct-care')).expect(200);
    expect(parseProm(await b.mesh.metrics.metrics()).all('fieldmesh_requests_total')).to.deep.equal([]);
    expect(parseProm(await a.mesh.metrics.metrics()).value('fieldmesh_requests_total')).to.equal(1);
  });
});
