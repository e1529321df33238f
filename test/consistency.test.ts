import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import express from 'express';
import jwt from 'jsonwebtoken';
import { AccessError, fieldmesh, loadPolicies, type Decision, type Mesh, type PolicySet } from '../src/index.js';
import { statusOf, type AccessCode } from '../src/lib/error-codes.js';
import type { AuditEvent } from '../src/audit/event.js';
import {
  call,
  POLICIES,
  ROOT,
  ROUTES,
  SECRET as GATEWAY_SECRET,
  startRawUpstream,
  startTestGateway,
  type TestGateway,
  type TestUpstream,
} from './gateway/helpers.js';
import { BIN } from './cli/run.js';

/**
 * One rule, one place: the same request must get the same answer from every
 * entry point. Each case below is fed to the engine, the built CLI, the
 * Express middleware and the gateway, and all four must agree on the outcome,
 * the error code and, when something is disclosed, the exact data.
 */

const NOW = new Date('2026-11-24T12:00:00Z');
const PSEUDONYM_KEY = 'fixture-pseudonym-key';
const MIDDLEWARE_SECRET = 'consistency-test-secret-of-at-least-32-bytes';
const CLI = BIN;
const REASON = 'Patient collapsed in the corridor, ward-9 team cannot be reached';

interface Case {
  name: string;
  user: Record<string, unknown>;
  purpose: string;
  breakGlass?: string;
  record: Record<string, unknown>;
  /** The refusal every entry point must give, or undefined when something is disclosed. */
  refusal?: AccessCode;
  /** For disclosures: fields that must be in the answer, and fields that must not. */
  disclosed?: string[];
  withheld?: string[];
}

const trained = '2026-06-01';
const gp = (extra: Record<string, unknown> = {}) => ({ sub: 'gp-1', roles: ['gp'], practice: 'B86001', training: trained, ...extra });
const nurse = (extra: Record<string, unknown> = {}) => ({
  sub: 'nurse-1',
  roles: ['ward-nurse'],
  team: 'ward-7',
  training: trained,
  ...extra,
});
const receptionist = { sub: 'rec-1', roles: ['receptionist'], training: trained };
const lead = { sub: 'lead-1', roles: ['safeguarding-lead'], training: trained };
const socialWorker = { sub: 'sw-1', roles: ['social-worker'], training: trained };
const analyst = { sub: 'analyst-1', roles: ['analyst'], training: trained };
const auditor = { sub: 'aud-1', roles: ['auditor'], training: trained };

let ids = 0;
/** A Patient record with a value in every declared field, and a fresh id per case. */
function patient(extra: Record<string, unknown> = {}): Record<string, unknown> {
  ids += 1;
  return {
    id: `pat-c${String(ids).padStart(2, '0')}`,
    nhsNumber: '9990000018',
    name: [{ use: 'official', family: 'Testwood', given: ['Amelia'] }],
    telecom: [{ system: 'phone', value: '07700 900001', use: 'mobile' }],
    address: [{ line: ['1 Example Street'], city: 'Leeds', postcode: 'LS1 4AP' }],
    gender: 'female',
    dateOfBirth: '1987-05-12',
    careTeam: 'ward-7',
    ward: 'Ward 7',
    gp: 'B86001',
    diagnoses: [{ code: 'J45', display: 'Asthma' }],
    medications: [{ code: '320151001', name: 'Salbutamol', dose: '2 puffs' }],
    allergies: ['penicillin'],
    consent: { research: 'granted' },
    optOut: false,
    flags: [],
    ...extra,
  };
}

