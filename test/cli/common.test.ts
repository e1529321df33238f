import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { CliExit, EXIT, loadForCli, paint, parseNow, printIssue } from '../../src/cli/common.js';

const POLICIES = fileURLToPath(new URL('../../policies', import.meta.url));

describe('cli/common', () => {
  describe('loadForCli', () => {
    it('loads a policy directory', async () => {
      const policies = await loadForCli(POLICIES, { pseudonymKey: 'cli-common-pseudonym-key' });
      expect(policies.resourceNames()).to.include('Patient');
    });

    it('stops with exit 1 and every error printed the way people fix it, warnings left out', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-cli-common-'));
      writeFileSync(
        join(dir, 'p.yaml'),
        [
          'resources: { Patient: { fields: { id: identifier } } }',
          'purposes:',
          '  old: { lawfulBasis: { article6: x }, reviewBy: 2000-01-01, views: { Patient: { fields: [id] } } }',
          'roles:',
          '  gp: { grants: [{ purpose: olde, resource: Patient, read: view }, { purpose: old, resource: Patient, read: view }] }',
        ].join('\n'),
      );
      const e = await loadForCli(dir).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).to.be.instanceOf(CliExit);
      expect((e as CliExit).exitCode).to.equal(EXIT.failed);
      expect((e as CliExit).message).to.equal(
        `error ${join(dir, 'p.yaml')}:5:29 › roles.gp.grants[0].purpose: unknown purpose "olde" (did you mean "old"?)`,
      );
    });
  });

  describe('printIssue and paint', () => {
    it('labels an issue by severity, uncoloured off a terminal and always on stderr', () => {
      const pipe = { isTTY: false } as NodeJS.WriteStream;
      expect(printIssue({ file: 'r.yaml', path: 'roles.gp', message: 'no grants', severity: 'warning' }, pipe)).to.equal(
        'warning r.yaml › roles.gp: no grants',
      );
      expect(paint('red', 'error', pipe)).to.equal('error');
      expect(paint('red', 'error', process.stderr)).to.equal('error');
    });
  });

  describe('parseNow', () => {
    it('reads a date, and nothing as no date', () => {
      expect(parseNow('2026-11-24')?.toISOString()).to.equal('2026-11-24T00:00:00.000Z');
      expect(parseNow(undefined)).to.equal(undefined);
    });

    it('stops with a usage error for anything else', () => {
      try {
        parseNow('tomorrow');
        expect.fail('expected a CliExit');
      } catch (e) {
        expect(e).to.be.instanceOf(CliExit);
        expect((e as CliExit).exitCode).to.equal(EXIT.usage);
        expect((e as CliExit).message).to.equal('--now: "tomorrow" is not a date (e.g. 2026-11-24)');
      }
    });
  });

  it('keeps the exit codes the documentation promises', () => {
    expect(EXIT).to.deep.equal({ ok: 0, failed: 1, usage: 2, refused: 3 });
  });
});
