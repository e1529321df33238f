/**
 * Engine throughput: redacting a 20k-row list of ~30-field social-care case
 * records for one social worker (a row condition on the caseload team, a
 * domestic-violence restriction withholding contact fields, a sealed
 * restriction withholding the whole case), side by side in one run with:
 *  - naive CASL: an ability with the equivalent rules, and per row `can`,
 *    `permittedFieldsOf` and a pick of those fields (each value cloned);
 *  - a hand-written projection: the if/else and object literal a developer
 *    would write for exactly this policy.
 * Before any timing, the three outputs are checked deep-equal (exit 1 if not).
 * Rounds are interleaved, medians reported. Then, for context (human lines
 * only), the Patient scenarios of policies/ against structuredClone.
 *
 * Run: node --import tsx bench/engine.ts [--quick]
 */
import { deepStrictEqual } from 'node:assert';
import { readFileSync } from 'node:fs';
import { createMongoAbility } from '@casl/ability';
import { permittedFieldsOf } from '@casl/ability/extra';
import { loadPolicies } from '../src/engine/policy-set.js';

const quick = process.argv.includes('--quick');
const N = quick ? 5_000 : 20_000;
const ROUNDS = quick ? 5 : 11;
const RESOURCE = 'SocialCareCase';
const TEAM = 'north-2';

