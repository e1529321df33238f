import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../cli/run.js';

/** Runs node with better-sqlite3 unresolvable, as an install without the optional driver is. */
const NO_DRIVER = pathToFileURL(join(ROOT, 'test', 'audit', 'no-sqlite-driver.mjs')).href;
const BIN = join(ROOT, 'dist', 'cli', 'bin.js');

/**
 * The engine, the built package's own entry, with the driver missing: loads
 * the example policies and redacts a fixture record, then opens a SQLite trail.
 */
const CHILD = `
import { readFileSync } from 'node:fs';
const { loadPolicies, openAuditStore } = await import(process.env.FM_INDEX);
const policies = await loadPolicies('policies');
const [record] = JSON.parse(readFileSync('fixtures/records/Patient.json', 'utf8'));
const user = { sub: 'gp-1', roles: ['gp'], practice: 'B86001', training: new Date().toISOString().slice(0, 10) };
const { data, decision } = policies.redact(record, { resource: 'Patient', purpose: 'direct-care', user });
const report = { disclosed: decision.disclosed, fields: Object.keys(data ?? {}) };
try {
  await openAuditStore(process.env.FM_TRAIL);
  report.opened = true;
} catch (err) {
  report.error = { code: err.code, message: err.message };
}
process.stdout.write(JSON.stringify(report));
`;

describe('audit/load-sqlite: an install without the optional SQLite driver', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fieldmesh-no-driver-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('redacts with the engine, and opening a SQLite trail is an audit_unavailable error naming the package', () => {
    const trail = join(dir, 'audit.db');
    const r = spawnSync(process.execPath, ['--import', NO_DRIVER, '--input-type=module', '-e', CHILD], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, FM_INDEX: pathToFileURL(join(ROOT, 'dist', 'index.js')).href, FM_TRAIL: trail },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).to.equal(0);
    const report = JSON.parse(r.stdout) as {
      disclosed: boolean;
      fields: string[];
      opened?: true;
      error?: { code: string; message: string };
    };
    expect(report.fields).to.include('name');
    expect(report.opened).to.equal(undefined);
    expect(report.error?.code).to.equal('audit_unavailable');
    expect(report.error?.message).to.include(`cannot be opened: a SQLite trail needs the optional package better-sqlite3`);
    expect(report.error?.message).to.include('npm install better-sqlite3');
    expect(existsSync(trail), 'no file is created').to.equal(false);
  });

  it('the CLI redacts without it, and `audit verify` of a SQLite trail could not run (exit 2) and says which package is missing', () => {
    const redact = spawnSync(
      process.execPath,
      [
        '--import',
        NO_DRIVER,
        BIN,
        'redact',
        '--role',
        'gp',
        '--claim',
        'practice=B86001',
        '--purpose',
        'direct-care',
        '--resource',
        'Patient',
        'fixtures/records/Patient.json',
      ],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(redact.status, redact.stderr).to.equal(0);
    expect(JSON.parse(redact.stdout)).to.be.an('array').that.is.not.empty;

    // A trail that exists, so verify gets as far as opening it.
    const trail = join(dir, 'existing.db');
    writeFileSync(trail, '');
    const verify = spawnSync(process.execPath, ['--import', NO_DRIVER, BIN, 'audit', 'verify', '--audit', trail], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(verify.status, verify.stderr).to.equal(2);
    expect(verify.stderr).to.include('needs the optional package better-sqlite3, which is not installed');
    expect(verify.stdout).to.equal('');
  });
});
