import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { ROOT } from '../cli/run.js';

const EXAMPLE = join(ROOT, 'examples', 'testing', 'redaction.test.ts');

/**
 * examples/testing runs as its README says, against the built package, so it
 * cannot rot: its mocha run passes, and it type-checks on its own, with only
 * the declarations the package ships (the chai assertions included).
 */
describe('examples/testing', function () {
  this.timeout(120000);

  it('passes under mocha as its README runs it: every fixture case, the coverage threshold and the chai assertions', () => {
    const r = spawnSync(
      process.execPath,
      [join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js'), '--no-config', '--node-option', 'import=tsx', EXAMPLE],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
    );
    expect(r.status, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.match(/\n {2}(\d{3,}) passing/);
    expect(r.stdout).to.include('✔ exercises at least 90% of the policy set');
    expect(r.stdout).to.include('✔ a planner gets a pseudonym in every row, the same for the same person, and no name');
    expect(r.stdout).to.not.include('failing');
  });

  it('type-checks alone, against the declarations of the built package', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-example-types-'));
    try {
      const config = {
        extends: join(ROOT, 'tsconfig.json'),
        compilerOptions: { rootDir: ROOT, noEmit: true, typeRoots: [join(ROOT, 'node_modules', '@types')] },
        include: [EXAMPLE],
      };
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(config));
      const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
      const listed = spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json'), '--listFilesOnly'], { encoding: 'utf8' });
      const ours = listed.stdout.split('\n').filter((f) => f.startsWith(ROOT) && !f.includes('/node_modules/'));
      expect(
        ours.filter((f) => f.includes('/src/')),
        'no source file of the package is in the program',
      ).to.deep.equal([]);
      expect(ours).to.include(join(ROOT, 'dist', 'testing', 'chai.d.ts'));
      const r = spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8' });
      expect(r.status, r.stdout + r.stderr).to.equal(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