const CASES: Case[] = [
  // Caldicott 5: confidentiality training.
  { name: 'current training', user: gp(), purpose: 'direct-care', record: patient(), disclosed: ['name', 'address', 'diagnoses'] },
  { name: 'training missing', user: gp({ training: undefined }), purpose: 'direct-care', record: patient(), refusal: 'training_missing' },
  {
    name: 'training not a calendar date',
    user: gp({ training: '2026-02-30' }),
    purpose: 'direct-care',
    record: patient(),
    refusal: 'training_missing',
  },
  {
    name: 'training expired',
    user: gp({ training: '2025-11-23' }),
    purpose: 'direct-care',
    record: patient(),
    refusal: 'training_expired',
  },
  {
    name: 'training exactly at the limit',
    user: gp({ training: '2025-11-24' }),
    purpose: 'direct-care',
    record: patient(),
    disclosed: ['name'],
  },
  {
    name: 'training in the future',
    user: gp({ training: '2027-01-15' }),
    purpose: 'direct-care',
    record: patient(),
    refusal: 'training_missing',
  },
  {
    name: 'training tomorrow (time-zone grace)',
    user: gp({ training: '2026-11-25' }),
    purpose: 'direct-care',
    record: patient(),
    disclosed: ['name'],
  },
  // Caldicott 7: break-glass.
  {
    name: 'break-glass with a reason',
    user: nurse(),
    purpose: 'emergency',
    breakGlass: REASON,
    record: patient({ careTeam: 'ward-9' }),
    disclosed: ['name', 'address', 'diagnoses'],
  },
  {
    name: 'break-glass reason too short',
    user: nurse(),
    purpose: 'emergency',
    breakGlass: 'urgent',
    record: patient(),
    refusal: 'break_glass_refused',
  },
  {
    name: 'break-glass reason of blanks',
    user: nurse(),
    purpose: 'emergency',
    breakGlass: '   ',
    record: patient(),
    refusal: 'break_glass_refused',
  },
  {
    name: 'break-glass reason too long',
    user: nurse(),
    purpose: 'emergency',
    breakGlass: 'x'.repeat(1001),
    record: patient(),
    refusal: 'break_glass_refused',
  },
  {
    name: 'break-glass reason with a tab',
    user: nurse(),
    purpose: 'emergency',
    breakGlass: 'Unconscious\tpatient in A&E',
    record: patient(),
    refusal: 'break_glass_malformed',
  },
  {
    name: 'break-glass reason with a C1 control (U+0085)',
    user: nurse(),
    purpose: 'emergency',
    breakGlass: 'Unconscious patient\u0085in A&E',
    record: patient(),
    refusal: 'break_glass_malformed',
  },
  { name: 'break-glass purpose without a reason', user: nurse(), purpose: 'emergency', record: patient(), refusal: 'break_glass_required' },
  {
    name: 'break-glass on a purpose that is not break-glass',
    user: gp(),
    purpose: 'direct-care',
    breakGlass: REASON,
    record: patient(),
    refusal: 'bad_request',
  },
  {
    name: 'break-glass by a role without the grant',
    user: receptionist,
    purpose: 'emergency',
    breakGlass: REASON,
    record: patient(),
    refusal: 'break_glass_refused',
  },
  // Restrictions and their exemptions.
  {
    name: 'dv-risk address withheld from a social worker',
    user: socialWorker,
    purpose: 'safeguarding',
    record: patient({ flags: ['dv-risk'] }),
    disclosed: ['name'],
    withheld: ['address', 'telecom'],
  },
  {
    name: 'dv-risk address disclosed to the safeguarding lead (exempt by role)',
    user: lead,
    purpose: 'safeguarding',
    record: patient({ flags: ['dv-risk'] }),
    disclosed: ['name', 'address', 'telecom'],
  },
  {
    name: 'hate-crime address disclosed for direct care (exempt by purpose)',
    user: gp(),
    purpose: 'direct-care',
    record: patient({ flags: ['hate-crime'] }),
    disclosed: ['address', 'telecom'],
  },
  {
    name: 'hate-crime address withheld for administration',
    user: receptionist,
    purpose: 'administration',
    record: patient({ flags: ['hate-crime'] }),
    disclosed: ['name'],
    withheld: ['address', 'telecom'],
  },
  {
    name: 'sealed record seen by the GP for direct care (exempt by role and purpose)',
    user: gp(),
    purpose: 'direct-care',
    record: patient({ sealed: true }),
    disclosed: ['name'],
  },
  {
    name: 'sealed record hidden from the GP under break-glass (purpose not exempt)',
    user: gp(),
    purpose: 'emergency',
    breakGlass: REASON,
    record: patient({ sealed: true }),
    refusal: 'record_withheld',
  },
  // Purposes and rows.
  { name: 'unknown purpose', user: gp(), purpose: 'direct-kare', record: patient(), refusal: 'purpose_unknown' },
  {
    name: 'unknown purpose and no training: who asks is checked first',
    user: gp({ training: undefined }),
    purpose: 'direct-kare',
    record: patient(),
    refusal: 'training_missing',
  },
  {
    name: 'purpose not granted to the role',
    user: receptionist,
    purpose: 'direct-care',
    record: patient(),
    refusal: 'purpose_not_granted',
  },
  { name: 'purpose past its review date', user: auditor, purpose: 'legacy-audit-2024', record: patient(), refusal: 'purpose_expired' },
  {
    name: 'record hidden by a row condition',
    user: nurse(),
    purpose: 'direct-care',
    record: patient({ careTeam: 'ward-9' }),
    refusal: 'record_withheld',
  },
  {
    name: 'pseudonyms for service planning',
    user: analyst,
    purpose: 'service-planning',
    record: patient(),
    disclosed: ['id', 'dateOfBirth', 'address'],
    withheld: ['name', 'nhsNumber'],
  },
  {
    name: 'a malformed roles claim',
    user: gp({ roles: ['gp', 7] }),
    purpose: 'direct-care',
    record: patient(),
    refusal: 'unauthenticated',
  },
];

