import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { ROOT } from './cli/run.js';

/**
 * The package's declarations as a project that installed it sees them, with
 * skipLibCheck off (every .d.ts it loads is checked): a copy of package.json
 * and dist/ in node_modules/fieldmesh, and the package's dependencies beside
 * it. An engine-only project has no @types/express; an express project has.
 */
describe('package types', function () {
  this.timeout(120000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fieldmesh-types-'));
    const pkg = join(dir, 'node_modules', 'fieldmesh');
    mkdirSync(pkg, { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
    cpSync(join(ROOT, 'dist'), join(pkg, 'dist'), { recursive: true });
    const deps = Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: object }).dependencies);
    for (const dep of [...deps, '@types/node']) link(dep);
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function link(name: string): void {
    mkdirSync(dirname(join(dir, 'node_modules', name)), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', name), join(dir, 'node_modules', name), 'dir');
  }

  function compile(file: string, source: string): { status: number | null; output: string } {
    writeFileSync(join(dir, file), source);
    const config = {
      compilerOptions: {
        strict: true,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
      },
      files: [file],
    };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(config));
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.json')], {
      encoding: 'utf8',
    });
    return { status: r.status, output: r.stdout + r.stderr };
  }

  it('compiles an engine-only file without @types/express, every declaration checked', () => {
    const r = compile(
      'engine.ts',
      `import { loadPolicies, type PolicySet, type Mesh } from 'fieldmesh';
const policies: PolicySet = await loadPolicies('./policies');
const { data } = policies.redact({ id: 'p1' }, { resource: 'Patient', purpose: 'direct-care', user: { id: 'u', roles: ['gp'] } });
export const shown: unknown = data;
export type M = Mesh;
`,
    );
    expect(r.output).not.to.match(/Cannot find module 'express'/);
    expect(r.status, r.output).to.equal(0);
  });

  it('still types the middleware for an express app, from the root entry and from fieldmesh/express', () => {
    for (const name of ['express', '@types/express']) link(name);
    const r = compile(
      'app.ts',
      `import express, { type Request } from 'express';
import { fieldmesh } from 'fieldmesh';
import { fieldmesh as expressMesh, type WriteOptions } from 'fieldmesh/express';
const app = express();
const options = { policies: './policies', jwt: { secret: 'x'.repeat(32) }, audit: { sqlite: './a.db' } };
const mesh = await fieldmesh(options);
app.get('/patients/:id', mesh.read('Patient'), (req, res) => void res.json({ id: req.params.id }));
app.patch('/patients/:id', mesh.write('Patient', { load: (req) => ({ id: req.params['id'] }) }), (_req, res) => void res.end());
const typed = (req: Request): unknown => ({ id: req.params.id, ip: req.ip });
app.put('/patients/:id', mesh.write('Patient', { load: typed }), (_req, res) => void res.end());
const em = await expressMesh(options);
const opts: WriteOptions = { load: (req) => ({ id: req.params.id, ip: req.ip }) };
app.patch('/notes/:id', em.write('CaseNote', opts), em.read('CaseNote'), (_req, res) => void res.end());
// @ts-expect-error a loader must be a function of the request
mesh.write('Patient', { load: 'not a function' });
`,
    );
    expect(r.status, r.output).to.equal(0);
  });
});
