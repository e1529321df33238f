/**
 * What a one-record request costs as the policy set grows: the call an app
 * makes per request (`policies.redact(record, ctx)`, planning included)
 * through the public library API, against a generated policy set with 10
 * roles and one with 1,000 roles (same resources and purposes,
 * bench/lib/generate.ts), side by side in one run: interleaved rounds,
 * medians. The headline is a user holding one role; human lines follow for
 * a user holding 10 and 1,000 roles.
 *
 *   node --import tsx bench/roles.ts [--quick]
 *
 * --quick uses 2 resources × 2 purposes (the 1,000-role YAML then loads in
 * about a second) and fewer rounds; the full run uses 20 × 10.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { loadPolicies, type PolicySet } from '../src/engine/policy-set.js';
import type { RequestContext } from '../src/engine/plan.js';
import { purposeName, resourceName, roleName, writePolicySet } from './lib/generate.js';

const quick = process.argv.includes('--quick');
const SIZE = quick ? { resources: 2, purposes: 2 } : { resources: 20, purposes: 10 };
const ROUNDS = quick ? 15 : 21;
/** Milliseconds each function runs per round: its number of calls is calibrated to it. */
const ROUND_MS = quick ? 40 : 100;

const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-bench-roles-'));
async function load(roles: number): Promise<PolicySet> {
  const here = join(dir, String(roles));
  writePolicySet(here, { ...SIZE, roles });
  return loadPolicies(here);
}
const small = await load(10);
const large = await load(1000);
rmSync(dir, { recursive: true, force: true });

const training = new Date().toISOString().slice(0, 10);
const record = {
  id: 'r-1',
  code: 'C-1',
  status: 'open',
  team: 'team-a',
  site: 'site-1',
  kind: 'visit',
  note: 'a note',
  owner: 'owner-1',
  opened: '2026-01-01',
  closed: null,
  score: 3,
  level: 'normal',
};
const ctxFor = (heldRoles: number): RequestContext => ({
  resource: resourceName(0),
  purpose: purposeName(0),
  user: { sub: 'u1', team: 'team-a', training, roles: Array.from({ length: heldRoles }, (_, i) => roleName(i)) },
});

/**
 * Nanoseconds of this process's CPU time (user + system) per call of `fn`
 * over `calls` calls: on a shared machine, time spent waiting for a core
 * is not counted, so the two sides are not measured against others' load.
 */
function run(fn: () => unknown, calls: number): number {
  const t = process.cpuUsage();
  for (let i = 0; i < calls; i++) fn();
  const used = process.cpuUsage(t);
  return ((used.user + used.system) * 1000) / calls;
}

/** Median nanoseconds per call of each function, measured in interleaved rounds of about ROUND_MS each. */
function interleaved(fns: (() => unknown)[]): number[] {
  const calls = fns.map((fn) => {
    run(fn, 10); // warm up
    let n = 10;
    while (run(fn, n) * n < 5e6 && n < 1e6) n *= 4; // until a batch takes 5 ms (cpuUsage counts in µs)
    return Math.max(1, Math.round((ROUND_MS * 1e6) / run(fn, n)));
  });
  const samples = fns.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    fns.forEach((fn, k) => samples[k]!.push(run(fn, calls[k]!)));
  }
  return samples.map((s) => s.sort((a, b) => a - b)[Math.floor(s.length / 2)]!);
}

// Both sets must give the same answer for the same user before anything is timed.
const one = ctxFor(1);
const ten = ctxFor(10);
for (const ctx of [one, ten]) {
  const a = small.redact(record, ctx);
  const b = large.redact(record, ctx);
  if (!isDeepStrictEqual(a.data, b.data) || !isDeepStrictEqual(a.decision.grants, b.decision.grants)) {
    throw new Error('the 10-role and 1,000-role sets answer differently for the same user: the figures would compare different work');
  }
}

const [at10, at1000] = interleaved([() => small.redact(record, one), () => large.redact(record, one)]) as [number, number];
const all = ctxFor(1000);
const [held10, held1000] = interleaved([() => large.redact(record, ten), () => large.redact(record, all)]) as [number, number];

const shape = `${SIZE.resources} resources × ${SIZE.purposes} purposes`;
const us = (ns: number) => `${(ns / 1000).toFixed(2)} µs`;
console.log(
  `request cost by policy size: one-record redact via the library API, ${shape}, CPU time, median of ${ROUNDS} interleaved rounds of ~${ROUND_MS} ms each (node ${process.version})`,
);
console.log(`  user holding 1 role:   10-role set ${us(at10)}, 1,000-role set ${us(at1000)}  → ${(at1000 / at10).toFixed(2)}×`);
console.log(
  `  1,000-role set, user holding 10 roles ${us(held10)}, holding 1,000 roles ${us(held1000)}  → ${(held1000 / held10).toFixed(2)}×`,
);
const ratio = Number((at1000 / at10).toFixed(3));
console.log(
  `BENCH-RESULT ${JSON.stringify({
    id: 'request-1000-vs-10-roles',
    what: 'one-record redact (planning included) with a 1,000-role policy set vs a 10-role one, user holding one role',
    fieldmesh: Number((at1000 / 1000).toFixed(3)),
    baseline: Number((at10 / 1000).toFixed(3)),
    unit: 'µs per request',
    ratio,
    target: '≤ 1.2×',
    met: ratio <= 1.2,
    note: `${shape}${quick ? ' (--quick)' : ''}; ratio = cost at 1,000 roles ÷ cost at 10; holding 10 vs 1,000 roles: ${us(held10)} vs ${us(held1000)}`,
  })}`,
);
