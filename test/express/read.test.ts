import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type express from 'express';
import request from 'supertest';
import { as, cleanup, patient, PATIENTS, patientsHandler, setup, USERS } from './harness.js';
import { NURSE_ROWS } from '../helpers.js';

/** What a ward-7 nurse sees of pat-001 for direct care (fixtures/cases/direct-care.yaml). */
const NURSE_VIEW_OF_PAT_001 = {
  id: 'pat-001',
  nhsNumber: '9990000018',
  name: [{ use: 'official', family: 'Testwood', given: ['Amelia', 'Rose'] }],
  gender: 'female',
  dateOfBirth: '1987-05-12',
  careTeam: 'ward-7',
  ward: 'Ward 7 (Respiratory)',
  diagnoses: [{ code: 'J45', display: 'Asthma' }],
  medications: [{ code: '320151001', name: 'Salbutamol 100micrograms/dose inhaler', dose: '2 puffs when required' }],
  allergies: ['penicillin'],
};
/** Values of pat-001 that a nurse must never receive: address, phone, practice, markers. */
const HIDDEN_FROM_NURSE = ['1 Example Street', '07700 900001', 'B86001', 'research'];

function expectNothingOf(text: string, values: string[]): void {
  for (const value of values) expect(text, `leaked ${value}`).not.to.include(value);
}

/** An app whose one route answers pat-001 the way `answer` does. */
async function answering(answer: (res: express.Response) => void, list?: string) {
  return setup((app, mesh) => {
    app.get('/patients/pat-001', mesh.read('Patient', list === undefined ? {} : { list }), (_req, res) => answer(res));
  });
}

