import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { loadPolicies } from '../../src/index.js';
import { CaseFailure, runCases, type RunCasesOptions } from '../../src/testing/index.js';
import { ROOT } from '../cli/run.js';

const SMALL_POLICIES = join(ROOT, 'test', 'fixtures', 'coverage', 'policies');
const SMALL_CASES = join(ROOT, 'test', 'fixtures', 'coverage', 'cases');
const MOCHA = join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js');

/** One passing and one failing case over the small policy set of test/fixtures/coverage. */
const MIXED = `now: 2026-11-24T12:00:00Z
user: { training: 2026-06-01 }
cases:
  - name: a clerk sees the name
    resource: Patient
    purpose: admin
    user: { roles: [clerk] }
    record: { id: p2, name: Bob, ward: w2 }
    expect: { name: Bob, ward: w2 }
  - name: a clerk sees the id
    resource: Patient
    purpose: admin
    user: { roles: [clerk] }
    record: { id: p2, name: Bob, ward: w2 }
    expect: { id: p2, name: Bob, ward: w2 }
`;

/**
 * A user's project in a temporary directory: the built package installed as
 * node_modules/fieldmesh (a link to this checkout, resolved through its
 * package.json "exports"), case files, and a mocha spec calling runCases.
 */
function project(spec: string, files: Record<string, string> = { 'cases/mixed.yaml': MIXED }) {
  const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-run-cases-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', 'fieldmesh'), 'dir');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  writeFileSync(join(dir, 'redaction.spec.mjs'), spec);
  const mocha = () => {
    const r = spawnSync(process.execPath, [MOCHA, '--no-config', '--no-package', '--reporter', 'spec', 'redaction.spec.mjs'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
    });
    return { code: r.status, out: r.stdout + r.stderr };
  };
  return { dir, mocha, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const spec = (options: string) => `import { runCases } from 'fieldmesh/testing';
describe('my redaction', () => {
  runCases('cases', { policies: ${JSON.stringify(SMALL_POLICIES)}${options} });
});
`;

/** A runner of our own: describe runs its body at once; every it is kept to be run by the test. */
function fakeRunner() {
  const tests: { title: string; fn: () => Promise<void> }[] = [];
  let suite = '';
  const runner: Pick<RunCasesOptions, 'describe' | 'it'> = {
    describe: (title, fn) => {
      suite = title;
      fn();
    },
    it: (title, fn) => tests.push({ title: `${suite} › ${title}`, fn }),
  };
  const runAll = async () => {
    const failures: string[] = [];
    for (const t of tests) await t.fn().catch((e: Error) => failures.push(`${t.title}: ${e.name}: ${e.message}`));
    return failures;
  };
  return { runner, tests, runAll };
}

describe('testing/run-cases', function () {
  this.timeout(60000);

  describe('under mocha, from the built package', () => {
    it('registers one test per case: the passing one passes, the failing one fails with the diff fieldmesh test prints', () => {
      const p = project(spec(''));
      try {
        const r = p.mocha();
        expect(r.code, r.out).to.equal(1);
        expect(r.out).to.match(/my redaction\n\s+cases\/mixed\.yaml\n\s+✔ a clerk sees the name( \(\d+ms\))?\n\s+1\) a clerk sees the id/);
        expect(r.out).to.include('1 passing').and.include('1 failing');
        expect(r.out).to.include('CaseFailure:   {\n-   "id": "p2",\n    "name": "Bob",');
        expect(r.out, 'no stack trace to read past').to.not.match(/\n\s+at /);
      } finally {
        p.cleanup();
      }
    });

    it('runs only the cases the filter names', () => {
      const p = project(spec(", filter: 'the name'"));
      try {
        const r = p.mocha();
        expect(r.code, r.out).to.equal(0);
        expect(r.out).to.include('1 passing').and.not.include('a clerk sees the id');
      } finally {
        p.cleanup();
      }
    });

    it('fails the run at once when the filter matches nothing, and a malformed case file as a failing test', () => {
      const none = project(spec(', filter: /nobody/'));
      try {
        const r = none.mocha();
        expect(r.code).to.not.equal(0);
        expect(r.out).to.include('runCases: no case matches the filter /nobody/');
      } finally {
        none.cleanup();
      }
      const broken = project(spec(''), {
        'cases/broken.yaml': 'cases:\n  - name: x\n    resource: Patient\n    purpose: admin\n    colour: red\n',
      });
      try {
        const r = broken.mocha();
        expect(r.code, r.out).to.equal(1);
        expect(r.out).to.include('(case file)').and.include('cases/broken.yaml › cases[0]: Unrecognized key: "colour"');
      } finally {
        broken.cleanup();
      }
    });
  });

  describe('with a runner passed in', () => {
    it('runs every case and measures the coverage of those that ran', async () => {
      const { runner, tests, runAll } = fakeRunner();
      const run = runCases(SMALL_CASES, { policies: SMALL_POLICIES, ...runner });
      expect(tests.map((t) => t.title)).to.deep.equal([
        `${join(SMALL_CASES, 'clerk.yaml')} › a clerk sees the name and ward, not the id or diagnoses`,
        `${join(SMALL_CASES, 'nurse.yaml')} › a nurse on the ward does not see the name of a well-known patient`,
      ]);
      expect(await runAll()).to.deep.equal([]);
      expect(run.results.map((r) => r.passed)).to.deep.equal([true, true]);
      expect((await run.coverage()).percent).to.equal(100);
    });

    it("uses a PolicySet as given, under each case file's own pseudonym key, and the records named", async () => {
      // Loaded with another key: the expected pseudonyms of secondary-use.yaml were made with the file's own.
      const policies = await loadPolicies(join(ROOT, 'policies'), { pseudonymKey: 'some-other-pseudonym-key' });
      const { runner, tests, runAll } = fakeRunner();
      runCases(join(ROOT, 'fixtures', 'cases', 'secondary-use.yaml'), { policies, records: join(ROOT, 'fixtures', 'records'), ...runner });
      expect(tests.length).to.be.greaterThan(5);
      expect(await runAll()).to.deep.equal([]);
    });

    it('fails a case with a CaseFailure carrying the message of fieldmesh test', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-run-cases-'));
      writeFileSync(join(dir, 'mixed.yaml'), MIXED);
      const { runner, runAll } = fakeRunner();
      const run = runCases([join(dir, 'mixed.yaml')], { policies: SMALL_POLICIES, ...runner });
      const failures = await runAll();
      expect(failures).to.have.length(1);
      expect(failures[0]).to.include('a clerk sees the id: CaseFailure:   {\n-   "id": "p2",');
      expect(run.results[1]!.message).to.equal(failures[0]!.split('CaseFailure: ')[1]);
      expect(new CaseFailure('m').stack).to.equal('CaseFailure: m');
      // A ref with no records directory named: the case fails, saying which ref.
      writeFileSync(join(dir, 'mixed.yaml'), MIXED.replace('record: { id: p2, name: Bob, ward: w2 }', 'ref: Patient/p2'));
      const again = fakeRunner();
      runCases(join(dir, 'mixed.yaml'), { policies: SMALL_POLICIES, ...again.runner });
      expect((await again.runAll())[0]).to.include('unknown ref Patient/p2');
    });

    it('skips a directory named *.yaml inside a cases directory, and descends into one named directly', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-run-cases-'));
      cpSync(join(SMALL_CASES, 'clerk.yaml'), join(dir, 'clerk.yaml'));
      mkdirSync(join(dir, 'old.yaml'));
      cpSync(join(SMALL_CASES, 'nurse.yaml'), join(dir, 'old.yaml', 'nurse.yaml'));
      const { runner, tests, runAll } = fakeRunner();
      runCases(dir, { policies: SMALL_POLICIES, ...runner });
      expect(tests.map((t) => t.title)).to.deep.equal([
        `${join(dir, 'clerk.yaml')} › a clerk sees the name and ward, not the id or diagnoses`,
      ]);
      expect(await runAll()).to.deep.equal([]);
      const named = fakeRunner();
      runCases(join(dir, 'old.yaml'), { policies: SMALL_POLICIES, ...named.runner });
      expect(named.tests.map((t) => t.title)).to.deep.equal([
        `${join(dir, 'old.yaml', 'nurse.yaml')} › a nurse on the ward does not see the name of a well-known patient`,
      ]);
    });

    it('refuses what cannot be a run, at once, naming it', () => {
      const { runner } = fakeRunner();
      const run = (cases: string | string[], options: Partial<RunCasesOptions>) => () =>
        runCases(cases, { policies: SMALL_POLICIES, ...runner, ...options } as RunCasesOptions);
      expect(run('/no/such/cases', {})).to.throw('runCases: no such case file or directory: /no/such/cases');
      expect(run([], {})).to.throw(TypeError, 'name at least one case file or directory');
      const empty = mkdtempSync(join(tmpdir(), 'fieldmesh-no-cases-'));
      expect(run(empty, {})).to.throw(`runCases: no case files (*.yaml) in ${empty}`);
      expect(run(SMALL_CASES, { records: '/no/such/records' })).to.throw('cannot read the records directory /no/such/records');
      expect(run(SMALL_CASES, { filter: '' })).to.throw(TypeError, 'options.filter');
      expect(run(SMALL_CASES, { policies: 42 as never })).to.throw(TypeError, 'options.policies');
      expect(run(SMALL_CASES, { pseudonymkey: 'x' } as never)).to.throw(TypeError, 'unknown option pseudonymkey');
      expect(run(SMALL_CASES, { describe: 'nope' as never })).to.throw(TypeError, 'no describe/it');
    });
  });
});
