import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

/** An entry of the built package, by name (a variable, so type-checking does not depend on a build having run). */
function entry(name: string): Promise<Record<string, unknown>> {
  return import(name) as Promise<Record<string, unknown>>;
}

/**
 * These tests import the BUILT package by its own name, through the
 * "exports" of package.json, as a user does (npm test builds first).
 */
describe('public surface', () => {
  it('`fieldmesh` exports exactly the engine, the lazy factories and the errors', async () => {
    const api = await entry('fieldmesh');
    expect(Object.keys(api).sort()).to.deep.equal([
      'AccessError',
      'FieldmeshError',
      'PolicyError',
      'PolicySet',
      'abilityFor',
      'diffPolicies',
      'entryFromDecision',
      'fieldmesh',
      'formatIssue',
      'formatIssues',
      'formatTrace',
      'loadPolicies',
      'openAuditStore',
      'policiesFromSources',
      'redactBody',
    ]);
  });

  it('`fieldmesh/express` exports exactly the middleware factory', async () => {
    expect(Object.keys(await entry('fieldmesh/express')).sort()).to.deep.equal(['fieldmesh']);
  });

  it('`fieldmesh/gateway` exports exactly what embedding the gateway needs', async () => {
    expect(Object.keys(await entry('fieldmesh/gateway')).sort()).to.deep.equal([
      'CONFIG_OPTIONS',
      'ConfigError',
      'onSignals',
      'resolveConfig',
      'startGateway',
    ]);
  });

  it('`fieldmesh/audit` exports exactly the trail, its entries and the break-glass alert', async () => {
    expect(Object.keys(await entry('fieldmesh/audit')).sort()).to.deep.equal([
      'entryFromDecision',
      'openAuditStore',
      'withBreakGlassAlert',
    ]);
  });

  it('`fieldmesh/testing` exports exactly the fixture-case runner, its coverage, and the mocha and chai helpers', async () => {
    expect(Object.keys(await entry('fieldmesh/testing')).sort()).to.deep.equal([
      'CaseFailure',
      'REPORTERS',
      'applyUpdates',
      'caseFileSchema',
      'caseFilter',
      'caseSchema',
      'compareOutput',
      'coverageOf',
      'evaluateCase',
      'fieldProblems',
      'fieldmeshChai',
      'formatCoverage',
      'jsonReport',
      'junitReport',
      'kindOf',
      'lineDiff',
      'loadRecords',
      'matcherOf',
      'meetsThreshold',
      'parseCaseFile',
      'planUpdate',
      'runCase',
      'runCases',
      'summaryOf',
    ]);
  });

  it('names only built files that exist, each with its types', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      exports: Record<string, string | { types: string; import: string }>;
    };
    expect(Object.keys(pkg.exports)).to.deep.equal([
      '.',
      './express',
      './gateway',
      './audit',
      './testing',
      './schemas/policy.schema.json',
      './schemas/cases.schema.json',
      './package.json',
    ]);
    for (const [name, target] of Object.entries(pkg.exports)) {
      // A file shipped as it is (a JSON Schema, package.json): it must exist.
      if (typeof target === 'string') {
        await readFile(join(ROOT, target));
        continue;
      }
      await readFile(join(ROOT, target.types));
      await readFile(join(ROOT, target.import));
      expect(target.import, name).to.match(/^\.\/dist\/.*\.js$/);
    }
  });
});

/** Libraries the engine must not load: database drivers, logger, JWT, HTTP, command line, metrics, tracing. */
const HEAVY = [
  'better-sqlite3',
  'pg',
  'pino',
  'jsonwebtoken',
  'jwks-rsa',
  'express',
  'undici',
  'path-to-regexp',
  'commander',
  'prom-client',
  '@opentelemetry/api',
];

/**
 * Records every module a script loads, two ways: a resolve hook (registered
 * with `module.register` before anything else is imported) appends each
 * specifier and the URL it resolved to into a file, and at the end the script
 * adds the CommonJS cache, which holds every package loaded by `require`
 * inside another package (those do not pass through the hook on Node 20).
 */
const HOOK = `
import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(log, JSON.stringify([specifier, resolved.url]) + '\\n');
  return resolved;
}`;

