import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import jsonServer from 'json-server';
import { pino, type Logger } from 'pino';
import { request } from 'undici';
import { openAuditStore } from '../../src/audit/open.js';
import type { AuditStore } from '../../src/audit/types.js';
import { resolveConfig, type ConfigFlags } from '../../src/gateway/config.js';
import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../../src/gateway/start.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const POLICIES = join(ROOT, 'policies');
export const ROUTES = join(ROOT, 'examples', 'gateway', 'routes.yaml');
export const SECRET = 'gateway-test-secret-of-at-least-32-bytes!';
export const PSEUDONYM_KEY = 'fixture-pseudonym-key';
/** The clock of every decision: the fixtures' date, so review dates and training never rot. */
export const NOW = new Date('2026-11-24T12:00:00Z');

/** A signed token for these claims, current training, valid for five minutes of real time. */
export function token(claims: Record<string, unknown>): string {
  return jwt.sign({ training: '2026-06-01', ...claims }, SECRET, { algorithm: 'HS256', expiresIn: '5m' });
}

/** Headers of a request by a user for a purpose. */
export function as(claims: Record<string, unknown>, purpose: string, extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${token(claims)}`, 'x-purpose': purpose, ...extra };
}

export const USERS = {
  gp: { sub: 'gp-1', roles: ['gp'], practice: 'B86001' },
  nurse: { sub: 'nurse-1', roles: ['ward-nurse'], team: 'ward-7' },
  receptionist: { sub: 'rec-1', roles: ['receptionist'] },
  socialWorker: { sub: 'sw-1', roles: ['social-worker'] },
  lead: { sub: 'lead-1', roles: ['safeguarding-lead'] },
  police: { sub: 'police-1', roles: ['police-liaison'] },
  analyst: { sub: 'analyst-1', roles: ['analyst'] },
  auditor: { sub: 'auditor-1', roles: ['auditor'] },
} as const;

export function records(resource: 'Patient' | 'SafeguardingConcern' | 'CaseNote'): Record<string, unknown>[] {
  return JSON.parse(readFileSync(join(ROOT, 'fixtures', 'records', `${resource}.json`), 'utf8')) as Record<string, unknown>[];
}

/** What an upstream received: lets a test prove a request never reached it, and what headers did. */
export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** A listening upstream and what it saw. */
export interface TestUpstream {
  url: string;
  seen: Seen[];
  close(): Promise<void>;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

function closer(server: Server): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
}

/** A real json-server 0.17 over a fresh copy of the fixture records. */
export async function startJsonServer(): Promise<TestUpstream> {
  const db = { patients: records('Patient'), concerns: records('SafeguardingConcern'), notes: records('CaseNote') };
  const app = jsonServer.create();
  const seen: Seen[] = [];
  app.use((req: IncomingMessage, _res: unknown, next: () => void) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    next();
  });
  app.use(jsonServer.defaults({ logger: false, noCors: true }));
  app.use(jsonServer.router(structuredClone(db)));
  const server = createServer(app as unknown as (req: IncomingMessage, res: ServerResponse) => void);
  return { url: await listen(server), seen, close: closer(server) };
}

/** A tiny node:http upstream whose every answer the test writes by hand. */
export async function startRawUpstream(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestUpstream> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handler(req, res);
  });
  return { url: await listen(server), seen, close: closer(server) };
}

/** A running gateway with its audit trail and its log lines. */
export interface TestGateway {
  gw: Gateway;
  url: string;
  audit: AuditStore;
  logs: Record<string, unknown>[];
  /** Everything the gateway logged, as written. */
  logText(): string;
  close(): Promise<void>;
}

/** A gateway in front of `upstream`, with a fresh SQLite trail, logs kept in memory. */
export async function startTestGateway(upstream: string, flags: ConfigFlags = {}, opts: { audit?: AuditStore } = {}): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-gw-'));
  const lines: string[] = [];
  const logger: Logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
  const config = resolveConfig(
    {
      upstream,
      routes: ROUTES,
      policies: POLICIES,
      port: '0',
      audit: join(dir, 'audit.db'),
      jwtSecret: SECRET,
      timeoutMs: '2000',
      ...flags,
    },
    { FIELDMESH_PSEUDONYM_KEY: PSEUDONYM_KEY },
  );
  const audit = opts.audit ?? (await openAuditStore(config.audit));
  const gw = await startGateway(config, { logger, audit, watch: false, now: () => NOW });
  return {
    gw,
    url: gw.url,
    audit,
    get logs() {
      return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    logText: () => lines.join(''),
    close: () => gw.close(),
  };
}

/** GET (or another method) through undici; the body parsed when it is JSON. */
export async function call(
  url: string,
  opts: { method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE' | 'HEAD'; headers?: Record<string, string>; body?: unknown } = {},
) {
  const body = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  const headers = { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...opts.headers };
  const res = await request(url, { method: opts.method ?? 'GET', headers, ...(body === undefined ? {} : { body }) });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers of every shape
  return { status: res.statusCode, headers: res.headers, text, json: json as any };
}
