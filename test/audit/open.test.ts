import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { ROOT } from '../cli/run.js';
import { sampleEntry } from './entries.js';

const PG_URL = process.env.FIELDMESH_TEST_PG_URL;
const HOOK = pathToFileURL(join(ROOT, 'test', 'audit', 'import-log.mjs')).href;
const dist = (file: string): string => pathToFileURL(join(ROOT, 'dist', 'audit', file)).href;

/**
 * Run in a fresh `node` with import-log.mjs as its module hooks: imports the
 * built contract and factory, then (when FM_TARGET is set) opens that
 * trail, appends an event and verifies it. At each stage it reports what the
 * process has loaded, seen two ways: every URL the ESM resolver answered,
 * and every file in the CommonJS cache (both drivers are CommonJS inside).
 */
const CHILD = `
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const env = process.env;
const loaded = () => ({
  esm: readFileSync(env.FIELDMESH_IMPORT_LOG, 'utf8').split('\\n').filter(Boolean),
  cjs: Object.keys(createRequire(import.meta.url).cache),
});
await import(env.FM_TYPES);
const { openAuditStore } = await import(env.FM_OPEN);
const report = { imported: loaded() };
if (env.FM_TARGET) {
  const store = await openAuditStore(JSON.parse(env.FM_TARGET), JSON.parse(env.FM_OPTIONS));
  const event = await store.append(JSON.parse(env.FM_ENTRY));
  report.opened = { ...loaded(), seq: event.seq, verify: await store.verify() };
  await store.close();
}
process.stdout.write(JSON.stringify(report));
`;

interface Loaded {
  esm: string[];
  cjs: string[];
}
interface Report {
  imported: Loaded;
  opened?: Loaded & { seq: number; verify: { ok: boolean } };
}

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-open-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function runChild(target?: unknown, options: object = {}): Report {
  const log = join(tempDir(), 'imports.log');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    FIELDMESH_IMPORT_LOG: log,
    FM_TYPES: dist('types.js'),
    FM_OPEN: dist('open.js'),
    FM_OPTIONS: JSON.stringify(options),
    FM_ENTRY: JSON.stringify(sampleEntry()),
    ...(target === undefined ? {} : { FM_TARGET: JSON.stringify(target) }),
  };
  const r = spawnSync(process.execPath, ['--import', HOOK, '--input-type=module', '-e', CHILD], { cwd: ROOT, env, encoding: 'utf8' });
  expect(r.status, r.stderr).to.equal(0);
  // The log is the hook's own record: read it here too, so the report cannot leave a stage out.
  expect(readFileSync(log, 'utf8')).to.include(dist('open.js'));
  return JSON.parse(r.stdout) as Report;
}

const SQLITE_DRIVER = /\/node_modules\/better-sqlite3\//;
const PG_DRIVER = /\/node_modules\/pg(-[a-z]+)?\//;
const loads = (l: Loaded | undefined, driver: RegExp): boolean => [...(l?.esm ?? []), ...(l?.cjs ?? [])].some((f) => driver.test(f));

describe('audit/open', () => {
  it('loads neither better-sqlite3 nor pg when the store contract and the factory are imported', () => {
    const { imported } = runChild();
    // The hook saw the imports (a silent hook would make the next lines pass for nothing).
    expect(imported.esm).to.include.members([dist('types.js'), dist('open.js')]);
    expect(imported.esm.filter((f) => SQLITE_DRIVER.test(f) || PG_DRIVER.test(f))).to.deep.equal([]);
    expect(imported.cjs.filter((f) => SQLITE_DRIVER.test(f) || PG_DRIVER.test(f))).to.deep.equal([]);
  });

  it('loads better-sqlite3, and still not pg, when a SQLite trail is opened, and that trail works', () => {
    const { imported, opened } = runChild({ sqlite: join(tempDir(), 'audit.db') });
    expect(loads(imported, SQLITE_DRIVER)).to.equal(false);
    expect(opened?.esm).to.include(dist('sqlite/store.js'));
    expect(loads(opened, SQLITE_DRIVER)).to.equal(true);
    expect(loads(opened, PG_DRIVER)).to.equal(false);
    expect(opened?.seq).to.equal(1);
    expect(opened?.verify.ok).to.equal(true);
  });

  describe('with PostgreSQL', () => {
    const schema = `fm_open_test_${randomBytes(6).toString('hex')}`;
    before(function () {
      if (PG_URL === undefined) {
        console.log('    (skipped: needs PostgreSQL: FIELDMESH_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test npm test)');
        this.skip();
      }
    });
    after(async () => {
      if (PG_URL === undefined) return;
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    });

    it('loads pg, and not better-sqlite3, when a PostgreSQL trail is opened, and that trail works', () => {
      const { imported, opened } = runChild({ postgres: PG_URL }, { schema });
      expect(loads(imported, PG_DRIVER)).to.equal(false);
      expect(opened?.esm).to.include(dist('postgres/store.js'));
      expect(loads(opened, PG_DRIVER)).to.equal(true);
      expect(loads(opened, SQLITE_DRIVER)).to.equal(false);
      expect(opened?.seq).to.equal(1);
      expect(opened?.verify.ok).to.equal(true);
    });
  });
});
