import { expect } from 'chai';
import { gatewayLink, gatewayUrls, publicBase, type LinkContext } from '../../src/gateway/links.js';
import { routeTable, type RouteDef } from '../../src/gateway/routes.js';

const UPSTREAM = 'http://10.0.0.5:8103/fhir/R4';
const ROUTES: RouteDef[] = [
  { path: '/Patient', resource: 'Patient', list: 'entry.resource', methods: ['GET'] },
  { path: '/Patient/:id', resource: 'Patient', methods: ['GET'] },
  { path: '/Observation', resource: 'Observation', list: 'entry.resource', methods: ['GET'] },
  { path: '/gp/Patient', resource: 'Patient', list: 'entry.resource', methods: ['GET'] },
  { path: '/sites/:site/Patient', resource: 'Patient', list: 'entry.resource', methods: ['GET'], params: { site: 'generalPractitioner' } },
  { path: '/people', resource: 'Patient', list: 'entry.resource', methods: ['GET'], fhir: 'Patient' },
];

/** A Patient search through `/Patient` (or `path`), answered by UPSTREAM, reached by the caller at https://records.example. */
function setup(query = '_count=20', path = '/Patient', over: Partial<LinkContext> = {}): LinkContext {
  const routes = routeTable(ROUTES);
  const route = routes.routes.find((r) => r.path === path)!;
  return {
    base: 'https://records.example',
    upstream: UPSTREAM,
    requested: `${path}?${query}`,
    routes,
    route,
    query,
    ...over,
  };
}

function patient(id: string): Record<string, unknown> {
  return { resourceType: 'Patient', id, gender: 'female' };
}