async function modulesLoadedBy(script: string): Promise<{ specifiers: string[]; files: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'fieldmesh-light-'));
  try {
    const log = join(dir, 'resolved.jsonl');
    const source = `
import { register, createRequire } from 'node:module';
import { appendFileSync } from 'node:fs';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOK)}), { data: { log: ${JSON.stringify(log)} } });
await (async () => { ${script} })();
for (const file of Object.keys(createRequire(import.meta.url).cache)) appendFileSync(${JSON.stringify(log)}, JSON.stringify(['require', file]) + '\\n');
`;
    // Run from the package root so that `import('fieldmesh')` resolves the package itself, as it would for a user.
    await run(process.execPath, ['--input-type=module', '-e', source], { cwd: ROOT, env: { ...process.env, FIELDMESH_TEST_DIR: dir } });
    const lines = (await readFile(log, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as [string, string]);
    return { specifiers: lines.filter(([s]) => s !== 'require').map(([s]) => s), files: lines.map(([, url]) => url) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function heavyIn(loaded: { specifiers: string[]; files: string[] }): string[] {
  return HEAVY.filter((name) => loaded.specifiers.includes(name) || loaded.files.some((f) => f.includes(`/node_modules/${name}/`)));
}

describe('light import', function () {
  this.timeout(60000);

  it('importing `fieldmesh` and redacting with it loads no driver, logger, JWT, HTTP or command-line library', async () => {
    const loaded = await modulesLoadedBy(`
      const { loadPolicies } = await import('fieldmesh');
      const policies = await loadPolicies('./policies', { pseudonymKey: 'a-pseudonym-key-of-at-least-32-bytes' });
      const user = { sub: 'u1', roles: ['ward-nurse'], team: 'ward-7', training: new Date().toISOString().slice(0, 10) };
      const { data } = policies.redact({ id: 'p1', careTeam: 'ward-7', address: 'withheld' }, { resource: 'Patient', purpose: 'direct-care', user });
      if (data.id !== 'p1' || 'address' in data) throw new Error('the engine did not redact');
    `);
    expect(
      loaded.files.some((f) => f.endsWith('/dist/engine/policy-set.js')),
      'the built engine was loaded',
    ).to.equal(true);
    expect(loaded.specifiers, 'the engine libraries were seen by the hook').to.include.members(['@casl/ability', 'zod', 'yaml']);
    expect(heavyIn(loaded)).to.deep.equal([]);
  });

  it('`fieldmesh()` from the root loads the middleware, JWT and audit driver only when called', async () => {
    const loaded = await modulesLoadedBy(`
      const { fieldmesh } = await import('fieldmesh');
      const mesh = await fieldmesh({
        policies: './policies',
        jwt: { secret: 'a-test-secret-of-at-least-32-bytes!!' },
        audit: { sqlite: process.env.FIELDMESH_TEST_DIR + '/audit.db' },
        pseudonymKey: 'a-pseudonym-key-of-at-least-32-bytes',
      });
      mesh.read('Patient');
      await mesh.close();
    `);
    expect(loaded.files.some((f) => f.endsWith('/dist/express/mesh.js'))).to.equal(true);
    expect(heavyIn(loaded)).to.include.members(['jsonwebtoken', 'better-sqlite3', 'prom-client', '@opentelemetry/api']);
    // Still nothing of the gateway or the command line.
    expect(heavyIn(loaded)).to.not.include('path-to-regexp');
    expect(heavyIn(loaded)).to.not.include('commander');
  });

  it("`fieldmesh/testing` loads neither mocha nor chai: they stay the user's own, never dependencies of fieldmesh", async () => {
    const loaded = await modulesLoadedBy(`await import('fieldmesh/testing');`);
    expect(loaded.files.some((f) => f.endsWith('/dist/testing/run-cases.js'))).to.equal(true);
    expect(loaded.files.filter((f) => /\/node_modules\/(mocha|chai)\//.test(f))).to.deep.equal([]);
    expect(heavyIn(loaded)).to.deep.equal([]);
  });

  it('`fieldmesh/audit` writes a trail without loading a metrics or tracing library (the shells measure it through a hook)', async () => {
    const loaded = await modulesLoadedBy(`
      const { openAuditStore } = await import('fieldmesh/audit');
      const store = await openAuditStore({ sqlite: process.env.FIELDMESH_TEST_DIR + '/audit.db' });
      await store.close();
    `);
    expect(heavyIn(loaded)).to.include('better-sqlite3');
    expect(heavyIn(loaded)).to.not.include.members(['prom-client']);
    expect(heavyIn(loaded)).to.not.include.members(['@opentelemetry/api']);
  });

  it('`fieldmesh/express` loads the middleware side, never the gateway or the command line', async () => {
    const loaded = await modulesLoadedBy(`await import('fieldmesh/express');`);
    expect(heavyIn(loaded)).to.include.members(['jsonwebtoken', 'pino']);
    expect(loaded.files.filter((f) => f.includes('/dist/gateway/') || f.includes('/dist/cli/'))).to.deep.equal([]);
    expect(heavyIn(loaded)).to.not.include('path-to-regexp');
    expect(heavyIn(loaded)).to.not.include('commander');
  });
});
