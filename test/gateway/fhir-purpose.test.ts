import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { Client } from 'fhir-kit-client';
import type { Bundle, Patient, Resource } from '@medplum/fhirtypes';
import { startFhirServer } from './fhir-server.js';
import { call, ROOT, SECRET, startTestGateway, token, type TestGateway, type TestUpstream } from './helpers.js';

const POLICIES = join(ROOT, 'test', 'fixtures', 'policies', 'fhir-purpose');
/** BTG declared by no purpose, PUBHLTH by two. */
const POLICIES_ETREAT = join(ROOT, 'test', 'fixtures', 'policies', 'fhir-purpose-etreat');
const ROUTES = join(ROOT, 'test', 'fixtures', 'gateway', 'fhir-purpose-routes.yaml');
const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
const REASON = 'Unconscious patient brought to A&E, no registered GP known';

function patient(id: string, practice: string): Patient {
  return {
    resourceType: 'Patient',
    id,
    identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: `99900000${id.slice(-2)}` }],
    name: [{ family: `Family-${id}`, given: ['Alex'] }],
    telecom: [{ system: 'phone', value: `07700 9000${id.slice(-2)}` }],
    gender: 'female',
    birthDate: '1980-01-02',
    generalPractitioner: [{ reference: `Organization/${practice}` }],
  };
}
const RESOURCES: Resource[] = [patient('pt-01', 'A'), patient('pt-02', 'B'), patient('pt-03', 'A')];
const clinicianA = { sub: 'clin-a', roles: ['clinician'], practice: 'A' };

/** The status a refused fhir-kit-client call rejected with, and the error code of its body. */
async function refusal(p: Promise<unknown>): Promise<{ status: number | undefined; code: string | undefined; text: string }> {
  try {
    await p;
  } catch (e) {
    const r = (e as { response?: { status?: number; data?: unknown } }).response;
    const text = JSON.stringify(r?.data ?? null);
    return { status: r?.status, code: errorCode(r?.data), text };
  }
  return expect.fail('answered');
}
/** fieldmesh's error code, from its JSON error or from an OperationOutcome's details. */
function errorCode(body: unknown): string | undefined {
  const b = body as { error?: { code?: string }; issue?: { details?: { coding?: { code?: string }[] } }[] } | undefined;
  return b?.error?.code ?? b?.issue?.[0]?.details?.coding?.[0]?.code;
}
/** fieldmesh's error message, from its JSON error or from an OperationOutcome's details. */
function errorMessage(text: string): string | undefined {
  const b = JSON.parse(text) as { error?: { message?: string }; issue?: { details?: { text?: string } }[] } | null;
  return b?.error?.message ?? b?.issue?.[0]?.details?.text;
}
/** The requests counter's purpose label on the line counting a refusal with `code`. */
async function purposeLabelOf(url: string, code: string): Promise<string | undefined> {
  const text = (await call(`${url}/metrics`)).text;
  const line = text.split('\n').find((l) => l.startsWith('fieldmesh_requests_total{') && l.includes(`code="${code}"`));
  return /purpose="([^"]*)"/.exec(line ?? '')?.[1];
}

