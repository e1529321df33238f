/**
 * Baseline: the redacting proxy a team would write by hand with
 * jsonwebtoken and CASL, and no audit at all. Per request: verify the HS256
 * token, check the purpose and the role, build the user's MongoAbility
 * (the same rules as the fieldmesh policy for this route: the GP's view,
 * rows of the GP's practice, address and telecom withheld on dv-risk),
 * fetch the upstream over a keep-alive pool (undici), keep the rows the
 * ability may read and, per row, `permittedFieldsOf` + pick.
 * `node --import tsx bench/baselines/casl-proxy.ts <upstream>`; prints `READY <url>`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AbilityBuilder, createMongoAbility, type MongoAbility, subject } from '@casl/ability';
import { permittedFieldsOf } from '@casl/ability/extra';
import type jwt from 'jsonwebtoken';
import { Pool } from 'undici';
import {
  copyWithoutHostileKeys,
  send,
  DV_FLAG,
  DV_WITHHELD,
  bearerClaims,
  PURPOSE,
  RESOURCE,
  ROLE,
  routeOf,
  VIEW_FIELDS,
} from './scenario.js';

const upstream = process.argv[2];
if (upstream === undefined) throw new Error('usage: casl-proxy.ts <upstream url>');
const pool = new Pool(upstream, { connections: 64 });
type Row = Record<string, unknown>;

function abilityFor(claims: jwt.JwtPayload): MongoAbility {
  const { can, cannot, build } = new AbilityBuilder(createMongoAbility);
  can('read', RESOURCE, [...VIEW_FIELDS], { gp: claims['practice'] });
  cannot('read', RESOURCE, [...DV_WITHHELD], { flags: DV_FLAG });
  return build();
}

function redact(ability: MongoAbility, row: Row): Row | undefined {
  const s = subject(RESOURCE, row);
  if (!ability.can('read', s)) return undefined;
  const out: Row = {};
  for (const f of permittedFieldsOf(ability, 'read', s, { fieldsFrom: (rule) => rule.fields ?? [...VIEW_FIELDS] })) {
    if (Object.hasOwn(row, f)) out[f] = copyWithoutHostileKeys(row[f]);
  }
  return out;
}

const server = createServer((req, res) => {
  void (async () => {
    const route = req.method === 'GET' ? routeOf(req.url ?? '') : undefined;
    if (route === undefined) return send(res, 404, { error: 'not found' });
    const claims = bearerClaims(req);
    if (claims === undefined) return send(res, 401, { error: 'invalid token' });
    const roles = Array.isArray(claims['roles']) ? (claims['roles'] as unknown[]) : [];
    if (req.headers['x-purpose'] !== PURPOSE || !roles.includes(ROLE)) return send(res, 403, { error: 'forbidden' });
    const ability = abilityFor(claims);
    const answer = await pool.request({ method: 'GET', path: req.url ?? '/' });
    const body = (await answer.body.json()) as Row | Row[];
    if (answer.statusCode !== 200) return send(res, answer.statusCode, body);
    if (route.kind === 'list') {
      const rows: Row[] = [];
      for (const row of body as Row[]) {
        const r = redact(ability, row);
        if (r !== undefined) rows.push(r);
      }
      return send(res, 200, rows);
    }
    const one = redact(ability, body as Row);
    return one === undefined ? send(res, 404, { error: 'not found' }) : send(res, 200, one);
  })().catch(() => {
    if (!res.headersSent) send(res, 502, { error: 'upstream' });
  });
});
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`READY http://127.0.0.1:${(server.address() as AddressInfo).port}\n`));
