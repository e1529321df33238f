import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import jwt from 'jsonwebtoken';
import type { AuditEvent } from '../../src/audit/event.js';
import { fieldmesh, type Mesh } from '../../src/express/mesh.js';
import type { MeshOptions } from '../../src/express/options.js';
import { loadPolicies, type PolicySet } from '../../src/engine/policy-set.js';

export const POLICIES = fileURLToPath(new URL('../../policies', import.meta.url));
export const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
export const PSEUDONYM_KEY = 'fixture-pseudonym-key';
export const NOW = new Date('2026-11-24T12:00:00Z');
const T = Math.floor(NOW.getTime() / 1000);

/** The fixture patients (24), as the record API holds them. */
export const PATIENTS: Record<string, unknown>[] = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../fixtures/records/Patient.json', import.meta.url)), 'utf8'),
) as Record<string, unknown>[];
export function patient(id: string): Record<string, unknown> {
  return structuredClone(PATIENTS.find((p) => p['id'] === id)!);
}

/** Users of the fixture cases, by role. */
export const USERS = {
  gp: { sub: 'gp-1', roles: ['gp'], practice: 'B86001', training: '2026-06-01' },
  nurse: { sub: 'nurse-1', roles: ['ward-nurse'], team: 'ward-7', training: '2026-06-01' },
  receptionist: { sub: 'rec-1', roles: ['receptionist'], training: '2026-06-01' },
  analyst: { sub: 'analyst-1', roles: ['analyst'], training: '2026-06-01' },
  lead: { sub: 'sgl-1', roles: ['safeguarding-lead'], training: '2026-06-01' },
  auditor: { sub: 'aud-1', roles: ['auditor'], training: '2026-06-01' },
  researcher: { sub: 'res-1', roles: ['researcher'], training: '2026-06-01' },
};

/** A HS256 token for `claims`, valid around NOW unless told otherwise. */
export function token(claims: Record<string, unknown>, opts: { secret?: string; exp?: number | null; audience?: string } = {}): string {
  const payload: Record<string, unknown> = { iat: T, ...claims };
  if (opts.exp !== null) payload['exp'] = opts.exp ?? T + 300;
  return jwt.sign(payload, opts.secret ?? SECRET, {
    algorithm: 'HS256',
    ...(opts.audience === undefined ? {} : { audience: opts.audience }),
  });
}

/** Headers of a request by `claims` for `purpose`. */
export function as(claims: Record<string, unknown>, purpose = 'direct-care'): Record<string, string> {
  return { Authorization: `Bearer ${token(claims)}`, 'X-Purpose': purpose };
}

let loaded: Promise<PolicySet> | undefined;
/** The example policy set, loaded once for all tests. */
export function examplePolicies(): Promise<PolicySet> {
  loaded ??= loadPolicies(POLICIES, { pseudonymKey: PSEUDONYM_KEY, now: NOW });
  return loaded;
}

export interface Harness {
  app: express.Express;
  mesh: Mesh;
  dir: string;
  auditFile: string;
  events(): Promise<AuditEvent[]>;
}

const open: (() => Promise<void>)[] = [];
/** Close what the test opened (meshes, servers, temp dirs): `afterEach(cleanup)`. */
export async function cleanup(): Promise<void> {
  for (const close of open.splice(0).reverse()) await close();
}

/**
 * A real express app per test: a mesh over the example policies with a
 * SQLite trail in a fresh temp directory, the test's routes mounted by `routes`.
 */
export async function setup(routes: (app: express.Express, mesh: Mesh) => void, options: Partial<MeshOptions> = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-mw-'));
  const auditFile = join(dir, 'audit.db');
  const mesh = await fieldmesh({
    policies: await examplePolicies(),
    jwt: { secret: SECRET },
    audit: { sqlite: auditFile },
    now: () => NOW,
    ...options,
  } as MeshOptions);
  open.push(async () => {
    await mesh.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const app = express();
  routes(app, mesh);
  return { app, mesh, dir, auditFile, events: () => mesh.audit.query({}) };
}

/** Something for `cleanup` to close after the test. */
export function onCleanup(close: () => Promise<void>): void {
  open.push(close);
}

/** A handler answering with the fixture patients, by id or as a list. */
export function patientsHandler(req: express.Request, res: express.Response): void {
  const id = req.params['id'];
  if (id === undefined) res.json(PATIENTS);
  else res.json(PATIENTS.find((p) => p['id'] === id) ?? {});
}
