import { readFile } from 'node:fs/promises';
import { expect } from 'chai';
import { Registry } from 'prom-client';
import { declared } from '../../src/http/labels.js';
import { createMetrics } from '../../src/http/metrics.js';
import { examplePolicies } from '../express/harness.js';
import { parseProm } from './prom-text.js';

describe('http/metrics', () => {
  async function setup() {
    const policies = await examplePolicies();
    const metrics = createMetrics();
    metrics.watch({ policies: () => policies, counters: { unverifiedBreakGlass: 0 } });
    const scrape = async () => parseProm(await metrics.registry.metrics());
    return { policies, metrics, scrape };
  }

  it('labels a purpose or resource the policy set does not declare as (unknown)', async () => {
    const { policies } = await setup();
    expect(declared('direct-care', policies.compiled.purposes)).to.equal('direct-care');
    expect(declared('dirct-care', policies.compiled.purposes)).to.equal('(unknown)');
    expect(declared(undefined, policies.compiled.purposes)).to.equal('(unknown)');
    expect(declared('constructor', policies.compiled.resources)).to.equal('(unknown)');
  });

  it('maps a code outside the error-code list to internal, and an odd method to OTHER', async () => {
    const { policies, metrics, scrape } = await setup();
    metrics.requestEnded(policies, { route: '/x', method: 'BREW', outcome: 'refused', code: 'made-up <script>' });
    metrics.upstream(0.01, 'ECONNREFUSED-made-up');
    const s = await scrape();
    expect(
      s.value('fieldmesh_requests_total', { method: 'OTHER', code: 'internal', resource: '(unknown)', purpose: '(unknown)' }),
    ).to.equal(1);
    expect(s.value('fieldmesh_upstream_errors_total', { code: 'internal' })).to.equal(1);
    expect(s.all('fieldmesh_requests_total').flatMap((x) => Object.values(x.labels))).to.not.include('made-up <script>');
  });

  it('declares every metric of docs/operations.md with its type, before any request', async () => {
    const { scrape } = await setup();
    const s = await scrape();
    expect(Object.fromEntries(s.types)).to.deep.equal({
      fieldmesh_requests_total: 'counter',
      fieldmesh_refusals_total: 'counter',
      fieldmesh_break_glass_total: 'counter',
      fieldmesh_break_glass_unverified_total: 'counter',
      fieldmesh_rows_withheld_total: 'counter',
      fieldmesh_fields_withheld_total: 'counter',
      fieldmesh_audit_append_seconds: 'histogram',
      fieldmesh_audit_batch_size: 'histogram',
      fieldmesh_audit_commit_seconds: 'histogram',
      fieldmesh_upstream_seconds: 'histogram',
      fieldmesh_upstream_errors_total: 'counter',
      fieldmesh_policy_reloads_total: 'counter',
      fieldmesh_policy_info: 'gauge',
    });
    expect(s.value('fieldmesh_policy_reloads_total', { result: 'failed' })).to.equal(0);
  });

  it('refuses a registry that already holds fieldmesh metrics', () => {
    const registry = new Registry();
    createMetrics({ registry });
    expect(() => createMetrics({ registry })).to.throw(TypeError, /already holds fieldmesh metrics/);
  });
});

describe('docs/operations.md › Metrics', () => {
  it('lists every metric with the type it has, and no other', async () => {
    const text = await readFile(new URL('../../docs/operations.md', import.meta.url), 'utf8');
    const section = text.slice(text.indexOf('## Metrics'), text.indexOf('## Traces'));
    const rows = [...section.matchAll(/^\| `(fieldmesh_[a-z_]+)` \| (\w+) \|/gm)].map((m) => [m[1], m[2]]);
    const s = parseProm(await createMetrics().registry.metrics());
    expect(Object.fromEntries(rows)).to.deep.equal(Object.fromEntries(s.types));
  });
});