describe('gateway › links', () => {
  describe('publicBase', () => {
    it('takes the public URL when one is set, without its trailing slash, whatever Host says', () => {
      expect(publicBase('https://records.example/fhir/', 'evil.example')).to.equal('https://records.example/fhir');
      expect(publicBase('https://records.example', undefined)).to.equal('https://records.example');
    });

    it('otherwise takes http:// and a plain Host, host names lower-cased', () => {
      expect(publicBase(undefined, '127.0.0.1:8080')).to.equal('http://127.0.0.1:8080');
      expect(publicBase(undefined, 'Records.Example')).to.equal('http://records.example');
      expect(publicBase(undefined, 'records.example:80')).to.equal('http://records.example');
      expect(publicBase(undefined, '[::1]:8443')).to.equal('http://[::1]:8443');
    });

    it('gives no base for a missing, repeated or not plain Host: no links at all', () => {
      for (const host of [
        undefined,
        ['a.example', 'b.example'],
        '',
        'evil.example/x',
        'user@evil.example',
        'evil.example:99999',
        'evil.example:',
        'a b',
        '-evil.example',
        '0x7f.1',
        '1.2.3',
        'evil.example?x=1',
        'evil.example#x',
      ]) {
        expect(publicBase(undefined, host), String(host)).to.equal(undefined);
      }
    });
  });

  describe('gatewayLink', () => {
    it('re-roots a link under the upstream at the gateway, its query re-encoded', () => {
      const ctx = setup('_count=20&name:contains=Al Smith&_sort=-birthdate');
      expect(gatewayLink(`${UPSTREAM}/Patient?_count=20&_offset=20&name:contains=Al+Smith&_sort=-birthdate`, ctx)).to.equal(
        'https://records.example/Patient?_count=20&_offset=20&name%3Acontains=Al+Smith&_sort=-birthdate',
      );
      expect(gatewayLink(`${UPSTREAM}/Patient`, ctx)).to.equal('https://records.example/Patient');
    });

    it('keeps a base path of the gateway', () => {
      const ctx = setup('_count=20', '/Patient', { base: 'https://records.example/gw' });
      expect(gatewayLink(`${UPSTREAM}/Patient?_count=20&_offset=40`, ctx)).to.equal(
        'https://records.example/gw/Patient?_count=20&_offset=40',
      );
    });

    it('reads a relative link against the URL the record API answered', () => {
      const ctx = setup();
      expect(gatewayLink('Patient?_count=20&_offset=20', ctx)).to.equal('https://records.example/Patient?_count=20&_offset=20');
      expect(gatewayLink('?_count=20&_offset=20', ctx)).to.equal('https://records.example/Patient?_count=20&_offset=20');
      // Absolute-path references leave the base path: not the record API's any more.
      expect(gatewayLink('/Patient?_count=20&_offset=20', ctx)).to.equal(undefined);
    });

    it('drops a link to another origin, scheme or port, or with userinfo', () => {
      const ctx = setup();
      for (const url of [
        'http://evil.example/fhir/R4/Patient?_count=20',
        'https://10.0.0.5:8103/fhir/R4/Patient?_count=20',
        'http://10.0.0.5:8104/fhir/R4/Patient?_count=20',
        'http://u:p@10.0.0.5:8103/fhir/R4/Patient?_count=20',
        'javascript:alert(1)',
        '//evil.example/fhir/R4/Patient',
      ]) {
        expect(gatewayLink(url, ctx), url).to.equal(undefined);
      }
    });

    it('drops a link outside the base path, or whose path the gateway would refuse', () => {
      const ctx = setup();
      for (const url of [
        'http://10.0.0.5:8103/fhir/R4x/Patient?_count=20',
        'http://10.0.0.5:8103/fhir/Patient?_count=20',
        'http://10.0.0.5:8103/fhir/R4/../Patient?_count=20',
        'http://10.0.0.5:8103/fhir/R4/Patient/..%2F..%2FObservation',
        'http://10.0.0.5:8103/fhir/R4//Patient',
      ]) {
        expect(gatewayLink(url, ctx), url).to.equal(undefined);
      }
    });

    it('drops a link into another route, or no route: HAPI paging at the base (?_getpages=) among them', () => {
      const ctx = setup();
      for (const url of [
        `${UPSTREAM}?_getpages=7f3a&_getpagesoffset=20&_count=20`,
        `${UPSTREAM}/Observation?_count=20`,
        `${UPSTREAM}/Patient/pt-01`,
        `${UPSTREAM}/Patient/_history?_count=20`,
        `${UPSTREAM}/patient?_count=20`,
      ]) {
        expect(gatewayLink(url, ctx), url).to.equal(undefined);
      }
    });

    it('drops a link whose query says what the caller did not: a parameter or value of its own, or a paging token', () => {
      const ctx = setup('_count=20&gender=female');
      for (const url of [
        `${UPSTREAM}/Patient?_count=20&gender=female&name=Smith`,
        `${UPSTREAM}/Patient?_count=20&gender=male`,
        `${UPSTREAM}/Patient?_count=20&_cursor=2-1733000000000-pt-07`,
        `${UPSTREAM}/Patient?_count=20&_offset=pt-07`,
        `${UPSTREAM}/Patient?_count=20&cursor=eyJpZCI6InB0LTA3In0`,
      ]) {
        expect(gatewayLink(url, ctx), url).to.equal(undefined);
      }
      expect(gatewayLink(`${UPSTREAM}/Patient?gender=female&_count=20&_offset=40`, ctx)).to.equal(
        'https://records.example/Patient?gender=female&_count=20&_offset=40',
      );
    });

    it('keeps a value the caller sent among several, and paging keys the caller did not send as numbers', () => {
      const ctx = setup('gender=female&gender=other');
      expect(gatewayLink(`${UPSTREAM}/Patient?gender=other&_count=20&_offset=20`, ctx)).to.equal(
        'https://records.example/Patient?gender=other&_count=20&_offset=20',
      );
    });

    it('drops every link without a base or an upstream, or when the URL is not text', () => {
      expect(gatewayLink(`${UPSTREAM}/Patient?_count=20`, setup('_count=20', '/Patient', { base: undefined }))).to.equal(undefined);
      expect(gatewayLink(`${UPSTREAM}/Patient?_count=20`, setup('_count=20', '/Patient', { upstream: undefined }))).to.equal(undefined);
      expect(gatewayLink(42, setup())).to.equal(undefined);
    });

    it('takes any path under an upstream without a base path', () => {
      const ctx = setup('_count=20', '/Patient', { upstream: 'http://10.0.0.5:8103' });
      expect(gatewayLink('http://10.0.0.5:8103/Patient?_count=20', ctx)).to.equal('https://records.example/Patient?_count=20');
    });
  });

  describe('gatewayUrls', () => {
    function bundle(): Record<string, unknown> {
      return {
        resourceType: 'Bundle',
        type: 'searchset',
        link: [
          { relation: 'self', url: `${UPSTREAM}/Patient?_count=20` },
          { relation: 'next', url: `${UPSTREAM}?_getpages=7f3a` },
        ],
        entry: [{ search: { mode: 'match' }, resource: patient('pt-01') }],
        total: 1,
      };
    }

    it("rewrites the links it keeps, drops the others, and gives each entry the gateway's fullUrl", () => {
      const input = bundle();
      const before = structuredClone(input);
      const out = gatewayUrls(input, setup(), { fullUrls: true }) as Record<string, unknown>;
      expect(out).to.deep.equal({
        resourceType: 'Bundle',
        type: 'searchset',
        link: [{ relation: 'self', url: 'https://records.example/Patient?_count=20' }],
        entry: [{ fullUrl: 'https://records.example/Patient/pt-01', search: { mode: 'match' }, resource: patient('pt-01') }],
        total: 1,
      });
      expect(Object.keys(out)).to.deep.equal(['resourceType', 'type', 'link', 'entry', 'total']);
      expect(input).to.deep.equal(before);
    });

    it('removes link altogether when no link is kept', () => {
      const out = gatewayUrls(bundle(), setup('_count=20', '/Patient', { base: undefined }), { fullUrls: true });
      expect(out).not.to.have.property('link');
      expect((out as { entry: object[] }).entry[0]).not.to.have.property('fullUrl');
    });

    it('puts the route base before the type: /gp/Patient gives /gp/Patient/<id>', () => {
      const out = gatewayUrls(bundle(), setup('_count=20', '/gp/Patient'), { fullUrls: true }) as { entry: { fullUrl?: string }[] };
      expect(out.entry[0]?.fullUrl).to.equal('https://records.example/gp/Patient/pt-01');
    });

    it('writes no fullUrl where the route does not say where the type lives plainly, or when told not to', () => {
      for (const [path, fullUrls] of [
        ['/sites/:site/Patient', true],
        ['/people', true],
        ['/Patient', false],
      ] as const) {
        const out = gatewayUrls(bundle(), setup('_count=20', path), { fullUrls }) as { entry: object[] };
        expect(out.entry[0], path).not.to.have.property('fullUrl');
      }
    });

    it('writes no fullUrl for a resource without a plain FHIR id, or of another type, or without its type', () => {
      const entries = [
        { resource: patient('pt 01') },
        { resource: patient('x'.repeat(65)) },
        { resource: patient('https://evil.example/Patient/1') },
        { resource: { resourceType: 'Patient', id: 7 } },
        { resource: { id: 'pt-01' } },
        { resource: { resourceType: 'Observation', id: 'ob-01' } },
      ];
      const out = gatewayUrls({ ...bundle(), entry: entries }, setup(), { fullUrls: true }) as { entry: object[] };
      expect(out.entry).to.deep.equal(entries);
    });

    it('passes any other body as it is', () => {
      const record = patient('pt-01');
      expect(gatewayUrls(record, setup(), { fullUrls: true })).to.equal(record);
      const rows = [patient('pt-01')];
      expect(gatewayUrls(rows, setup(), { fullUrls: true })).to.equal(rows);
    });
  });
});
