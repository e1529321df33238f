import { expect } from 'chai';
import express from 'express';
import request from 'supertest';
import { as as mwAs, cleanup, patient, setup as mwSetup, USERS as MW_USERS } from '../express/harness.js';
import {
  as,
  call,
  records,
  startJsonServer,
  startRawUpstream,
  startTestGateway,
  USERS,
  type TestGateway,
  type TestUpstream,
} from '../gateway/helpers.js';
import { UPSTREAM_ACCEPT } from '../../src/http/media-type.js';

/**
 * A record hidden from the caller must answer exactly as a record that does
 * not exist (docs/errors.md: 404 `not_found` for a hidden record; NO_SUCH_RECORD in
 * src/lib/errors.ts).
 * pat-003 exists on ward-9, hidden from a ward-7 nurse; pat-999 does not exist.
 */
describe('security › hidden and missing records look the same', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const c of open.splice(0).reverse()) await c.close();
  });
  async function setup(): Promise<{ upstream: TestUpstream; gw: TestGateway }> {
    const upstream = await startJsonServer();
    open.push(upstream);
    const gw = await startTestGateway(upstream.url);
    open.push(gw);
    return { upstream, gw };
  }
  const nurse = () => as(USERS.nurse, 'direct-care');

  it('holds for a plain read: both answer 404 not_found with the same message', async () => {
    const { gw } = await setup();
    const hidden = await call(`${gw.url}/patients/pat-003`, { headers: nurse() });
    const missing = await call(`${gw.url}/patients/pat-999`, { headers: nurse() });
    expect([hidden.status, hidden.json]).to.deep.equal([missing.status, missing.json]);
  });

  it('holds for a PATCH: a hidden record must not answer 403 where a missing one answers 404', async () => {
    // The nurse's update grant has a row condition, so the gateway reads the
    // record first: a hidden record then fails the condition (403
    // write_forbidden) while a missing one is the upstream's 404. The status
    // tells the nurse that pat-003 exists.
    const { gw } = await setup();
    const body = { ward: 'Ward 7 (Respiratory)' };
    const hidden = await call(`${gw.url}/patients/pat-003`, { method: 'PATCH', headers: nurse(), body });
    const missing = await call(`${gw.url}/patients/pat-999`, { method: 'PATCH', headers: nurse(), body });
    expect(missing.status).to.equal(404);
    expect({ status: hidden.status, code: hidden.json?.error?.code }).to.deep.equal({
      status: missing.status,
      code: missing.json?.error?.code,
    });
  });

  it('holds for a paged list: a page limit must not reveal that a hidden row matched the filter', async () => {
    // id is readable by the nurse, so `id_like`, `_sort=id` and `_limit` all pass
    // the query check. The upstream applies them to every row, hidden ones
    // included, and the page is cut before fieldmesh drops the hidden row: the
    // first row in descending order is pat-003 when it exists, so the page
    // comes back empty; with pat-999 (missing) the visible pat-001 comes back.
    const { gw } = await setup();
    const page = (other: string) =>
      call(`${gw.url}/patients?id_like=${encodeURIComponent(`^pat-(001|${other})$`)}&_sort=id&_order=desc&_limit=1`, { headers: nurse() });
    const hidden = await page('003');
    const missing = await page('999');
    // Answered the same whether or not the hidden row exists (today: paging with a filter is refused for such a request).
    expect(hidden.status, 'the status for a hidden id differs from the status for a missing id').to.equal(missing.status);
    expect(hidden.json, 'the answer for a hidden id differs from the answer for a missing id').to.deep.equal(missing.json);
  });

  it('holds for a paged list filtered by name: "is someone called Doubleflag a patient on another ward?"', async () => {
    // `name` is readable by the nurse, so a filter on it passes; the upstream
    // applies it to the rows of every ward. pat-016 (ward-9, flagged dv-risk
    // and hate-crime) sorts before pat-001, so its mere existence empties the page.
    const { gw } = await setup();
    const page = (family: string) =>
      call(
        `${gw.url}/patients?${new URLSearchParams({ 'name.0.family_like': `^(Testwood|${family})$`, _sort: 'id', _order: 'desc', _limit: '1' })}`,
        { headers: nurse() },
      );
    const hidden = await page('Doubleflag');
    const missing = await page('Nosuchname');
    expect(hidden.status, 'whether a hidden patient has this name shows in the status').to.equal(missing.status);
    expect(hidden.json, 'whether a hidden patient has this name shows in the answer').to.deep.equal(missing.json);
  });

  it('holds for a middleware write whose update grant reads the stored record (load)', async () => {
    // load() answers undefined for a record that does not exist, as a lookup does.
    const h = await mwSetup((app, mesh) => {
      app.patch(
        '/patients/:id',
        express.json(),
        mesh.write('Patient', { load: (req) => (req.params['id'] === 'pat-003' ? patient('pat-003') : undefined) }),
        (_req, res) => res.status(404).end(),
      );
    });
    const send = (id: string) => request(h.app).patch(`/patients/${id}`).set(mwAs(MW_USERS.nurse)).send({ ward: 'Ward 7 (Respiratory)' });
    const hidden = await send('pat-003');
    const missing = await send('pat-999');
    await cleanup();
    expect({ status: hidden.status, body: hidden.body }).to.deep.equal({ status: missing.status, body: missing.body });
  });

  it('holds for a write under an unconditional update grant: a receptionist and a sealed record, in both shells, nothing written', async () => {
    // The receptionist's update grant has no row condition: the record must be read all the same.
    const body = { address: [{ line: ['1 Overwritten Road'] }] };
    const { upstream, gw } = await setup();
    const gwSend = (id: string) =>
      call(`${gw.url}/patients/${id}`, { method: 'PATCH', headers: as(USERS.receptionist, 'administration'), body });
    const [gwHidden, gwMissing] = [await gwSend('pat-004'), await gwSend('pat-999')];
    expect(gwMissing.status).to.equal(404);
    expect([gwHidden.status, gwHidden.text]).to.deep.equal([gwMissing.status, gwMissing.text]);
    expect(upstream.seen.filter((s) => s.method !== 'GET')).to.have.length(0);
    let handled = 0;
    const h = await mwSetup((app, mesh) => {
      app.patch(
        '/patients/:id',
        mesh.write('Patient', { load: (req) => (req.params['id'] === 'pat-004' ? patient('pat-004') : undefined) }),
        (_req, res) => {
          handled++;
          res.status(204).end();
        },
      );
    });
    const mwSend = (id: string) => request(h.app).patch(`/patients/${id}`).set(mwAs(MW_USERS.receptionist, 'administration')).send(body);
    const [mwHidden, mwMissing] = [await mwSend('pat-004'), await mwSend('pat-999')];
    await cleanup();
    expect(mwMissing.status).to.equal(404);
    expect([mwHidden.status, mwHidden.text]).to.deep.equal([mwMissing.status, mwMissing.text]);
    expect(handled).to.equal(0);
  });

  it('holds whatever Accept the caller sends, for an upstream that negotiates content (a FHIR server answering XML)', async () => {
    // Forwarding the caller's Accept: application/fhir+xml got an existing record in XML (502,
    // cannot be redacted) and a missing one 404: "this id exists" for anyone who asks in XML.
    const patients = records('Patient').map((p): Record<string, unknown> => ({ resourceType: 'Patient', ...p }));
    const upstream = await startRawUpstream((req, res) => {
      const xml = /xml|html/.test(req.headers.accept ?? '');
      const type = xml ? 'application/fhir+xml' : 'application/fhir+json';
      const found = req.method === 'GET' ? patients.find((p) => p['id'] === req.url?.split('/')[2]) : undefined;
      res.writeHead(found === undefined ? 404 : 200, { 'content-type': type });
      if (found === undefined) res.end(xml ? '<OperationOutcome/>' : '{"resourceType":"OperationOutcome"}');
      else res.end(xml ? `<Patient><id value="${String(found['id'])}"/></Patient>` : JSON.stringify(found));
    });
    open.push(upstream);
    const gw = await startTestGateway(upstream.url);
    open.push(gw);
    for (const accept of ['application/fhir+xml', 'application/xml', 'text/html', '*/*', 'application/json']) {
      const headers = { ...nurse(), accept };
      const visible = await call(`${gw.url}/patients/pat-001`, { headers });
      expect(visible.status, accept).to.equal(200);
      expect(visible.json.id).to.equal('pat-001');
      for (const method of ['GET', 'PATCH'] as const) {
        const send = (id: string) =>
          call(`${gw.url}/patients/${id}`, { method, headers, ...(method === 'PATCH' ? { body: { ward: 'Ward 7 (Respiratory)' } } : {}) });
        const [hidden, missing] = [await send('pat-003'), await send('pat-999')];
        expect(missing.status, `${method} ${accept}`).to.equal(404);
        expect([hidden.status, hidden.text], `${method} ${accept}`).to.deep.equal([missing.status, missing.text]);
      }
    }
    expect(upstream.seen.filter((s) => s.method !== 'GET')).to.have.length(0);
    expect([...new Set(upstream.seen.map((s) => s.headers.accept))]).to.deep.equal([UPSTREAM_ACCEPT]);
  });

  describe('for a middleware write whose load throws on a missing record (Prisma findUniqueOrThrow, Mongoose orFail)', () => {
    const notFound: [string, () => Error][] = [
      [
        'Prisma P2025',
        () => Object.assign(new Error('No record was found for a query.'), { name: 'PrismaClientKnownRequestError', code: 'P2025' }),
      ],
      ['Prisma NotFoundError', () => Object.assign(new Error('No Patient found'), { name: 'NotFoundError' })],
      [
        'Mongoose DocumentNotFoundError',
        () => Object.assign(new Error('No document found for query "{ _id: \'pat-999\' }"'), { name: 'DocumentNotFoundError' }),
      ],
      ['status 404', () => Object.assign(new Error('Not Found'), { status: 404 })],
      ['statusCode 404', () => Object.assign(new Error('Not Found'), { statusCode: 404 })],
    ];
    for (const [name, error] of notFound) {
      it(`answers the 404 of a hidden record when load throws ${name}`, async () => {
        let handled = 0;
        const h = await mwSetup((app, mesh) => {
          const load = (req: express.Request) => {
            if (req.params['id'] === 'pat-003') return patient('pat-003');
            throw error();
          };
          app.patch('/patients/:id', express.json(), mesh.write('Patient', { load }), (_req, res) => {
            handled++;
            res.status(204).end();
          });
        });
        const send = (id: string) =>
          request(h.app).patch(`/patients/${id}`).set(mwAs(MW_USERS.nurse)).send({ ward: 'Ward 7 (Respiratory)' });
        const [hidden, missing] = [await send('pat-003'), await send('pat-999')];
        const events = await h.events();
        await cleanup();
        expect(missing.status).to.equal(404);
        expect([hidden.status, hidden.text]).to.deep.equal([missing.status, missing.text]);
        expect(handled).to.equal(0);
        expect(events.map((e) => [e.decision, e.code])).to.deep.equal([
          ['refused', 'record_withheld'],
          ['refused', 'not_found'],
        ]);
      });
    }

    it('answers any other error thrown by load with a 500 that says nothing of it', async () => {
      const h = await mwSetup((app, mesh) => {
        app.patch(
          '/patients/:id',
          express.json(),
          mesh.write('Patient', {
            load: () => {
              throw Object.assign(new Error('connect ECONNREFUSED db-secret-host:5432'), { status: 503 });
            },
          }),
          (_req, res) => res.status(204).end(),
        );
      });
      const res = await request(h.app).patch('/patients/pat-001').set(mwAs(MW_USERS.nurse)).send({ ward: 'Ward 7 (Respiratory)' });
      await cleanup();
      expect(res.status).to.equal(500);
      expect(res.body.error.code).to.equal('internal');
      expect(res.text).not.to.include('db-secret-host');
    });
  });
});
