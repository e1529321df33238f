import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import request from 'supertest';
import { as, cleanup, patient, PATIENTS, setup, USERS } from '../express/harness.js';
import { call, as as gwAs, startRawUpstream, startTestGateway, USERS as GW_USERS } from '../gateway/helpers.js';

/**
 * Where a route says the rows are (`list: items`, `entry.resource`), the rest
 * of the body is an envelope, and deny by default holds there too
 * (docs/middleware.md, "Envelopes and FHIR Bundles"): nothing is ever passed
 * through unredacted, and a field not granted is removed, including fields
 * the upstream API adds later. Of the envelope, only what that section names
 * is kept.
 */
describe('security › list envelopes', () => {
  afterEach(cleanup);

  // pat-002 is on the nurse's ward but flagged dv-risk; pat-003 is on another ward.
  const hiddenRow = () => patient('pat-003');

  it('does not pass record data in a sibling of the rows (JSON:API-style "included")', async () => {
    const h = await setup((app, mesh) => {
      app.get('/patients', mesh.read('Patient', { list: 'data' }), (_req, res) => {
        res.json({ data: [patient('pat-001')], included: [hiddenRow()] });
      });
    });
    const res = await request(h.app).get('/patients').set(as(USERS.nurse));
    expect(res.status).to.equal(200);
    expect(res.body.data).to.have.length(1);
    // pat-003 is not the nurse's patient at all: nothing of it may appear.
    expect(res.text).not.to.include('Exampleton');
    expect(res.text).not.to.include('pat-003');
  });

  it('does not pass the address of a dv-risk patient that the upstream adds to the envelope', async () => {
    const h = await setup((app, mesh) => {
      app.get('/patients', mesh.read('Patient', { list: 'items' }), (_req, res) => {
        const p = patient('pat-002');
        res.json({ items: [p], addressBook: { [String(p['id'])]: p['address'] } });
      });
    });
    const res = await request(h.app).get('/patients').set(as(USERS.receptionist, 'administration'));
    expect(res.status).to.equal(200);
    expect(res.body.items[0]).not.to.have.property('address');
    const line = (patient('pat-002')['address'] as { line: string[] }[])[0]!.line[0]!;
    expect(res.text).not.to.include(line);
  });

  it('does not pass the other keys of a FHIR Bundle entry (a response outcome naming the patient)', async () => {
    const h = await setup((app, mesh) => {
      app.get('/fhir/Patient', mesh.read('Patient', { list: 'entry.resource' }), (_req, res) => {
        const p: Record<string, unknown> = { resourceType: 'Patient', ...patient('pat-001') };
        res.json({
          resourceType: 'Bundle',
          type: 'searchset',
          entry: [
            {
              fullUrl: 'urn:x',
              resource: p,
              search: { mode: 'match' },
              response: { outcome: { issue: [{ diagnostics: `address on file: ${JSON.stringify(p['address'])}` }] } },
            },
          ],
        });
      });
    });
    // The nurse sees pat-001 (ward-7) but never its address.
    const res = await request(h.app).get('/fhir/Patient').set(as(USERS.nurse));
    expect(res.status).to.equal(200);
    expect(res.body.entry[0].resource).not.to.have.property('address');
    expect(res.text).not.to.include('1 Example Street');
  });

  it('does not pass a FHIR Bundle whole when it has no "entry" (rows elsewhere, e.g. "contained")', async () => {
    const h = await setup((app, mesh) => {
      app.get('/fhir/Patient', mesh.read('Patient', { list: 'entry.resource' }), (_req, res) => {
        res.json({ resourceType: 'Bundle', type: 'searchset', contained: [hiddenRow()] });
      });
    });
    const res = await request(h.app).get('/fhir/Patient').set(as(USERS.nurse));
    expect(res.text).not.to.include('Exampleton');
  });

  it('does not pass counts of hidden rows kept beside the rows (meta.total, pagination.total)', async () => {
    const h = await setup((app, mesh) => {
      app.get('/patients', mesh.read('Patient', { list: 'items' }), (_req, res) => {
        res.json({ items: PATIENTS, meta: { total: PATIENTS.length }, pagination: { total: PATIENTS.length, pages: 1 } });
      });
    });
    const res = await request(h.app).get('/patients').set(as(USERS.nurse));
    expect(res.status).to.equal(200);
    const shown = res.body.items.length as number;
    expect(shown).to.be.lessThan(PATIENTS.length);
    // Left as sent, these say how many rows the nurse may not see (and so that they exist).
    for (const n of [res.body.meta?.total, res.body.pagination?.total]) if (n !== undefined) expect(n).to.equal(shown);
  });

  it('does not pass the envelope unredacted through the gateway either', async () => {
    const upstream = await startRawUpstream((_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ items: [], debug: { lastMatch: hiddenRow() } }));
    });
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-sec-'));
    const routes = join(dir, 'routes.yaml');
    writeFileSync(routes, 'routes:\n  - path: /patients\n    resource: Patient\n    list: items\n');
    const gw = await startTestGateway(upstream.url, { routes });
    try {
      const res = await call(`${gw.url}/patients`, { headers: gwAs(GW_USERS.nurse, 'direct-care') });
      expect(res.text).not.to.include('Exampleton');
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});
