import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import fc from 'fast-check';
import { parse } from 'yaml';
import { AccessError, FieldmeshError, formatTrace, loadPolicies, type Decision, type PolicySet, type Trace } from '../../src/index.js';
import type { RequestContext } from '../../src/engine/plan.js';
import { NOW, validPolicies } from '../helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** What the trace says was decided, in the decision's terms: disclosed rows' fields, grants and transforms; every row's fired restrictions. */
function decisionOf(t: Trace) {
  const disclosed = new Set<string>();
  const withheld = new Set<string>();
  const grants = new Set<string>();
  const fired = new Set<string>();
  const transforms: Record<string, string> = {};
  const rowReasons: Record<string, number> = {};
  for (const row of t.rows) {
    for (const r of row.restrictions) if (r.outcome === 'fired') fired.add(r.restriction);
    if (row.outcome === 'withheld') {
      rowReasons[row.reason!] = (rowReasons[row.reason!] ?? 0) + 1;
      continue;
    }
    for (const g of row.grants) if (g.matched) grants.add(g.grant);
    for (const f of row.fields) {
      if (f.status === 'out') withheld.add(f.field);
      else disclosed.add(f.field);
      if (f.status === 'transformed') transforms[f.field] = f.transform!;
    }
  }
  const sorted = (s: Set<string>) => [...s].sort();
  return {
    disclosed: sorted(disclosed),
    withheld: sorted(withheld),
    grants: sorted(grants),
    restrictions: sorted(fired),
    transforms,
    rowReasons,
    rowsReturned: t.rows.filter((r) => r.outcome === 'disclosed').length,
    rowsWithheld: t.rows.filter((r) => r.outcome === 'withheld').length,
  };
}

function fromDecision(d: Decision) {
  return {
    disclosed: [...d.disclosed].sort(),
    withheld: [...d.withheld].sort(),
    grants: [...d.grants].sort(),
    restrictions: [...d.restrictions].sort(),
    transforms: d.transforms,
    rowReasons: d.rowReasons,
    rowsReturned: d.rowsReturned,
    rowsWithheld: d.rowsWithheld,
  };
}

/**
 * The trace and redact agree: the same outcome and code, and, for what was
 * disclosed, the same fields in and out, transforms, grants, restrictions
 * and row counts. What redact throws before deciding, the trace throws too.
 * Returns the outcome, so a caller can see both kinds were met.
 */
function agree(policies: PolicySet, input: unknown, ctx: RequestContext, label = ''): string {
  let decision: Decision;
  try {
    decision = policies.redact(structuredClone(input), ctx).decision;
  } catch (e) {
    if (e instanceof AccessError) {
      const t = policies.trace(input, ctx);
      expect(t.outcome, label).to.equal('refused');
      expect(t.code, label).to.equal(e.code);
      expect(t.cause, label).to.be.a('string').that.is.not.empty;
      // Nothing of a refused record is in.
      expect(
        t.rows.every((r) => r.fields.every((f) => f.status === 'out')),
        label,
      ).to.equal(true);
      if (e.code === 'record_withheld') expect(decisionOf(t).rowReasons, label).to.deep.equal(e.decision!.rowReasons);
      return 'refused';
    }
    if (!(e instanceof FieldmeshError)) throw e;
    expect(() => policies.trace(input, ctx), label)
      .to.throw(FieldmeshError)
      .with.property('code', e.code);
    return `thrown ${e.code}`;
  }
  const t = policies.trace(input, ctx);
  expect(t.outcome, label).to.equal('disclosed');
  expect(decisionOf(t), label).to.deep.equal(fromDecision(decision));
  return 'disclosed';
}

interface CaseFileShape {
  now?: string | Date;
  pseudonymKey?: string;
  user?: Record<string, unknown>;
  cases: Record<string, unknown>[];
}

