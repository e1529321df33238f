import { once } from 'node:events';
import { connect, type AddressInfo } from 'node:net';
import { expect } from 'chai';
import type express from 'express';
import request from 'supertest';
import { as, cleanup, onCleanup, patient, PATIENTS, setup, USERS } from '../express/harness.js';

/**
 * The middleware redacts the body a handler answers and drops headers computed
 * from it (length, ETag, X-Total-Count). Other headers the handler set travel
 * unchanged, and some of them carry the same facts as the body.
 */
describe('security › headers a handler sets', () => {
  afterEach(cleanup);

  it('does not count hidden rows through a pagination Link header (as X-Total-Count would)', async () => {
    // json-server style paging: `last` names the page count of all rows, hidden ones included.
    let reached = 0;
    const h = await setup((app, mesh) => {
      app.get('/patients', mesh.read('Patient'), (_req, res) => {
        reached += 1;
        res.set('X-Total-Count', String(PATIENTS.length));
        res.set('Link', `</patients?_page=1&_limit=1>; rel="first", </patients?_page=${PATIENTS.length}&_limit=1>; rel="last"`);
        res.json(PATIENTS.slice(0, 1));
      });
    });
    // Rows may be hidden from a nurse, so a page is refused before the handler is asked.
    const paged = await request(h.app).get('/patients?_page=1&_limit=1').set(as(USERS.nurse));
    expect(paged.status).to.equal(403);
    expect(paged.body.error.code).to.equal('filter_forbidden');
    expect(reached).to.equal(0);
    // A handler that sets the headers on a request that did not ask for a page: they do not travel.
    const res = await request(h.app).get('/patients').set(as(USERS.nurse));
    expect(res.status).to.equal(200);
    expect(reached).to.equal(1);
    expect(res.headers).not.to.have.property('x-total-count');
    expect(res.headers['link'] ?? '', 'the last page number counts every patient').not.to.include(`_page=${PATIENTS.length}&`);
  });

  it('does not pass a record value a handler put in a header (Content-Disposition file name)', async () => {
    const h = await setup((app, mesh) => {
      app.get('/patients/:id', mesh.read('Patient'), (req, res) => {
        const p = patient(String(req.params['id']));
        const family = (p['name'] as { family: string }[])[0]!.family;
        res.attachment(`${family}-${String(p['nhsNumber'])}.json`);
        res.json(p);
      });
    });
    // A receptionist sees the NHS number masked; the file name must not give it whole.
    const res = await request(h.app).get('/patients/pat-001').set(as(USERS.receptionist, 'administration'));
    expect(res.status).to.equal(200);
    expect(res.body.nhsNumber).to.equal('******0018');
    expect(JSON.stringify(res.headers)).not.to.include('9990000018');
  });
});

/**
 * What fieldmesh sends in place of a handler's answer (a 404 for a hidden
 * record, a 500 for an answer it cannot redact) carries none of the headers
 * the handler set: a hidden record answers exactly as a missing one.
 */