describe('gateway › purpose of use from the token (FHIR R4 server, fhir-kit-client)', () => {
  let fhir: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    fhir = await startFhirServer(RESOURCES);
    gw = await startTestGateway(fhir.url, { policies: POLICIES, routes: ROUTES, purposeClaim: 'purpose_of_use' });
  });
  after(async () => {
    await gw.close();
    await fhir.close();
  });
  function client(claims: Record<string, unknown>, headers: Record<string, string> = {}): Client {
    return new Client({ baseUrl: gw.url, customHeaders: { Authorization: `Bearer ${token({ ...clinicianA, ...claims })}`, ...headers } });
  }
  const search = (c: Client) => c.search({ resourceType: 'Patient' }) as unknown as Promise<Bundle<Patient>>;
  const ids = (b: Bundle<Patient>) => (b.entry ?? []).map((e) => e.resource?.id).sort();
  /** The trail's last event for this request. */
  async function lastEvent() {
    const events = await gw.audit.query({ limit: 1 });
    return events[0]!;
  }

  it('takes the purpose from a code in the token, with no X-Purpose, and records it', async () => {
    const bundle = await search(client({ purpose_of_use: 'TREAT' }));
    expect(ids(bundle)).to.deep.equal(['pt-01', 'pt-03']);
    expect(await lastEvent()).to.include({ purpose: 'direct-care', decision: 'disclosed', user: 'clin-a' });
  });

  it('takes it from a Coding of v3 ActReason', async () => {
    const bundle = await search(client({ purpose_of_use: { system: ACT_REASON, code: 'TREAT' } }));
    expect(ids(bundle)).to.deep.equal(['pt-01', 'pt-03']);
  });

  it('takes it from a list of codes and Codings, and logs the purpose chosen', async () => {
    const bundle = await search(client({ purpose_of_use: ['TREAT', { system: 'urn:oid:2.16.840.1.113883.5.8', code: 'TREAT' }] }));
    expect(ids(bundle)).to.deep.equal(['pt-01', 'pt-03']);
    expect(gw.logs.at(-1)).to.include({ purpose: 'direct-care' });
  });

  it('answers when X-Purpose names the same purpose as the token', async () => {
    const bundle = await search(client({ purpose_of_use: 'TREAT' }, { 'X-Purpose': 'direct-care' }));
    expect(ids(bundle)).to.deep.equal(['pt-01', 'pt-03']);
  });

  it('refuses X-Purpose naming another purpose than the token (403 purpose_conflict), before the FHIR server sees it', async () => {
    const before = fhir.seen.length;
    const r = await refusal(search(client({ purpose_of_use: 'TREAT' }, { 'X-Purpose': 'administration' })));
    expect(r).to.include({ status: 403, code: 'purpose_conflict' });
    expect(fhir.seen.length).to.equal(before);
    // The token is the verified statement; the header is the caller's text: the trail records the token's purpose.
    expect(await lastEvent()).to.include({ decision: 'refused', code: 'purpose_conflict', purpose: 'direct-care' });
    expect(gw.logs.at(-1)).to.include({ code: 'purpose_conflict', purpose: 'direct-care' });
    expect(await purposeLabelOf(gw.url, 'purpose_conflict')).to.equal('direct-care');
  });

  it('refuses a code no purpose declares (403 purpose_unknown), naming the code only', async () => {
    const r = await refusal(search(client({ purpose_of_use: 'HRESCH' })));
    expect(r).to.include({ status: 403, code: 'purpose_unknown' });
    expect(r.text).to.include('HRESCH');
  });

  it('refuses a code two purposes declare (403 purpose_ambiguous)', async () => {
    const r = await refusal(search(client({ purpose_of_use: 'HOPERAT' })));
    expect(r).to.include({ status: 403, code: 'purpose_ambiguous' });
  });

  it('refuses a Coding of another system (403 purpose_claim_invalid) without echoing the claim', async () => {
    const r = await refusal(search(client({ purpose_of_use: { system: 'https://secret.example/codes', code: 'TREAT' } })));
    expect(r).to.include({ status: 403, code: 'purpose_claim_invalid' });
    expect(r.text).not.to.include('secret.example');
    expect(gw.logText()).not.to.include('secret.example');
  });

  it('refuses ETREAT without X-Break-Glass (403 break_glass_required)', async () => {
    const before = fhir.seen.length;
    const r = await refusal(search(client({ purpose_of_use: 'ETREAT' })));
    expect(r).to.include({ status: 403, code: 'break_glass_required' });
    expect(fhir.seen.length).to.equal(before);
  });

  it('records the purpose ETREAT selected when it comes without a reason: event, log line and metric label', async () => {
    const r = await refusal(search(client({ purpose_of_use: 'ETREAT' })));
    expect(r).to.include({ status: 403, code: 'break_glass_required' });
    expect(await lastEvent()).to.include({ decision: 'refused', code: 'break_glass_required', purpose: 'emergency-care' });
    expect(gw.logs.at(-1)).to.include({ code: 'break_glass_required', purpose: 'emergency-care' });
    expect(await purposeLabelOf(gw.url, 'break_glass_required')).to.equal('emergency-care');
  });

  it('refuses a break-glass purpose without a reason in the same words from the token as from X-Purpose', async () => {
    const byToken = await refusal(search(client({ purpose_of_use: 'ETREAT' })));
    const byHeader = await refusal(search(client({}, { 'X-Purpose': 'emergency-care' })));
    expect(byHeader).to.include({ status: 403, code: 'break_glass_required' });
    expect(errorMessage(byToken.text)).to.be.a('string').and.equal(errorMessage(byHeader.text));
  });

  it('lets ETREAT select emergency-care beside HOPERAT, a code ambiguous alone (a break-glass code wins)', async () => {
    const bundle = await search(client({ purpose_of_use: ['HOPERAT', 'ETREAT'] }, { 'X-Break-Glass': REASON }));
    expect(ids(bundle)).to.deep.equal(['pt-01', 'pt-02', 'pt-03']);
    expect(await lastEvent()).to.include({ purpose: 'emergency-care', breakGlass: REASON, decision: 'disclosed' });
  });

  it('answers ETREAT with X-Break-Glass as break-glass: every patient, and a break-glass event awaiting review', async () => {
    const bundle = await search(client({ purpose_of_use: 'ETREAT' }, { 'X-Break-Glass': REASON }));
    expect(ids(bundle)).to.deep.equal(['pt-01', 'pt-02', 'pt-03']);
    // emergency-care's view has no telecom.
    for (const e of bundle.entry ?? []) expect(e.resource).not.to.have.property('telecom');
    const event = await lastEvent();
    expect(event).to.include({ purpose: 'emergency-care', breakGlass: REASON, decision: 'disclosed' });
    const pending = await gw.audit.pendingReviews();
    expect(pending.map((p) => p.id)).to.include(event.id);
  });

  it('uses X-Purpose when the token carries no purpose claim', async () => {
    const bundle = await search(client({}, { 'X-Purpose': 'direct-care' }));
    expect(ids(bundle)).to.deep.equal(['pt-01', 'pt-03']);
    const r = await refusal(search(client({})));
    expect(r).to.include({ status: 400, code: 'purpose_required' });
  });
});

