import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import fc from 'fast-check';
import request from 'supertest';
import { loadPolicies } from '../../src/index.js';
import { as, cleanup, PATIENTS, setup, USERS } from '../express/harness.js';
import {
  as as gwAs,
  call,
  NOW,
  POLICIES,
  PSEUDONYM_KEY,
  records,
  startRawUpstream,
  startTestGateway,
  USERS as GW_USERS,
  type TestGateway,
  type TestUpstream,
} from '../gateway/helpers.js';

/** Safeguarding concerns: the safeguarding lead reads every one (no row condition, no restriction withholding one). */
const CONCERNS = records('SafeguardingConcern');

/**
 * Where a row stands can say who it is. A de-identified list in the record
 * API's order (often by id) pairs the n-th pseudonym with the n-th id, and a
 * page the record API cut before fieldmesh removed hidden rows shows that
 * they were there, or that they matched a filter.
 */
describe('security › row order and paging', () => {
  afterEach(cleanup);

  describe('de-identified lists', () => {
    it('come in an order that does not depend on the order the record API gave', async () => {
      const policies = await loadPolicies(POLICIES, { pseudonymKey: PSEUDONYM_KEY, now: NOW });
      const ctx = {
        resource: 'Patient',
        purpose: 'service-planning',
        user: { sub: 'a1', roles: ['analyst'], training: '2026-06-01' },
        now: NOW,
      };
      const rows = records('Patient');
      const base = policies.redact(rows, ctx).data as unknown[];
      expect(base.length).to.be.greaterThan(5);
      fc.assert(
        fc.property(fc.shuffledSubarray(rows, { minLength: rows.length, maxLength: rows.length }), (shuffled) => {
          expect(policies.redact(shuffled, ctx).data).to.deep.equal(base);
        }),
        { numRuns: 50 },
      );
      // And not the record API's own (id) order either.
      const inIdOrder = policies.redact(
        [...rows].sort((a, b) => String(a['id']).localeCompare(String(b['id']))),
        ctx,
      ).data;
      expect(inIdOrder).to.deep.equal(base);
    });

    it('cannot be paged through the middleware (the position of a row would name it)', async () => {
      let reached = 0;
      const h = await setup((app, mesh) => {
        app.get('/patients', mesh.read('Patient'), (_req, res) => {
          reached += 1;
          res.json(PATIENTS);
        });
        app.get('/concerns', mesh.read('SafeguardingConcern'), (_req, res) => res.json(CONCERNS));
      });
      const paged = await request(h.app).get('/patients?_limit=1&_page=4').set(as(USERS.analyst, 'service-planning'));
      expect(paged.status).to.equal(403);
      expect(paged.body.error.code).to.equal('filter_forbidden');
      expect(paged.body.error.message).to.match(/de-identified/);
      expect(reached).to.equal(0);
      const whole = await request(h.app).get('/patients').set(as(USERS.analyst, 'service-planning'));
      expect(whole.status).to.equal(200);
      // Identifiable rows may be paged only where none can be hidden: a receptionist may have sealed records withheld,
      // the safeguarding lead reads every concern.
      const receptionist = await request(h.app).get('/patients?_limit=1&_page=4').set(as(USERS.receptionist, 'administration'));
      expect(receptionist.status).to.equal(403);
      expect(receptionist.body.error.message).to.include('Paging is not available here');
      expect(reached).to.equal(1);
      const lead = await request(h.app).get('/concerns?_limit=1&_page=4').set(as(USERS.lead, 'safeguarding'));
      expect(lead.status).to.equal(200);
    });
  });

  describe('a FHIR server that pages by itself (gateway)', () => {
    let dir: string;
    let upstream: TestUpstream;
    let gateway: TestGateway;
    let paged = true;
    const patients: Record<string, unknown>[] = records('Patient').map((p) => ({ resourceType: 'Patient', ...p }));
    const concerns: Record<string, unknown>[] = CONCERNS.map((c) => ({ resourceType: 'SafeguardingConcern', ...c }));

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'fieldmesh-paging-'));
      const routes = join(dir, 'routes.yaml');
      writeFileSync(
        routes,
        'routes:\n  - { path: /Patient, resource: Patient, list: entry.resource }\n' +
          '  - { path: /SafeguardingConcern, resource: SafeguardingConcern, list: entry.resource }\n',
      );
      // Like a FHIR server with a default page size of 3: no paging was asked for, yet the answer is one page of more.
      upstream = await startRawUpstream((req, res) => {
        const url = new URL(req.url ?? '/', 'http://x');
        const type = url.pathname === '/SafeguardingConcern' ? 'SafeguardingConcern' : 'Patient';
        const name = url.searchParams.get('name');
        const all = type === 'Patient' ? patients : concerns;
        const matched = name === null ? all : all.filter((p) => name.split(',').some((n) => JSON.stringify(p['name'] ?? '').includes(n)));
        const page = paged ? matched.slice(0, 3) : matched;
        const bundle = {
          resourceType: 'Bundle',
          type: 'searchset',
          total: matched.length,
          link: [
            { relation: 'self', url: `http://upstream/${type}` },
            ...(paged && matched.length > 3 ? [{ relation: 'next', url: `http://upstream/${type}?_getpages=x` }] : []),
          ],
          entry: page.map((resource) => ({ resource, search: { mode: 'match' } })),
        };
        res.writeHead(200, { 'content-type': 'application/fhir+json' });
        res.end(JSON.stringify(bundle));
      });
      gateway = await startTestGateway(upstream.url, { routes });
    });

    after(async () => {
      await gateway?.close();
      await upstream?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('never answers one page of a filtered search when rows may be hidden: a next link it cannot follow on its route answers nothing', async () => {
      paged = true;
      // The ward nurse reads only her care team's patients: a short page with a next link would show that others matched.
      // The gateway gathers every page itself (docs/fhir.md); this upstream pages at another path (`?_getpages=`), so the whole result is unknown.
      const res = await call(`${gateway.url}/Patient?name=a`, { headers: gwAs(GW_USERS.nurse, 'direct-care') });
      expect(res.status).to.equal(502);
      // A FHIR route answers its errors as an OperationOutcome, the code in details (docs/fhir.md).
      expect(res.json.issue[0].details.coding[0].code).to.equal('upstream_invalid');
      expect(res.text).not.to.match(/pat-0\d\d/);
      const events = await gateway.audit.query({});
      expect(events.at(-1)).to.include({ decision: 'refused', code: 'upstream_invalid' });
    });

    it('passes the same filtered search when the record API answers it whole, and an unfiltered page only where no row can be hidden', async () => {
      paged = false;
      const whole = await call(`${gateway.url}/Patient?name=a`, { headers: gwAs(GW_USERS.nurse, 'direct-care') });
      expect(whole.status).to.equal(200);
      paged = true;
      // Unfiltered, the nurse's page would still show where her hidden rows sit: gathered whole, here nothing at all.
      const unfiltered = await call(`${gateway.url}/Patient`, { headers: gwAs(GW_USERS.nurse, 'direct-care') });
      expect(unfiltered.status).to.equal(502);
      expect(unfiltered.json.issue[0].details.coding[0].code).to.equal('upstream_invalid');
      expect(unfiltered.text).not.to.match(/pat-0\d\d/);
      // The safeguarding lead reads every concern: the record API's own page is passed on as it is.
      const lead = await call(`${gateway.url}/SafeguardingConcern`, { headers: gwAs(GW_USERS.lead, 'safeguarding') });
      expect(lead.status).to.equal(200);
      expect((lead.json.entry as unknown[]).length).to.equal(3);
    });

    it('refuses paging to a caller from whom rows may be hidden, before the handler or the record API is asked (an empty page at an offset named a hidden record)', async () => {
      // Middleware, json-server style: a GP reads only patients of their own practice.
      let reached = 0;
      const h = await setup((app, mesh) => {
        app.get('/patients', mesh.read('Patient'), (_req, res) => {
          reached += 1;
          res.json(PATIENTS);
        });
      });
      for (const page of [1, 2, 5]) {
        const res = await request(h.app).get(`/patients?_page=${page}&_limit=1`).set(as(USERS.gp));
        expect(res.status, `_page=${page}`).to.equal(403);
        expect(res.body.error.code).to.equal('filter_forbidden');
        expect(res.body.error.message).to.include('Paging is not available here');
        expect(res.text).not.to.match(/pat-0\d\d/);
      }
      expect(reached).to.equal(0);
      // Gateway, FHIR route: the same refusal at every offset, the record API never asked.
      const before = upstream.seen.length;
      const answers: string[] = [];
      for (const offset of [0, 1, 4, 23]) {
        const res = await call(`${gateway.url}/Patient?_count=1&_offset=${offset}`, { headers: gwAs(GW_USERS.nurse, 'direct-care') });
        expect(res.status, `_offset=${offset}`).to.equal(403);
        expect(res.json.resourceType).to.equal('OperationOutcome');
        expect(res.json.issue[0].details.coding[0].code).to.equal('filter_forbidden');
        expect(res.text).not.to.match(/pat-0\d\d/);
        answers.push(JSON.stringify(res.json.issue));
      }
      expect(new Set(answers).size, 'the refusal is the same at every offset').to.equal(1);
      expect(upstream.seen.length).to.equal(before);
    });

    it('refuses any page of more to a de-identified purpose, and passes a whole answer in content order', async () => {
      paged = true;
      const page = await call(`${gateway.url}/Patient`, { headers: gwAs(GW_USERS.analyst, 'service-planning') });
      // Never the page: gathered whole, or (this upstream pages at a path no route names) nothing at all.
      expect(page.status).to.equal(502);
      expect(page.json.issue[0].details.coding[0].code).to.equal('upstream_invalid');
      expect(page.text).not.to.match(/pat-0\d\d/);
      paged = false;
      const whole = await call(`${gateway.url}/Patient`, { headers: gwAs(GW_USERS.analyst, 'service-planning') });
      expect(whole.status).to.equal(200);
      const entries = whole.json.entry as unknown[];
      expect(entries.length).to.be.greaterThan(5);
      const keys = entries.map((e) => JSON.stringify(e));
      expect(keys).to.deep.equal([...keys].sort());
    });
  });
});
