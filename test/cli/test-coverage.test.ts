import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { fieldmesh } from './run.js';

/** Two case files over a small policy set: each alone covers half of its 12 items, both together all of them. */
const SMALL = ['--policies', 'test/fixtures/coverage/policies'];
const CLERK = 'test/fixtures/coverage/cases/clerk.yaml';
const CASES = 'test/fixtures/coverage/cases';

const lastLine = (text: string) => text.trimEnd().split('\n').at(-1);

describe('fieldmesh test --coverage', () => {
  it('prints the coverage and every gap before the summary line, and passes without a threshold', () => {
    const r = fieldmesh(['test', CLERK, ...SMALL, '--coverage']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include('coverage 50% (6 of 12 items)\n  grants        1 of 2\n');
    expect(r.stdout).to.include('gaps (6):\n  grant nurse#0 never matched (Patient, care)\n');
    expect(r.stdout).to.include('  field Patient.name never withheld\n');
    expect(lastLine(r.stdout)).to.equal('1 passed, 0 failed');
  });

  it('passes a threshold that the cases reach, exactly at the boundary too', () => {
    const full = fieldmesh(['test', CASES, ...SMALL, '--coverage-threshold', '100']);
    expect(full.code, full.stderr).to.equal(0);
    expect(full.stdout).to.include('coverage 100% (12 of 12 items)').and.not.include('gaps');
    const half = fieldmesh(['test', CLERK, ...SMALL, '--coverage-threshold', '50']);
    expect(half.code, half.stderr).to.equal(0);
  });

  it('exits 1 below the threshold, saying so, even though every case passed', () => {
    const r = fieldmesh(['test', CLERK, ...SMALL, '--coverage-threshold', '50.1']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.equal('coverage 50% is below --coverage-threshold 50.1%\n');
    expect(r.stdout).to.include('coverage 50% (6 of 12 items)');
    expect(lastLine(r.stdout)).to.equal('1 passed, 0 failed');
  });

  it('still exits 1 for a failed case when coverage is complete', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-cov-'));
    writeFileSync(
      join(dir, 'wrong.yaml'),
      'now: 2026-11-24T12:00:00Z\nuser: { training: 2026-06-01 }\ncases:\n  - name: wrong\n    resource: Patient\n    purpose: admin\n    user: { roles: [clerk] }\n    record: { id: p2, name: Bob, ward: w2 }\n    expect: { name: Bob }\n',
    );
    const r = fieldmesh(['test', CASES, join(dir, 'wrong.yaml'), ...SMALL, '--coverage-threshold', '100']);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.include('coverage 100% (12 of 12 items)');
    expect(lastLine(r.stdout)).to.equal('2 passed, 1 failed');
    expect(r.stderr).to.equal('');
  });

  it('counts a field disclosed only when the output held it, and withheld only when the input held it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-cov-'));
    const header = 'now: 2026-11-24T12:00:00Z\nuser: { training: 2026-06-01 }\ncases:\n';
    writeFileSync(
      join(dir, 'sparse.yaml'),
      `${header}  - name: a nurse reads a record holding only an id and a ward\n    resource: Patient\n    purpose: care\n` +
        '    user: { roles: [nurse], ward: w1 }\n    record: { id: p1, ward: w1 }\n    expect: { id: p1, ward: w1 }\n' +
        '  - name: a clerk reads a record without diagnoses\n    resource: Patient\n    purpose: admin\n' +
        '    user: { roles: [clerk] }\n    record: { id: p2, name: Bob, ward: w2 }\n    expect: { name: Bob, ward: w2 }\n',
    );
    const r = fieldmesh(['test', join(dir, 'sparse.yaml'), ...SMALL, '--coverage']);
    expect(r.code, r.stdout).to.equal(0);
    expect(r.stdout).to.include('  fields        3 of 6\n');
    for (const gap of ['Patient.name never withheld', 'Patient.diagnoses never disclosed', 'Patient.diagnoses never withheld']) {
      expect(r.stdout).to.include(`  field ${gap}\n`);
    }
  });

  it('counts a grant inherited by several roles as one item', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-cov-'));
    mkdirSync(join(dir, 'policies'));
    const policy = readFileSync('test/fixtures/coverage/policies/policy.yaml', 'utf8');
    writeFileSync(
      join(dir, 'policies', 'policy.yaml'),
      policy.replace(
        'roles:\n',
        'roles:\n  senior:\n    inherits: [nurse]\n    grants: []\n  lead:\n    inherits: [nurse]\n    grants: []\n',
      ),
    );
    const r = fieldmesh(['test', CLERK, '--policies', join(dir, 'policies'), '--coverage']);
    expect(r.code, r.stdout).to.equal(0);
    expect(r.stdout).to.include('  grants        1 of 2\n');
    expect(r.stdout.match(/grant nurse#0 never matched/g)).to.have.length(1);
  });

  it('measures the shipped fixtures, naming the grant of the expired flow that no case can match', () => {
    const r = fieldmesh(['test', '--coverage', '--quiet']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^coverage \d+(\.\d)?% \(\d+ of \d+ items\)$/m);
    expect(r.stdout).to.include('  grant auditor#0 never matched (Patient, legacy-audit-2024)\n');
    expect(lastLine(r.stdout)).to.match(/^\d+ passed, 0 failed$/);
  });

  for (const bad of ['abc', '101', '-5', '', '1e2', '90%']) {
    it(`refuses --coverage-threshold ${JSON.stringify(bad)} as a usage error (exit 2), running nothing`, () => {
      const r = fieldmesh(['test', CLERK, ...SMALL, '--coverage-threshold', bad]);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include("option '--coverage-threshold <percent>' argument").and.include('expected a percentage from 0 to 100');
      expect(r.stdout).to.equal('');
    });
  }
});
