/**
 * The one request the gateway benchmark sends through every proxy: a GP
 * reading patients for direct care. The fieldmesh policy (policies/) gives
 * the GP the direct-care view of a Patient, rows only of the GP's own
 * practice (`where: { gp: "${user.practice}" }`), and withholds address and
 * telecom of a record flagged dv-risk (restriction dv-address); the
 * hate-crime and sealed-record restrictions exempt a GP in direct care. The
 * baselines implement exactly this, and the bench checks their answers equal
 * fieldmesh's before it times anything.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import jwt from 'jsonwebtoken';
import { DEMO_JWT_SECRET } from '../../src/demo/guide.js';

export const JWT_SECRET = DEMO_JWT_SECRET;
export const PURPOSE = 'direct-care';
export const ROLE = 'gp';
export const RESOURCE = 'Patient';

/** The direct-care view of a Patient (policies/purposes.yaml): what a GP reads. */
export const VIEW_FIELDS = [
  'id',
  'nhsNumber',
  'identifier',
  'name',
  'telecom',
  'address',
  'gender',
  'dateOfBirth',
  'careTeam',
  'ward',
  'gp',
  'diagnoses',
  'medications',
  'allergies',
] as const;

/** Withheld from a record flagged dv-risk (restriction dv-address). */
export const DV_WITHHELD = ['address', 'telecom'] as const;
export const DV_FLAG = 'dv-risk';

/** The claims of the one token every request carries. */
export function gpClaims(): Record<string, unknown> {
  const training = new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10);
  return { sub: 'gp-1', roles: [ROLE], practice: 'B86001', training };
}

/** The two requests, sent alternately: the 24-row list (13 rows returned) and one record flagged dv-risk. */
export const PATHS = ['/patients', '/patients/pat-002'] as const;

/** Reads a request path of the demo API: the list, one record, or neither. */
export function routeOf(url: string): { kind: 'list' } | { kind: 'one'; id: string } | undefined {
  const path = url.split('?')[0] ?? '';
  if (path === '/patients') return { kind: 'list' };
  const m = /^\/patients\/([^/]+)$/.exec(path);
  return m ? { kind: 'one', id: decodeURIComponent(m[1]!) } : undefined;
}

const HOSTILE = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * A deep copy of a JSON value without the keys that pollute prototypes
 * (`__proto__`, `constructor`, `prototype`), which fieldmesh never copies:
 * the fixture records carry some, and a peer must answer the same.
 */
export function copyWithoutHostileKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copyWithoutHostileKeys);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) if (!HOSTILE.has(key)) out[key] = copyWithoutHostileKeys((value as Record<string, unknown>)[key]);
  return out;
}

/** A JSON answer, as both hand-written proxies send it. */
export function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text);
}

/** The claims of the request's HS256 bearer token, or `undefined` when there is none or it does not verify. */
export function bearerClaims(req: IncomingMessage): jwt.JwtPayload | undefined {
  try {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    return jwt.verify(token, JWT_SECRET, { algorithms: ['HS256'] }) as jwt.JwtPayload;
  } catch {
    return undefined;
  }
}