describe("security › headers a handler sets never travel on fieldmesh's own answers", () => {
  afterEach(cleanup);

  const family = (p: Record<string, unknown>) => (p['name'] as { family: string }[])[0]!.family;
  /** The reason phrase of the status line, as node's client read it. */
  const reasonOf = (r: request.Response) => (r as unknown as { res: { statusMessage: string } }).res.statusMessage;
  /** Headers that differ per response whatever the record: the date, the request id. */
  const comparable = (headers: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(headers).filter(([k]) => k !== 'date' && k !== 'x-request-id'));

  /** A handler that puts record values in headers (and the status line) before it answers the record. */
  function decorate(res: express.Response, p: Record<string, unknown>): void {
    res.location(`/patients/by-nhs/${String(p['nhsNumber'])}`);
    res.set('X-Patient-Name', family(p));
    res.set('Link', `</practices/${String(p['gp'])}>; rel="related"`);
    res.cookie('last_viewed', String(p['nhsNumber']));
    res.statusMessage = family(p);
  }

  async function app() {
    return setup((a, mesh) => {
      // An earlier middleware's header (CORS) is the same for every record: it stays.
      a.use((_req, res, next) => {
        res.set('Access-Control-Allow-Origin', 'https://ward.example');
        next();
      });
      a.get('/patients/:id', mesh.read('Patient'), (req, res) => {
        const p = PATIENTS.find((x) => x['id'] === req.params['id']);
        if (p === undefined) return void res.status(404).json({ error: 'no such patient' });
        decorate(res, p);
        res.json(p);
      });
      a.get('/html/:id', mesh.read('Patient'), (req, res) => {
        const p = patient(String(req.params['id']));
        decorate(res, p);
        res.send(`<h1>${family(p)}</h1>`);
      });
      a.get('/plain-html/:id', mesh.read('Patient'), (_req, res) => void res.send('<h1>a page</h1>'));
    });
  }

  it('answers a hidden record (other ward, sealed) exactly as a missing one: status, status line, body and every header', async () => {
    const h = await app();
    const get = (id: string) => request(h.app).get(`/patients/${id}`).set(as(USERS.nurse));
    const missing = await get('pat-999');
    expect(missing.status).to.equal(404);
    for (const id of ['pat-003', 'pat-004']) {
      const hidden = await get(id);
      expect(hidden.text).to.equal(missing.text);
      expect({ status: hidden.status, reason: reasonOf(hidden), headers: comparable(hidden.headers) }, id).to.deep.equal({
        status: missing.status,
        reason: reasonOf(missing),
        headers: comparable(missing.headers),
      });
      const p = patient(id);
      for (const value of [String(p['nhsNumber']), family(p), String(p['gp'])])
        expect(JSON.stringify(hidden.headers), id).not.to.include(value);
    }
    expect(missing.headers).to.include({ 'access-control-allow-origin': 'https://ward.example', 'cache-control': 'no-store' });
    expect(missing.headers).not.to.have.any.keys('location', 'set-cookie', 'link', 'x-patient-name');
  });

  it("answers an unredactable answer (500) with none of the handler's headers, as for a handler that set none", async () => {
    const h = await app();
    const decorated = await request(h.app).get('/html/pat-003').set(as(USERS.nurse));
    const plain = await request(h.app).get('/plain-html/pat-003').set(as(USERS.nurse));
    expect(decorated.status).to.equal(500);
    expect(decorated.body.error.code).to.equal('unredactable_body');
    expect([decorated.text, reasonOf(decorated), comparable(decorated.headers)]).to.deep.equal([
      plain.text,
      reasonOf(plain),
      comparable(plain.headers),
    ]);
    expect(JSON.stringify(decorated.headers)).not.to.include('9990000034');
  });

  it("sends only the media type of a handler's Content-Type, never its parameters", async () => {
    const h = await setup((a, mesh) => {
      a.get('/json/:id', mesh.read('Patient'), (req, res) => {
        const p = patient(String(req.params['id']));
        res.type(`application/json; patient="${family(p)}"`);
        res.send(JSON.stringify(p));
      });
      a.get('/fhir/:id', mesh.read('Patient'), (req, res) => {
        const p = patient(String(req.params['id']));
        res.type(`application/fhir+json; profile="${String(p['nhsNumber'])}"`);
        res.json(p);
      });
    });
    const json = await request(h.app).get('/json/pat-001').set(as(USERS.nurse));
    expect(json.status).to.equal(200);
    expect(json.headers['content-type']).to.equal('application/json; charset=utf-8');
    const fhir = await request(h.app).get('/fhir/pat-001').set(as(USERS.nurse));
    expect(fhir.status).to.equal(200);
    expect(fhir.headers['content-type']).to.equal('application/fhir+json; charset=utf-8');
  });

  it("sends no 103 Early Hints: the handler's hints are headers before any decision (raw socket)", async () => {
    const h = await setup((a, mesh) => {
      a.get('/hints/:id', mesh.read('Patient'), (req, res) => {
        const p = patient(String(req.params['id']));
        res.writeEarlyHints({ link: `</patients/by-nhs/${String(p['nhsNumber'])}>; rel=preload` });
        res.json(p);
      });
    });
    const server = h.app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    onCleanup(
      () =>
        new Promise((r) => {
          server.close(() => r());
          server.closeAllConnections();
        }),
    );
    const { port } = server.address() as AddressInfo;
    const headers = Object.entries(as(USERS.nurse))
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    const raw = (path: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () =>
          socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n${headers}Connection: close\r\n\r\n`),
        );
        let out = '';
        socket.on('data', (d: Buffer) => {
          out += d.toString('latin1');
        });
        socket.on('end', () => resolve(out));
        socket.on('error', reject);
      });
    const hidden = await raw('/hints/pat-003');
    expect(hidden.split('\r\n')[0]).to.equal('HTTP/1.1 404 Not Found');
    expect(hidden).not.to.include('103');
    expect(hidden).not.to.include('9990000034');
    const visible = await raw('/hints/pat-001');
    expect(visible.split('\r\n')[0]).to.equal('HTTP/1.1 200 OK');
    expect(visible).not.to.match(/^HTTP\/1\.1 103/m);
    expect(visible.toLowerCase()).not.to.include('rel=preload');
  });
});
