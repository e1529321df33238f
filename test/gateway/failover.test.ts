import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import pg from 'pg';
import { startTcpProxy, type TcpProxy } from '../../bench/lib/tcp-proxy.js';
import { fieldmesh, type Running, startFieldmesh } from '../cli/run.js';
import { as, call, POLICIES, PSEUDONYM_KEY, records, ROUTES, SECRET, startJsonServer, type TestUpstream, USERS } from './helpers.js';

const PG_URL = process.env.FIELDMESH_TEST_PG_URL;
/** How long the gateway may take to answer 200 again once the database is back: a cap, not a threshold. */
const RECOVERY_CAP_MS = 60_000;

/** Every string in a value, at any depth: what a body must not repeat while nothing may be disclosed. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

/** A trail URL whose tables live in `schema` (the gateway takes the URL as it is; search_path picks the schema). */
function trailUrl(port: number, schema: string): string {
  const url = new URL(PG_URL as string);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

/**
 * The built gateway (`fieldmesh serve`) with a PostgreSQL trail reached
 * through a TCP proxy the test controls: the proxy cuts every connection and
 * refuses new ones, as a failover or a partition would, then lets them through again.
 */
describe('gateway › PostgreSQL failover (built CLI → TCP proxy → PostgreSQL)', function () {
  this.timeout(RECOVERY_CAP_MS + 60_000);
  const schema = `fm_failover_test_${randomBytes(6).toString('hex')}`;
  let upstream: TestUpstream;
  let proxy: TcpProxy;
  let gateway: Running;
  let url: string;

  const sql = async (text: string) => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      return (await client.query(text)).rows as Record<string, unknown>[];
    } finally {
      await client.end();
    }
  };

  before(async function () {
    if (PG_URL === undefined) {
      console.log('    (skipped: needs PostgreSQL: FIELDMESH_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test npm test)');
      this.skip();
    }
    await sql(`CREATE SCHEMA "${schema}"`);
    const target = new URL(PG_URL as string);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    upstream = await startJsonServer();
    gateway = startFieldmesh(
      [
        'serve',
        '--upstream',
        upstream.url,
        '--routes',
        ROUTES,
        '--policies',
        POLICIES,
        '--port',
        '0',
        '--audit',
        trailUrl(proxy.port, schema),
      ],
      { env: { FIELDMESH_JWT_SECRET: SECRET, FIELDMESH_PSEUDONYM_KEY: PSEUDONYM_KEY } },
    );
    await gateway.waitFor('"gateway listening"');
    url = (JSON.parse(gateway.out.stdout.split('\n').find((l) => l.includes('"gateway listening"'))!) as { url: string }).url;
  });

  after(async () => {
    if (PG_URL === undefined) return;
    gateway?.stop('SIGKILL');
    await gateway?.exited.catch(() => undefined);
    await upstream?.close();
    await proxy?.close();
    await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  });

  it('answers 503 audit_unavailable with nothing of the record while the trail is unreachable, and 200 again once it is back', async () => {
    const patient = records('Patient').find((r) => r['id'] === 'pat-001')!;
    const read = () => call(`${url}/patients/pat-001`, { headers: as(USERS.gp, 'direct-care') });
    const list = () => call(`${url}/patients`, { headers: as(USERS.gp, 'direct-care') });

    const before = await read();
    expect(before.status).to.equal(200);
    expect(before.json.name).to.deep.equal(patient['name']);
    expect((await call(`${url}/readyz`)).status).to.equal(200);

    await proxy.cut();
    // The record's own values, long enough to be unmistakable (ids are not values).
    const values = strings(patient).filter((s) => s.length >= 4 && s !== patient['id']);
    expect(values.length).to.be.greaterThan(3);
    const during = [await read(), await list(), await read(), await list(), await read()];
    for (const res of during) {
      expect(res.status, res.text).to.equal(503);
      expect(res.json).to.deep.equal({
        error: { code: 'audit_unavailable', message: 'The audit trail cannot be written, so nothing is disclosed' },
      });
      for (const v of values) expect(res.text).not.to.include(v);
    }
    const ready = await call(`${url}/readyz`);
    expect(ready.status).to.equal(503);
    for (const v of values) expect(ready.text).not.to.include(v);
    expect(proxy.refused(), 'the gateway tried the database, and was refused').to.be.greaterThan(0);

    await proxy.restore();
    const started = Date.now();
    let after = await read();
    const seen = new Set<number>([after.status]);
    while (after.status !== 200 && Date.now() - started < RECOVERY_CAP_MS) {
      await sleep(250);
      after = await read();
      seen.add(after.status);
    }
    expect(after.status, `still ${after.status} ${RECOVERY_CAP_MS / 1000} s after the database came back`).to.equal(200);
    expect(
      [...seen].filter((s) => s !== 200 && s !== 503),
      'only 503 until recovered',
    ).to.deep.equal([]);
    expect(after.json.name).to.deep.equal(patient['name']);
    expect((await call(`${url}/readyz`)).status).to.equal(200);

    // Every 200 has its event, the refused ones none, and the chain is whole.
    const events = await sql(`SELECT status, request_id FROM "${schema}".fieldmesh_audit_events ORDER BY seq`);
    expect(events.map((e) => e['status'])).to.deep.equal([200, 200]);
    const verify = fieldmesh(['audit', 'verify', '--audit', trailUrl(Number(new URL(PG_URL as string).port || 5432), schema)]);
    expect(verify.code, verify.stderr).to.equal(0);
  });
});
