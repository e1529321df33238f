import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { loadPolicies } from '../../src/engine/policy-set.js';
import { applyUpdates, evaluateCase, loadRecords, type PairEdit, parseCaseFile, planUpdate } from '../../src/testing/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const TEXT = `# The file's own comment stays.
now: 2026-11-24T12:00:00Z
pseudonymKey: fixture-pseudonym-key
user: { training: 2026-06-01 }
cases:
  - name: planning, out of date
    resource: Patient
    purpose: service-planning
    user: { sub: ana-1, roles: [analyst] }
    ref: Patient/pat-001
    # why this case exists
    expect: { id: "0" }   # a trailing comment
    expectDecision: { rowsReturned: 2 }
  - name: untouched
    resource: Patient
    purpose: administration
    user: { sub: rec-1, roles: [receptionist] }
    ref: Patient/pat-004
    expectRefusal: record_withheld
  - name: now refused
    resource: Patient
    purpose: administration
    user: { sub: rec-1, roles: [receptionist] }
    ref: Patient/pat-004
    expect:
      id: pat-004
  - name: a rule, not a snapshot
    resource: Patient
    purpose: administration
    user: { sub: rec-1, roles: [receptionist] }
    ref: Patient/pat-001
    absent: [nhsNumber]
`;

async function setup() {
  const policies = await loadPolicies(join(ROOT, 'policies'), { pseudonymKey: 'fixture-pseudonym-key' });
  const records = await loadRecords(join(ROOT, 'fixtures', 'records'));
  /** Run every case of a text; plan updates for the failing ones. */
  const run = (text: string) => {
    const file = parseCaseFile(text, 'c.yaml');
    const edits = new Map<number, PairEdit[]>();
    const skipped: string[] = [];
    const results = file.cases.map((c, i) => {
      const { result, observed } = evaluateCase(policies, records, file, c, 'c.yaml');
      if (!result.passed) {
        const plan = planUpdate(c, result, observed, policies);
        if ('skip' in plan) skipped.push(`${c.name}: ${plan.skip}`);
        else edits.set(i, plan.edits);
      }
      return result;
    });
    return { file, results, edits, skipped };
  };
  return { run };
}

describe('testing/update', () => {
  it('rewrites only the failing read cases, in place, with pseudonymOf matchers, keeping every comment', async () => {
    const { run } = await setup();
    const first = run(TEXT);
    expect(first.results.map((r) => r.passed)).to.deep.equal([false, true, false, false]);
    expect(first.skipped).to.deep.equal(['a rule, not a snapshot: expectFields and absent state a rule; fix by hand']);
    const updated = applyUpdates(TEXT, 'c.yaml', first.file, first.edits);
    expect(updated).to.include("# The file's own comment stays.").and.include('    # why this case exists\n');
    expect(updated).to.include(
      '    # why this case exists\n    expect:\n      id: { pseudonymOf: pat-001 }\n      address: [{ postcode: LS1 }]\n      gender: female\n',
    );
    expect(updated).to.include('      diagnoses: [{ code: J45, display: Asthma }]   # a trailing comment\n');
    expect(updated).to.include('    expectDecision: { rowsReturned: 1 }\n');
    expect(updated).to.include('    ref: Patient/pat-004\n    expectRefusal: record_withheld\n  - name: a rule');
    // Everything outside the rewritten pairs keeps its bytes.
    const outside = (t: string) => t.split('\n').filter((l) => !/^ {4}(expect|expectRefusal|expectDecision):|^ {6}\w+: /.test(l));
    expect(outside(updated)).to.deep.equal(outside(TEXT));
    const second = run(updated);
    expect(second.results.map((r) => r.passed)).to.deep.equal([true, true, true, false]);
    expect(second.edits.size).to.equal(0);
  });

  it('writes a long output as a block under the key, and reads back exactly', async () => {
    const { run } = await setup();
    const text = TEXT.replace(
      'purpose: service-planning\n    user: { sub: ana-1, roles: [analyst] }',
      'purpose: direct-care\n    user: { sub: gp-1, roles: [gp], practice: B86001 }',
    );
    const first = run(text);
    const updated = applyUpdates(text, 'c.yaml', first.file, first.edits);
    expect(updated).to.include('      nhsNumber: "9990000018"\n');
    expect(updated).to.include('      medications:\n        - code: "320151001"\n          name: Salbutamol 100micrograms/dose inhaler\n');
    expect(run(updated).results[0]!.passed).to.equal(true);
  });

  it('refuses to rewrite when the case cannot be located', async () => {
    const { run } = await setup();
    const first = run(TEXT);
    expect(() => applyUpdates(TEXT, 'c.yaml', first.file, new Map([[9, first.edits.get(0)!]]))).to.throw(TypeError);
  });
});
