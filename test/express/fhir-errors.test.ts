import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { Client } from 'fhir-kit-client';
import type { OperationOutcome } from '@medplum/fhirtypes';
import request from 'supertest';
import { FIELDMESH_ERROR_SYSTEM } from '../../src/fhir/operation-outcome.js';
import { cleanup, onCleanup, setup, token } from './harness.js';

const POLICIES = fileURLToPath(new URL('../fixtures/policies/fhir-errors', import.meta.url));
const FHIR = 'application/fhir+json; charset=utf-8';
const clinician = { sub: 'clin-a', roles: ['clinician'], training: '2026-06-01' };
const RECORDS: Record<string, Record<string, unknown>> = {
  'pt-01': { resourceType: 'Patient', id: 'pt-01', name: [{ family: 'Family-pt-01' }], birthDate: '1980-01-02' },
  'pt-02': {
    resourceType: 'Patient',
    id: 'pt-02',
    name: [{ family: 'Family-pt-02' }],
    meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] },
  },
};

/** An express app with a FHIR route (`fhir: true`) and a JSON route over the same records, listening on 127.0.0.1. */
async function app(): Promise<{ url: string; app: Parameters<typeof request>[0] }> {
  const h = await setup(
    (app, mesh) => {
      app.get('/fhir/Patient/:id', mesh.read('Patient', { fhir: true }), (req, res) => {
        const found = RECORDS[String(req.params['id'])];
        if (found === undefined) res.status(404).json({ resourceType: 'OperationOutcome', issue: [] });
        else res.json(found);
      });
      app.get('/patients/:id', mesh.read('Patient'), (_req, res) => res.status(409).json({ clash: 'Family-pt-01' }));
    },
    { policies: POLICIES },
  );
  const server = h.app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  onCleanup(() => new Promise((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, app: h.app };
}

async function refused(p: Promise<unknown>): Promise<{ status: number; body: OperationOutcome; headers: Headers }> {
  try {
    await p;
  } catch (e) {
    const err = e as { response: { status: number; data: OperationOutcome }; config: { headers: Headers } };
    return { status: err.response.status, body: err.response.data, headers: err.config.headers };
  }
  throw new Error('expected a refusal');
}

describe('mesh.read › FHIR errors as OperationOutcome', () => {
  afterEach(cleanup);

  it('answers a FHIR route (`fhir: true`) with OperationOutcomes, read with fhir-kit-client: 401 `login`, 404 `not-found` for a withheld record', async () => {
    const { url } = await app();
    const anonymous = await refused(
      new Client({ baseUrl: `${url}/fhir`, customHeaders: { 'X-Purpose': 'direct-care' } }).read({ resourceType: 'Patient', id: 'pt-01' }),
    );
    expect(anonymous.status).to.equal(401);
    expect(anonymous.headers.get('content-type')).to.equal(FHIR);
    expect(anonymous.headers.get('www-authenticate')).to.equal('Bearer realm="fieldmesh"');
    expect(anonymous.body.issue[0]).to.deep.include({ severity: 'error', code: 'login' });
    expect(anonymous.body.issue[0]?.details?.coding).to.deep.equal([{ system: FIELDMESH_ERROR_SYSTEM, code: 'unauthenticated' }]);

    const fhir = new Client({
      baseUrl: `${url}/fhir`,
      customHeaders: { Authorization: `Bearer ${token(clinician)}`, 'X-Purpose': 'direct-care' },
    });
    const withheld = await refused(fhir.read({ resourceType: 'Patient', id: 'pt-02' }));
    expect(withheld.status).to.equal(404);
    expect(withheld.headers.get('content-type')).to.equal(FHIR);
    expect(withheld.body.issue[0]).to.deep.include({ code: 'not-found' });
    expect(withheld.body.issue[0]?.details?.coding?.[0]?.code).to.equal('not_found');
    expect(JSON.stringify(withheld.body)).not.to.include('Family-pt-02');
  });

  it("keeps JSON on a JSON route, unless the request's Accept (as it arrived, before the handler's is rewritten) names FHIR", async () => {
    const { app: served } = await app();
    const headers = { Authorization: `Bearer ${token(clinician)}`, 'X-Purpose': 'direct-care' };
    const json = await request(served).get('/patients/pt-01').set(headers);
    expect(json.status).to.equal(409);
    expect(json.headers['content-type']).to.equal('application/json; charset=utf-8');
    expect(json.body).to.deep.equal({ error: { code: 'conflict', message: 'Conflict' } });
    const fhir = await request(served)
      .get('/patients/pt-01')
      .set({ ...headers, Accept: 'application/fhir+json' });
    expect(fhir.status).to.equal(409);
    expect(fhir.headers['content-type']).to.equal(FHIR);
    const body = JSON.parse(fhir.text) as OperationOutcome;
    expect(body.issue[0]).to.deep.include({ code: 'conflict' });
    expect(fhir.text).not.to.include('Family-pt-01');
  });

  it('refuses, when the route is declared, a `fhir` type that is not an R4 resource type', async () => {
    let thrown: unknown;
    await setup(
      (_app, mesh) => {
        try {
          mesh.read('Patient', { fhir: 'Patients' });
        } catch (e) {
          thrown = e;
        }
      },
      { policies: POLICIES },
    );
    expect(thrown).to.be.instanceOf(TypeError);
    expect((thrown as Error).message).to.include('"Patients" is not an R4 resource type');
  });
});
