/**
 * Baseline: a redacting proxy that asks a Cerbos PDP (no audit in the proxy;
 * Cerbos's own audit off). Per request: verify the HS256 token, fetch the
 * upstream over a keep-alive pool (undici), then ONE batched CheckResources
 * call (@cerbos/http) for all rows × one `read:<field>` action per field of
 * the view (policy: bench/baselines/cerbos/patient.yaml), keep the rows with
 * any allowed action and copy their allowed fields. The resource attributes
 * sent are the two the policy reads (gp, flags), the cheapest honest call.
 * `node --import tsx bench/baselines/cerbos-proxy.ts <upstream> <cerbos http url>`; prints `READY <url>`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HTTP } from '@cerbos/http';
import type jwt from 'jsonwebtoken';
import { Pool } from 'undici';
import { copyWithoutHostileKeys, send, bearerClaims, routeOf, VIEW_FIELDS } from './scenario.js';

const [upstream, pdp] = process.argv.slice(2);
if (upstream === undefined || pdp === undefined) throw new Error('usage: cerbos-proxy.ts <upstream url> <cerbos http url>');
const pool = new Pool(upstream, { connections: 64 });
const cerbos = new HTTP(pdp);
const ACTIONS = VIEW_FIELDS.map((f) => `read:${f}`);
type Row = Record<string, unknown>;

async function redact(claims: jwt.JwtPayload, purpose: string, rows: Row[]): Promise<(Row | undefined)[]> {
  if (rows.length === 0) return [];
  const roles = Array.isArray(claims['roles']) ? (claims['roles'] as unknown[]).filter((r): r is string => typeof r === 'string') : [];
  const decision = await cerbos.checkResources({
    principal: { id: String(claims.sub), roles, attr: { practice: String(claims['practice'] ?? ''), purpose } },
    resources: rows.map((row, i) => {
      const attr: Record<string, string | string[]> = {};
      if (typeof row['gp'] === 'string') attr['gp'] = row['gp'];
      if (Array.isArray(row['flags'])) attr['flags'] = row['flags'].filter((f): f is string => typeof f === 'string');
      return { resource: { kind: 'patient', id: `row-${i}`, attr }, actions: ACTIONS };
    }),
  });
  return rows.map((row, i) => {
    const result = decision.results[i];
    if (result === undefined || result.resource.id !== `row-${i}`) throw new Error('the PDP answered another resource');
    const allowed = result.allowedActions();
    if (allowed.length === 0) return undefined;
    const out: Row = {};
    for (const f of VIEW_FIELDS) if (allowed.includes(`read:${f}`) && Object.hasOwn(row, f)) out[f] = copyWithoutHostileKeys(row[f]);
    return out;
  });
}

const server = createServer((req, res) => {
  void (async () => {
    const route = req.method === 'GET' ? routeOf(req.url ?? '') : undefined;
    if (route === undefined) return send(res, 404, { error: 'not found' });
    const claims = bearerClaims(req);
    if (claims === undefined) return send(res, 401, { error: 'invalid token' });
    const purpose = typeof req.headers['x-purpose'] === 'string' ? req.headers['x-purpose'] : '';
    const answer = await pool.request({ method: 'GET', path: req.url ?? '/' });
    const body = (await answer.body.json()) as Row | Row[];
    if (answer.statusCode !== 200) return send(res, answer.statusCode, body);
    if (route.kind === 'list') {
      const rows = await redact(claims, purpose, body as Row[]);
      return send(
        res,
        200,
        rows.filter((r) => r !== undefined),
      );
    }
    const [one] = await redact(claims, purpose, [body as Row]);
    return one === undefined ? send(res, 404, { error: 'not found' }) : send(res, 200, one);
  })().catch(() => {
    if (!res.headersSent) send(res, 502, { error: 'upstream or PDP' });
  });
});
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`READY http://127.0.0.1:${(server.address() as AddressInfo).port}\n`));
