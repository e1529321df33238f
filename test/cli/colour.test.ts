import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { openAuditStore } from '../../src/audit/open.js';
import { sampleEntry } from '../audit/entries.js';
import { BIN, fieldmesh, ROOT } from './run.js';

/**
 * Colour through the built binary: FORCE_COLOR and NO_COLOR, on a pipe and
 * on a real terminal (util-linux `script` gives the binary a pseudo-terminal).
 */
const VALID = 'test/fixtures/policies/valid';
const CHECK = ['check', '--policies', VALID, '--now', '2026-11-24'];
const ESC = '\u001b[';
const GREEN_OK = `${ESC}32mOK${ESC}39m`;

/** The binary on a pipe, with exactly these colour variables. */
function piped(args: string[], colour: { NO_COLOR?: string; FORCE_COLOR?: string }, input = '') {
  return fieldmesh(args, { env: { NO_COLOR: undefined, FORCE_COLOR: undefined, ...colour }, input });
}

/** The binary on a pseudo-terminal; stdout and stderr arrive together. */
function onTerminal(args: string[], colour: Record<string, string>): { code: number | null; output: string } {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['NO_COLOR'];
  delete env['FORCE_COLOR'];
  const command = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ');
  const r = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: ROOT, encoding: 'utf8', env: { ...env, ...colour } });
  return { code: r.status, output: r.stdout };
}

const hasScript = spawnSync('script', ['--version']).status === 0;

describe('cli › colour (the built binary)', () => {
  it('writes plain text to a pipe by default, and colour when FORCE_COLOR asks', () => {
    const plain = piped(CHECK, {});
    expect(plain.stdout).to.match(/^OK /m);
    expect(plain.stdout).not.to.include(ESC);
    for (const force of ['1', 'true']) {
      const r = piped(CHECK, { FORCE_COLOR: force });
      expect(r.code).to.equal(0);
      expect(r.stdout, `FORCE_COLOR=${force}`).to.include(`${GREEN_OK} ${VALID}:`);
      expect(r.stdout).to.include(`${ESC}33mwarning${ESC}39m`);
    }
  });

  it('stays plain with FORCE_COLOR=0 or empty, and whenever NO_COLOR is set, even with FORCE_COLOR', () => {
    for (const colour of [{ FORCE_COLOR: '0' }, { FORCE_COLOR: '' }, { NO_COLOR: '1', FORCE_COLOR: '1' }]) {
      const r = piped(CHECK, colour);
      expect(r.stdout, JSON.stringify(colour)).to.match(/^OK /m);
      expect(r.stdout).not.to.include(ESC);
    }
  });

  it('colours the audit CLI under the same rule', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-colour-'));
    try {
      const store = await openAuditStore(join(dir, 'audit.db'));
      await store.append(sampleEntry());
      await store.close();
      const args = ['audit', 'verify', '--audit', join(dir, 'audit.db')];
      expect(piped(args, { FORCE_COLOR: '1' }).stdout).to.match(/^\u001b\[32mintact\u001b\[39m: 1 event in 1 chain$/m);
      expect(piped(args, {}).stdout).to.match(/^intact: 1 event in 1 chain$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('never colours stderr, whatever FORCE_COLOR says', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-colour-'));
    try {
      copyFileSync(join(ROOT, 'test/fixtures/policies/invalid/unknown-purpose.yaml'), join(dir, 'policies.yaml'));
      const r = piped(
        ['redact', '--policies', dir, '--role', 'gp', '--purpose', 'direct-care', '--resource', 'Patient', '-'],
        { FORCE_COLOR: '1' },
        '{"id": "p1"}',
      );
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^error .*unknown purpose/m);
      expect(r.stderr).not.to.include(ESC);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('on a terminal', () => {
    before(function () {
      if (!hasScript) this.skip();
    });

    it('colours by default, and not with NO_COLOR or FORCE_COLOR=0', () => {
      expect(onTerminal(CHECK, {}).output).to.include(GREEN_OK);
      for (const colour of [{ NO_COLOR: '1' }, { FORCE_COLOR: '0' }]) {
        const r = onTerminal(CHECK, colour);
        expect(r.code).to.equal(0);
        expect(r.output, JSON.stringify(colour)).to.match(/^OK /m);
        expect(r.output).not.to.include(ESC);
      }
    });
  });
});
