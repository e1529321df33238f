import { expect } from 'chai';
import { FieldmeshError } from '../../src/lib/errors.js';
import { fhirRestPath, metadataEndpoints } from '../../src/gateway/fhir-base.js';
import { parseRoutes } from '../../src/gateway/routes.js';

const RESOURCES = ['Patient', 'Observation', 'Note'];

function routesError(yaml: string): string {
  try {
    parseRoutes(yaml, 'routes.yaml', RESOURCES);
  } catch (e) {
    expect(e).to.be.instanceOf(FieldmeshError);
    expect((e as FieldmeshError).code).to.equal('routes_invalid');
    return (e as Error).message;
  }
  throw new Error('the routes file was accepted');
}

describe('gateway › fhir-base', () => {
  describe('fhirRestPath', () => {
    it('reads [base]/[type] and [base]/[type]/:param, with a literal base', () => {
      expect(fhirRestPath('/Patient', 'Patient')).to.deep.equal({ base: '' });
      expect(fhirRestPath('/Patient/:id', 'Patient')).to.deep.equal({ base: '', param: 'id' });
      expect(fhirRestPath('/fhir/r4/Observation/:obs', 'Observation')).to.deep.equal({ base: '/fhir/r4', param: 'obs' });
    });

    it('finds no FHIR URL in any other shape', () => {
      expect(fhirRestPath('/gp-patients', 'Patient')).to.equal(undefined);
      expect(fhirRestPath('/Patient/:id/_history/:v', 'Patient')).to.equal(undefined);
      expect(fhirRestPath('/:tenant/Patient', 'Patient')).to.equal(undefined);
      expect(fhirRestPath('/Patient/by-nhs', 'Patient')).to.equal(undefined);
      expect(fhirRestPath('/Patient/*rest', 'Patient')).to.equal(undefined);
    });
  });

  describe('metadataEndpoints', () => {
    it('gives one /metadata per base the FHIR routes share, and none for JSON routes', () => {
      const table = parseRoutes(
        [
          'routes:',
          '  - { path: /Patient, resource: Patient, list: entry.resource }',
          '  - { path: /Patient/:id, resource: Patient }',
          '  - { path: /fhir/Observation, resource: Observation, list: entry.resource }',
          '  - { path: /gp-patients, resource: Patient, fhir: Patient, list: entry.resource }',
          '  - { path: /notes, resource: Note, list: "" }',
        ].join('\n'),
        'routes.yaml',
        RESOURCES,
      );
      const endpoints = metadataEndpoints(table.routes);
      expect([...endpoints.keys()]).to.deep.equal(['/metadata', '/fhir/metadata']);
      expect(endpoints.get('/metadata')?.map((r) => r.path)).to.deep.equal(['/Patient', '/Patient/:id']);
    });
  });

  describe('a route that would answer a /metadata the gateway answers itself', () => {
    it('is refused when the routes file loads, named with its place', () => {
      const message = routesError(
        [
          'routes:',
          '  - { path: /fhir/Patient, resource: Patient, list: entry.resource }',
          '  - { path: /fhir/metadata, resource: Note }',
        ].join('\n'),
      );
      expect(message).to.include('routes.yaml › routes.1.path: "/fhir/metadata" would answer /fhir/metadata');
    });

    it('is refused when a parameter would match it too', () => {
      const message = routesError(
        ['routes:', '  - { path: /Patient/:id, resource: Patient }', '  - { path: "/:id", resource: Note }'].join('\n'),
      );
      expect(message).to.include('routes.1.path: "/:id" would answer /metadata');
    });

    it('is left alone under a base no FHIR route has', () => {
      const table = parseRoutes(
        [
          'routes:',
          '  - { path: /fhir/Patient, resource: Patient, list: entry.resource }',
          '  - { path: /documents/metadata, resource: Note }',
        ].join('\n'),
        'routes.yaml',
        RESOURCES,
      );
      expect(table.routes).to.have.length(2);
    });
  });
});
