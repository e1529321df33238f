import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { openAuditStore } from '../../src/audit/open.js';
import { sampleEntry } from '../audit/entries.js';
import { fieldmeshAsync } from './run.js';

/**
 * The CLI's secrets from files (`NAME_FILE`), through the built binary: the
 * gateway's are in test/gateway/secrets.test.ts, the rule in test/lib/env-file.test.ts.
 */
const VALID = 'test/fixtures/policies/valid';
const KEY = 'cli-pseudonym-key-from-a-file';
const RECORD = JSON.stringify({ id: 'p1', name: 'Ann', nhsNumber: '9990000018', dateOfBirth: '1980-05-02', ward: 'W7' });
const PLANNING = [
  'redact',
  '--policies',
  VALID,
  '--role',
  'analyst',
  '--purpose',
  'service-planning',
  '--resource',
  'Patient',
  '--now',
  '2026-11-24',
  '-',
];

describe('cli › secrets from files (the built binary)', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function setup() {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-cli-secrets-'));
    dirs.push(dir);
    const file = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    return { dir, file };
  }

  it('redact pseudonymises with the key from FIELDMESH_PSEUDONYM_KEY_FILE exactly as with the variable', async () => {
    const { file } = setup();
    const fromEnv = await fieldmeshAsync(PLANNING, { input: RECORD, env: { FIELDMESH_PSEUDONYM_KEY: KEY } });
    const fromFile = await fieldmeshAsync(PLANNING, { input: RECORD, env: { FIELDMESH_PSEUDONYM_KEY_FILE: file('key', `${KEY}\n`) } });
    expect(fromEnv.code, fromEnv.stderr).to.equal(0);
    expect(fromFile.code, fromFile.stderr).to.equal(0);
    expect(fromFile.stdout).to.equal(fromEnv.stdout);
    expect(fromFile.stdout).not.to.include('p1"');
  });

  it('redact refuses the key set both ways and an empty key file: exit 2, naming the variables, not the key', async () => {
    const { file } = setup();
    const both = await fieldmeshAsync(PLANNING, {
      input: RECORD,
      env: { FIELDMESH_PSEUDONYM_KEY: KEY, FIELDMESH_PSEUDONYM_KEY_FILE: file('key', `${KEY}\n`) },
    });
    expect(both.code).to.equal(2);
    expect(both.stderr).to.equal('FIELDMESH_PSEUDONYM_KEY and FIELDMESH_PSEUDONYM_KEY_FILE are both set: set only one\n');
    const empty = file('empty', '');
    const none = await fieldmeshAsync(PLANNING, { input: RECORD, env: { FIELDMESH_PSEUDONYM_KEY_FILE: empty } });
    expect(none.code).to.equal(2);
    expect(none.stderr).to.equal(`FIELDMESH_PSEUDONYM_KEY_FILE: ${empty} is empty\n`);
  });

  it('audit commands read the trail FIELDMESH_AUDIT_FILE names; --audit still wins, and the file is then not read', async () => {
    const { dir, file } = setup();
    const trail = join(dir, 'audit.db');
    const store = await openAuditStore(trail);
    await store.append(sampleEntry());
    await store.close();
    const fromFile = await fieldmeshAsync(['audit', 'verify'], { env: { FIELDMESH_AUDIT_FILE: file('target', `${trail}\n`) } });
    expect(fromFile.code, fromFile.stderr).to.equal(0);
    expect(fromFile.stdout).to.match(/^intact: 1 event in 1 chain$/m);
    const flagWins = await fieldmeshAsync(['audit', 'verify', '--audit', trail], { env: { FIELDMESH_AUDIT_FILE: join(dir, 'missing') } });
    expect(flagWins.code, flagWins.stderr).to.equal(0);
  });

  it('audit commands refuse a target set both ways and an unreadable key file, never printing a URL that may hold a password', async () => {
    const { dir, file } = setup();
    const url = 'postgres://fieldmesh:pa55word@127.0.0.1:1/x';
    const both = await fieldmeshAsync(['audit', 'head'], { env: { FIELDMESH_AUDIT: url, FIELDMESH_AUDIT_FILE: file('target', url) } });
    expect(both.code).to.equal(2);
    expect(both.stderr).to.equal('FIELDMESH_AUDIT and FIELDMESH_AUDIT_FILE are both set: set only one\n');
    const trail = join(dir, 'audit.db');
    const store = await openAuditStore(trail);
    await store.close();
    const missing = join(dir, 'no-chain-key');
    const key = await fieldmeshAsync(['audit', 'verify', '--audit', trail], { env: { FIELDMESH_AUDIT_CHAIN_KEY_FILE: missing } });
    expect(key.code).to.equal(2);
    expect(key.stderr).to.equal(`FIELDMESH_AUDIT_CHAIN_KEY_FILE: cannot read ${missing} (ENOENT)\n`);
  });
});