describe('trace agrees with redact', () => {
  it('on every read case of the example fixtures (fixtures/cases)', async () => {
    const records = new Map<string, unknown>();
    for (const name of readdirSync(join(ROOT, 'fixtures/records')).filter((n) => n.endsWith('.json'))) {
      const resource = name.replace(/\.json$/, '');
      for (const row of JSON.parse(readFileSync(join(ROOT, 'fixtures/records', name), 'utf8')) as { id: string }[])
        records.set(`${resource}/${row.id}`, row);
    }
    const byKey = new Map<string, PolicySet>();
    const seen = new Map<string, number>();
    let checked = 0;
    for (const name of readdirSync(join(ROOT, 'fixtures/cases')).filter((n) => /\.ya?ml$/.test(n))) {
      const file = parse(readFileSync(join(ROOT, 'fixtures/cases', name), 'utf8')) as CaseFileShape;
      const key = file.pseudonymKey ?? 'fixture-pseudonym-key';
      let policies = byKey.get(key);
      if (!policies) byKey.set(key, (policies = await loadPolicies(join(ROOT, 'policies'), { pseudonymKey: key })));
      for (const c of file.cases) {
        // Write and filter cases (an action other than read, a query) are not redactions of a record.
        if ((c['action'] !== undefined && c['action'] !== 'read') || c['query'] !== undefined) continue;
        const ref = c['ref'] as string | undefined;
        const refs = c['refs'] as string[] | undefined;
        const input =
          ref !== undefined ? records.get(ref) : refs !== undefined ? refs.map((r) => records.get(r)) : (c['record'] ?? c['records']);
        if (input === undefined) continue;
        const now = (c['now'] ?? file.now) as string | Date | undefined;
        const ctx: RequestContext = {
          resource: c['resource'] as string,
          purpose: c['purpose'] as string,
          user: { ...file.user, ...(c['user'] as Record<string, unknown> | undefined) },
          breakGlass: c['breakGlass'] as string | undefined,
          now: now === undefined ? undefined : new Date(now),
        };
        const outcome = agree(policies, input, ctx, `${name} › ${String(c['name'])}`);
        seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
        checked++;
      }
    }
    expect(checked).to.be.at.least(40);
    expect(seen.get('disclosed')).to.be.at.least(10);
    expect(seen.get('refused')).to.be.at.least(10);
  });

  // ------------------------------------------------------------------ random requests on the valid policy set

  const ROLES = ['nurse', 'gp', 'analyst', 'safeguarding-lead', 'visitor'] as const;
  const PURPOSES = ['direct-care', 'service-planning', 'research', 'emergency', 'old-flow', 'marketing'] as const;

  /** A value nested deeper than a record may be: refused by redact when it reads or copies it, and so by the trace. */
  const deep = (() => {
    let v: unknown = 'x';
    for (let i = 0; i < 120; i++) v = [v];
    return v;
  })();

  const record = (text: fc.Arbitrary<string>) =>
    fc.record(
      {
        id: text,
        nhsNumber: text,
        name: fc.oneof(
          { weight: 9, arbitrary: fc.array(fc.record({ family: text, given: fc.array(text, { maxLength: 2 }) }), { maxLength: 2 }) },
          { weight: 1, arbitrary: fc.constant(deep) },
        ),
        address: fc.array(fc.record({ line: fc.array(text, { maxLength: 1 }), postcode: text }), { maxLength: 2 }),
        telecom: fc.array(fc.record({ system: text, value: text }), { maxLength: 2 }),
        dateOfBirth: fc.constantFrom('1980-05-02', '2001-12-31'),
        diagnoses: fc.array(fc.record({ code: text }), { maxLength: 2 }),
        ward: text,
        careTeam: fc.oneof(fc.constantFrom('ward-7', 'ward-9'), text),
        flags: fc.oneof(fc.constant(['dv-risk']), fc.constant('dv-risk'), fc.array(text, { maxLength: 2 }), fc.record({ code: text })),
        sealed: fc.constantFrom(true, false, 'true'),
        meta: fc.record({ security: fc.record({ code: fc.oneof(fc.constant('R'), text) }) }),
        optOut: fc.constantFrom(true, false, null, 'yes'),
        consent: fc.record({ research: fc.oneof(fc.constantFrom('granted', 'refused'), text) }),
        internalNotes: fc.oneof({ weight: 9, arbitrary: text }, { weight: 1, arbitrary: fc.constant(deep) }),
      },
      { requiredKeys: ['id'] },
    );

  const request = (text: fc.Arbitrary<string>) =>
    fc.record({
      roles: fc.subarray([...ROLES]),
      team: fc.option(fc.oneof(fc.constantFrom('ward-7', 'ward-9'), text, fc.constant(['ward-7', 'ward-9'])), { nil: undefined }),
      training: fc.constantFrom('2026-06-01', '2020-01-01', undefined),
      purpose: fc.constantFrom(...PURPOSES),
      breakGlass: fc.option(
        fc.oneof(
          fc.constant('Unconscious patient in A&E'),
          text.map((t) => `reason ${t} reason`),
        ),
        // A reason declared for a purpose that is not break-glass refuses: often enough none, so requests reach the rows.
        { nil: undefined, freq: 2 },
      ),
    });

  interface Drawn {
    roles: string[];
    team: string | readonly string[] | undefined;
    training: string | undefined;
    purpose: string;
    breakGlass: string | undefined;
  }
  const ctxOf = (r: Drawn): RequestContext => {
    const u: Record<string, unknown> = { sub: 'u1', roles: r.roles };
    if (r.team !== undefined) u['team'] = r.team;
    if (r.training !== undefined) u['training'] = r.training;
    return { resource: 'Patient', purpose: r.purpose, user: u, breakGlass: r.breakGlass, now: NOW };
  };

  it('on random records, lists and requests, with and without a pseudonym key (property)', () => {
    // Without a key, a purpose that pseudonymises cannot answer: redact throws, and so must the trace.
    const sets = [validPolicies(), validPolicies({ pseudonymKey: '' })];
    const text = fc.constantFrom('a', 'ward-7', 'dv-risk', 'R', 'granted');
    const outcomes = new Set<string>();
    fc.assert(
      fc.property(
        fc.oneof(record(text), fc.array(record(text), { maxLength: 4 })),
        request(text),
        fc.constantFrom(0, 1),
        (input, r, keyless) => {
          outcomes.add(agree(sets[keyless]!, input, ctxOf(r)));
        },
      ),
      { numRuns: 600 },
    );
    // Random requests mostly stop before the rows; the rows that throw are drawn on purpose by the next property.
    expect([...outcomes]).to.include.members(['disclosed', 'refused']);
    expect(
      [...outcomes].every((o) => ['disclosed', 'refused', 'thrown pseudonym_key_missing', 'thrown unredactable_body'].includes(o)),
    ).to.equal(true, [...outcomes].join(', '));
  });

  it('on requests that reach the rows: a row too deep to copy, or no pseudonym key, throws from both (property)', () => {
    const sets = [validPolicies(), validPolicies({ pseudonymKey: '' })];
    const text = fc.constantFrom('a', 'ward-7', 'dv-risk', 'R', 'granted');
    const outcomes = new Set<string>();
    fc.assert(
      fc.property(
        fc.oneof(record(text), fc.array(record(text), { minLength: 1, maxLength: 4 })),
        fc.constantFrom('analyst', 'nurse', 'gp'),
        fc.subarray([...ROLES]),
        fc.constantFrom('service-planning', 'research', 'direct-care'),
        fc.constantFrom(0, 1),
        (input, role, others, purpose, keyless) => {
          const user = { sub: 'u1', roles: [role, ...others], team: 'ward-7', training: '2026-06-01' };
          outcomes.add(agree(sets[keyless]!, input, { resource: 'Patient', purpose, user, now: NOW }));
        },
      ),
      { numRuns: 400 },
    );
    expect([...outcomes]).to.include.members(['disclosed', 'thrown pseudonym_key_missing', 'thrown unredactable_body']);
  });
});