describe('gateway › purpose of use from the token, BTG declared by no purpose', () => {
  let fhir: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    fhir = await startFhirServer(RESOURCES);
    gw = await startTestGateway(fhir.url, { policies: POLICIES_ETREAT, routes: ROUTES, purposeClaim: 'purpose_of_use' });
  });
  after(async () => {
    await gw.close();
    await fhir.close();
  });
  const client = (pou: unknown, headers: Record<string, string> = {}) =>
    new Client({
      baseUrl: gw.url,
      customHeaders: { Authorization: `Bearer ${token({ ...clinicianA, purpose_of_use: pou })}`, ...headers },
    });
  const search = (c: Client) => c.search({ resourceType: 'Patient' }) as unknown as Promise<Bundle<Patient>>;
  const lastEvent = async () => (await gw.audit.query({ limit: 1 }))[0]!;

  it('records direct-care, the purpose TREAT selected, when BTG beside it is refused (purpose_conflict)', async () => {
    const r = await refusal(search(client(['BTG', 'TREAT'], { 'X-Break-Glass': REASON })));
    expect(r).to.include({ status: 403, code: 'purpose_conflict' });
    expect(await lastEvent()).to.include({ decision: 'refused', code: 'purpose_conflict', purpose: 'direct-care' });
    expect(gw.logs.at(-1)).to.include({ code: 'purpose_conflict', purpose: 'direct-care' });
    expect(await purposeLabelOf(gw.url, 'purpose_conflict')).to.equal('direct-care');
  });

  it('lets ETREAT select emergency-care beside PUBHLTH, which two purposes declare', async () => {
    expect(await refusal(search(client('PUBHLTH')))).to.include({ status: 403, code: 'purpose_ambiguous' });
    const bundle = await search(client(['PUBHLTH', 'ETREAT'], { 'X-Break-Glass': REASON }));
    expect((bundle.entry ?? []).length).to.equal(3);
    expect(await lastEvent()).to.include({ purpose: 'emergency-care', breakGlass: REASON, decision: 'disclosed' });
  });
});

describe('gateway › purpose of use without a claim configured', () => {
  it('ignores a purpose claim in the token: X-Purpose decides, as before', async () => {
    const fhir = await startFhirServer(RESOURCES);
    const gw = await startTestGateway(fhir.url, { policies: POLICIES, routes: ROUTES });
    try {
      const auth = { authorization: `Bearer ${token({ ...clinicianA, purpose_of_use: 'ETREAT' })}` };
      expect((await call(`${gw.url}/Patient`, { headers: { ...auth, 'x-purpose': 'direct-care' } })).status).to.equal(200);
      const res = await call(`${gw.url}/Patient`, { headers: auth });
      expect(res.status).to.equal(400);
      expect(errorCode(res.json)).to.equal('purpose_required');
    } finally {
      await gw.close();
      await fhir.close();
    }
  });
});

