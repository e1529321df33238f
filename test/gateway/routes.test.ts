import { expect } from 'chai';
import { FieldmeshError } from '../../src/lib/errors.js';
import { loadRoutes, parseRoutes, routeTable, unknownResources } from '../../src/gateway/routes.js';
import { examplePolicies } from '../express/harness.js';
import { ROUTES } from './helpers.js';

const RESOURCES = ['Patient', 'CaseNote'];

function problemsOf(text: string): string {
  try {
    parseRoutes(text, 'routes.yaml', RESOURCES);
  } catch (e) {
    expect(e).to.be.instanceOf(FieldmeshError);
    expect((e as FieldmeshError).code).to.equal('routes_invalid');
    return (e as FieldmeshError).message;
  }
  return expect.fail('the routes file was accepted');
}

describe('gateway › routes file', () => {
  it('reads the demo routes file, methods defaulting to GET', async () => {
    const table = await loadRoutes(ROUTES, ['Patient', 'SafeguardingConcern', 'CaseNote']);
    expect(table.routes.map((r) => [r.path, r.resource, r.list, r.methods])).to.deep.include.members([
      ['/patients', 'Patient', '', ['GET']],
      ['/patients/:id', 'Patient', undefined, ['GET', 'PATCH']],
    ]);
  });

  it('matches exactly: no case folding, no trailing slash, one segment per parameter', () => {
    const table = routeTable([{ path: '/patients/:id', resource: 'Patient', methods: ['GET'] }]);
    expect(table.find('/patients/pat-001')?.params).to.deep.equal({ id: 'pat-001' });
    expect(table.find('/Patients/pat-001')).to.equal(undefined);
    expect(table.find('/patients/pat-001/')).to.equal(undefined);
    expect(table.find('/patients/a/b')).to.equal(undefined);
    expect(table.find('/patients')).to.equal(undefined);
  });

  it('refuses a character that hides a line, at its line and column: a params mapping after a comment must not vanish', () => {
    const text = 'routes:\n  - path: /by-nhs/:nhs # by NHS number\r    params: { nhs: nhsNumber }\n    resource: Patient\n';
    expect(problemsOf(text)).to.include('routes.yaml › line 2, column 39: a carriage return without a line feed');
    expect(problemsOf('routes: [] # \u001b[1A\n')).to.include('line 1, column 14: a control character (U+001B)');
  });

  it('refuses a route to a resource the policies do not define, naming what they define', () => {
    expect(problemsOf('routes:\n  - { path: /obs, resource: Observation }')).to.include(
      'routes.yaml › routes.0.resource: unknown resource "Observation" (the policies define: Patient, CaseNote)',
    );
  });

  it('refuses DELETE: it has no policy action', () => {
    expect(problemsOf('routes:\n  - { path: /patients/:id, resource: Patient, methods: [GET, DELETE] }')).to.include('routes.0.methods.1');
  });

  it('refuses unknown keys, so a typo never silently changes a route', () => {
    expect(problemsOf('routes:\n  - { path: /patients, resource: Patient, lists: "" }')).to.match(/lists/);
  });

  it('refuses withheld markers on a route that is not FHIR: they would never come', () => {
    expect(problemsOf('routes:\n  - { path: /patients/:id, resource: Patient, markWithheld: true }')).to.include(
      'routes.0.markWithheld: only FHIR routes are marked, and "/patients/:id" is not one',
    );
    const table = parseRoutes('routes:\n  - { path: /Patient/:id, resource: Patient, markWithheld: true }', 'routes.yaml', RESOURCES);
    expect(table.routes[0]).to.deep.include({ fhirType: 'Patient', markWithheld: true });
  });

  it('refuses a bad list key and a bad path, both at once', () => {
    const message = problemsOf(
      'routes:\n  - { path: /patients, resource: Patient, list: "entry..resource" }\n  - { path: patients, resource: Patient }',
    );
    expect(message).to.include('routes.yaml › routes.0.list');
    expect(message).to.include('routes.yaml › routes.1.path');
  });

  it('refuses a path defined twice', () => {
    expect(problemsOf('routes:\n  - { path: /patients, resource: Patient }\n  - { path: /patients, resource: CaseNote }')).to.include(
      'routes.1.path: "/patients" is defined twice',
    );
  });

  it('refuses an empty file and one that is not YAML', () => {
    expect(problemsOf('routes: []')).to.include('at least one route');
    expect(problemsOf('routes: [')).to.include('not valid YAML');
  });

  it('requires every path parameter but id to name the field it selects by, and that field to exist', async () => {
    expect(problemsOf('routes:\n  - { path: /patients/by-nhs/:nhs, resource: Patient }')).to.include(
      'routes.0.path: parameter ":nhs" selects records by no named field',
    );
    expect(problemsOf('routes:\n  - { path: /patients/:id, resource: Patient, params: { nhs: nhsNumber } }')).to.include(
      'routes.0.params.nhs: the path "/patients/:id" has no parameter ":nhs"',
    );
    const policies = await examplePolicies();
    const text = 'routes:\n  - { path: /patients/by-nhs/:nhs, resource: Patient, params: { nhs: nhsNumbr } }';
    let message = '';
    try {
      parseRoutes(text, 'routes.yaml', policies.resourceNames(), policies);
    } catch (e) {
      message = (e as FieldmeshError).message;
    }
    expect(message).to.include('routes.yaml › routes.0.params.nhs: unknown field "nhsNumbr" of resource "Patient"');
    const table = parseRoutes(text.replace('nhsNumbr', 'nhsNumber'), 'routes.yaml', policies.resourceNames(), policies);
    expect(table.routes[0]?.params).to.deep.equal({ nhs: 'nhsNumber' });
    // A name the object prototype has is not a mapping.
    expect(problemsOf('routes:\n  - { path: /patients/:constructor, resource: Patient, params: { id: id } }')).to.include('":constructor"');
  });

  it('refuses updates on a list route and creates on a path that names a record by id', () => {
    // A conditional update (PATCH /Patient?id=…) would let the record API pick records the gateway never read.
    expect(problemsOf('routes:\n  - { path: /patients, resource: Patient, list: "", methods: [GET, PATCH] }')).to.include(
      'routes.0.methods: PATCH update one record, which the gateway must read first: put them on a single-record route',
    );
    expect(problemsOf('routes:\n  - { path: /Patient, resource: Patient, list: entry.resource, methods: [PUT] }')).to.include(
      'routes.0.methods: PUT update one record',
    );
    // An upserting record API would let POST /patients/:id replace a record the caller may not see.
    expect(problemsOf('routes:\n  - { path: /patients/:id, resource: Patient, methods: [GET, POST] }')).to.include(
      'routes.0.methods: POST creates a record, and this path names one by its id (:id)',
    );
    expect(
      parseRoutes(
        'routes:\n  - { path: /patients, resource: Patient, list: "", methods: [GET, POST] }\n  - { path: /patients/:id, resource: Patient, methods: [GET, PUT, PATCH] }',
        'routes.yaml',
        RESOURCES,
      ).routes,
    ).to.have.length(2);
  });

  it('names the resources a new policy set no longer has', () => {
    const table = routeTable([{ path: '/notes', resource: 'CaseNote', methods: ['GET'] }]);
    expect(unknownResources(table, ['Patient'])).to.deep.equal(['CaseNote']);
    expect(unknownResources(table, RESOURCES)).to.deep.equal([]);
  });
});
