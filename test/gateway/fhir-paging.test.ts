import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { expect } from 'chai';
import { Client } from 'fhir-kit-client';
import type { Bundle, BundleLink, Patient, Resource } from '@medplum/fhirtypes';
import { startFieldmesh } from '../cli/run.js';
import { startFhirServer } from './fhir-server.js';
import { call, ROOT, SECRET, startRawUpstream, startTestGateway, token, type TestGateway, type TestUpstream } from './helpers.js';

const POLICIES = join(ROOT, 'test', 'fixtures', 'policies', 'fhir-paging');
const ROUTES = join(ROOT, 'test', 'fixtures', 'gateway', 'fhir-paging-routes.yaml');
const BASE = '/fhir/R4';
const RESTRICTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' };

/**
 * Patients pt-01…pt-24, more than a FHIR server's default page (20): odd
 * ones registered at practice A, even ones at B; pt-05 (A) labelled restricted.
 */
function patients(): Patient[] {
  return Array.from({ length: 24 }, (_, i) => {
    const id = `pt-${String(i + 1).padStart(2, '0')}`;
    return {
      resourceType: 'Patient',
      id,
      identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: `99900000${id.slice(-2)}` }],
      name: [{ family: `Family-${id}`, given: ['Alex'] }],
      gender: 'female',
      birthDate: '1980-01-02',
      generalPractitioner: [{ reference: `Organization/${i % 2 === 0 ? 'A' : 'B'}` }],
      ...(id === 'pt-05' ? { meta: { security: [RESTRICTED] } } : {}),
    };
  });
}
/** What the policy lets a clinician of practice A see of the whole set. */
const ALLOWED_A = ['pt-01', 'pt-03', 'pt-07', 'pt-09', 'pt-11', 'pt-13', 'pt-15', 'pt-17', 'pt-19', 'pt-21', 'pt-23'];
const clinicianA = { sub: 'clin-a', roles: ['clinician'], practice: 'A' };
/** Every patient, in the record API's order: no row is hidden from the privacy officer, who may therefore page. */
const ALL = patients().map((p) => p.id ?? '');
const privacyOfficer = { sub: 'po-1', roles: ['privacy-officer'] };

function client(url: string, claims: Record<string, unknown>, purpose: string): Client {
  return new Client({ baseUrl: url, customHeaders: { Authorization: `Bearer ${token(claims)}`, 'X-Purpose': purpose } });
}
/** fhir-kit-client's own paging, typed as the Bundles it answers. */
type Paged = Parameters<Client['nextPage']>[0]['bundle'];
const nextPage = (c: Client, bundle: Bundle<Patient>) =>
  c.nextPage({ bundle: bundle as unknown as Paged }) as Promise<Bundle<Patient>> | undefined;
const prevPage = (c: Client, bundle: Bundle<Patient>) =>
  c.prevPage({ bundle: bundle as unknown as Paged }) as Promise<Bundle<Patient>> | undefined;
const idsOf = (bundle: Bundle) => (bundle.entry ?? []).map((e) => e.resource?.id ?? '');
const linkOf = (bundle: Bundle, relation: string) => bundle.link?.find((l) => l.relation === relation)?.url;

