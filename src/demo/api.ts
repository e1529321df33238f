import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/**
 * Collection path → fixture file of `fixtures/records/`.
 *
 * @example
 * DEMO_COLLECTIONS.patients; // 'Patient.json': served at /patients and /patients/:id
 */
export const DEMO_COLLECTIONS = { patients: 'Patient.json', concerns: 'SafeguardingConcern.json', notes: 'CaseNote.json' } as const;
type Collection = keyof typeof DEMO_COLLECTIONS;
type Row = Record<string, unknown>;

/**
 * A running demo record API.
 *
 * @example
 * const api = await startDemoApi('./fixtures/records'); console.log(api.url); await api.close();
 */
export interface DemoApi {
  url: string;
  /** Requests it has answered: lets a test prove the gateway never forwarded one. */
  hits: number;
  close(): Promise<void>;
}

const PAGING = new Set(['_page', '_limit']);

/**
 * A tiny JSON record API over the fixture records, of the kind fieldmesh is
 * put in front of: it knows nothing of roles or purposes and returns whole
 * records. `GET /patients?gp=B86001` filters by equality (an array field
 * matches when it contains the value); `_page`/`_limit` page; `PATCH
 * /patients/:id` merges top-level fields; `POST /notes` adds a record.
 */
export async function startDemoApi(recordsDir: string, opts: { port?: number; host?: string } = {}): Promise<DemoApi> {
  const data = new Map<Collection, Row[]>();
  for (const [name, file] of Object.entries(DEMO_COLLECTIONS) as [Collection, string][]) {
    data.set(name, JSON.parse(readFileSync(join(recordsDir, file), 'utf8')) as Row[]);
  }
  const api: DemoApi = { url: '', hits: 0, close: async () => undefined };
  const server = createServer((req, res) => {
    api.hits++;
    handle(data, req, res).catch(() => send(res, 500, { error: 'internal' }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  api.url = `http://${opts.host ?? '127.0.0.1'}:${port}`;
  api.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return api;
}

async function handle(data: Map<Collection, Row[]>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://demo');
  const [name, id, extra] = url.pathname.split('/').slice(1).map(decodeURIComponent);
  const rows = data.get(name as Collection);
  if (rows === undefined || extra !== undefined) return send(res, 404, { error: 'no such collection' });
  const index = id === undefined ? -1 : rows.findIndex((r) => r['id'] === id);
  if (req.method === 'GET' && id === undefined) return send(res, 200, filter(rows, url.searchParams));
  if (req.method === 'GET') return index < 0 ? send(res, 404, { error: 'not found' }) : send(res, 200, rows[index]);
  const body = await readJson(req);
  if (body === undefined) return send(res, 400, { error: 'the body must be a JSON object' });
  if (req.method === 'POST' && id === undefined) {
    const row = { id: randomUUID(), ...body };
    rows.push(row);
    return send(res, 201, row);
  }
  if ((req.method === 'PATCH' || req.method === 'PUT') && index >= 0) {
    const row = req.method === 'PATCH' ? { ...rows[index], ...body, id } : { ...body, id };
    rows[index] = row;
    return send(res, 200, row);
  }
  return send(res, index < 0 && id !== undefined ? 404 : 405, { error: 'not supported' });
}

function filter(rows: Row[], params: URLSearchParams): Row[] {
  let out = rows;
  for (const [key, value] of params) {
    if (PAGING.has(key)) continue;
    out = out.filter((r) => {
      const v = r[key];
      return Array.isArray(v) ? v.some((x) => String(x) === value) : v !== undefined && v !== null && String(v) === value;
    });
  }
  const limit = Number(params.get('_limit') ?? out.length);
  const page = Math.max(1, Number(params.get('_page') ?? 1));
  return Number.isInteger(limit) && limit > 0 ? out.slice((page - 1) * limit, page * limit) : out;
}

async function readJson(req: IncomingMessage): Promise<Row | undefined> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    const value: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Row) : undefined;
  } catch {
    return undefined;
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
