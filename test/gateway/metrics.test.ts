import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import { resolveConfig, type ConfigFlags } from '../../src/gateway/config.js';
import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../../src/gateway/start.js';
import { parseProm, type Scrape } from '../http/prom-text.js';
import { as, call, NOW, POLICIES, PSEUDONYM_KEY, ROUTES, SECRET, startJsonServer, USERS, type TestUpstream } from './helpers.js';

const REASON = 'Patient collapsed in clinic, care team unreachable';

describe('gateway › metrics', function () {
  this.timeout(60000);
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });

  /** A gateway as `fieldmesh serve` starts one: it opens its own SQLite trail (so the group commit is observed). */
  async function setup(
    flags: ConfigFlags = {},
    upstream?: TestUpstream,
    logger = pino({ level: 'silent' }),
  ): Promise<{ gw: Gateway; upstream: string }> {
    const up = upstream ?? (await startJsonServer());
    if (upstream === undefined) open.push(up);
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-metrics-'));
    const config = resolveConfig(
      {
        upstream: up.url,
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
    const gw = await startGateway(config, { logger, watch: false, now: () => NOW });
    open.push(gw);
    return { gw, upstream: up.url };
  }

  async function scrape(gw: Gateway): Promise<{ scrape: Scrape; text: string; contentType: string }> {
    const res = await call(`${gw.url}/metrics`);
    expect(res.status).to.equal(200);
    return { scrape: parseProm(res.text), text: res.text, contentType: String(res.headers['content-type']) };
  }

  it('counts allowed, refused, break-glass and unrouted requests by route pattern, purpose, outcome and code', async () => {
    const { gw } = await setup();
    expect((await call(`${gw.url}/patients`, { headers: as(USERS.nurse, 'direct-care') })).status).to.equal(200);
    expect((await call(`${gw.url}/patients/pat-001`, { headers: as(USERS.receptionist, 'administration') })).status).to.equal(200);
    // Refused: a purpose the receptionist is not granted, and a junk purpose no policy declares.
    expect((await call(`${gw.url}/patients/pat-001`, { headers: as(USERS.receptionist, 'research') })).status).to.equal(403);
    expect((await call(`${gw.url}/patients/pat-002`, { headers: as(USERS.nurse, 'zzjunk-purpose-4711') })).status).to.equal(403);
    expect((await call(`${gw.url}/patients`, { headers: { 'x-purpose': 'direct-care' } })).status).to.equal(401);
    // Break-glass by a verified nurse, and a stranger's break-glass header.
    expect(
      (await call(`${gw.url}/patients/pat-003`, { headers: as(USERS.nurse, 'emergency', { 'x-break-glass': REASON }) })).status,
    ).to.equal(200);
    expect(
      (await call(`${gw.url}/patients/pat-003`, { headers: { 'x-purpose': 'emergency', 'x-break-glass': 'stranger-text-abc123' } })).status,
    ).to.equal(401);
    // No route: the raw path never becomes a label.
    expect((await call(`${gw.url}/no-such-path-q7x9/pat-004`, { headers: as(USERS.nurse, 'direct-care') })).status).to.equal(404);

    const { scrape: s, text, contentType } = await scrape(gw);
    expect(contentType).to.match(/^text\/plain; version=0\.0\.4/);
    const req = (labels: Record<string, string>) => s.value('fieldmesh_requests_total', labels);
    expect(
      req({ route: '/patients', method: 'GET', resource: 'Patient', purpose: 'direct-care', outcome: 'disclosed', code: 'none' }),
    ).to.equal(1);
    expect(req({ route: '/patients/:id', purpose: 'administration', outcome: 'disclosed', code: 'none' })).to.equal(1);
    expect(req({ route: '/patients/:id', purpose: 'research', outcome: 'refused', code: 'purpose_not_granted' })).to.equal(1);
    expect(req({ route: '/patients/:id', purpose: '(unknown)', outcome: 'refused', code: 'purpose_unknown' })).to.equal(1);
    expect(req({ route: '/patients', outcome: 'refused', code: 'unauthenticated' })).to.equal(1);
    expect(req({ route: '(no route)', resource: '(unknown)', outcome: 'refused', code: 'not_found' })).to.equal(1);
    expect(s.value('fieldmesh_refusals_total', { code: 'unauthenticated' })).to.equal(2);
    expect(s.value('fieldmesh_refusals_total', { code: 'purpose_unknown' })).to.equal(1);
    expect(s.value('fieldmesh_break_glass_total', { resource: 'Patient', purpose: 'emergency', outcome: 'disclosed' })).to.equal(1);
    expect(
      s.all('fieldmesh_break_glass_total').reduce((n, x) => n + x.value, 0),
      'the stranger is not a break-glass use',
    ).to.equal(1);
    expect(s.value('fieldmesh_break_glass_unverified_total')).to.equal(1);
    // The nurse's list withholds the patients of other teams and the fields the view leaves out.
    expect(s.value('fieldmesh_rows_withheld_total', { resource: 'Patient' })).to.be.greaterThan(0);
    expect(s.value('fieldmesh_fields_withheld_total', { resource: 'Patient' })).to.be.greaterThan(0);
    // Every request waited for its event; the group commit wrote them.
    expect(s.value('fieldmesh_audit_append_seconds_count', { result: 'ok' })).to.equal(7);
    expect(s.value('fieldmesh_audit_batch_size_count')).to.be.within(1, 7);
    expect(s.value('fieldmesh_audit_batch_size_sum'), 'every event went through a group commit').to.equal(7);
    expect(s.value('fieldmesh_upstream_seconds_count', { result: 'ok' })).to.equal(3);
    expect(s.value('fieldmesh_policy_info', { version: gw.holder.current.version })).to.equal(1);
    expect(s.all('fieldmesh_policy_info')).to.have.length(1);
    // No user id, no header text, no raw path, no record value anywhere in the scrape.
    for (const leak of ['nurse-1', 'rec-1', 'zzjunk', 'stranger-text', 'q7x9', 'pat-00', REASON, 'ward-7'])
      expect(text, leak).to.not.include(leak);
  });

  it('labels a refusal with the purpose named whenever the policy declares it, and logs, counts and traces no other purpose text', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    const { gw } = await setup({}, undefined, logger);
    const cases: [Record<string, string>, number, string, string][] = [
      // A purpose no policy declares: its text reaches neither the log nor a label.
      [as(USERS.nurse, '9990000018'), 403, 'purpose_unknown', '(unknown)'],
      // Refused before the request context was read: the declared purpose is labelled all the same.
      [as(USERS.nurse, 'direct-care', { 'x-acting-role': 'gp' }), 403, 'role_not_held', 'direct-care'],
      [{ 'x-purpose': 'direct-care' }, 401, 'unauthenticated', 'direct-care'],
      [{ 'x-purpose': 'direct-care', authorization: 'Bearer not.a.token' }, 401, 'unauthenticated', 'direct-care'],
      [{ 'x-purpose': '9990000019' }, 401, 'unauthenticated', '(unknown)'],
      // A short break-glass reason is refused while the context is read, a purpose not for break-glass while planning: one label.
      [as(USERS.nurse, 'emergency', { 'x-break-glass': 'urgent' }), 403, 'break_glass_refused', 'emergency'],
      [as(USERS.receptionist, 'emergency', { 'x-break-glass': REASON }), 403, 'break_glass_refused', 'emergency'],
    ];
    for (const [headers, status] of cases) expect((await call(`${gw.url}/patients/pat-001`, { headers })).status).to.equal(status);
    const requests = lines.filter((l) => l['msg'] === 'request');
    expect(requests.map((l) => [l['code'], l['purpose']])).to.deep.equal(cases.map(([, , code, purpose]) => [code, purpose]));
    const { scrape: s, text } = await scrape(gw);
    const count = (purpose: string, code: string) =>
      s.value('fieldmesh_requests_total', { route: '/patients/:id', purpose, outcome: 'refused', code });
    expect(count('(unknown)', 'purpose_unknown')).to.equal(1);
    expect(count('direct-care', 'role_not_held')).to.equal(1);
    expect(count('direct-care', 'unauthenticated')).to.equal(2);
    expect(count('(unknown)', 'unauthenticated')).to.equal(1);
    expect(count('emergency', 'break_glass_refused')).to.equal(2);
    expect(s.all('fieldmesh_requests_total').filter((x) => x.labels['code'] === 'break_glass_refused')).to.have.length(1);
    for (const leak of ['999000001', 'urgent']) expect(JSON.stringify(lines) + text, leak).not.to.include(leak);
  });

  it('counts an upstream that cannot be reached, by code, in the requests and the upstream errors', async () => {
    const down = await startJsonServer();
    await down.close();
    const { gw } = await setup({}, down);
    expect((await call(`${gw.url}/patients`, { headers: as(USERS.nurse, 'direct-care') })).status).to.equal(502);
    const { scrape: s } = await scrape(gw);
    expect(s.value('fieldmesh_upstream_errors_total', { code: 'upstream_unreachable' })).to.equal(1);
    expect(s.value('fieldmesh_upstream_seconds_count', { result: 'upstream_unreachable' })).to.equal(1);
    expect(s.value('fieldmesh_requests_total', { route: '/patients', outcome: 'refused', code: 'upstream_unreachable' })).to.equal(1);
    expect(s.value('fieldmesh_refusals_total', { code: 'upstream_unreachable' })).to.equal(1);
  });

  it('keeps label values bounded: a hundred junk purposes and paths add no series', async () => {
    const { gw } = await setup();
    await call(`${gw.url}/patients/pat-001`, { headers: as(USERS.nurse, 'junk-0') });
    await call(`${gw.url}/junk-path-0`, { headers: as(USERS.nurse, 'direct-care') });
    const before = (await scrape(gw)).scrape.samples.length;
    for (let i = 1; i <= 100; i++) {
      await call(`${gw.url}/patients/pat-${i}`, { headers: as(USERS.nurse, `junk-${i}`) });
      await call(`${gw.url}/junk-path-${i}`, { headers: as(USERS.nurse, 'direct-care') });
    }
    const { scrape: s } = await scrape(gw);
    expect(s.value('fieldmesh_requests_total', { purpose: '(unknown)', code: 'purpose_unknown' })).to.equal(101);
    expect(s.value('fieldmesh_requests_total', { route: '(no route)' })).to.equal(101);
    // Only histogram buckets already present may change value; the number of samples stays the same.
    expect(s.samples.length).to.equal(before);
  });

  it('shows each policy reload, and its failure, and never fails a scrape taken while reloads run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-policies-'));
    cpSync(POLICIES, dir, { recursive: true });
    const { gw } = await setup({ policies: dir });
    const first = gw.holder.current.version;
    // Scrapes interleaved with reloads: each is whole and names exactly one version.
    const scrapes: Promise<Scrape>[] = [];
    const reloads: Promise<boolean>[] = [];
    for (let i = 0; i < 10; i++) {
      reloads.push(gw.reload('test'));
      scrapes.push(scrape(gw).then((r) => r.scrape));
    }
    expect(await Promise.all(reloads)).to.deep.equal(Array(10).fill(true));
    for (const s of await Promise.all(scrapes))
      expect(s.all('fieldmesh_policy_info').map((x) => x.labels['version'])).to.deep.equal([first]);

    writeFileSync(join(dir, 'zz-broken.yaml'), 'roles:\n  intern:\n    grants:\n      - purpose: dirct-care\n        resource: Patient\n');
    expect(await gw.reload('test')).to.equal(false);
    let s = (await scrape(gw)).scrape;
    expect(s.value('fieldmesh_policy_reloads_total', { result: 'ok' })).to.equal(10);
    expect(s.value('fieldmesh_policy_reloads_total', { result: 'failed' })).to.equal(1);
    expect(s.value('fieldmesh_policy_info', { version: first }), 'the last good set still decides').to.equal(1);

    // A good change: the new version replaces the old one (one series, so skew across instances shows as two values).
    rmSync(join(dir, 'zz-broken.yaml'));
    const roles = readFileSync(join(dir, 'roles.yaml'), 'utf8');
    const changed = roles.replace(
      'read: [id, nhsNumber, name, telecom, address, gp, dateOfBirth]',
      'read: [id, nhsNumber, name, address, gp, dateOfBirth]',
    );
    expect(changed).to.not.equal(roles);
    writeFileSync(join(dir, 'roles.yaml'), changed);
    expect(await gw.reload('test')).to.equal(true);
    expect(gw.holder.current.version).to.not.equal(first);
    s = (await scrape(gw)).scrape;
    expect(s.all('fieldmesh_policy_info').map((x) => x.labels['version'])).to.deep.equal([gw.holder.current.version]);
  });

  it('keeps two gateways in one process apart: each its own registry', async () => {
    const a = await setup();
    const b = await setup();
    await call(`${a.gw.url}/patients`, { headers: as(USERS.nurse, 'direct-care') });
    expect((await scrape(a.gw)).scrape.value('fieldmesh_requests_total')).to.equal(1);
    const sb = (await scrape(b.gw)).scrape;
    expect(sb.all('fieldmesh_requests_total')).to.deep.equal([]);
    expect(a.gw.metrics).to.not.equal(b.gw.metrics);
  });

  it('answers /metrics only to GET, and a POST to it goes through the routes (none: refused, never forwarded)', async () => {
    const { gw } = await setup();
    const res = await call(`${gw.url}/metrics`, { method: 'POST', body: {} });
    expect(res.status).to.equal(404);
    expect(res.json.error.code).to.equal('not_found');
  });
});