/** mulberry32: a small seeded PRNG, so every run redacts the same rows. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = ['Amira', 'Ben', 'Chloe', 'Dev', 'Ewa', 'Femi', 'Grace', 'Hamza', 'Isla', 'Jon'];
const LAST = ['Okafor', 'Smith', 'Nowak', 'Patel', 'Jones', 'Ali', 'Brown', 'Khan', 'Evans', 'Reid'];
const TEAMS = [TEAM, TEAM, TEAM, TEAM, TEAM, TEAM, TEAM, 'south-1', 'east-3', 'west-4'];
const NEEDS = ['mobility', 'personal-care', 'medication', 'meals', 'housing', 'finance', 'mental-health', 'carer-support'];

function generate(n: number): Record<string, unknown>[] {
  const r = prng(20261202);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const rows: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const flags: string[] = [];
    if (r() < 0.12) flags.push('dv-risk');
    if (r() < 0.2) flags.push('falls');
    rows.push({
      id: `case-${i}`,
      personId: `per-${100000 + i}`,
      nhsNumber: String(9000000000 + Math.floor(r() * 999999999)),
      firstName: pick(FIRST),
      lastName: pick(LAST),
      preferredName: pick(FIRST),
      dateOfBirth: `19${10 + Math.floor(r() * 89)}-0${1 + Math.floor(r() * 9)}-1${Math.floor(r() * 9)}`,
      gender: pick(['female', 'male', 'other', 'unknown']),
      ethnicity: pick(['A', 'B', 'C', 'D', 'E', 'Z']),
      language: pick(['en', 'pl', 'ur', 'pa', 'so']),
      address: { line1: `${1 + Math.floor(r() * 200)} Mill Lane`, line2: '', city: 'Leeds', postcode: 'LS1 4AP' },
      postcode: 'LS1 4AP',
      phone: `07700 9${String(Math.floor(r() * 99999)).padStart(5, '0')}`,
      email: `person${i}@example.org`,
      team: pick(TEAMS),
      worker: `sw-${Math.floor(r() * 40)}`,
      riskLevel: Math.floor(r() * 5),
      status: pick(['open', 'open', 'open', 'review', 'closing']),
      openedAt: '2025-03-14',
      reviewDue: '2026-09-30',
      referralSource: pick(['gp', 'hospital', 'self', 'police', 'family']),
      needs: [pick(NEEDS), pick(NEEDS)],
      carePlan: { summary: 'Daily visits, twice weekly shopping', visitsPerWeek: 7, reviewed: '2026-01-10' },
      disability: r() < 0.3 ? 'registered' : 'none',
      housing: pick(['owner', 'council', 'private-rent', 'supported']),
      legalStatus: pick(['none', 'LPA', 'DoLS']),
      keyContacts: [{ name: pick(FIRST), relation: 'daughter', phone: '07700 900123' }],
      gpPractice: `B8${6000 + Math.floor(r() * 50)}`,
      notes: 'Prefers morning visits. Dog on premises.',
      benefits: { pip: true, attendanceAllowance: false },
      flags,
      sealed: r() < 0.03,
    });
  }
  return rows;
}

const rows = generate(N);
const dir = new URL('./policies/social-care', import.meta.url).pathname;
const policies = await loadPolicies(dir);
const user = { sub: 'sw-7', roles: ['social-worker'], team: TEAM, training: new Date().toISOString().slice(0, 10) };
const ctx = { resource: RESOURCE, purpose: 'social-care', user };
const granted = policies
  .explain({ roles: user.roles, purpose: ctx.purpose, resource: RESOURCE })
  .fields.filter((f) => f.status !== 'withheld')
  .map((f) => f.field);
const DV_FIELDS = ['address', 'postcode', 'phone', 'email'];

const fieldmesh = () => policies.redact(rows, ctx).data as unknown[];

// (a) naive CASL: the rules of the same policy; per row `can`, `permittedFieldsOf`, and a pick.
const ability = createMongoAbility(
  [
    { action: 'read', subject: RESOURCE, fields: granted, conditions: { team: TEAM } },
    { action: 'read', subject: RESOURCE, fields: DV_FIELDS, inverted: true, conditions: { flags: 'dv-risk' } },
    { action: 'read', subject: RESOURCE, inverted: true, conditions: { sealed: true } },
  ],
  { detectSubjectType: () => RESOURCE },
);
const naiveCasl = () => {
  const out: Record<string, unknown>[] = [];
  for (const row of rows) {
    if (!ability.can('read', row as never)) continue;
    const fields = permittedFieldsOf(ability, 'read', row as never, { fieldsFrom: (rule) => rule.fields ?? granted });
    const picked: Record<string, unknown> = {};
    for (const f of fields) if (Object.hasOwn(row, f)) picked[f] = structuredClone(row[f]);
    out.push(picked);
  }
  return out;
};

// (b) hand-written: what a developer writes for exactly this policy.
interface Contact {
  name: string;
  relation: string;
  phone: string;
}
/** A case as the record API sends it: what the hand-written projection knows of its shape. */
interface Case {
  [key: string]: unknown;
  id: string;
  personId: string;
  nhsNumber: string;
  firstName: string;
  lastName: string;
  preferredName: string;
  dateOfBirth: string;
  gender: string;
  ethnicity: string;
  language: string;
  address: Record<string, string>;
  postcode: string;
  phone: string;
  email: string;
  team: string;
  worker: string;
  riskLevel: number;
  status: string;
  openedAt: string;
  reviewDue: string;
  referralSource: string;
  needs: string[];
  carePlan: Record<string, unknown>;
  disability: string;
  housing: string;
  legalStatus: string;
  keyContacts: Contact[];
  gpPractice: string;
  notes: string;
  flags: string[];
  sealed: boolean;
}
const handWritten = () => {
  const out: Record<string, unknown>[] = [];
  for (const row of rows as Case[]) {
    if (row.team !== TEAM || row.sealed === true) continue;
    const c: Record<string, unknown> = {
      id: row.id,
      personId: row.personId,
      nhsNumber: row.nhsNumber,
      firstName: row.firstName,
      lastName: row.lastName,
      preferredName: row.preferredName,
      dateOfBirth: row.dateOfBirth,
      gender: row.gender,
      ethnicity: row.ethnicity,
      language: row.language,
      team: row.team,
      worker: row.worker,
      riskLevel: row.riskLevel,
      status: row.status,
      openedAt: row.openedAt,
      reviewDue: row.reviewDue,
      referralSource: row.referralSource,
      needs: row.needs.slice(),
      carePlan: { ...row.carePlan },
      disability: row.disability,
      housing: row.housing,
      legalStatus: row.legalStatus,
      keyContacts: row.keyContacts.map((k) => ({ ...k })),
      gpPractice: row.gpPractice,
      notes: row.notes,
    };
    if (!row.flags.includes('dv-risk')) {
      c.address = { ...row.address };
      c.postcode = row.postcode;
      c.phone = row.phone;
      c.email = row.email;
    }
    out.push(c);
  }
  return out;
};

// The three must give the same answer before any of them is timed.
const expected = handWritten();
for (const [name, fn] of [
  ['fieldmesh', fieldmesh],
  ['naive CASL', naiveCasl],
] as const) {
  try {
    deepStrictEqual(fn(), expected);
  } catch (e) {
    console.error(`engine bench: ${name} does not give the hand-written projection's output\n${(e as Error).message.slice(0, 2000)}`);
    process.exit(1);
  }
}

function timeOnce(fn: () => unknown): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Interleaved rounds (the order rotates each round), after one warm-up each; median seconds per variant. */
function interleaved(variants: Record<string, () => unknown>, rounds: number): Record<string, number> {
  const names = Object.keys(variants);
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (const n of names) variants[n]!();
  for (let i = 0; i < rounds; i++) {
    for (let k = 0; k < names.length; k++) {
      const n = names[(i + k) % names.length]!;
      samples[n]!.push(timeOnce(variants[n]!));
    }
  }
  return Object.fromEntries(names.map((n) => [n, median(samples[n]!)]));
}