/** A GET with a Host header of the test's choosing (undici always writes its own). */
function getWithHost(url: string, host: string, headers: Record<string, string>): Promise<{ status: number; json: Bundle }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { ...headers, host }, setHost: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Bundle }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('gateway › paging a FHIR search (medplum) with fhir-kit-client', () => {
  let fhir: TestUpstream;
  let gw: TestGateway;
  let upstreamHost: string;
  before(async () => {
    fhir = await startFhirServer(patients() as Resource[], { base: BASE, pageLinks: true });
    upstreamHost = new URL(fhir.url).host;
    gw = await startTestGateway(fhir.url, { policies: POLICIES, routes: ROUTES });
  });
  after(async () => {
    await gw.close();
    await fhir.close();
  });

  it('pages with nextPage to the end and prevPage back: each page a new request, redacted and audited; together, what the policy allows', async () => {
    const c = client(gw.url, privacyOfficer, 'privacy-review');
    const auditBefore = (await gw.audit.query()).length;
    const seenBefore = fhir.seen.length;
    const pages: Bundle<Patient>[] = [
      (await c.search({ resourceType: 'Patient', searchParams: { _count: 4 } })) as unknown as Bundle<Patient>,
    ];
    for (let next = nextPage(c, pages.at(-1)!); next !== undefined; next = nextPage(c, pages.at(-1)!)) {
      pages.push(await next);
      expect(pages.length, 'the last page links to no next').to.be.lessThan(10);
    }
    // 24 patients, 4 a page: the record API's six pages, each redacted on its own.
    expect(pages.map(idsOf)).to.deep.equal([0, 4, 8, 12, 16, 20].map((i) => ALL.slice(i, i + 4)));
    expect(pages.flatMap(idsOf)).to.deep.equal(ALL);
    for (const page of pages) {
      for (const e of page.entry ?? []) {
        // The security labels steer restrictions and are never disclosed, not even the restricted one's.
        expect(e.resource).not.to.have.property('meta');
        expect(e.fullUrl).to.equal(`${gw.url}/Patient/${e.resource?.id}`);
      }
      expect(page.total, 'total is what this page returned').to.equal((page.entry ?? []).length);
      for (const link of page.link ?? []) expect(link.url.startsWith(`${gw.url}/Patient?`), link.url).to.equal(true);
      expect(JSON.stringify(page)).not.to.include(upstreamHost);
      expect(JSON.stringify(page)).not.to.include('"security"');
    }
    expect(linkOf(pages[1]!, 'next')).to.equal(`${gw.url}/Patient?_count=4&_offset=8`);
    expect(linkOf(pages[1]!, 'previous')).to.equal(`${gw.url}/Patient?_count=4`);
    // Each page reached the record API as checked: the paging keys of its link and nothing else.
    expect(fhir.seen.slice(seenBefore).map((s) => s.url)).to.deep.equal([
      `${BASE}/Patient?_count=4`,
      `${BASE}/Patient?_count=4&_offset=4`,
      `${BASE}/Patient?_count=4&_offset=8`,
      `${BASE}/Patient?_count=4&_offset=12`,
      `${BASE}/Patient?_count=4&_offset=16`,
      `${BASE}/Patient?_count=4&_offset=20`,
    ]);
    // One disclosure event per page, naming that page's records only.
    const events = (await gw.audit.query()).slice(auditBefore);
    expect(events.map((e) => [e.decision, e.recordIds.slice().sort()])).to.deep.equal(pages.map((p) => ['disclosed', idsOf(p).sort()]));

    const back: Bundle<Patient>[] = [pages.at(-1)!];
    for (let prev = prevPage(c, back.at(-1)!); prev !== undefined; prev = prevPage(c, back.at(-1)!)) {
      back.push(await prev);
      expect(back.length).to.be.lessThan(10);
    }
    expect(back.map(idsOf).reverse()).to.deep.equal(pages.map(idsOf));
    expect((await gw.audit.query()).length - auditBefore).to.equal(pages.length + back.length - 1);
  });

  it('refuses the first page to a clinician, from whom rows may be hidden, before the record API is asked', async () => {
    // A page of the clinician's would be cut before practice B's patients and the restricted one are removed:
    // how short it came out, and where, would show where they sit.
    const seenBefore = fhir.seen.length;
    let status: number | undefined;
    await client(gw.url, clinicianA, 'direct-care')
      .search({ resourceType: 'Patient', searchParams: { _count: 4 } })
      .catch((e: { response?: { status?: number } }) => {
        status = e.response?.status;
      });
    expect(status).to.equal(403);
    expect(fhir.seen.length).to.equal(seenBefore);
  });

  it("never sends the record API's address: every raw answer along the next links", async () => {
    const headers = { authorization: `Bearer ${token(privacyOfficer)}`, 'x-purpose': 'privacy-review' };
    let url: string | undefined = `${gw.url}/Patient?_count=3`;
    let pages = 0;
    while (url !== undefined) {
      const res = await call(url, { headers });
      expect(res.status).to.equal(200);
      expect(res.text).not.to.include(upstreamHost);
      expect(res.text).not.to.include(BASE);
      url = (res.json as Bundle).link?.find((l: BundleLink) => l.relation === 'next')?.url;
      pages += 1;
      expect(pages).to.be.lessThan(10);
    }
    expect(pages).to.equal(8);
  });

  it('builds links from Host when no public URL is set, and writes none for a Host that is not plain', async () => {
    const headers = { authorization: `Bearer ${token(privacyOfficer)}`, 'x-purpose': 'privacy-review' };
    const named = await getWithHost(`${gw.url}/Patient?_count=4`, 'records.internal:8443', headers);
    expect(named.status).to.equal(200);
    expect(linkOf(named.json, 'next')).to.equal('http://records.internal:8443/Patient?_count=4&_offset=4');
    expect(named.json.entry?.[0]?.fullUrl).to.equal('http://records.internal:8443/Patient/pt-01');
    for (const host of ['evil.example@records.internal', 'records.internal:99999', '0x7f.1']) {
      const res = await getWithHost(`${gw.url}/Patient?_count=4`, host, headers);
      expect(res.status, host).to.equal(200);
      expect(res.json, host).not.to.have.property('link');
      expect(idsOf(res.json), host).to.deep.equal(ALL.slice(0, 4));
      for (const e of res.json.entry ?? []) expect(e, host).not.to.have.property('fullUrl');
    }
  });

  it('answers a filtered search the record API paged by itself whole when rows may be hidden: the gateway follows every page itself', async () => {
    // Where a page is cut, or whether the record API paged at all, depends on the hidden rows that matched:
    // answering one page, or refusing because there was more than one, would tell the caller about them.
    const c = client(gw.url, clinicianA, 'direct-care');
    const seenBefore = fhir.seen.length;
    const bundle = (await c.search({ resourceType: 'Patient', searchParams: { gender: 'female' } })) as unknown as Bundle<Patient>;
    // 24 female patients, 20 a page: the gateway asked for both pages and answered what the policy allows of all 24.
    expect(fhir.seen.length - seenBefore).to.equal(2);
    expect(fhir.seen.at(-1)?.url).to.match(/^\/fhir\/R4\/Patient\?.*_offset=20/);
    expect(fhir.seen.at(-1)?.url).to.include('gender=female');
    expect(idsOf(bundle).sort()).to.deep.equal(ALLOWED_A);
    expect(bundle.total).to.equal(ALLOWED_A.length);
    expect((bundle.link ?? []).map((l) => l.relation)).to.not.include.members(['next', 'previous']);
    expect(JSON.stringify(bundle)).not.to.include(upstreamHost);
    // The page that next link named, asked for outright: refused before the record API is asked.
    let status: number | undefined;
    await c
      .search({ resourceType: 'Patient', searchParams: { gender: 'female', _count: 20, _offset: 20 } })
      .catch((e: { response?: { status?: number } }) => {
        status = e.response?.status;
      });
    expect(status).to.equal(403);
    expect(fhir.seen.length - seenBefore).to.equal(2);
  });

  it('answers alike however many hidden rows a search matched: no page cut, no refusal to count them by', async () => {
    // The 11 patients the clinician may see, padded with hidden ones (practice B) up to and past the record API's page of 20.
    const c = client(gw.url, clinicianA, 'direct-care');
    const hidden = ['pt-02', 'pt-04', 'pt-06', 'pt-08', 'pt-10', 'pt-12', 'pt-14', 'pt-16', 'pt-18', 'pt-20'];
    const answers: string[][] = [];
    for (const extra of [hidden.slice(0, 9), hidden, ['pt-99', ...hidden.slice(0, 8)]]) {
      const bundle = (await c.search({
        resourceType: 'Patient',
        searchParams: { _id: [...ALLOWED_A, ...extra].join(',') },
      })) as unknown as Bundle<Patient>;
      answers.push(idsOf(bundle).sort());
    }
    // 20 matched (one page), 21 matched (two pages), 19 matched and one missing: the same answer each time.
    expect(answers).to.deep.equal([ALLOWED_A, ALLOWED_A, ALLOWED_A]);
  });

  it('writes links but no fullUrl when the ids disclosed are pseudonyms', async () => {
    const c = client(gw.url, { sub: 'rev-1', roles: ['reviewer'] }, 'quality-review');
    const page = (await c.search({ resourceType: 'Patient', searchParams: { _count: 4 } })) as unknown as Bundle<Patient>;
    expect(idsOf(page)).to.have.length(4);
    for (const id of idsOf(page)) expect(id).not.to.match(/^pt-/);
    for (const e of page.entry ?? []) expect(e).not.to.have.property('fullUrl');
    expect(linkOf(page, 'next')).to.equal(`${gw.url}/Patient?_count=4&_offset=4`);
    expect(JSON.stringify(page)).not.to.include('pt-0');
  });
});

