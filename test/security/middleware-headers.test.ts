import { expect } from 'chai';
import request from 'supertest';
import { as, cleanup, patient, PATIENTS, setup, USERS } from '../middleware/harness.js';

/**
 * The middleware redacts the body a handler answers and drops headers computed
 * from it (length, ETag, X-Total-Count). Other headers the handler set travel
 * unchanged, and some of them carry the same facts as the body.
 */
describe('security › headers a handler sets', () => {
  afterEach(cleanup);

  it('does not count hidden rows through a pagination Link header (as X-Total-Count would)', async () => {
    // json-server style paging: `last` names the page count of all rows, hidden ones included.
    const h = await setup((app, mesh) => {
      app.get('/patients', mesh.read('Patient'), (_req, res) => {
        res.set('X-Total-Count', String(PATIENTS.length));
        res.set('Link', `</patients?_page=1&_limit=1>; rel="first", </patients?_page=${PATIENTS.length}&_limit=1>; rel="last"`);
        res.json(PATIENTS.slice(0, 1));
      });
    });
    const res = await request(h.app).get('/patients?_page=1&_limit=1').set(as(USERS.nurse));
    expect(res.status).to.equal(200);
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