const t = interleaved({ fieldmesh, naive: naiveCasl, hand: handWritten }, ROUNDS);
const rate = (s: number) => N / s;
const fmt = (n: number) => Math.round(n).toLocaleString('en-GB');
console.log(
  `engine: ${fmt(N)} ${RESOURCE} rows (${expected.length} disclosed), one social worker, median of ${ROUNDS} interleaved rounds (node ${process.version})`,
);
console.log(`  fieldmesh      ${fmt(rate(t['fieldmesh']!)).padStart(12)} records/s`);
console.log(
  `  naive CASL     ${fmt(rate(t['naive']!)).padStart(12)} records/s   fieldmesh ÷ naive = ${(t['naive']! / t['fieldmesh']!).toFixed(2)}×`,
);
console.log(
  `  hand-written   ${fmt(rate(t['hand']!)).padStart(12)} records/s   fieldmesh takes ${(t['fieldmesh']! / t['hand']!).toFixed(2)}× the hand-written time`,
);

const vsNaive = t['naive']! / t['fieldmesh']!;
const vsHand = t['fieldmesh']! / t['hand']!;
const result = (row: Record<string, unknown>) => console.log(`BENCH-RESULT ${JSON.stringify(row)}`);
const round2 = (x: number) => Math.round(x * 100) / 100;
result({
  id: 'engine-vs-naive-casl',
  what: `records/s redacting ${N} social-care rows for one social worker (row condition, DV and sealed restrictions)`,
  fieldmesh: Math.round(rate(t['fieldmesh']!)),
  baseline: Math.round(rate(t['naive']!)),
  unit: 'records/s',
  ratio: round2(vsNaive),
  target: '≥ 15× naive CASL',
  met: vsNaive >= 15,
  note: `median of ${ROUNDS} interleaved rounds; naive CASL = can + permittedFieldsOf + pick (structuredClone per value)`,
});
result({
  id: 'engine-vs-hand-written',
  what: `time to redact ${N} social-care rows, fieldmesh ÷ hand-written projection`,
  fieldmesh: Math.round(rate(t['fieldmesh']!)),
  baseline: Math.round(rate(t['hand']!)),
  unit: 'records/s',
  ratio: round2(vsHand),
  target: '≤ 2× hand-written',
  met: vsHand <= 2,
  note: `median of ${ROUNDS} interleaved rounds; ratio = fieldmesh time ÷ hand-written time; fieldmesh also builds the audit decision`,
});

// Context only: the Patient scenarios of policies/ against copying every record whole.
const P = quick ? 2_000 : 10_000;
const base = JSON.parse(readFileSync(new URL('../fixtures/records/Patient.json', import.meta.url), 'utf8')) as Record<string, unknown>[];
const patients = Array.from({ length: P }, (_, i) => ({ ...structuredClone(base[i % base.length]!), id: `pat-${i}`, gp: 'B86001' }));
const patientPolicies = await loadPolicies(new URL('../policies', import.meta.url).pathname, { pseudonymKey: 'bench-pseudonym-key' });
const training = new Date().toISOString().slice(0, 10);
const scenarios = [
  { label: 'gp / direct-care', purpose: 'direct-care', user: { sub: 'g', roles: ['gp'], practice: 'B86001', training } },
  { label: 'receptionist / administration', purpose: 'administration', user: { sub: 'r', roles: ['receptionist'], training } },
  { label: 'analyst / service-planning (pseudonyms)', purpose: 'service-planning', user: { sub: 'a', roles: ['analyst'], training } },
];
console.log(`\ncontext: ${fmt(P)} Patient records, fieldmesh vs structuredClone of every record, median of ${quick ? 3 : 5} rounds`);
for (const s of scenarios) {
  const c = { resource: 'Patient', purpose: s.purpose, user: s.user };
  const pt = interleaved(
    { fm: () => patientPolicies.redact(patients, c), clone: () => patients.map((p) => structuredClone(p)) },
    quick ? 3 : 5,
  );
  console.log(
    `  ${s.label.padEnd(42)} fieldmesh ${fmt(P / pt['fm']!).padStart(10)}/s   clone ${fmt(P / pt['clone']!).padStart(10)}/s   fm ÷ clone ${(pt['clone']! / pt['fm']!).toFixed(2)}×`,
  );
}