describe('mesh.read', () => {
  afterEach(cleanup);

  describe('redacts the body however the handler sends it', () => {
    const record = () => patient('pat-001');
    const text = () => JSON.stringify(record());
    const ways: [string, (res: express.Response) => void][] = [
      ['res.json', (res) => res.json(record())],
      ['res.send with an object', (res) => res.send(record())],
      ['res.send with a JSON string', (res) => res.send(text())],
      ['res.send with a Buffer', (res) => res.send(Buffer.from(text()))],
      [
        'res.write and res.end with a JSON content type, split mid-token',
        (res) => {
          const t = text();
          res.setHeader('Content-Type', 'application/json');
          res.write(t.slice(0, 17));
          res.write(Buffer.from(t.slice(17, 90)));
          res.end(t.slice(90));
        },
      ],
      [
        'res.writeHead then res.end',
        (res) => {
          res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text()) });
          res.end(text());
        },
      ],
      [
        'a JSON stream piped into the response',
        (res) => {
          res.type('application/json');
          Readable.from([text().slice(0, 40), text().slice(40)]).pipe(res);
        },
      ],
    ];
    for (const [how, answer] of ways) {
      it(`via ${how}`, async () => {
        const { app } = await answering(answer);
        const res = await request(app).get('/patients/pat-001').set(as(USERS.nurse));
        expect(res.status).to.equal(200);
        expect(res.headers['content-type']).to.match(/^application\/json/);
        expect(res.body).to.deep.equal(NURSE_VIEW_OF_PAT_001);
        expectNothingOf(res.text, HIDDEN_FROM_NURSE);
      });
    }

    it('redacts what JSON would send for class instances (a Date field is kept as its string)', async () => {
      const { app } = await answering((res) => res.json({ ...patient('pat-001'), dateOfBirth: new Date('1987-05-12T00:00:00Z') }));
      const res = await request(app).get('/patients/pat-001').set(as(USERS.nurse));
      expect(res.body.dateOfBirth).to.equal('1987-05-12T00:00:00.000Z');
      expect(res.body).not.to.have.property('address');
    });

    it('keeps a JSON media type the handler chose (application/fhir+json)', async () => {
      const { app } = await answering((res) => res.type('application/fhir+json').send(text()));
      const res = await request(app).get('/patients/pat-001').set(as(USERS.nurse));
      expect(res.headers['content-type']).to.match(/^application\/fhir\+json/);
      expect(res.body.id).to.equal('pat-001');
    });
  });

  describe('fails closed when the body cannot be redacted', () => {
    const everything = Object.values(patient('pat-001')).map((v) => JSON.stringify(v).replace(/^"|"$/g, ''));
    const cases: [string, (res: express.Response) => void][] = [
      ['an HTML page', (res) => res.send(`<html><body>${JSON.stringify(patient('pat-001'))} Testwood 1 Example Street</body></html>`)],
      ['a non-JSON content type with a JSON body', (res) => res.type('text/csv').send(JSON.stringify(patient('pat-001')))],
      ['res.end with no content type', (res) => res.end(JSON.stringify(patient('pat-001')))],
      [
        'a stream with no content type',
        (res) => {
          Readable.from([JSON.stringify(patient('pat-001'))]).pipe(res);
        },
      ],
      ['a JSON content type over invalid JSON', (res) => res.type('json').send('{"id":"pat-001","name":"Testwood" 1 Example Street')],
      ['res.sendFile', (res) => res.sendFile(fileURLToPath(new URL('../../fixtures/records/Patient.json', import.meta.url)))],
      ['a JSON value that is not a record', (res) => res.json('Testwood, 1 Example Street')],
      [
        'res.json after res.write',
        (res) => {
          res.write('Testwood');
          res.json(patient('pat-001'));
        },
      ],
      [
        'a record nested 6000 levels deep',
        (res) =>
          res
            .type('json')
            .send(`${JSON.stringify(patient('pat-001')).slice(0, -1)},"allergies":${'['.repeat(6000)}"x"${']'.repeat(6000)}}`),
      ],
    ];
    for (const [what, answer] of cases) {
      it(`${what} → 500 unredactable_body, and nothing of the record`, async () => {
        const { app } = await answering(answer);
        const res = await request(app).get('/patients/pat-001').set(as(USERS.nurse));
        expect(res.status).to.equal(500);
        expect(res.body.error.code).to.equal('unredactable_body');
        expectNothingOf(res.text, ['Testwood', '1 Example Street', '9990000018', ...everything.filter((v) => v.length > 6)]);
      });
    }

    it('cuts the connection when the headers were flushed before it could act, and never calls the handler', async () => {
      let called = false;
      const { app, events } = await setup((a, mesh) =>
        a.get(
          '/patients/:id',
          (_req, res, next) => {
            res.flushHeaders();
            next();
          },
          mesh.read('Patient'),
          (req, res) => {
            called = true;
            patientsHandler(req, res);
          },
        ),
      );
      const outcome = await request(app)
        .get('/patients/pat-001')
        .set(as(USERS.nurse))
        .then(
          (r) => r.text,
          (err: Error) => err.message,
        );
      expect(outcome).not.to.include('Testwood');
      expect(called).to.equal(false);
      expect((await events())[0]).to.include({ decision: 'refused', code: 'unredactable_body' });
    });

    it('refuses a written answer larger than maxResponseBytes rather than buffer it', async () => {
      const { app } = await setup(
        (a, mesh) =>
          a.get('/patients', mesh.read('Patient'), (_req, res) => {
            res.type('json');
            Readable.from(JSON.stringify(PATIENTS).match(/[\s\S]{1,500}/g)!).pipe(res);
          }),
        { maxResponseBytes: 1000 },
      );
      const res = await request(app).get('/patients').set(as(USERS.nurse));
      expect(res.status).to.equal(500);
      expectNothingOf(res.text, ['Testwood']);
    });
  });

  describe('lists and single records', () => {
    it('keeps only the permitted rows of a list, in order', async () => {
      const { app } = await setup((a, mesh) => a.get('/patients', mesh.read('Patient'), patientsHandler));
      const res = await request(app).get('/patients').set(as(USERS.nurse));
      expect(res.status).to.equal(200);
      expect(res.body.map((r: { id: string }) => r.id)).to.deep.equal(NURSE_ROWS);
      expect(res.text).not.to.include('Exampleton'); // pat-003, ward-9
    });

    it('answers 404 for a single record the row condition hides, exactly as for a record that does not exist', async () => {
      const { app } = await setup((a, mesh) => a.get('/patients/:id', mesh.read('Patient'), patientsHandler));
      const res = await request(app).get('/patients/pat-003').set(as(USERS.nurse));
      expect(res.status).to.equal(404);
      expect(res.body).to.deep.equal({ error: { code: 'not_found', message: 'No such record' } });
      expectNothingOf(res.text, ['Exampleton', 'pat-003', 'BD1 1HY']);
      const missing = await request(app).get('/patients/pat-999').set(as(USERS.nurse));
      expect(missing.status).to.equal(404);
      expect(missing.body).to.deep.equal(res.body);
    });

    it('pseudonymises and drops opted-out rows for service planning', async () => {
      const { app } = await setup((a, mesh) => a.get('/patients', mesh.read('Patient'), patientsHandler));
      const res = await request(app).get('/patients').set(as(USERS.analyst, 'service-planning'));
      // Planning respects the national data opt-out, and the sealed record stays sealed.
      const hidden = PATIENTS.filter((p) => p['optOut'] === true || p['sealed'] === true).length;
      expect(hidden).to.equal(4);
      expect(res.body).to.have.length(PATIENTS.length - hidden);
      for (const row of res.body) {
        expect(row.id).to.match(/^[0-9a-f]{16,}$/i);
        expect(row).not.to.have.any.keys('name', 'nhsNumber', 'telecom');
      }
    });

    it('reads rows under a key of an envelope and keeps nothing else of it (counts would reveal hidden rows)', async () => {
      const { app } = await setup((a, mesh) =>
        a.get('/patients', mesh.read('Patient', { list: 'items' }), (_req, res) => {
          res.json({ items: PATIENTS, total: 24, count: 24, page: 1, next: '/patients?page=2' });
        }),
      );
      const res = await request(app).get('/patients').set(as(USERS.nurse));
      expect(res.body.items.map((r: { id: string }) => r.id)).to.deep.equal(NURSE_ROWS);
      expect(res.body).to.have.all.keys('items');
    });

    it('reads a FHIR Bundle: withheld entries removed, total set to what is returned, links kept', async () => {
      const bundle = {
        resourceType: 'Bundle',
        type: 'searchset',
        total: 24,
        link: [{ relation: 'self', url: 'https://records.example/Patient?_count=24' }],
        entry: PATIENTS.map((p) => ({
          fullUrl: `https://records.example/Patient/${String(p['id'])}`,
          resource: { resourceType: 'Patient', ...p },
          search: { mode: 'match' },
        })),
      };
      const { app } = await setup((a, mesh) =>
        a.get('/fhir/Patient', mesh.read('Patient', { list: 'entry.resource' }), (_req, res) => res.json(bundle)),
      );
      const res = await request(app).get('/fhir/Patient').set(as(USERS.nurse));
      expect(res.status).to.equal(200);
      expect(res.body.entry.map((e: { resource: { id: string } }) => e.resource.id)).to.deep.equal(NURSE_ROWS);
      // fullUrl is the record API's text (any text fits in a URL): never passed on.
      expect(res.body.entry[0]).not.to.have.property('fullUrl');
      expect(res.body.total).to.equal(NURSE_ROWS.length);
      expect(res.body.link).to.deep.equal(bundle.link);
      expect(res.text).not.to.include('pat-003');
    });

    it('answers 500 when the rows are not where the route says', async () => {
      const { app } = await setup((a, mesh) =>
        a.get('/patients', mesh.read('Patient', { list: 'items' }), (_req, res) => res.json(PATIENTS)),
      );
      const res = await request(app).get('/patients').set(as(USERS.nurse));
      expect(res.status).to.equal(500);
      expect(res.body.error.code).to.equal('unredactable_body');
      expect(res.text).not.to.include('Testwood');
    });
  });

  describe('handler errors and headers', () => {
    it("replaces a handler's non-2xx body by a generic error with the same status", async () => {
      const { app } = await answering((res) =>
        res.status(409).json({ error: 'conflict with Testwood at 1 Example Street', record: patient('pat-001') }),
      );
      const res = await request(app).get('/patients/pat-001').set(as(USERS.nurse));
      expect(res.status).to.equal(409);
      expect(res.body).to.deep.equal({ error: { code: 'conflict', message: 'Conflict' } });
    });

    it('answers a redirect on a read as a missing record: its Location could name a hidden one', async () => {
      const { app } = await answering((res) => res.redirect(302, '/patients/pat-001?v=2'));
      const res = await request(app).get('/patients/pat-001').set(as(USERS.nurse)).redirects(0);
      expect(res.status).to.equal(404);
      expect(res.headers).not.to.have.property('location');
      expect(res.body.error.code).to.equal('not_found');
    });

    it('answers a thrown handler error as a bare 500, without its message or stack', async () => {
      const { app } = await answering(() => {
        throw new Error('database said: Testwood lives at 1 Example Street');
      });
      const res = await request(app).get('/patients/pat-001').set(as(USERS.nurse));
      expect(res.status).to.equal(500);
      expect(res.headers['content-type']).to.match(/^application\/json/);
      expectNothingOf(res.text, ['Testwood', 'Example Street', 'at ']);
    });

    it('drops headers computed from the unredacted body and marks the answer no-store', async () => {
      const { app } = await answering((res) =>
        res.set({ 'X-Total-Count': '24', ETag: '"full-record"', 'Content-Length': '9999' }).json(patient('pat-001')),
      );
      const res = await request(app).get('/patients/pat-001').set(as(USERS.nurse));
      expect(res.status).to.equal(200);
      expect(res.headers).not.to.have.property('x-total-count');
      expect(res.headers['etag']).not.to.equal('"full-record"');
      expect(res.headers['cache-control']).to.equal('no-store');
      expect(res.headers['x-content-type-options']).to.equal('nosniff');
    });

    it('echoes a safe X-Request-Id and replaces an unsafe one', async () => {
      const { app } = await setup((a, mesh) => a.get('/patients/:id', mesh.read('Patient'), patientsHandler));
      const safe = await request(app).get('/patients/pat-001').set(as(USERS.nurse)).set('X-Request-Id', 'ward7-0042');
      expect(safe.headers['x-request-id']).to.equal('ward7-0042');
      const unsafe = await request(app).get('/patients/pat-001').set(as(USERS.nurse)).set('X-Request-Id', 'a b<script>');
      expect(unsafe.headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);
    });

    it('refuses a write method on a read route before the handler runs', async () => {
      let called = false;
      const { app } = await setup((a, mesh) =>
        a.use('/patients', mesh.read('Patient'), () => {
          called = true;
        }),
      );
      const res = await request(app).patch('/patients/pat-001').set(as(USERS.gp)).send({ name: 'x' });
      expect(res.status).to.equal(405);
      expect(res.body.error.code).to.equal('method_not_allowed');
      expect(called).to.equal(false);
    });

    it('answers an empty 204 as it is', async () => {
      const { app } = await answering((res) => res.sendStatus(204));
      const res = await request(app).get('/patients/pat-001').set(as(USERS.nurse));
      expect(res.status).to.equal(204);
      expect(res.text).to.equal('');
    });
  });
});
