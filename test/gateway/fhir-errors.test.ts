import { createServer } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { Client } from 'fhir-kit-client';
import jwt from 'jsonwebtoken';
import { validateResource } from '@medplum/core';
import type { OperationOutcome, Patient, Resource } from '@medplum/fhirtypes';
import { openAuditStore } from '../../src/audit/open.js';
import { FIELDMESH_ERROR_SYSTEM } from '../../src/fhir/operation-outcome.js';
import { startFhirServer } from './fhir-server.js';
import { call, ROOT, SECRET, startRawUpstream, startTestGateway, token, type TestGateway } from './helpers.js';

const POLICIES = join(ROOT, 'test', 'fixtures', 'policies', 'fhir-errors');
const ROUTES = join(ROOT, 'test', 'fixtures', 'gateway', 'fhir-errors-routes.yaml');
const FHIR = 'application/fhir+json; charset=utf-8';

function patient(id: string, extra: Partial<Patient> = {}): Patient {
  return {
    resourceType: 'Patient',
    id,
    identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: `99900000${id.slice(-2)}` }],
    name: [{ family: `Family-${id}`, given: ['Alex'] }],
    gender: 'female',
    birthDate: '1980-01-02',
    generalPractitioner: [{ reference: 'Organization/A' }],
    ...extra,
  };
}
const RESOURCES: Resource[] = [
  patient('pt-01'),
  patient('pt-02', { meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] } }),
];
/** Values of the records: none may appear in any error. */
const VALUES = ['Family-pt-0', '9990000001', '9990000002', '1980-01-02'];

const clinician = { sub: 'clin-a', roles: ['clinician'] };
const clerk = { sub: 'clerk-1', roles: ['clerk'] };

/** What fhir-kit-client throws on a non-2xx answer. */
interface Refusal {
  status: number;
  body: OperationOutcome;
  headers: Headers;
}

/** The answer of a request fhir-kit-client refused to return (it throws on anything but 2xx). */
async function refused(request: Promise<unknown>): Promise<Refusal> {
  try {
    await request;
  } catch (e) {
    const err = e as { response?: { status: number; data: unknown }; config?: { headers: Headers } };
    if (err.response === undefined || err.config === undefined) throw e;
    return { status: err.response.status, body: err.response.data as OperationOutcome, headers: err.config.headers };
  }
  throw new Error('expected the gateway to refuse the request');
}

/** An R4-valid OperationOutcome with this status, issue type and fieldmesh code, labelled FHIR, never cached, saying no record value. */
function expectOutcome(r: Refusal, status: number, issue: string, code: string): OperationOutcome['issue'] & object {
  expect(r.status, `status of ${code}`).to.equal(status);
  expect(r.headers.get('content-type')).to.equal(FHIR);
  expect(r.headers.get('cache-control')).to.equal('no-store');
  expect(r.headers.get('x-request-id')).to.be.a('string').and.not.equal('');
  expect(r.body.resourceType).to.equal('OperationOutcome');
  expect(validateResource(r.body).filter((i) => i.severity === 'error')).to.deep.equal([]);
  const [first] = r.body.issue;
  expect(first).to.deep.include({ severity: 'error', code: issue });
  expect(first?.details?.coding).to.deep.equal([{ system: FIELDMESH_ERROR_SYSTEM, code }]);
  expect(first?.details?.text).to.be.a('string').and.not.equal('');
  for (const value of VALUES) expect(JSON.stringify(r.body)).not.to.include(value);
  return r.body.issue;
}

function client(url: string, headers: Record<string, string>): Client {
  return new Client({ baseUrl: url, customHeaders: headers });
}
const as = (claims: Record<string, unknown>, purpose: string, extra: Record<string, string> = {}) => ({
  Authorization: `Bearer ${token(claims)}`,
  'X-Purpose': purpose,
  ...extra,
});