describe('gateway › paging with a public URL', () => {
  it('writes every link and fullUrl under --public-url, whatever Host says', async () => {
    const fhir = await startFhirServer(patients() as Resource[], { base: BASE, pageLinks: true });
    const gw = await startTestGateway(fhir.url, { policies: POLICIES, routes: ROUTES, publicUrl: 'https://records.example/gw/' });
    try {
      const headers = { authorization: `Bearer ${token(privacyOfficer)}`, 'x-purpose': 'privacy-review' };
      const res = await getWithHost(`${gw.url}/Patient?_count=4&_offset=4`, 'evil.example', headers);
      expect(res.status).to.equal(200);
      expect(res.json.link).to.deep.equal([
        { relation: 'self', url: 'https://records.example/gw/Patient?_count=4&_offset=4' },
        { relation: 'first', url: 'https://records.example/gw/Patient?_count=4' },
        { relation: 'next', url: 'https://records.example/gw/Patient?_count=4&_offset=8' },
        { relation: 'previous', url: 'https://records.example/gw/Patient?_count=4' },
      ]);
      expect(res.json.entry?.map((e) => e.fullUrl)).to.deep.equal(ALL.slice(4, 8).map((id) => `https://records.example/gw/Patient/${id}`));
    } finally {
      await gw.close();
      await fhir.close();
    }
  });
});

