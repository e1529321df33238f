import { expect } from 'chai';
import { as, call, startJsonServer, startTestGateway, USERS, type TestGateway, type TestUpstream } from './helpers.js';

describe('gateway › writes in front of json-server', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const c of open.splice(0).reverse()) await c.close();
  });
  async function setup(flags = {}): Promise<{ upstream: TestUpstream; gw: TestGateway }> {
    const upstream = await startJsonServer();
    open.push(upstream);
    const gw = await startTestGateway(upstream.url, flags);
    open.push(gw);
    return { upstream, gw };
  }
  const writesSeen = (u: TestUpstream) => u.seen.filter((s) => s.method !== 'GET');

  it("lets a ward nurse move a patient of the nurse's team to another ward, and answers with the nurse's view", async () => {
    const { upstream, gw } = await setup();
    const res = await call(`${gw.url}/patients/pat-001`, { method: 'PATCH', headers: as(USERS.nurse, 'direct-care'), body: { ward: 'Ward 8 (Step-down)' } });
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
    const res = await call(`${gw.url}/patients/pat-001`, { method: 'PATCH', headers: as(USERS.nurse, 'direct-care'), body: { address: [{ line: ['9 Elsewhere'] }] } });
    expect(res.status).to.equal(403);
    expect(res.json.error.code).to.equal('write_forbidden');
    expect(res.json.error.message).to.include('"address"');
    expect(res.text).not.to.include('Elsewhere');
    expect(writesSeen(upstream)).to.have.length(0);
  });

  it("refuses a nurse updating a patient of another team: the row condition is checked on the stored record", async () => {
    const { upstream, gw } = await setup();
    const res = await call(`${gw.url}/patients/pat-003`, { method: 'PATCH', headers: as(USERS.nurse, 'direct-care'), body: { ward: 'Ward 7 (Respiratory)' } });
    // The nurse may not read it either: it answers exactly as a record that does not exist.
    expect(res.status).to.equal(404);
    expect(res.json).to.deep.equal({ error: { code: 'not_found', message: 'No such record' } });
    expect(writesSeen(upstream)).to.have.length(0);
  });

  it('lets a receptionist update contact details with an unconditional grant, without reading the record first', async () => {
    const { upstream, gw } = await setup();
    const telecom = [{ system: 'phone', value: '07700 900999', use: 'mobile' }];
    const res = await call(`${gw.url}/patients/pat-001`, { method: 'PATCH', headers: as(USERS.receptionist, 'administration'), body: { telecom } });
    expect(res.status).to.equal(200);
    expect(res.json.telecom).to.deep.equal(telecom);
    expect(res.json.nhsNumber).to.equal('******0018');
    expect(upstream.seen.map((s) => s.method)).to.deep.equal(['PATCH']);
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
    const refused = await call(`${gw.url}/notes`, { method: 'POST', headers: as(USERS.gp, 'direct-care'), body: { ...note, kind: 'safeguarding' } });
    expect(refused.status).to.equal(403);
    expect(writesSeen(upstream)).to.have.length(1);
  });

  it('refuses a body that is not JSON (400) or too large (413), without forwarding it', async () => {
    const { upstream, gw } = await setup({ maxBodyBytes: '1024' });
    const text = await call(`${gw.url}/patients/pat-001`, { method: 'PATCH', headers: { ...as(USERS.receptionist, 'administration'), 'content-type': 'text/plain' }, body: 'telecom=1' });
    expect(text.status).to.equal(400);
    expect(text.json.error.code).to.equal('invalid_body');
    const broken = await call(`${gw.url}/patients/pat-001`, { method: 'PATCH', headers: as(USERS.receptionist, 'administration'), body: '{"telecom": [' });
    expect(broken.status).to.equal(400);
    const big = await call(`${gw.url}/patients/pat-001`, { method: 'PATCH', headers: as(USERS.receptionist, 'administration'), body: { telecom: [{ value: 'x'.repeat(4096) }] } });
    expect(big.status).to.equal(413);
    expect(big.json.error.code).to.equal('payload_too_large');
    expect(writesSeen(upstream)).to.have.length(0);
  });

  it('refuses a write on a route that allows only reads (405)', async () => {
    const { upstream, gw } = await setup();
    const res = await call(`${gw.url}/notes/cn-001`, { method: 'PATCH', headers: as(USERS.gp, 'direct-care'), body: { text: 'x' } });
    expect(res.status).to.equal(405);
    expect(upstream.seen).to.have.length(0);
  });

  it('records a write before the upstream sees it, then its answer, field names only', async () => {
    const { gw } = await setup();
    const res = await call(`${gw.url}/patients/pat-001`, { method: 'PATCH', headers: as(USERS.nurse, 'direct-care'), body: { allergies: ['penicillin', 'latex'] } });
    expect(res.status).to.equal(200);
    const events = await gw.audit.query();
    expect(events.map((e) => [e.action, e.status, e.requestId])).to.deep.equal([
      ['update', 0, res.headers['x-request-id']],
      ['read', 200, res.headers['x-request-id']],
    ]);
    expect(events[0]).to.include({ decision: 'disclosed', user: 'nurse-1', resource: 'Patient' });
    expect(events[0]!.fieldsDisclosed).to.deep.equal(['allergies']);
    expect(events[0]!.recordIds).to.deep.equal(['pat-001']);
    expect(events[1]!.fieldsDisclosed).to.include.members(['allergies', 'ward']);
    expect(JSON.stringify(events)).not.to.include('latex');
  });

  it('records a refused write with the names of the refused fields, and nothing is forwarded', async () => {
    const { upstream, gw } = await setup();
    const res = await call(`${gw.url}/patients/pat-001`, { method: 'PATCH', headers: as(USERS.receptionist, 'administration'), body: { telecom: [], diagnoses: [{ code: 'F20' }] } });
    expect(res.status).to.equal(403);
    const [event] = await gw.audit.query();
    expect(event).to.include({ decision: 'refused', code: 'write_forbidden', action: 'update', status: 403 });
    expect(event!.fieldsWithheld).to.deep.equal(['diagnoses.code']);
    expect(JSON.stringify(event)).not.to.include('F20');
    expect(writesSeen(upstream)).to.have.length(0);
  });
});