describe('fieldmesh serve (built binary) › --purpose-claim and FIELDMESH_PURPOSE_CLAIM', () => {
  const BIN = join(ROOT, 'dist', 'cli', 'bin.js');
  let fhir: TestUpstream;
  before(async () => {
    fhir = await startFhirServer(RESOURCES);
  });
  after(async () => {
    await fhir.close();
  });

  /** The built binary's `serve` in front of the FHIR server, a fresh trail each time, then `args`. */
  function serveArgs(args: string[]): string[] {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-pou-'));
    return [
      BIN,
      'serve',
      '--upstream',
      fhir.url,
      '--routes',
      ROUTES,
      '--policies',
      POLICIES,
      '--port',
      '0',
      '--audit',
      join(dir, 'a.db'),
      ...args,
    ];
  }

  /** Start the built binary and wait for its listening line; the URL it serves on. */
  async function serve(args: string[], env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
    const child = spawn(process.execPath, serveArgs(args), {
      env: { PATH: process.env['PATH'] ?? '', FIELDMESH_JWT_SECRET: SECRET, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      const look = (chunk: Buffer) => {
        out += chunk.toString();
        const m = /http:\/\/127\.0\.0\.1:\d+/.exec(out);
        if (m) resolve(m[0]);
      };
      child.stdout?.on('data', look);
      child.stderr?.on('data', look);
      child.on('exit', (code) => reject(new Error(`serve exited ${String(code)}: ${out}`)));
    });
    return { url, child };
  }
  async function stop(child: ChildProcess): Promise<void> {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  const headers = (pou: unknown) => ({ authorization: `Bearer ${token({ ...clinicianA, purpose_of_use: pou })}` });

  it('reads the claim named by FIELDMESH_PURPOSE_CLAIM', async () => {
    const { url, child } = await serve([], { FIELDMESH_PURPOSE_CLAIM: 'purpose_of_use' });
    try {
      const res = await call(`${url}/Patient`, { headers: headers('TREAT') });
      expect(res.status).to.equal(200);
      expect((res.json.entry as { resource: Patient }[]).map((e) => e.resource.id).sort()).to.deep.equal(['pt-01', 'pt-03']);
      expect(errorCode((await call(`${url}/Patient`, { headers: headers('HOPERAT') })).json)).to.equal('purpose_ambiguous');
    } finally {
      await stop(child);
    }
  });

  /** Run the built binary to its exit, expecting it to stop at start-up. */
  function refusedStart(args: string[], env: Record<string, string>): { code: number | null; out: string } {
    const run = spawnSync(process.execPath, serveArgs(args), {
      env: { PATH: process.env['PATH'] ?? '', FIELDMESH_JWT_SECRET: SECRET, ...env },
      encoding: 'utf8',
      timeout: 30000,
    });
    return { code: run.status, out: run.stdout + run.stderr };
  }

  it('refuses a claim path with an empty segment, by flag or variable, naming where it came from (exit 2)', () => {
    for (const path of ['a..b', '.a', 'a.']) {
      const byFlag = refusedStart(['--purpose-claim', path], {});
      expect(byFlag.code, path).to.equal(2);
      expect(byFlag.out).to.include('--purpose-claim').and.include('empty');
      const byVariable = refusedStart([], { FIELDMESH_PURPOSE_CLAIM: path });
      expect(byVariable.code, path).to.equal(2);
      expect(byVariable.out).to.include('FIELDMESH_PURPOSE_CLAIM').and.include('empty');
    }
  });

  it('refuses an empty --purpose-claim, and takes an empty FIELDMESH_PURPOSE_CLAIM as unset, as every variable', async () => {
    const byFlag = refusedStart(['--purpose-claim', ''], {});
    expect(byFlag.code).to.equal(2);
    expect(byFlag.out).to.include('--purpose-claim');
    const { url, child } = await serve([], { FIELDMESH_PURPOSE_CLAIM: '' });
    try {
      // No claim is read: without X-Purpose the request declares no purpose.
      expect(errorCode((await call(`${url}/Patient`, { headers: headers('TREAT') })).json)).to.equal('purpose_required');
    } finally {
      await stop(child);
    }
  });

  it('reads the claim named by --purpose-claim, which wins over the variable', async () => {
    const { url, child } = await serve(['--purpose-claim', 'pou'], { FIELDMESH_PURPOSE_CLAIM: 'purpose_of_use' });
    try {
      const byFlag = { authorization: `Bearer ${token({ ...clinicianA, pou: 'TREAT' })}` };
      expect((await call(`${url}/Patient`, { headers: byFlag })).status).to.equal(200);
      // The variable's claim is not read: without X-Purpose the request declares no purpose.
      expect(errorCode((await call(`${url}/Patient`, { headers: headers('TREAT') })).json)).to.equal('purpose_required');
    } finally {
      await stop(child);
    }
  });
});