describe('gateway › links an upstream writes elsewhere', () => {
  it('drops links to another origin, base path or route, paging at the base, and queries the caller did not send', async () => {
    let origin = '';
    const bundle = () => ({
      resourceType: 'Bundle',
      type: 'searchset',
      link: [
        { relation: 'self', url: `${origin}${BASE}/Patient?_count=2` },
        { relation: 'first', url: 'Patient?_count=2' },
        { relation: 'next', url: `${origin}${BASE}?_getpages=7f3a-44&_getpagesoffset=2&_count=2` },
        { relation: 'next', url: `http://fhir.elsewhere.example${BASE}/Patient?_count=2&_offset=2` },
        { relation: 'next', url: `${origin}/other/Patient?_count=2&_offset=2` },
        { relation: 'next', url: `${origin}${BASE}/Observation?_count=2` },
        { relation: 'next', url: `${origin}${BASE}/Patient/pt-01` },
        { relation: 'next', url: `${origin}${BASE}/Patient?_count=2&_offset=2&name=Family-pt-03` },
        { relation: 'next', url: `${origin}${BASE}/Patient?_count=2&_cursor=2-1733000000000-pt-02` },
        { relation: 'previous', url: `${origin}${BASE}/Patient?_count=2&_offset=0` },
        { relation: 'last', url: `${origin}${BASE}/Patient?_count=2&_offset=12` },
      ],
      entry: patients()
        .slice(0, 2)
        .map((p) => ({ fullUrl: `${origin}${BASE}/Patient/${p.id}`, resource: p, search: { mode: 'match' } })),
    });
    const upstream = await startRawUpstream((_req, res) => {
      const text = JSON.stringify(bundle());
      res.writeHead(200, { 'content-type': 'application/fhir+json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
    origin = upstream.url;
    const gw = await startTestGateway(`${upstream.url}${BASE}`, { policies: POLICIES, routes: ROUTES });
    try {
      const res = await call(`${gw.url}/Patient?_count=2`, {
        headers: { authorization: `Bearer ${token(privacyOfficer)}`, 'x-purpose': 'privacy-review' },
      });
      expect(res.status).to.equal(200);
      expect(res.json.link).to.deep.equal([
        { relation: 'self', url: `${gw.url}/Patient?_count=2` },
        { relation: 'first', url: `${gw.url}/Patient?_count=2` },
        { relation: 'previous', url: `${gw.url}/Patient?_count=2&_offset=0` },
      ]);
      expect(res.json.entry.map((e: { fullUrl: string }) => e.fullUrl)).to.deep.equal([
        `${gw.url}/Patient/pt-01`,
        `${gw.url}/Patient/pt-02`,
      ]);
      expect(res.text).not.to.include(new URL(upstream.url).host);
      expect(res.text).not.to.include('elsewhere');
      expect(res.text).not.to.include('_getpages');
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});

describe('gateway › --public-url at start-up (the built binary)', () => {
  it('refuses a public URL with userinfo, a query or another scheme: exit 2 naming the variable or flag, never the value', async () => {
    for (const [args, env, named] of [
      [[], { FIELDMESH_PUBLIC_URL: 'https://gw:s3cr3t-pass@records.example/' }, 'FIELDMESH_PUBLIC_URL: must not hold user:password@'],
      [[], { FIELDMESH_PUBLIC_URL: 'https://records.example/?s3cr3t-pass=1' }, 'FIELDMESH_PUBLIC_URL: must not hold a query'],
      [['--public-url', 'ftp://records.example/s3cr3t-pass'], {}, '--public-url: must be an http:// or https:// URL'],
    ] as const) {
      const p = startFieldmesh(
        ['serve', '--upstream', 'http://127.0.0.1:9', '--routes', ROUTES, '--policies', POLICIES, '--port', '0', ...args],
        {
          env: { FIELDMESH_JWT_SECRET: SECRET, ...env },
        },
      );
      try {
        expect((await p.exited).code, named).to.equal(2);
        expect(p.out.stderr).to.include(named);
        expect(p.out.stderr).not.to.include('s3cr3t-pass');
      } finally {
        p.stop('SIGKILL');
      }
    }
  });
});
