import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { request } from 'undici';
import { openAuditStore } from '../../src/audit/open.js';
import { onSignals } from '../../src/gateway/server.js';
import { as, call, POLICIES, records, startJsonServer, startRawUpstream, startTestGateway, USERS, type TestGateway } from './helpers.js';

/** Wait for a condition (no timing threshold: the test's own time limit bounds it). */
async function until(cond: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await cond())) await sleep(10);
}

describe('gateway › operations', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const c of open.splice(0).reverse()) await c.close();
  });

  describe('/healthz and /readyz', () => {
    it('answers up and ready with the policy version', async () => {
      const upstream = await startJsonServer();
      open.push(upstream);
      const gw = await startTestGateway(upstream.url);
      open.push(gw);
      const health = await call(`${gw.url}/healthz`);
      expect(health.status).to.equal(200);
      const ready = await call(`${gw.url}/readyz`);
      expect(ready.status).to.equal(200);
      expect(ready.json).to.deep.include({ status: 'ready', policyVersion: gw.gw.holder.current.version });
      expect(upstream.seen).to.have.length(0);
    });

    it('ignores a query string on /healthz, /readyz and /metrics (a probe or scraper may add one), and never forwards them', async () => {
      const upstream = await startJsonServer();
      open.push(upstream);
      const gw = await startTestGateway(upstream.url);
      open.push(gw);
      expect((await call(`${gw.url}/healthz?probe=1`)).status).to.equal(200);
      const ready = await call(`${gw.url}/readyz?x=1&y`);
      expect(ready.status).to.equal(200);
      expect(ready.json).to.deep.include({ status: 'ready' });
      const metrics = await request(`${gw.url}/metrics?x=1`);
      expect(metrics.statusCode).to.equal(200);
      expect(await metrics.body.text()).to.include('fieldmesh_requests_total');
      // Not a prefix match: another path is the proxy's, which knows no such route.
      expect((await call(`${gw.url}/metricsx?x=1`)).status).to.equal(404);
      expect(upstream.seen).to.have.length(0);
    });

    it('is not ready, and discloses nothing, while the audit trail cannot be written; ready again once it can', async () => {
      const upstream = await startJsonServer();
      open.push(upstream);
      const dir = join(mkdtempSync(join(tmpdir(), 'fieldmesh-gw-')), 'not-yet');
      // The store is given: `serve` would refuse a trail whose folder is missing at start (a configuration error), while a
      // store whose folder goes away later recovers by itself, as this one does.
      const gw = await startTestGateway(upstream.url, {}, { audit: await openAuditStore(join(dir, 'audit.db')) });
      open.push(gw);
      const ready = await call(`${gw.url}/readyz`);
      expect(ready.status).to.equal(503);
      expect(ready.json.checks).to.deep.include({ policies: true, audit: false });
      const res = await call(`${gw.url}/patients/pat-001`, { headers: as(USERS.gp, 'direct-care') });
      expect(res.status).to.equal(503);
      expect(res.json.error.code).to.equal('audit_unavailable');
      expect(res.text).not.to.include('Testwood');
      mkdirSync(dir);
      expect((await call(`${gw.url}/readyz`)).status).to.equal(200);
      expect((await call(`${gw.url}/patients/pat-001`, { headers: as(USERS.gp, 'direct-care') })).status).to.equal(200);
    });
  });

  describe('graceful shutdown', () => {
    it('stops accepting, lets a request in flight finish (redacted and audited), then closes the audit trail', async () => {
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      const upstream = await startRawUpstream((_req, res) => {
        void held.then(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(records('Patient')[0])));
      });
      open.push(upstream);
      const file = join(mkdtempSync(join(tmpdir(), 'fieldmesh-gw-')), 'audit.db');
      const gw = await startTestGateway(upstream.url, { audit: file, timeoutMs: '60000' }, { audit: await openAuditStore(file) });
      const inFlight = call(`${gw.url}/patients/pat-001`, { headers: as(USERS.receptionist, 'administration') });
      await until(() => upstream.seen.length === 1);
      const closed = gw.close();
      let refused: unknown;
      await request(`${gw.url}/healthz`).catch((e: unknown) => (refused = e));
      expect((refused as NodeJS.ErrnoException | undefined)?.code).to.equal('ECONNREFUSED');
      release();
      const res = await inFlight;
      expect(res.status).to.equal(200);
      expect(res.json.nhsNumber).to.equal('******0018');
      expect(res.json).not.to.have.property('diagnoses');
      await closed;
      expect(await gw.audit.healthy()).to.equal(false);
      const reader = await openAuditStore(file, { readonly: true });
      expect((await reader.query()).map((e) => e.decision)).to.deep.equal(['disclosed']);
      await reader.close();
    });
  });

  describe('policy reload', () => {
    async function setup(): Promise<{ gw: TestGateway; dir: string }> {
      const upstream = await startJsonServer();
      open.push(upstream);
      const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-policies-'));
      cpSync(POLICIES, dir, { recursive: true });
      const gw = await startTestGateway(upstream.url, { policies: dir });
      open.push(gw);
      return { gw, dir };
    }
    /** The roles file with the receptionist no longer granted telecom. */
    function withoutReceptionistTelecom(dir: string): string {
      const text = readFileSync(join(dir, 'roles.yaml'), 'utf8');
      const changed = text.replace(
        'read: [id, nhsNumber, name, telecom, address, gp, dateOfBirth]',
        'read: [id, nhsNumber, name, address, gp, dateOfBirth]',
      );
      expect(changed).not.to.equal(text);
      return changed;
    }
    const receptionistRead = (gw: TestGateway) => call(`${gw.url}/patients/pat-001`, { headers: as(USERS.receptionist, 'administration') });

    it('keeps the last good policy set when the new one fails to load, and says why', async () => {
      const { gw, dir } = await setup();
      const before = gw.gw.holder.current.version;
      writeFileSync(
        join(dir, 'zz-broken.yaml'),
        'roles:\n  intern:\n    grants:\n      - purpose: dirct-care\n        resource: Patient\n        read: view\n',
      );
      expect(await gw.gw.reload('test')).to.equal(false);
      expect(gw.gw.holder.current.version).to.equal(before);
      expect((await receptionistRead(gw)).status).to.equal(200);
      const failure = gw.logs.find((l) => l['event'] === 'policy_reload_failed');
      expect(JSON.stringify(failure?.['problems'])).to.include('zz-broken.yaml');
    });

    it('keeps the last good set when a file is caught empty mid-deploy, so restrictions keep firing', async () => {
      const { gw, dir } = await setup();
      const before = gw.gw.holder.current.version;
      const gp = () => call(`${gw.url}/patients/pat-002`, { headers: as(USERS.gp, 'direct-care') });
      expect((await gp()).json).not.to.have.property('address');
      for (const text of ['', '# being replaced\n', '---\n']) {
        writeFileSync(join(dir, 'restrictions.yaml'), text);
        expect(await gw.gw.reload('test'), JSON.stringify(text)).to.equal(false);
        expect(gw.gw.holder.current.version).to.equal(before);
        // dv-address still withholds the address of a person at risk of domestic violence.
        expect((await gp()).json).not.to.have.property('address');
      }
      const failure = gw.logs.find((l) => l['event'] === 'policy_reload_failed');
      expect(JSON.stringify(failure?.['problems'])).to.include('the file is empty');
    });

    it('switches to a good new set and its version', async () => {
      const { gw, dir } = await setup();
      const before = gw.gw.holder.current.version;
      expect((await receptionistRead(gw)).json).to.have.property('telecom');
      writeFileSync(join(dir, 'roles.yaml'), withoutReceptionistTelecom(dir));
      expect(await gw.gw.reload('test')).to.equal(true);
      expect(gw.gw.holder.current.version).not.to.equal(before);
      expect((await receptionistRead(gw)).json).not.to.have.property('telecom');
      const [event] = (await gw.audit.query()).slice(-1);
      expect(event?.policyVersion).to.equal(gw.gw.holder.current.version);
    });

    it('reloads when a policy file changes on disk', async () => {
      const { gw, dir } = await setup();
      const before = gw.gw.holder.current.version;
      gw.gw.holder.watch(20);
      writeFileSync(join(dir, 'roles.yaml'), withoutReceptionistTelecom(dir));
      await until(() => gw.gw.holder.current.version !== before);
      expect(gw.logs.some((l) => l['event'] === 'policy_reload' && l['why'] === 'file change')).to.equal(true);
    });

    it('reloads on SIGHUP', async () => {
      const { gw, dir } = await setup();
      const before = gw.gw.holder.current.version;
      const unwire = onSignals(gw.gw, () => undefined);
      try {
        writeFileSync(join(dir, 'roles.yaml'), withoutReceptionistTelecom(dir));
        process.emit('SIGHUP', 'SIGHUP');
        await until(() => gw.gw.holder.current.version !== before);
        expect(gw.logs.some((l) => l['event'] === 'policy_reload' && l['why'] === 'SIGHUP')).to.equal(true);
      } finally {
        unwire();
      }
    });

    it('refuses a new set that drops a resource the routes use', async () => {
      const { gw, dir } = await setup();
      const text = readFileSync(join(dir, 'resources.yaml'), 'utf8');
      rmSync(join(dir, 'resources.yaml'));
      writeFileSync(join(dir, 'resources.yaml'), text.replace(/\n {2}CaseNote:[\s\S]*$/, '\n'));
      // Without CaseNote the purposes' views no longer load, or the routes lose a resource: either way, no switch.
      expect(await gw.gw.reload('test')).to.equal(false);
      expect(gw.gw.holder.current.resourceNames()).to.include('CaseNote');
    });
  });
});