describe('gateway › FHIR errors as OperationOutcome (medplum behind the gateway, read with fhir-kit-client)', () => {
  describe('refusals of the request', () => {
    let fhir: Awaited<ReturnType<typeof startFhirServer>>;
    let gw: TestGateway;
    before(async () => {
      fhir = await startFhirServer(RESOURCES);
      gw = await startTestGateway(fhir.url, { policies: POLICIES, routes: ROUTES, maxBodyBytes: '2048' });
    });
    after(async () => {
      await gw.close();
      await fhir.close();
    });
    const read = (headers: Record<string, string>, id = 'pt-01') => refused(client(gw.url, headers).read({ resourceType: 'Patient', id }));

    it('answers no token 401 `login`, naming the Bearer scheme', async () => {
      const r = await read({ 'X-Purpose': 'direct-care' });
      expectOutcome(r, 401, 'login', 'unauthenticated');
      expect(r.headers.get('www-authenticate')).to.equal('Bearer realm="fieldmesh"');
    });

    it('answers a token signed with another key 401 `login`', async () => {
      const forged = jwt.sign({ sub: 'clin-a', roles: ['clinician'], training: '2026-06-01' }, 'another-secret-of-at-least-32-bytes!!', {
        algorithm: 'HS256',
        expiresIn: '5m',
      });
      expectOutcome(await read({ Authorization: `Bearer ${forged}`, 'X-Purpose': 'direct-care' }), 401, 'login', 'unauthenticated');
    });

    it('answers an expired token 401 `expired`, so the client refreshes it', async () => {
      const expired = jwt.sign(
        { sub: 'clin-a', roles: ['clinician'], training: '2026-06-01', exp: Math.floor(Date.now() / 1000) - 3600 },
        SECRET,
        { algorithm: 'HS256' },
      );
      expectOutcome(await read({ Authorization: `Bearer ${expired}`, 'X-Purpose': 'direct-care' }), 401, 'expired', 'unauthenticated');
    });

    it('answers a missing purpose 400 `required` and an unknown one 403 `forbidden`', async () => {
      expectOutcome(await read({ Authorization: `Bearer ${token(clinician)}` }), 400, 'required', 'purpose_required');
      expectOutcome(await read(as(clinician, 'curiosity')), 403, 'forbidden', 'purpose_unknown');
    });

    it('answers a role not held, missing training and a break-glass purpose without its reason 403 `forbidden`', async () => {
      expectOutcome(await read(as(clinician, 'direct-care', { 'X-Acting-Role': 'privacy-officer' })), 403, 'forbidden', 'role_not_held');
      expectOutcome(await read(as({ ...clinician, training: 'soon' }, 'direct-care')), 403, 'forbidden', 'training_missing');
      expectOutcome(await read(as(clinician, 'emergency')), 403, 'forbidden', 'break_glass_required');
    });

    it('answers a search on a field hidden from the caller 403 `forbidden`, naming the field on Patient, never the value', async () => {
      const r = await refused(
        client(gw.url, as(clerk, 'administration')).search({ resourceType: 'Patient', searchParams: { birthdate: '1980-01-02' } }),
      );
      const [issue] = expectOutcome(r, 403, 'forbidden', 'filter_forbidden');
      // The field the parameter filters by: `birthDate` once searches are mapped to fields, the key as sent before.
      expect(issue?.expression).to.have.length(1);
      expect(issue?.expression?.[0]).to.match(/^Patient\.birth[dD]ate$/);
      expect(fhir.seen.some((s) => s.url.includes('birthdate'))).to.equal(false);
    });

    it('answers a withheld record 404 `not-found`, exactly as a record that does not exist', async () => {
      const withheld = await read(as(clinician, 'direct-care'), 'pt-02');
      const missing = await read(as(clinician, 'direct-care'), 'pt-99');
      expectOutcome(withheld, 404, 'not-found', 'not_found');
      expect(withheld.body).to.deep.equal(missing.body);
      expect(JSON.stringify(withheld.body)).not.to.include('restricted');
    });

    it('answers a path no route names 404 `not-found` to a client that asks for FHIR, and never forwards it', async () => {
      const before = fhir.seen.length;
      const r = await refused(client(gw.url, as(clinician, 'direct-care')).read({ resourceType: 'Encounter', id: 'en-01' }));
      expectOutcome(r, 404, 'not-found', 'not_found');
      expect(fhir.seen).to.have.length(before);
    });

    it('answers a method the route does not allow 405 `not-supported`, with Allow', async () => {
      const r = await refused(
        client(gw.url, as(clinician, 'direct-care')).create({
          resourceType: 'Observation',
          body: { resourceType: 'Observation', status: 'final', code: { text: 'x' } },
        }),
      );
      expectOutcome(r, 405, 'not-supported', 'method_not_allowed');
      expect(r.headers.get('allow')).to.equal('GET');
    });

    it('answers a write with a query string 400 `invalid`', async () => {
      const r = await refused(
        client(gw.url, as(clinician, 'direct-care')).request('Patient?identifier=9990000001', {
          method: 'POST',
          body: patient('pt-09'),
          options: { headers: { 'content-type': 'application/fhir+json' } },
        }),
      );
      expectOutcome(r, 400, 'invalid', 'bad_request');
    });

    it('answers a query of more than 1,000 parameters 414 `too-long`', async () => {
      const searchParams = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`_count${i}`, '1']));
      const r = await refused(client(gw.url, as(clinician, 'direct-care')).search({ resourceType: 'Patient', searchParams }));
      expectOutcome(r, 414, 'too-long', 'query_too_long');
    });

    it('answers a body over the limit 413 `too-long`', async () => {
      const body = patient('pt-09', { name: Array.from({ length: 100 }, (_, i) => ({ family: `Long-${i}`, given: ['Alex'] })) });
      const r = await refused(client(gw.url, as(clinician, 'direct-care')).create({ resourceType: 'Patient', body: { ...body } }));
      expectOutcome(r, 413, 'too-long', 'payload_too_large');
    });

    it('keeps fieldmesh JSON errors on a JSON route, and for a client that does not ask for FHIR', async () => {
      const json = await call(`${gw.url}/people/pt-01`, { headers: { 'x-purpose': 'direct-care' } });
      expect(json.status).to.equal(401);
      expect(json.headers['content-type']).to.equal('application/json; charset=utf-8');
      expect(json.json).to.deep.include({
        error: { code: 'unauthenticated', message: 'Authorization header missing: send "Authorization: Bearer <token>"' },
      });
      const unrouted = await call(`${gw.url}/Encounter/en-01`, { headers: as(clinician, 'direct-care') });
      expect(unrouted.status).to.equal(404);
      expect(unrouted.json.error.code).to.equal('not_found');
      // A FHIR route answers FHIR whatever the client accepts.
      const plain = await call(`${gw.url}/Patient/pt-01`, { headers: { 'x-purpose': 'direct-care' } });
      expect(plain.headers['content-type']).to.equal(FHIR);
      expect(plain.json.resourceType).to.equal('OperationOutcome');
    });
  });

  describe('failures of the record API and the trail', () => {
    const open: { close(): Promise<void> }[] = [];
    afterEach(async () => {
      for (const c of open.splice(0).reverse()) await c.close();
    });
    async function gateway(upstream: string, flags: Record<string, string> = {}, opts: Parameters<typeof startTestGateway>[2] = {}) {
      const gw = await startTestGateway(upstream, { policies: POLICIES, routes: ROUTES, ...flags }, opts);
      open.push(gw);
      return client(gw.url, as(clinician, 'direct-care'));
    }

    it('answers a record API that cannot be reached 502 `exception`', async () => {
      const port = await new Promise<number>((resolve) => {
        const s = createServer().listen(0, '127.0.0.1', () => {
          const p = (s.address() as { port: number }).port;
          s.close(() => resolve(p));
        });
      });
      const fhir = await gateway(`http://127.0.0.1:${port}`);
      expectOutcome(await refused(fhir.read({ resourceType: 'Patient', id: 'pt-01' })), 502, 'exception', 'upstream_unreachable');
    });

    it('answers a record API answering garbage 502 `exception`, passing none of it on', async () => {
      const upstream = await startRawUpstream((_req, res) =>
        res.writeHead(200, { 'content-type': 'text/html' }).end('<p>Family-pt-01</p>'),
      );
      open.push(upstream);
      const r = await refused((await gateway(upstream.url)).read({ resourceType: 'Patient', id: 'pt-01' }));
      const [issue] = expectOutcome(r, 502, 'exception', 'upstream_invalid');
      expect(issue?.details?.text).to.equal('The record API answered something that cannot be redacted: nothing was disclosed');
    });

    it('answers a record API that does not answer in time 504 `timeout`', async () => {
      const upstream = await startRawUpstream(() => undefined);
      open.push(upstream);
      const r = await refused((await gateway(upstream.url, { timeoutMs: '200' })).read({ resourceType: 'Patient', id: 'pt-01' }));
      expectOutcome(r, 504, 'timeout', 'upstream_timeout');
    });

    it('answers 503 `transient` while the audit trail cannot be written, disclosing nothing', async () => {
      const fhirServer = await startFhirServer(RESOURCES);
      open.push(fhirServer);
      // A trail in a folder that does not exist: every append fails.
      const audit = await openAuditStore(join(mkdtempSync(join(tmpdir(), 'fieldmesh-gw-')), 'gone', 'audit.db'));
      const r = await refused((await gateway(fhirServer.url, {}, { audit })).read({ resourceType: 'Patient', id: 'pt-01' }));
      const [issue] = expectOutcome(r, 503, 'transient', 'audit_unavailable');
      expect(issue?.details?.text).to.equal('The audit trail cannot be written, so nothing is disclosed');
    });
  });
});
