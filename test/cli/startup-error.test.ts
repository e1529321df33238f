import { spawnSync } from 'node:child_process';
import { expect } from 'chai';
import { BIN, fieldmeshAsync, ROOT } from './run.js';

/**
 * `fieldmesh serve` that cannot start: one JSON log line on stderr when no
 * one is at a terminal (a container, a supervisor), plain text when someone is.
 */
const ENV = { FIELDMESH_JWT_SECRET: 'startup-test-secret-of-at-least-32-bytes', FIELDMESH_PSEUDONYM_KEY: 'startup-test-key' };
const SERVE = ['serve', '--upstream', 'http://127.0.0.1:9', '--policies', 'policies', '--port', '0'];

interface StartupLine {
  level: number;
  name: string;
  event: string;
  code: string;
  msg: string;
  problems?: string[];
}

/** stderr as exactly one JSON line. */
function oneLine(stderr: string): StartupLine {
  const lines = stderr.split('\n');
  expect(lines, stderr).to.have.length(2);
  expect(lines[1]).to.equal('');
  return JSON.parse(lines[0]!) as StartupLine;
}

describe('cli › serve start-up errors (the built binary)', () => {
  it('is one JSON line with level, msg, code and the problems when stderr is no terminal', async () => {
    const r = await fieldmeshAsync([...SERVE, '--routes', 'no-such-routes.yaml'], { env: ENV });
    expect(r.code).to.equal(2);
    expect(r.stdout).to.equal('');
    expect(oneLine(r.stderr)).to.deep.include({
      level: 50,
      name: 'fieldmesh-gateway',
      event: 'startup_failed',
      code: 'routes_invalid',
      msg: '1 problem in the routes file',
      problems: ['no-such-routes.yaml › cannot read the file (ENOENT)'],
    });
  });

  it('is written whatever LOG_LEVEL says: a gateway must never fail to start in silence', async () => {
    for (const level of ['silent', 'fatal']) {
      const r = await fieldmeshAsync([...SERVE, '--routes', 'no-such-routes.yaml'], { env: { ...ENV, LOG_LEVEL: level } });
      expect(r.code).to.equal(2);
      expect(oneLine(r.stderr)).to.include({ code: 'routes_invalid' });
    }
  });

  it('escapes a control character a path brings into the line', async () => {
    const r = await fieldmeshAsync([...SERVE, '--routes', 'routes\u001b[2J\u202e.yaml'], { env: ENV });
    expect(r.code).to.equal(2);
    expect(r.stderr).not.to.match(/[\u001b\u202e]/);
    expect(oneLine(r.stderr).problems?.[0]).to.match(/^routes.*\.yaml › cannot read the file \(ENOENT\)$/);
  });

  it('is plain text on a terminal, with the same exit code', function () {
    if (spawnSync('script', ['--version']).status !== 0) this.skip();
    const env: NodeJS.ProcessEnv = { ...process.env, ...ENV, NO_COLOR: '1' };
    delete env['FIELDMESH_ROUTES'];
    delete env['FIELDMESH_UPSTREAM'];
    const command = [process.execPath, BIN, 'serve'].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: ROOT, encoding: 'utf8', env });
    expect(r.status).to.equal(2);
    expect(r.stdout).to.match(/^config_invalid: invalid configuration:\r?$/m);
    expect(r.stdout).to.match(/^ {2}--upstream \/ FIELDMESH_UPSTREAM: required/m);
    expect(r.stdout).not.to.include('"level"');
  });
});
