import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import request from 'supertest';
import { DATA_ABSENT_REASON, REDACTED_SYSTEM } from '../../src/fhir/withheld.js';
import { as, cleanup, setup } from './harness.js';

const POLICIES = fileURLToPath(new URL('../fixtures/policies/fhir-withheld', import.meta.url));
const MASKED = { extension: [{ url: DATA_ABSENT_REASON, valueCode: 'masked' }] };
const LABEL = { system: REDACTED_SYSTEM, code: 'REDACTED' };
const HIV = {
  resourceType: 'Observation',
  id: 'ob-hiv',
  meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'HIV' }] },
  status: 'preliminary',
  code: { coding: [{ system: 'http://loinc.org', code: '75622-1' }] },
  subject: { reference: 'Patient/pt-01' },
  valueQuantity: { value: 1 },
};
const clinician = as({ sub: 'c-1', roles: ['clinician'], training: '2026-06-01' }, 'direct-care');
const technician = as({ sub: 't-1', roles: ['device-technician'], training: '2026-06-01' }, 'device-audit');

describe('express › withheld markers', () => {
  afterEach(cleanup);

  it('fails when the route is declared, not per request', async () => {
    let thrown: unknown;
    await setup(
      (app, mesh) => {
        try {
          app.get('/Observation/:id', mesh.read('Observation', { markWithheld: true }), (_req, res) => res.json(HIV));
        } catch (e) {
          thrown = e;
        }
      },
      { policies: POLICIES },
    );
    expect(thrown).to.be.instanceOf(TypeError);
  });

  it('marks a FHIR route that asks, a read and a Bundle alike', async () => {
    const { app } = await setup(
      (app, mesh) => {
        app.get('/Observation/:id', mesh.read('Observation', { fhir: true, markWithheld: true }), (_req, res) => res.json(HIV));
        app.get('/Observation', mesh.read('Observation', { fhir: true, markWithheld: true, list: 'entry.resource' }), (_req, res) =>
          res.json({ resourceType: 'Bundle', type: 'searchset', entry: [{ resource: HIV }] }),
        );
      },
      { policies: POLICIES },
    );
    const one = await request(app).get('/Observation/ob-hiv').set(clinician);
    expect(one.status, one.text).to.equal(200);
    expect(one.body).to.deep.include({ _status: MASKED, code: MASKED });
    expect(one.body.meta.security).to.deep.equal([...HIV.meta.security, LABEL]);
    expect(one.text).not.to.include('preliminary');
    const list = await request(app).get('/Observation').set(clinician);
    expect(list.body.entry[0].resource).to.deep.equal(one.body);
  });

  it('marks for a purpose that asks only where the route is FHIR', async () => {
    const { app } = await setup(
      (app, mesh) => {
        app.get('/Observation/:id', mesh.read('Observation', { fhir: true }), (_req, res) => res.json(HIV));
        app.get('/observations/:id', mesh.read('Observation'), (_req, res) => res.json(HIV));
      },
      { policies: POLICIES },
    );
    const fhir = await request(app).get('/Observation/ob-hiv').set(technician);
    expect(fhir.body).to.deep.include({ _status: MASKED, code: MASKED, meta: { security: [LABEL] } });
    const json = await request(app).get('/observations/ob-hiv').set(technician);
    expect(json.status).to.equal(200);
    expect(json.body).not.to.have.any.keys('_status', 'code', 'meta');
    const unmarked = await request(app).get('/Observation/ob-hiv').set(clinician);
    expect(unmarked.body).not.to.have.any.keys('_status', 'code', 'status');
  });
});