/** What one entry point answered, reduced to what all four can say. */
interface Answer {
  outcome: 'disclosed' | 'refused';
  code?: string;
  data?: unknown;
  /** The decision's disclosed field names, where the entry point records a decision. */
  fields?: string[] | undefined;
}

const answerOf = (e: unknown): Answer => {
  if (e instanceof AccessError) return { outcome: 'refused', code: e.code, fields: (e.decision as Decision | undefined)?.disclosed };
  throw e;
};

/** (a) the engine, as a library user calls it. */
function viaEngine(policies: PolicySet, c: Case): Answer {
  try {
    const { data, decision } = policies.redact(structuredClone(c.record), {
      resource: 'Patient',
      purpose: c.purpose,
      user: c.user,
      breakGlass: c.breakGlass,
      now: NOW,
    });
    return { outcome: 'disclosed', data: JSON.parse(JSON.stringify(data)), fields: decision.disclosed };
  } catch (e) {
    return answerOf(e);
  }
}

/** (b) the built CLI, spawned as a user runs it. */
function viaCli(dir: string, c: Case, i: number): Answer {
  const claims = join(dir, `claims-${i}.json`);
  const record = join(dir, `record-${i}.json`);
  writeFileSync(claims, JSON.stringify(c.user));
  writeFileSync(record, JSON.stringify(c.record));
  const args = [
    'redact',
    '--policies',
    POLICIES,
    '--user',
    claims,
    '--purpose',
    c.purpose,
    '--resource',
    'Patient',
    '--now',
    NOW.toISOString(),
  ];
  if (c.breakGlass !== undefined) args.push('--break-glass', c.breakGlass);
  const r = spawnSync(process.execPath, [CLI, ...args, record], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', FIELDMESH_PSEUDONYM_KEY: PSEUDONYM_KEY },
  });
  if (r.status === 0) return { outcome: 'disclosed', data: JSON.parse(r.stdout) };
  expect(r.status, `${c.name}: CLI exit code (stderr: ${r.stderr})`).to.equal(3);
  return { outcome: 'refused', code: (JSON.parse(r.stderr) as { error: { code: string } }).error.code };
}

