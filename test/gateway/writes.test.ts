import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { as, call, POLICIES, ROOT, startJsonServer, startTestGateway, USERS, type TestGateway, type TestUpstream } from './helpers.js';
import { BIN } from '../cli/run.js';

const REGISTRAR = { sub: 'reg-1', roles: ['registrar'] };

/** A policy directory (the example policies plus a registrar who may update every Patient field) and routes that allow PUT. */
function putFixtures(): { dir: string; policies: string; routes: string; audit: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-put-'));
  const policies = join(dir, 'policies');
  mkdirSync(policies);
  for (const f of readdirSync(POLICIES)) copyFileSync(join(POLICIES, f), join(policies, f));
  copyFileSync(join(ROOT, 'test/fixtures/policies/registrar/registrar.yaml'), join(policies, 'registrar.yaml'));
  const routes = join(dir, 'routes.yaml');
  writeFileSync(routes, 'routes:\n  - { path: /patients/:id, resource: Patient, methods: [GET, PUT, PATCH] }\n');
  return { dir, policies, routes, audit: join(dir, 'audit.db') };
}

/** The headers a client could tell two answers apart by (not the date or the request id). */
function telling(headers: Record<string, unknown>): Record<string, unknown> {
  const { date: _d, 'x-request-id': _r, ...rest } = headers;
  return rest;
}

