import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type express from 'express';
import request from 'supertest';
import type { Bundle } from '@medplum/fhirtypes';
import { loadPolicies } from '../../src/engine/policy-set.js';
import { synthea } from '../fixtures/fhir/synthea.js';
import { startFhirServer } from '../gateway/fhir-server.js';
import { as, cleanup, NOW, onCleanup, setup } from './harness.js';

const POLICIES = fileURLToPath(new URL('../fixtures/policies/fhir-search', import.meta.url));
const training = '2026-06-01';
const LEAD = { sub: 'lead-1', roles: ['clinical-lead'], training };
const CLERK = { sub: 'clerk-1', roles: ['clerk'], training };

/** An app whose handler answers a FHIR search from a real FHIR server, as an application in front of one would. */
async function fhirApp(upstream: string) {
  const policies = await loadPolicies(POLICIES, { now: NOW });
  return setup(
    (app: express.Express, mesh) => {
      app.get('/fhir/Patient', mesh.read('Patient', { fhir: true, list: 'entry.resource' }), async (req, res) => {
        const at = req.originalUrl.indexOf('?');
        const answer = await fetch(`${upstream}/Patient${at === -1 ? '' : req.originalUrl.slice(at)}`);
        res.status(answer.status).json(await answer.json());
      });
    },
    { policies },
  );
}

describe('mesh.read() › FHIR searches (fhir: true)', () => {
  afterEach(cleanup);

  it('reads the query as search parameters: a birth date search checked as birthDate, a chain refused, before the handler runs', async () => {
    const data = synthea();
    const fhir = await startFhirServer(data.patients);
    onCleanup(() => fhir.close());
    const { app } = await fhirApp(fhir.url);

    const lead = await request(app).get('/fhir/Patient?birthdate=ge1960&birthdate=lt2000&_count=100').set(as(LEAD));
    expect(lead.status).to.equal(200);
    const expected = data.patients.filter((p) => p.birthDate! >= '1960' && p.birthDate! < '2000').map((p) => p.id);
    expect(((lead.body as Bundle).entry ?? []).map((e) => e.resource?.id).sort()).to.deep.equal(expected.sort());

    const seen = fhir.seen.length;
    const clerk = await request(app).get('/fhir/Patient?birthdate=ge1960').set(as(CLERK, 'administration'));
    expect(clerk.status).to.equal(403);
    // A FHIR route refuses with an OperationOutcome: the fieldmesh code in details, the message as its text.
    expect(clerk.body.resourceType).to.equal('OperationOutcome');
    expect(clerk.body.issue[0].details.coding[0].code).to.equal('filter_forbidden');
    expect(clerk.body.issue[0].details.text).to.include('"birthdate"');
    const chain = await request(app).get('/fhir/Patient?general-practitioner.name=Smith').set(as(LEAD));
    expect(chain.status).to.equal(403);
    expect(chain.body.issue[0].details.text).to.match(/chained parameter/);
    expect(fhir.seen.length).to.equal(seen);

    // The same name search a clerk may make: a plain name reads `name`, which administration shows.
    const names = await request(app).get('/fhir/Patient?family=Patel').set(as(CLERK, 'administration'));
    expect(names.status).to.equal(200);
    expect(((names.body as Bundle).entry ?? []).length).to.be.greaterThan(0);
  });

  it('refuses at creation a FHIR type R4 does not know, search without fhir, and a mapping to an undeclared field', async () => {
    const policies = await loadPolicies(POLICIES, { now: NOW });
    const { mesh } = await setup(() => undefined, { policies });
    expect(() => mesh.read('Patient', { fhir: 'Patients' })).to.throw(TypeError, /"Patients" is not an R4 resource type/);
    expect(() => mesh.read('Patient', { search: { nhs: ['identifier'] } })).to.throw(TypeError, /only a FHIR route maps search parameters/);
    expect(() => mesh.read('Patient', { fhir: true, search: { nhs: ['nhsNumber'] } })).to.throw(
      TypeError,
      /mesh\.read\('Patient'\): search\.nhs: unknown field "nhsNumber" of resource "Patient"/,
    );
    expect(() => mesh.write('Patient', { fhir: true, search: { _sort: ['name'] } })).to.throw(TypeError, /control parameter/);
    expect(() => mesh.read('Patient', { fhir: true, search: { nhs: ['identifier'], given: false } })).not.to.throw();
  });
});
