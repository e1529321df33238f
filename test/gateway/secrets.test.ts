import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { fieldmeshAsync, startFieldmesh } from '../cli/run.js';
import { as, call, POLICIES, PSEUDONYM_KEY, ROUTES, SECRET, startJsonServer, USERS } from './helpers.js';

/**
 * Every secret of `fieldmesh serve` from a file, as Docker and Kubernetes
 * mount them (`NAME_FILE`): the built binary, real files, a real upstream,
 * and the audit CLI reading the trail the gateway wrote with the same files.
 */
const RECORD_KEY = 'record-id-key-from-a-file-0123';
const CHAIN_KEY = 'chain-key-from-a-file-0123456789';
const UPSTREAM_AUTH = 'Bearer upstream-credential-from-a-file';

describe('gateway › secrets from files (the built binary)', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A directory of secret files, each ending in a line break as `echo` and editors write them. */
  function secrets(files: Record<string, string>): Record<string, string> {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-secrets-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const paths: Record<string, string> = { dir };
    for (const [name, text] of Object.entries(files)) {
      writeFileSync(join(dir, name), text);
      paths[name] = join(dir, name);
    }
    return paths;
  }

  it('runs with every secret from a file and the audit CLI reads its keyed trail with the same files', async () => {
    const upstream = await startJsonServer();
    cleanups.push(() => upstream.close());
    const s = secrets({
      jwt: `${SECRET}\n`,
      pseudonym: `${PSEUDONYM_KEY}\r\n`,
      upstreamAuth: `${UPSTREAM_AUTH}\n`,
      recordKey: `${RECORD_KEY}\n`,
      chainKey: `${CHAIN_KEY}\n`,
    });
    const trail = join(s.dir!, 'audit.db');
    const audit = secrets({ target: `${trail}\n` });
    const env = {
      FIELDMESH_JWT_SECRET_FILE: s.jwt!,
      FIELDMESH_PSEUDONYM_KEY_FILE: s.pseudonym!,
      FIELDMESH_UPSTREAM_AUTHORIZATION_FILE: s.upstreamAuth!,
      FIELDMESH_AUDIT_FILE: audit.target!,
      FIELDMESH_AUDIT_RECORD_KEY_FILE: s.recordKey!,
      FIELDMESH_AUDIT_CHAIN_KEY_FILE: s.chainKey!,
    };
    const p = startFieldmesh(['serve', '--upstream', upstream.url, '--routes', ROUTES, '--policies', POLICIES, '--port', '0'], { env });
    cleanups.push(() => p.stop('SIGKILL'));
    await p.waitFor('"gateway listening"');
    const { url } = JSON.parse(p.out.stdout.split('\n').find((l) => l.includes('"gateway listening"'))!) as { url: string };
    // The JWT secret from its file verifies the token; the pseudonym key from its file pseudonymises for planning.
    const read = await call(`${url}/patients/pat-001`, { headers: as(USERS.receptionist, 'administration') });
    expect(read.status).to.equal(200);
    const planning = await call(`${url}/patients`, { headers: as(USERS.analyst, 'service-planning') });
    expect(planning.status).to.equal(200);
    // The upstream credential arrives without the file's line break.
    expect(upstream.seen.map((x) => x.headers.authorization)).to.deep.equal([UPSTREAM_AUTH, UPSTREAM_AUTH]);
    p.stop('SIGTERM');
    expect((await p.exited).code).to.equal(0);
    for (const secret of [SECRET, PSEUDONYM_KEY, UPSTREAM_AUTH, RECORD_KEY, CHAIN_KEY])
      expect(p.out.stdout + p.out.stderr).not.to.include(secret);

    // The trail is where FIELDMESH_AUDIT_FILE said, chained under the key from its file.
    const cliEnv = {
      FIELDMESH_AUDIT_FILE: audit.target!,
      FIELDMESH_AUDIT_CHAIN_KEY_FILE: s.chainKey!,
      FIELDMESH_AUDIT_RECORD_KEY_FILE: s.recordKey!,
    };
    const verify = await fieldmeshAsync(['audit', 'verify'], { env: cliEnv });
    expect(verify.code, verify.stderr).to.equal(0);
    expect(verify.stdout).to.match(/^intact: 2 events in 1 chain$/m);
    const unkeyed = await fieldmeshAsync(['audit', 'verify', '--audit', trail]);
    expect(unkeyed.code).to.equal(1);
    expect(unkeyed.stdout + unkeyed.stderr).to.include('this trail is keyed');
    // Record ids are stored as pseudonyms under the record key from its file: the report searches by pat-001 only with it.
    const report = await fieldmeshAsync(['audit', 'report', '--record', 'pat-001', '--json'], { env: cliEnv });
    expect(report.code, report.stderr).to.equal(0);
    // Both requests disclosed pat-001: the read, and the planning list.
    expect((JSON.parse(report.stdout) as { events: unknown[] }).events).to.have.length(2);
    const withoutKey = await fieldmeshAsync(['audit', 'report', '--record', 'pat-001', '--json'], {
      env: { FIELDMESH_AUDIT_FILE: audit.target!, FIELDMESH_AUDIT_CHAIN_KEY_FILE: s.chainKey! },
    });
    expect(withoutKey.code).to.equal(2);
    expect(withoutKey.stderr).to.include('stores record ids as keyed pseudonyms');
  });

  it('refuses a secret set both ways, an empty file and a missing file: exit 2, one JSON line naming the variables and paths, no value', async () => {
    const s = secrets({ jwt: `${SECRET}\n`, empty: '', pseudonym: `${PSEUDONYM_KEY}\n` });
    const p = startFieldmesh(['serve', '--upstream', 'http://127.0.0.1:9', '--routes', ROUTES, '--policies', POLICIES], {
      env: {
        FIELDMESH_JWT_SECRET: SECRET,
        FIELDMESH_JWT_SECRET_FILE: s.jwt!,
        FIELDMESH_PSEUDONYM_KEY_FILE: s.empty!,
        FIELDMESH_UPSTREAM_AUTHORIZATION_FILE: join(s.dir!, 'no-such-file'),
      },
    });
    expect((await p.exited).code).to.equal(2);
    const lines = p.out.stderr.trimEnd().split('\n');
    expect(lines).to.have.length(1);
    const line = JSON.parse(lines[0]!) as { level: number; code: string; msg: string; problems: string[] };
    expect(line).to.deep.include({ level: 50, code: 'config_invalid', msg: 'invalid configuration' });
    expect(line.problems).to.deep.equal([
      'FIELDMESH_JWT_SECRET and FIELDMESH_JWT_SECRET_FILE are both set: set only one',
      `FIELDMESH_PSEUDONYM_KEY_FILE: ${s.empty} is empty`,
      `FIELDMESH_UPSTREAM_AUTHORIZATION_FILE: cannot read ${join(s.dir!, 'no-such-file')} (ENOENT)`,
    ]);
    expect(p.out.stdout + p.out.stderr).not.to.include(SECRET);
  });

  it('refuses a padded secret, a URL-like audit target, a header-breaking credential and a webhook with userinfo: exit 2, no value', async () => {
    const pw = 'S3CRETPW';
    const s = secrets({
      jwt: `${'x'.repeat(40)}   `,
      pseudonym: `${PSEUDONYM_KEY}\n\n`,
      audit: ` postgres://postgres:${pw}@127.0.0.1:5432/test\n`,
      upstreamAuth: 'Bearer abc\nX-Evil: 1\n',
    });
    const p = startFieldmesh(
      [
        'serve',
        '--upstream',
        'http://127.0.0.1:9',
        '--routes',
        ROUTES,
        '--policies',
        POLICIES,
        '--break-glass-webhook',
        `https://hook:${pw}@127.0.0.1:9/alert`,
      ],
      {
        env: {
          FIELDMESH_JWT_SECRET_FILE: s.jwt!,
          FIELDMESH_PSEUDONYM_KEY_FILE: s.pseudonym!,
          FIELDMESH_AUDIT_FILE: s.audit!,
          FIELDMESH_UPSTREAM_AUTHORIZATION_FILE: s.upstreamAuth!,
        },
      },
    );
    expect((await p.exited).code).to.equal(2);
    const line = JSON.parse(p.out.stderr) as { code: string; problems: string[] };
    expect(line.code).to.equal('config_invalid');
    const edge =
      'the value begins or ends with whitespace (a space, a tab or a line break): remove it; it is never trimmed (only one trailing line break is taken off a file)';
    expect(line.problems).to.deep.equal([
      `FIELDMESH_JWT_SECRET_FILE: ${edge}`,
      `FIELDMESH_PSEUDONYM_KEY_FILE: ${edge}`,
      `FIELDMESH_AUDIT_FILE: ${edge}`,
      'FIELDMESH_UPSTREAM_AUTHORIZATION_FILE: must be a valid header value: no line break or other control character',
      "--break-glass-webhook: must not hold user:password@ (userinfo is not sent): put the receiver's token in the URL's path or query",
    ]);
    for (const secret of [pw, 'xxxxxxxx', PSEUDONYM_KEY, 'X-Evil']) expect(p.out.stdout + p.out.stderr).not.to.include(secret);
  });

  for (const [what, target, problem] of [
    [
      'a driver suffix',
      'postgresql+psycopg://postgres:S3CRETPW@127.0.0.1:5432/test',
      'unsupported audit URL postgresql+psycopg://127.0.0.1:5432/test',
    ],
    ['one slash', 'postgres:/postgres:S3CRETPW@127.0.0.1/test', 'unsupported audit URL postgres:///…'],
    ['a malformed host', 'postgres://postgres:S3CRETPW@[bad/test', 'malformed audit URL postgres://(unparsable URL)'],
    ['a SQLite file in a folder that does not exist', '/no-such-folder-fieldmesh/S3CRETPW/audit.db', 'the folder of the SQLite file'],
  ] as const) {
    it(`stops serve (exit 2) and the audit commands on an audit target with ${what}, its password never shown`, async () => {
      const p = startFieldmesh(['serve', '--upstream', 'http://127.0.0.1:9', '--routes', ROUTES, '--policies', POLICIES], {
        env: { FIELDMESH_JWT_SECRET: SECRET, FIELDMESH_AUDIT: target },
      });
      expect((await p.exited).code).to.equal(2);
      const line = JSON.parse(p.out.stderr) as { problems: string[] };
      expect(line.problems).to.have.length(1);
      expect(line.problems[0]).to.include(`FIELDMESH_AUDIT: ${problem}`);
      const verify = await fieldmeshAsync(['audit', 'verify'], { env: { FIELDMESH_AUDIT: target } });
      expect(verify.code).to.equal(2);
      if (!problem.startsWith('the folder')) expect(verify.stderr).to.include(problem);
      for (const out of [p.out.stdout + p.out.stderr, verify.stdout + verify.stderr])
        if (!target.startsWith('/')) expect(out).not.to.include('S3CRETPW');
    });
  }

  it('refuses an audit target with a leading space in every entry point, as the one rule says', async () => {
    const s = secrets({ audit: ' postgres://postgres:S3CRETPW@127.0.0.1:5432/test\n' });
    const verify = await fieldmeshAsync(['audit', 'verify'], { env: { FIELDMESH_AUDIT_FILE: s.audit! } });
    expect(verify.code).to.equal(2);
    expect(verify.stderr).to.match(/^FIELDMESH_AUDIT_FILE: the value begins or ends with whitespace/);
    const flag = await fieldmeshAsync(['audit', 'verify', '--audit', ' postgres://postgres:S3CRETPW@127.0.0.1:5432/test']);
    expect(flag.code).to.equal(2);
    expect(flag.stderr).to.include('the audit target begins or ends with whitespace');
    for (const out of [verify.stdout + verify.stderr, flag.stdout + flag.stderr]) expect(out).not.to.include('S3CRETPW');
  });

  it('starts on an unreachable PostgreSQL (it recovers by itself) and logs why, without the password', async () => {
    // Port 9 (discard) has no PostgreSQL: the connection is refused at once.
    const p = startFieldmesh(['serve', '--upstream', 'http://127.0.0.1:9', '--routes', ROUTES, '--policies', POLICIES, '--port', '0'], {
      env: {
        FIELDMESH_JWT_SECRET: SECRET,
        FIELDMESH_PSEUDONYM_KEY: PSEUDONYM_KEY,
        FIELDMESH_AUDIT: 'postgres://postgres:S3CRETPW@127.0.0.1:9/test',
      },
    });
    cleanups.push(() => p.stop('SIGKILL'));
    await p.waitFor('"gateway listening"');
    const line = JSON.parse(p.out.stdout.split('\n').find((l) => l.includes('"audit_unavailable"'))!) as { reason: string };
    expect(line.reason).to.match(/^The audit trail postgres:\/\/127\.0\.0\.1:9\/test cannot be read: .*ECONNREFUSED/);
    expect(p.out.stdout + p.out.stderr).not.to.include('S3CRETPW');
  });

  it('names the _FILE variable when the value in the file is wrong (a short key), not its content', async () => {
    const s = secrets({ pseudonym: 'short-key\n' });
    const p = startFieldmesh(['serve', '--upstream', 'http://127.0.0.1:9', '--routes', ROUTES, '--policies', POLICIES], {
      env: { FIELDMESH_JWT_SECRET: SECRET, FIELDMESH_PSEUDONYM_KEY_FILE: s.pseudonym! },
    });
    expect((await p.exited).code).to.equal(2);
    const line = JSON.parse(p.out.stderr) as { problems: string[] };
    expect(line.problems).to.deep.equal(['FIELDMESH_PSEUDONYM_KEY_FILE: must be at least 16 characters']);
    expect(p.out.stderr).not.to.include('short-key');
  });
});