describe('gateway › writes in front of json-server', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const c of open.splice(0).reverse()) await c.close();
  });
  async function setup(flags: Record<string, string> = {}): Promise<{ upstream: TestUpstream; gw: TestGateway }> {
    if (flags['policies'] !== undefined || flags['audit'] !== undefined) {
      const dir = join(flags['policies'] ?? flags['audit']!, '..');
      open.push({ close: async () => rmSync(dir, { recursive: true, force: true }) });
    }
    const upstream = await startJsonServer();
    open.push(upstream);
    const gw = await startTestGateway(upstream.url, flags);
    open.push(gw);
    return { upstream, gw };
  }
  const writesSeen = (u: TestUpstream) => u.seen.filter((s) => s.method !== 'GET');

  it("lets a ward nurse move a patient of the nurse's team to another ward, and answers with the nurse's view", async () => {
    const { upstream, gw } = await setup();
    const res = await call(`${gw.url}/patients/pat-001`, {
      method: 'PATCH',
      headers: as(USERS.nurse, 'direct-care'),
      body: { ward: 'Ward 8 (Step-down)' },
    });
    expect(res.status).to.equal(200);
    expect(res.json.ward).to.equal('Ward 8 (Step-down)');
    expect(res.json).not.to.have.property('address');
    // The nurse's update grant depends on the record's care team: the record was read first.
    expect(upstream.seen.map((s) => s.method)).to.deep.equal(['GET', 'PATCH']);
    const after = await call(`${gw.url}/patients/pat-001`, { headers: as(USERS.gp, 'direct-care') });
    expect(after.json.ward).to.equal('Ward 8 (Step-down)');
  });

  it('refuses a nurse changing an address (403, naming the field) and the upstream never sees the write', async () => {
    const { upstream, gw } = await setup();
    const res = await call(`${gw.url}/patients/pat-001`, {
      method: 'PATCH',
      headers: as(USERS.nurse, 'direct-care'),
      body: { address: [{ line: ['9 Elsewhere'] }] },
    });
    expect(res.status).to.equal(403);
    expect(res.json.error.code).to.equal('write_forbidden');
    expect(res.json.error.message).to.include('"address"');
    expect(res.text).not.to.include('Elsewhere');
    expect(writesSeen(upstream)).to.have.length(0);
  });

  it('refuses a nurse updating a patient of another team: the row condition is checked on the stored record', async () => {
    const { upstream, gw } = await setup();
    const res = await call(`${gw.url}/patients/pat-003`, {
      method: 'PATCH',
      headers: as(USERS.nurse, 'direct-care'),
      body: { ward: 'Ward 7 (Respiratory)' },
    });
    // The nurse may not read it either: it answers exactly as a record that does not exist.
    expect(res.status).to.equal(404);
    expect(res.json).to.deep.equal({ error: { code: 'not_found', message: 'No such record' } });
    expect(writesSeen(upstream)).to.have.length(0);
  });

  it('lets a receptionist update contact details with an unconditional grant, after reading the record to check it is visible', async () => {
    const { upstream, gw } = await setup();
    const telecom = [{ system: 'phone', value: '07700 900999', use: 'mobile' }];
    const res = await call(`${gw.url}/patients/pat-001`, {
      method: 'PATCH',
      headers: as(USERS.receptionist, 'administration'),
      body: { telecom },
    });
    expect(res.status).to.equal(200);
    expect(res.json.telecom).to.deep.equal(telecom);
    expect(res.json.nhsNumber).to.equal('******0018');
    expect(upstream.seen.map((s) => s.method)).to.deep.equal(['GET', 'PATCH']);
  });

  it("refuses a receptionist's update of a sealed record exactly as one of a missing record, and forwards nothing", async () => {
    const { upstream, gw } = await setup();
    const body = { address: [{ line: ['1 Overwritten Road'], city: 'Leeds', postcode: 'LS1 1AA' }] };
    const sealed = await call(`${gw.url}/patients/pat-004`, { method: 'PATCH', headers: as(USERS.receptionist, 'administration'), body });
    const missing = await call(`${gw.url}/patients/pat-999`, { method: 'PATCH', headers: as(USERS.receptionist, 'administration'), body });
    expect(sealed.status).to.equal(404);
    expect(sealed.json).to.deep.equal({ error: { code: 'not_found', message: 'No such record' } });
    expect([sealed.status, sealed.text, telling(sealed.headers)]).to.deep.equal([missing.status, missing.text, telling(missing.headers)]);
    // A body that would be refused anyway answers the same: the record is checked first.
    const forbidden = await call(`${gw.url}/patients/pat-004`, {
      method: 'PATCH',
      headers: as(USERS.receptionist, 'administration'),
      body: { diagnoses: [] },
    });
    expect([forbidden.status, forbidden.text]).to.deep.equal([missing.status, missing.text]);
    expect(writesSeen(upstream)).to.have.length(0);
    const after = await call(`${gw.url}/patients/pat-004`, { headers: as(USERS.gp, 'direct-care') });
    expect(JSON.stringify(after.json.address)).not.to.include('Overwritten');
    const [hidden] = await gw.audit.query();
    expect(hidden).to.include({ action: 'update', decision: 'refused', code: 'record_withheld', status: 404 });
    expect(hidden!.withheldRecordIds).to.deep.equal(['pat-004']);
  });

  it('refuses a receptionist overwriting the address or phone of a person at risk of domestic violence (403)', async () => {
    const { upstream, gw } = await setup();
    for (const body of [{ address: [{ line: ['1 New St'] }] }, { telecom: [] }]) {
      const res = await call(`${gw.url}/patients/pat-002`, { method: 'PATCH', headers: as(USERS.receptionist, 'administration'), body });
      expect(res.status).to.equal(403);
      expect(res.json.error.code).to.equal('write_forbidden');
      expect(res.json.error.message).to.include(`"${Object.keys(body)[0]}"`);
    }
    expect(writesSeen(upstream)).to.have.length(0);
  });

  it('refuses a PUT on a route that does not list it (405), forwarding nothing', async () => {
    const { upstream, gw } = await setup();
    const res = await call(`${gw.url}/patients/pat-005`, {
      method: 'PUT',
      headers: as(USERS.receptionist, 'administration'),
      body: { telecom: [] },
    });
    expect(res.status).to.equal(405);
    expect(res.headers['allow']).to.equal('GET, PATCH');
    expect(upstream.seen).to.have.length(0);
  });

  it('refuses a PUT by a user who may not update every declared field (403, naming them), and lets a registrar replace a record', async () => {
    const fx = putFixtures();
    const { upstream, gw } = await setup({ policies: fx.policies, routes: fx.routes });
    const partial = await call(`${gw.url}/patients/pat-005`, {
      method: 'PUT',
      headers: as(USERS.receptionist, 'administration'),
      body: { telecom: [], address: [] },
    });
    expect(partial.status).to.equal(403);
    expect(partial.json.error.code).to.equal('write_forbidden');
    expect(partial.json.error.message).to.include('PUT').and.include('"name"').and.include('"nhsNumber"').and.include('"diagnoses"');
    expect(writesSeen(upstream)).to.have.length(0);
    const [refused] = await gw.audit.query();
    expect(refused!.fieldsWithheld).to.include.members(['name', 'nhsNumber', 'diagnoses']);
    const before = await call(`${gw.url}/patients/pat-005`, { headers: as(REGISTRAR, 'direct-care') });
    const record = { ...before.json, ward: 'Ward 8' };
    const full = await call(`${gw.url}/patients/pat-005`, { method: 'PUT', headers: as(REGISTRAR, 'direct-care'), body: record });
    expect(full.status).to.equal(200);
    expect(full.json).to.deep.equal(record);
    expect(writesSeen(upstream).map((s) => s.method)).to.deep.equal(['PUT']);
    // A stored record with markers (flags, consent, opt-out) cannot be replaced: the PUT would erase them.
    const marked = await call(`${gw.url}/patients/pat-001`, { method: 'PUT', headers: as(REGISTRAR, 'direct-care'), body: record });
    expect(marked.status).to.equal(403);
    expect(marked.json.error.message).to.include('outside the declared fields');
    expect(writesSeen(upstream)).to.have.length(1);
  });

  it('forwards exactly the body that was checked, serialised anew', async () => {
    const { upstream, gw } = await setup();
    // Two "ward" keys: whichever a parser keeps, the upstream must get the one the policy saw.
    const raw = '{"ward":"Ward 7 (Respiratory)","ward":"Ward 9 (Orthopaedics)"}';
    const res = await call(`${gw.url}/patients/pat-001`, { method: 'PATCH', headers: as(USERS.nurse, 'direct-care'), body: raw });
    expect(res.status).to.equal(200);
    expect(res.json.ward).to.equal('Ward 9 (Orthopaedics)');
    expect(upstream.seen.at(-1)?.headers['content-length']).to.equal(String(Buffer.byteLength('{"ward":"Ward 9 (Orthopaedics)"}')));
  });

  it('lets a GP create a clinical note (201) and refuses a safeguarding note before the upstream sees it', async () => {
    const { upstream, gw } = await setup();
    const note = { subjectId: 'pat-001', kind: 'clinical', text: 'Reviewed inhaler technique', careTeam: 'ward-7' };
    const created = await call(`${gw.url}/notes`, { method: 'POST', headers: as(USERS.gp, 'direct-care'), body: note });
    expect(created.status).to.equal(201);
    expect(created.json.kind).to.equal('clinical');
    expect(created.headers).not.to.have.property('location');
    const refused = await call(`${gw.url}/notes`, {
      method: 'POST',
      headers: as(USERS.gp, 'direct-care'),
      body: { ...note, kind: 'safeguarding' },
    });
    expect(refused.status).to.equal(403);
    expect(writesSeen(upstream)).to.have.length(1);
  });

  it('refuses a body that is not JSON (400) or too large (413), without forwarding it', async () => {
    const { upstream, gw } = await setup({ maxBodyBytes: '1024' });
    const text = await call(`${gw.url}/patients/pat-001`, {
      method: 'PATCH',
      headers: { ...as(USERS.receptionist, 'administration'), 'content-type': 'text/plain' },
      body: 'telecom=1',
    });
    expect(text.status).to.equal(400);
    expect(text.json.error.code).to.equal('invalid_body');
    const broken = await call(`${gw.url}/patients/pat-001`, {
      method: 'PATCH',
      headers: as(USERS.receptionist, 'administration'),
      body: '{"telecom": [',
    });
    expect(broken.status).to.equal(400);
    const big = await call(`${gw.url}/patients/pat-001`, {
      method: 'PATCH',
      headers: as(USERS.receptionist, 'administration'),
      body: { telecom: [{ value: 'x'.repeat(4096) }] },
    });
    expect(big.status).to.equal(413);
    expect(big.json.error.code).to.equal('payload_too_large');
    expect(writesSeen(upstream)).to.have.length(0);
  });

  it('reads a write body as the middleware does: a byte-order mark is dropped; another charset or a body nested too deep is refused (400) before the upstream is asked', async () => {
    const { upstream, gw } = await setup();
    const headers = as(USERS.receptionist, 'administration');
    const bom = await call(`${gw.url}/patients/pat-001`, {
      method: 'PATCH',
      headers,
      body: `\uFEFF${JSON.stringify({ telecom: [{ system: 'phone', value: '01632 960001' }] })}`,
    });
    expect(bom.status).to.equal(200);
    expect(writesSeen(upstream)).to.have.length(1);
    const latin = await call(`${gw.url}/patients/pat-001`, {
      method: 'PATCH',
      headers: { ...headers, 'content-type': 'application/json; charset=iso-8859-1' },
      body: '{"telecom": []}',
    });
    const deep = await call(`${gw.url}/patients/pat-001`, {
      method: 'PATCH',
      headers,
      body: `{"telecom":${'['.repeat(150)}${']'.repeat(150)}}`,
    });
    for (const res of [latin, deep]) {
      expect(res.status).to.equal(400);
      expect(res.json.error.code).to.equal('invalid_body');
    }
    expect(upstream.seen.filter((s) => s.method === 'GET')).to.have.length(1);
    expect(writesSeen(upstream)).to.have.length(1);
  });

  it('refuses a write on a route that allows only reads (405)', async () => {
    const { upstream, gw } = await setup();
    const res = await call(`${gw.url}/notes/cn-001`, { method: 'PATCH', headers: as(USERS.gp, 'direct-care'), body: { text: 'x' } });
    expect(res.status).to.equal(405);
    expect(upstream.seen).to.have.length(0);
  });

  it('records a write before the upstream sees it, then its answer, field names only', async () => {
    const { gw } = await setup();
    const res = await call(`${gw.url}/patients/pat-001`, {
      method: 'PATCH',
      headers: as(USERS.nurse, 'direct-care'),
      body: { allergies: ['penicillin', 'latex'] },
    });
    expect(res.status).to.equal(200);
    const events = await gw.audit.query();
    // The answer is recorded as the update it answers, not as a read.
    expect(events.map((e) => [e.action, e.status, e.requestId])).to.deep.equal([
      ['update', 0, res.headers['x-request-id']],
      ['update', 200, res.headers['x-request-id']],
    ]);
    expect(events[0]).to.include({ decision: 'disclosed', user: 'nurse-1', resource: 'Patient' });
    expect(events[0]!.fieldsDisclosed).to.deep.equal(['allergies']);
    expect(events[0]!.recordIds).to.deep.equal(['pat-001']);
    expect(events[1]!.fieldsDisclosed).to.include.members(['allergies', 'ward']);
    expect(JSON.stringify(events)).not.to.include('latex');
  });

  it('records a refused write with the names of the refused fields, and nothing is forwarded', async () => {
    const { upstream, gw } = await setup();
    const res = await call(`${gw.url}/patients/pat-001`, {
      method: 'PATCH',
      headers: as(USERS.receptionist, 'administration'),
      body: { telecom: [], diagnoses: [{ code: 'F20' }] },
    });
    expect(res.status).to.equal(403);
    const [event] = await gw.audit.query();
    expect(event).to.include({ decision: 'refused', code: 'write_forbidden', action: 'update', status: 403 });
    expect(event!.fieldsWithheld).to.deep.equal(['diagnoses.code']);
    expect(JSON.stringify(event)).not.to.include('F20');
    expect(writesSeen(upstream)).to.have.length(0);
  });

  it('names the updated record in the trail, so the subject access report of the record lists the change (the built CLI)', async () => {
    const fx = putFixtures();
    const { gw } = await setup({ audit: fx.audit });
    const res = await call(`${gw.url}/patients/pat-001`, {
      method: 'PATCH',
      headers: as(USERS.receptionist, 'administration'),
      body: { telecom: [{ system: 'phone', value: '07700 900111' }] },
    });
    expect(res.status).to.equal(200);
    const [write, answer] = await gw.audit.query();
    expect(write).to.include({ action: 'update', status: 0 });
    expect(write!.recordIds).to.deep.equal(['pat-001']);
    expect(answer).to.include({ action: 'update', decision: 'disclosed', status: 200 });
    const run = spawnSync(process.execPath, [BIN, 'audit', 'report', '--record', 'pat-001', '--audit', fx.audit], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', FIELDMESH_AUDIT_RECORD_KEY: '' },
    });
    expect(run.status, run.stderr).to.equal(0);
    const lines = run.stdout.split('\n').filter((l) => l.includes('rec-1'));
    expect(lines).to.have.length(2);
    expect(lines[0]).to.match(/administration\s+update\s+written\s+telecom/);
    expect(lines[1]).to.match(/administration\s+update\s+disclosed/);
    expect(run.stdout).not.to.include('07700');
  });
});