/** (c, d) an HTTP entry point: the answer, with the decision its audit trail recorded. */
async function viaHttp(
  url: string,
  token: string,
  c: Case,
  requestId: string,
  events: () => Promise<AuditEvent[]>,
): Promise<Answer & { status: number }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'x-purpose': c.purpose, 'x-request-id': requestId };
  if (c.breakGlass !== undefined) headers['x-break-glass'] = c.breakGlass;
  // Each record at a literal path: a path parameter would be a lookup by id, itself refused where ids are pseudonymised.
  const res = await call(`${url}/records/${String(c.record['id'])}`, { headers });
  const event = (await events()).find((e) => e.requestId === requestId);
  const fields = event?.fieldsDisclosed;
  if (res.status === 200) return { status: res.status, outcome: 'disclosed', data: res.json, fields };
  // A hidden record answers as a missing one (docs/errors.md); the trail keeps the real reason.
  const code = res.status === 404 && event?.code !== undefined ? event.code : (res.json as { error: { code: string } }).error.code;
  expect(event?.decision, `${c.name}: audited decision`).to.equal('refused');
  expect(event?.code, `${c.name}: audited code`).to.equal(code);
  return { status: res.status, outcome: 'refused', code, fields };
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

describe('one rule, one place: every entry point gives the same decision', function () {
  this.timeout(120_000);
  const byId = new Map(CASES.map((c) => [String(c.record['id']), c.record]));
  let dir: string;
  let policies: PolicySet;
  let mesh: Mesh;
  let app: Server;
  let appUrl: string;
  let upstream: TestUpstream;
  let gateway: TestGateway;

  before(async () => {
    expect(existsSync(CLI), 'run `npm run build` first: the CLI is tested as built').to.equal(true);
    dir = mkdtempSync(join(tmpdir(), 'fieldmesh-consistency-'));
    policies = await loadPolicies(POLICIES, { pseudonymKey: PSEUDONYM_KEY, now: NOW });
    mesh = await fieldmesh({
      policies: POLICIES,
      pseudonymKey: PSEUDONYM_KEY,
      jwt: { secret: MIDDLEWARE_SECRET },
      audit: { sqlite: join(dir, 'mw-audit.db') },
      now: () => NOW,
    });
    const web = express();
    for (const [id, record] of byId) web.get(`/records/${id}`, mesh.read('Patient'), (_req, res) => void res.json(record));
    app = createServer(web);
    appUrl = await listen(app);
    upstream = await startRawUpstream((req, res) => {
      const record = byId.get(decodeURIComponent((req.url ?? '').replace(/^\/records\//, '').replace(/\?.*$/, '')));
      res.writeHead(record ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(record ?? { error: 'not found' }));
    });
    const routes = join(dir, 'routes.yaml');
    writeFileSync(routes, `routes:\n${[...byId.keys()].map((id) => `  - { path: /records/${id}, resource: Patient }\n`).join('')}`);
    gateway = await startTestGateway(upstream.url, { routes });
  });

  after(async () => {
    await gateway?.close();
    await upstream?.close();
    await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
    await mesh?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The middleware checks tokens at the injected clock; the gateway at real time. */
  const middlewareToken = (claims: Record<string, unknown>) => {
    const t = Math.floor(NOW.getTime() / 1000);
    return jwt.sign({ ...claims, iat: t, exp: t + 300 }, MIDDLEWARE_SECRET, { algorithm: 'HS256' });
  };
  const gatewayToken = (claims: Record<string, unknown>) => jwt.sign(claims, GATEWAY_SECRET, { algorithm: 'HS256', expiresIn: '5m' });

  CASES.forEach((c, i) => {
    it(`${c.name}: ${c.refusal ? `refused with ${c.refusal}` : 'disclosed'} by the engine, the CLI, the middleware and the gateway`, async () => {
      const engine = viaEngine(policies, c);
      const cli = viaCli(dir, c, i);
      const mw = await viaHttp(appUrl, middlewareToken(c.user), c, `consistency-mw-${i}`, () => mesh.audit.query({}));
      const gw = await viaHttp(gateway.url, gatewayToken(c.user), c, `consistency-gw-${i}`, () => gateway.audit.query({}));

      if (c.refusal) {
        for (const [name, got] of [
          ['engine', engine],
          ['cli', cli],
          ['middleware', mw],
          ['gateway', gw],
        ] as const) {
          expect({ outcome: got.outcome, code: got.code }, `${name}: ${c.name}`).to.deep.equal({ outcome: 'refused', code: c.refusal });
        }
        // Over HTTP the status follows the code; a hidden record answers 404 like a missing one.
        expect(mw.status).to.equal(statusOf(c.refusal));
        expect(gw.status).to.equal(statusOf(c.refusal));
        return;
      }
      for (const [name, got] of [
        ['engine', engine],
        ['cli', cli],
        ['middleware', mw],
        ['gateway', gw],
      ] as const) {
        expect(got.outcome, `${name}: ${c.name} (${got.code ?? ''})`).to.equal('disclosed');
      }
      const data = engine.data as Record<string, unknown>;
      for (const field of c.disclosed ?? []) expect(data, `engine: ${c.name}`).to.have.property(field);
      for (const field of c.withheld ?? []) expect(data, `engine: ${c.name}`).not.to.have.property(field);
      expect(cli.data, 'cli').to.deep.equal(data);
      expect(mw.data, 'middleware').to.deep.equal(data);
      expect(gw.data, 'gateway').to.deep.equal(data);
      expect([...(mw.fields ?? [])].sort(), 'middleware audit').to.deep.equal([...engine.fields!].sort());
      expect([...(gw.fields ?? [])].sort(), 'gateway audit').to.deep.equal([...engine.fields!].sort());
    });
  });

  describe('explain agrees with the engine on restriction exemptions', () => {
    const exemptions = [
      { roles: ['social-worker'], purpose: 'safeguarding', flags: { flags: ['dv-risk'] }, restriction: 'dv-address', field: 'address' },
      { roles: ['safeguarding-lead'], purpose: 'safeguarding', flags: { flags: ['dv-risk'] }, restriction: 'dv-address', field: 'address' },
      { roles: ['gp'], purpose: 'direct-care', flags: { flags: ['hate-crime'] }, restriction: 'hate-crime', field: 'address' },
      { roles: ['receptionist'], purpose: 'administration', flags: { flags: ['hate-crime'] }, restriction: 'hate-crime', field: 'address' },
      { roles: ['gp'], purpose: 'direct-care', flags: { sealed: true }, restriction: 'sealed-record', field: 'name' },
      { roles: ['gp'], purpose: 'emergency', flags: { sealed: true }, restriction: 'sealed-record', field: 'name' },
    ];
    for (const x of exemptions) {
      it(`${x.roles.join(', ')} for ${x.purpose}: ${x.restriction} fires in explain (library and CLI) exactly when it fires in the engine`, () => {
        const user = { sub: 'u', roles: x.roles, practice: 'B86001', training: trained };
        const breakGlass = x.purpose === 'emergency' ? REASON : undefined;
        let fired: boolean;
        try {
          fired = policies
            .redact(patient(x.flags), { resource: 'Patient', purpose: x.purpose, user, breakGlass, now: NOW })
            .decision.restrictions.includes(x.restriction);
        } catch (e) {
          const decision = (e as AccessError).decision as Decision;
          fired = decision.rowReasons[`restriction:${x.restriction}`] === 1;
        }
        const named = (conditions: string[]) => conditions.some((line) => line.includes(`(restriction ${x.restriction}`));
        const library = policies
          .explain({ roles: x.roles, purpose: x.purpose, resource: 'Patient' })
          .fields.find((f) => f.field === x.field)!;
        expect(named(library.conditions), 'library explain').to.equal(fired);
        const r = spawnSync(
          process.execPath,
          [CLI, 'explain', '--policies', POLICIES, '--role', x.roles.join(','), '--purpose', x.purpose, '--resource', 'Patient', '--json'],
          { cwd: ROOT, encoding: 'utf8' },
        );
        expect(r.status, r.stderr).to.equal(0);
        const cli = (JSON.parse(r.stdout) as { fields: { field: string; conditions: string[] }[] }).fields.find(
          (f) => f.field === x.field,
        )!;
        expect(named(cli.conditions), 'CLI explain').to.equal(fired);
      });
    }

    it('covers both outcomes: some restrictions fire and some are exempt', () => {
      const outcomes = exemptions.map((x) =>
        policies
          .explain({ roles: x.roles, purpose: x.purpose, resource: 'Patient' })
          .fields.find((f) => f.field === x.field)!
          .conditions.some((l) => l.includes(`(restriction ${x.restriction}`)),
      );
      expect(outcomes).to.deep.equal([true, false, false, true, false, true]);
    });
  });

  describe('the pseudonym key: one rule for the middleware, the gateway and the CLI', () => {
    const serve = (env: Record<string, string>) =>
      spawnSync(
        process.execPath,
        [
          CLI,
          'serve',
          '--upstream',
          'http://127.0.0.1:9',
          '--routes',
          ROUTES,
          '--policies',
          POLICIES,
          '--port',
          '0',
          '--audit',
          join(dir, 'never.db'),
        ],
        {
          cwd: ROOT,
          encoding: 'utf8',
          timeout: 30_000,
          env: { ...process.env, NO_COLOR: '1', FIELDMESH_JWT_SECRET: GATEWAY_SECRET, ...env },
        },
      );
    const middleware = async (pseudonymKey: string | undefined): Promise<string> => {
      try {
        const m = await fieldmesh({
          policies: POLICIES,
          jwt: { secret: MIDDLEWARE_SECRET },
          audit: { sqlite: join(dir, 'never-mw.db') },
          ...(pseudonymKey === undefined ? {} : { pseudonymKey }),
        });
        await m.close();
      } catch (e) {
        expect(e).to.be.instanceOf(TypeError);
        return (e as Error).message;
      }
      return expect.fail('the middleware accepted the key');
    };

    it('refuses a key shorter than 16 characters everywhere, with the same words', async () => {
      const problem = 'must be at least 16 characters';
      expect(await middleware('short-key')).to.include(`pseudonymKey ${problem}`);
      const gw = serve({ FIELDMESH_PSEUDONYM_KEY: 'short-key' });
      expect(gw.status).to.equal(2);
      expect(gw.stderr).to.include(`FIELDMESH_PSEUDONYM_KEY: ${problem}`);
      const record = join(dir, 'short-key-record.json');
      writeFileSync(record, JSON.stringify(patient()));
      const cli = spawnSync(
        process.execPath,
        [CLI, 'redact', '--policies', POLICIES, '--role', 'gp', '--purpose', 'direct-care', '--resource', 'Patient', record],
        {
          cwd: ROOT,
          encoding: 'utf8',
          env: { ...process.env, NO_COLOR: '1', FIELDMESH_PSEUDONYM_KEY: 'short-key' },
        },
      );
      expect(cli.status).to.equal(2);
      expect(cli.stderr).to.include(`FIELDMESH_PSEUDONYM_KEY: ${problem}`);
    });

    it('requires a key in the middleware and the gateway, whose policies pseudonymise', async () => {
      expect(await middleware(undefined)).to.include('pseudonymKey: required, since a purpose pseudonymises fields');
      const gw = serve({ FIELDMESH_PSEUDONYM_KEY: '' });
      expect(gw.status).not.to.equal(0);
      expect(gw.stderr).to.include('FIELDMESH_PSEUDONYM_KEY: required, since a purpose pseudonymises fields');
    });
  });
});