describe('trace carries no value (property)', () => {
  const CANARY = 'CANARY-5e1';

  it('never shows a record value, a claim value or the break-glass reason, as JSON or as text', () => {
    const policies = validPolicies();
    // Every value holds the canary; markers sometimes also hold the exact words the conditions test, so restrictions fire.
    const text = fc.string({ maxLength: 3 }).map((s) => `${CANARY}${s}`);
    const row = fc.record({
      id: text,
      nhsNumber: text,
      name: fc.array(fc.record({ family: text }), { maxLength: 2 }),
      address: fc.array(fc.record({ postcode: text, [`${CANARY}key`]: text }), { maxLength: 1 }),
      dateOfBirth: text,
      careTeam: fc.oneof(text, fc.constant(`${CANARY}ward`)),
      flags: fc.oneof(fc.array(text, { maxLength: 2 }), fc.constant(['dv-risk', CANARY])),
      sealed: fc.oneof(text, fc.constant(true)),
      optOut: fc.oneof(text, fc.constant(false)),
      consent: fc.record({ research: text }),
      [CANARY]: text,
    });
    fc.assert(
      fc.property(
        fc.oneof(row, fc.array(row, { maxLength: 3 })),
        // A roles claim may name roles the policy set does not define: values too, never shown.
        fc.subarray(['nurse', 'gp', 'analyst', 'safeguarding-lead', `${CANARY} Testwood`, `gp${CANARY}`]),
        fc.constantFrom('direct-care', 'service-planning', 'research', 'emergency'),
        fc.boolean(),
        (input, roles, purpose, glass) => {
          const ctx: RequestContext = {
            resource: 'Patient',
            purpose,
            user: { sub: `${CANARY}sub`, roles, team: `${CANARY}ward`, training: '2026-06-01', [`${CANARY}claim`]: CANARY },
            breakGlass: glass ? `${CANARY} unconscious, no next of kin` : undefined,
            now: NOW,
          };
          const t = policies.trace(input, ctx);
          expect(JSON.stringify(t)).to.not.include(CANARY);
          expect(formatTrace(t)).to.not.include(CANARY);
        },
      ),
      { numRuns: 300 },
    );
  });
});
