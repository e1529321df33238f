/**
 * Redaction throughput on 10k Patient records, side by side with two
 * baselines in one run:
 *  - structuredClone: copying every record whole, the floor for any engine
 *    that never hands out its input;
 *  - naive CASL: an ability per record with permittedFieldsOf and a path
 *    pick, the obvious way to do field-level access with CASL.
 * Reported as records/s and as ratios. Run: npx tsx bench/redact.ts
 */
import { readFileSync } from 'node:fs';
import { createMongoAbility, subject } from '@casl/ability';
import { permittedFieldsOf } from '@casl/ability/extra';
import { loadPolicies } from '../src/engine/policy-set.js';

const N = Number(process.env['BENCH_RECORDS'] ?? 10_000);
const base = JSON.parse(readFileSync(new URL('../fixtures/records/Patient.json', import.meta.url), 'utf8')) as Record<string, unknown>[];
// Every record in the GP's practice, so the GP's row condition matches and rows are really copied.
const records = Array.from({ length: N }, (_, i) => ({ ...structuredClone(base[i % base.length]!), id: `pat-${i}`, gp: 'B86001' }));
const policies = await loadPolicies(new URL('../policies', import.meta.url).pathname, { pseudonymKey: 'bench-pseudonym-key' });
const training = new Date().toISOString().slice(0, 10);

const scenarios = [
  { label: 'gp / direct-care', purpose: 'direct-care', user: { sub: 'g', roles: ['gp'], practice: 'B86001', training } },
  { label: 'receptionist / administration', purpose: 'administration', user: { sub: 'r', roles: ['receptionist'], training } },
  { label: 'analyst / service-planning (pseudonyms)', purpose: 'service-planning', user: { sub: 'a', roles: ['analyst'], training } },
];

function time(fn: () => unknown, rounds = 5): number {
  fn(); // warm up
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - t) / 1e9);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

/** The obvious CASL implementation: per record, permittedFieldsOf then pick those paths. */
function naiveCasl(fields: string[]) {
  const ability = createMongoAbility([
    { action: 'read', subject: 'Patient', fields },
    { action: 'read', subject: 'Patient', fields: ['address', 'telecom'], inverted: true, conditions: { flags: 'dv-risk' } },
  ]);
  return (rows: Record<string, unknown>[]) =>
    rows.map((row) => {
      const allowed = permittedFieldsOf(ability, 'read', subject('Patient', row), { fieldsFrom: (rule) => rule.fields ?? [] });
      const out: Record<string, unknown> = {};
      for (const f of allowed) if (f in row) out[f] = structuredClone(row[f]);
      return out;
    });
}

const copy = time(() => records.map((r) => structuredClone(r)));
const lines: string[] = [];
const fmt = (n: number) => Math.round(n).toLocaleString('en-GB').padStart(10);
lines.push(`redact: ${N.toLocaleString('en-GB')} Patient records, median of 5 rounds (node ${process.version})`);
lines.push(
  `${'scenario'.padEnd(42)}${'rows out'.padStart(9)}${'fieldmesh/s'.padStart(12)}${'clone/s'.padStart(12)}${'naive/s'.padStart(12)}  fm÷clone  fm÷naive`,
);
for (const s of scenarios) {
  const ctx = { resource: 'Patient', purpose: s.purpose, user: s.user };
  const fm = time(() => policies.redact(records, ctx));
  const rowsOut = (policies.redact(records, ctx).data as unknown[]).length;
  const grantFields = policies
    .explain({ roles: s.user.roles, purpose: s.purpose, resource: 'Patient' })
    .fields.filter((f) => f.status !== 'withheld')
    .map((f) => f.field);
  const naive = time(() => naiveCasl(grantFields)(records));
  lines.push(
    `${s.label.padEnd(42)}${String(rowsOut).padStart(9)}${fmt(N / fm).padStart(12)}${fmt(N / copy).padStart(12)}${fmt(N / naive).padStart(12)}  ${(copy / fm).toFixed(2).padStart(8)}  ${(naive / fm).toFixed(2).padStart(8)}`,
  );
}
lines.push('(naive CASL pseudonymises nothing and handles no nested paths: it is a floor for the obvious approach, not a peer)');
console.log(lines.join('\n'));
