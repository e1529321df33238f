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

/**
 * Where a row stands can say who it is. A de-identified list in the record
 * API's order (often by id) pairs the n-th pseudonym with the n-th id, and a
 * page the record API cut before fieldmesh removed hidden rows shows that
 * they were there, or that they matched a filter.
 */
describe('security › row order and paging', () => {
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
      });
      const paged = await request(h.app).get('/patients?_limit=1&_page=4').set(as(USERS.analyst, 'service-planning'));
      expect(paged.status).to.equal(403);
      expect(paged.body.error.code).to.equal('filter_forbidden');
      expect(paged.body.error.message).to.match(/de-identified/);
      expect(reached).to.equal(0);
      const whole = await request(h.app).get('/patients').set(as(USERS.analyst, 'service-planning'));
      expect(whole.status).to.equal(200);
      // A receptionist (identifiable rows) may still page without filters.
      const receptionist = await request(h.app).get('/patients?_limit=1&_page=4').set(as(USERS.receptionist, 'administration'));
      expect(receptionist.status).to.equal(200);
    });
    afterEach(cleanup);
  });

  describe('a FHIR server that pages by itself (gateway)', () => {
    let dir: string;
    let upstream: TestUpstream;
    let gateway: TestGateway;
    let paged = true;
    const patients: Record<string, unknown>[] = records('Patient').map((p) => ({ resourceType: 'Patient', ...p }));

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'fieldmesh-paging-'));
      const routes = join(dir, 'routes.yaml');
      writeFileSync(routes, 'routes:\n  - { path: /Patient, resource: Patient, list: entry.resource }\n');
      // Like a FHIR server with a default page size of 3: no paging was asked for, yet the answer is one page of more.
      upstream = await startRawUpstream((req, res) => {
        const name = new URL(req.url ?? '/', 'http://x').searchParams.get('name');
        const matched =
          name === null ? patients : patients.filter((p) => name.split(',').some((n) => JSON.stringify(p['name'] ?? '').includes(n)));
        const page = paged ? matched.slice(0, 3) : matched;
        const bundle = {
          resourceType: 'Bundle',
          type: 'searchset',
          total: matched.length,
          link: [
            { relation: 'self', url: 'http://upstream/Patient' },
            ...(paged && matched.length > 3 ? [{ relation: 'next', url: 'http://upstream/Patient?_getpages=x' }] : []),
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

    it('passes the same filtered search when the record API answers it whole, and an unfiltered page', async () => {
      paged = false;
      const whole = await call(`${gateway.url}/Patient?name=a`, { headers: gwAs(GW_USERS.nurse, 'direct-care') });
      expect(whole.status).to.equal(200);
      paged = true;
      const unfiltered = await call(`${gateway.url}/Patient`, { headers: gwAs(GW_USERS.nurse, 'direct-care') });
      expect(unfiltered.status).to.equal(200);
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
