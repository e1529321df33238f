import { expect } from 'chai';
import request from 'supertest';
import { as, cleanup, patient, setup, USERS } from '../express/harness.js';

/** Tricks the middleware already withstands: kept as guards. */
describe('security › middleware tricks that are refused', () => {
  afterEach(cleanup);
  // pat-002 is flagged dv-risk: a receptionist never sees the address line.
  const secret = (patient('pat-002')['address'] as { line: string[] }[])[0]!.line[0]!;

  it('refuses query keys that only look like fields (FHIR modifiers, chains, _include, _has, brackets, encodings)', async () => {
    const h = await setup((app, mesh) => app.get('/patients', mesh.read('Patient'), (_req, res) => res.json([])));
    const keys = [
      'name:exact',
      'nhsNumber:missing',
      'subject.name',
      '_include',
      '_revinclude',
      '_elements',
      '_summary',
      '_has:Observation:patient:code',
      'nhsNumber[0]',
      'NHSNUMBER',
      'q',
      '_embed',
      'careTeam%00',
    ];
    for (const key of keys) {
      const res = await request(h.app).get(`/patients?${key}=x`).set(as(USERS.receptionist, 'administration'));
      expect(res.status, key).to.equal(403);
      expect(res.body.error.code, key).to.equal('filter_forbidden');
    }
    const encoded = await request(h.app).get('/patients?nhs%4Eumber=9990000018').set(as(USERS.receptionist, 'administration'));
    expect(encoded.status).to.equal(403);
    const sorted = await request(h.app).get('/patients?_sort=name,-nhsNumber').set(as(USERS.receptionist, 'administration'));
    expect(sorted.status).to.equal(403);
  });

  it('refuses acting in a role the token does not hold, and X-Acting-Role sent twice', async () => {
    const h = await setup((app, mesh) => app.get('/patients/:id', mesh.read('Patient'), (_req, res) => res.json(patient('pat-002'))));
    const one = await request(h.app)
      .get('/patients/pat-002')
      .set({ ...as(USERS.receptionist, 'administration'), 'X-Acting-Role': 'safeguarding-lead' });
    expect(one.status).to.equal(403);
    const two = await request(h.app)
      .get('/patients/pat-002')
      .set(as(USERS.receptionist, 'administration'))
      .set('X-Acting-Role', ['receptionist', 'safeguarding-lead'] as unknown as string);
    expect(two.status).to.equal(403);
  });

  it('never sends what a handler answers in a way that cannot be redacted', async () => {
    const answers: Record<string, (res: import('express').Response) => void> = {
      'text/plain JSON': (res) => res.type('text/plain').send(JSON.stringify(patient('pat-002'))),
      'jsonp callback': (res) => res.jsonp(patient('pat-002')),
      sendFile: (res) => res.sendFile('/work/main/fixtures/records/Patient.json'),
      'write + end, no type': (res) => {
        res.write(JSON.stringify(patient('pat-002')).slice(0, 10));
        res.end(JSON.stringify(patient('pat-002')).slice(10));
      },
      'html error page': (res) => res.status(500).send(`<pre>${secret}</pre>`),
      redirect: (res) => res.redirect(302, '/elsewhere'),
      number: (res) => res.send(42 as unknown as string),
    };
    for (const [name, answer] of Object.entries(answers)) {
      const h = await setup((app, mesh) => app.get('/patients/:id', mesh.read('Patient'), (_req, res) => answer(res)));
      const res = await request(h.app).get('/patients/pat-002?callback=cb').set(as(USERS.receptionist, 'administration'));
      expect(res.text, name).not.to.include(secret);
      expect(JSON.stringify(res.headers), name).not.to.include(secret);
    }
  });

  it('redacts Dates, class instances and toJSON bodies as the JSON the client would get', async () => {
    class Row {
      constructor(readonly p: Record<string, unknown>) {}
      toJSON() {
        return { ...this.p, extra: new Date(0) };
      }
    }
    const h = await setup((app, mesh) =>
      app.get('/patients/:id', mesh.read('Patient'), (_req, res) => res.json(new Row(patient('pat-002')))),
    );
    const res = await request(h.app).get('/patients/pat-002').set(as(USERS.receptionist, 'administration'));
    expect(res.status).to.equal(200);
    expect(res.text).not.to.include(secret);
    expect(res.body).not.to.have.property('address');
    expect(res.body).not.to.have.property('extra');
  });
});
