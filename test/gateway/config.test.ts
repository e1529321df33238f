import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { ConfigError, resolveConfig, type ConfigFlags } from '../../src/gateway/config.js';

const SECRET = 'a-secret-of-at-least-thirty-two-bytes!';

function problems(flags: ConfigFlags, env: Record<string, string | undefined> = {}, opts = {}): string[] {
  try {
    resolveConfig(flags, env, opts);
  } catch (e) {
    expect(e).to.be.instanceOf(ConfigError);
    expect((e as ConfigError).code).to.equal('config_invalid');
    return (e as ConfigError).problems;
  }
  return expect.fail('the configuration was accepted');
}

describe('config', () => {
  it('fills the documented defaults', () => {
    const c = resolveConfig({}, { FIELDMESH_JWT_SECRET: SECRET });
    expect(c).to.deep.include({
      audit: './fieldmesh-audit.db',
      trainingMaxAgeDays: 365,
      port: 8080,
      host: '127.0.0.1',
      policies: './policies',
      jwtRolesClaim: 'roles',
    });
  });

  it('takes every setting from the environment', () => {
    const c = resolveConfig(
      {},
      {
        FIELDMESH_JWT_SECRET: SECRET,
        FIELDMESH_JWT_ISSUER: 'https://idp.example/',
        FIELDMESH_JWT_AUDIENCE: 'records',
        FIELDMESH_PSEUDONYM_KEY: 'config-pseudonym-key',
        FIELDMESH_AUDIT: 'postgres://db/audit',
        FIELDMESH_TRAINING_MAX_AGE_DAYS: '180',
        PORT: '9000',
        FIELDMESH_UPSTREAM_AUTHORIZATION: 'Bearer svc',
        FIELDMESH_AUDIT_RECORD_KEY: 'record-key-of-16-chars+',
      },
    );
    expect(c).to.deep.include({
      jwtIssuer: 'https://idp.example/',
      jwtAudience: 'records',
      pseudonymKey: 'config-pseudonym-key',
      audit: 'postgres://db/audit',
      auditRecordIdKey: 'record-key-of-16-chars+',
      trainingMaxAgeDays: 180,
      port: 9000,
      upstreamAuthorization: 'Bearer svc',
    });
  });

  it('takes the audit chain key from FIELDMESH_AUDIT_CHAIN_KEY only, and refuses one shorter than 16 characters', () => {
    expect(resolveConfig({}, { FIELDMESH_JWT_SECRET: SECRET, FIELDMESH_AUDIT_CHAIN_KEY: 'chain-key-0123456789' }).auditChainKey).to.equal(
      'chain-key-0123456789',
    );
    expect(problems({}, { FIELDMESH_JWT_SECRET: SECRET, FIELDMESH_AUDIT_CHAIN_KEY: 'short' })).to.deep.equal([
      'FIELDMESH_AUDIT_CHAIN_KEY: must be at least 16 characters',
    ]);
  });

  it('lets a flag win over its variable', () => {
    const c = resolveConfig(
      { port: '0', audit: './other.db', upstreamAuthorization: 'Bearer flag' },
      { FIELDMESH_JWT_SECRET: SECRET, PORT: '9000', FIELDMESH_AUDIT: './env.db', FIELDMESH_UPSTREAM_AUTHORIZATION: 'Bearer env' },
    );
    expect(c).to.deep.include({ port: 0, audit: './other.db', upstreamAuthorization: 'Bearer flag' });
  });

  it('reads a flag as the command line names it (`--upstream-credential` is `upstreamCredential`), winning over its variable', () => {
    const c = resolveConfig({ port: '0', upstreamCredential: 'Bearer flag' } as ConfigFlags, {
      FIELDMESH_JWT_SECRET: SECRET,
      FIELDMESH_UPSTREAM_AUTHORIZATION: 'Bearer env',
    });
    expect(c).to.deep.include({ upstreamAuthorization: 'Bearer flag' });
  });

  it('names the flag when a flag is wrong, and the variable when the variable is', () => {
    expect(problems({ port: 'eighty' }, { FIELDMESH_JWT_SECRET: SECRET })).to.deep.equal(['--port: must be a whole number']);
    expect(problems({}, { FIELDMESH_JWT_SECRET: SECRET, PORT: '70000' })).to.deep.equal(['PORT: must be at most 65535']);
    expect(problems({}, { FIELDMESH_JWT_SECRET: SECRET, FIELDMESH_TRAINING_MAX_AGE_DAYS: '-1' })).to.deep.equal([
      'FIELDMESH_TRAINING_MAX_AGE_DAYS: must be a whole number',
    ]);
    expect(problems({ upstream: 'ftp://records' }, { FIELDMESH_JWT_SECRET: SECRET })).to.deep.equal([
      '--upstream: must be an http:// or https:// URL',
    ]);
  });

  it('needs exactly one JWT key source, and a secret of at least 32 bytes', () => {
    expect(problems({}, {})[0]).to.match(/one of --jwt-secret \/ FIELDMESH_JWT_SECRET, .* is required/);
    expect(problems({ jwtJwksUrl: 'https://idp.example/jwks' }, { FIELDMESH_JWT_SECRET: SECRET })).to.deep.equal([
      'only one JWT key source may be set, got FIELDMESH_JWT_SECRET and --jwt-jwks-url',
    ]);
    expect(problems({ jwtSecret: 'short' }, {})).to.deep.equal(['--jwt-secret: must be at least 32 bytes (RFC 7518 §3.2)']);
  });

  it('reads the public key from the file FIELDMESH_JWT_PUBLIC_KEY names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-config-'));
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
    writeFileSync(join(dir, 'idp.pem'), pem);
    expect(resolveConfig({}, { FIELDMESH_JWT_PUBLIC_KEY: join(dir, 'idp.pem') }).jwtPublicKey).to.equal(pem);
    expect(problems({}, { FIELDMESH_JWT_PUBLIC_KEY: join(dir, 'missing.pem') })[0]).to.match(
      /^FIELDMESH_JWT_PUBLIC_KEY: cannot read the PEM file .*missing\.pem \(ENOENT\)$/,
    );
    writeFileSync(join(dir, 'not.pem'), 'hello');
    expect(problems({ jwtPublicKey: join(dir, 'not.pem') }, {})).to.deep.equal([
      '--jwt-public-key: the file does not hold a PEM public key',
    ]);
  });

  it('requires --upstream and --routes for the gateway, listing every problem at once', () => {
    const found = problems({}, { FIELDMESH_JWT_SECRET: SECRET, PORT: 'x' }, { requireUpstream: true });
    expect(found).to.have.length(3);
    expect(found[0]).to.equal('PORT: must be a whole number');
    expect(found[1]).to.match(/^--upstream \/ FIELDMESH_UPSTREAM: required/);
    expect(found[2]).to.match(/^--routes \/ FIELDMESH_ROUTES: required/);
  });

  it('never repeats a secret in a problem', () => {
    const secret = 'short-secret';
    expect(problems({ jwtSecret: secret }, {}).join('\n')).not.to.include(secret);
  });
  it('takes a secret from the file its _FILE variable names, and a flag over both without reading the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-config-'));
    writeFileSync(join(dir, 'jwt'), `${SECRET}\n`);
    writeFileSync(join(dir, 'hook'), 'https://guardian.example/hook?token=t\r\n');
    const c = resolveConfig({}, { FIELDMESH_JWT_SECRET_FILE: join(dir, 'jwt'), FIELDMESH_BREAK_GLASS_WEBHOOK_FILE: join(dir, 'hook') });
    expect(c.jwtSecret).to.equal(SECRET);
    expect(c.breakGlassWebhook).to.equal('https://guardian.example/hook?token=t');
    const flagged = resolveConfig({ jwtSecret: SECRET }, { FIELDMESH_JWT_SECRET_FILE: join(dir, 'missing') });
    expect(flagged.jwtSecret).to.equal(SECRET);
  });

  it('reports an unusable secret file once, not also as a missing JWT key source', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-config-'));
    expect(problems({}, { FIELDMESH_JWT_SECRET_FILE: join(dir, 'missing') })).to.deep.equal([
      `FIELDMESH_JWT_SECRET_FILE: cannot read ${join(dir, 'missing')} (ENOENT)`,
    ]);
  });

  it('refuses a break-glass webhook that is not http(s), without quoting it', () => {
    const found = problems({ breakGlassWebhook: 'file:///etc/token-s3cret' }, { FIELDMESH_JWT_SECRET: SECRET });
    expect(found).to.deep.equal(['--break-glass-webhook: must be an http:// or https:// URL']);
  });

  it("uses a flag's secret as written: surrounding whitespace is refused, never trimmed, and never quoted", () => {
    const found = problems({ jwtSecret: `${SECRET}   `, upstreamAuthorization: ' Bearer svc', audit: './trail.db ' }, {});
    expect(found).to.deep.equal([
      '--jwt-secret: must not begin or end with whitespace (a space, a tab or a line break): it is never trimmed',
      '--audit: the audit target begins or ends with whitespace (a space, a tab or a line break): remove it; it is never trimmed',
      '--upstream-credential: must not begin or end with whitespace (a space, a tab or a line break): it is never trimmed',
    ]);
    expect(found.join('\n')).not.to.include(SECRET);
  });

  it('refuses an upstream credential that would break its header, naming the variable only', () => {
    for (const value of ['Bearer abc\nX-Evil: 1', 'Bearer abc\r\nX-Evil: 1', 'Bearer a\u0000b', 'Bearer caf\u00e9\u2028x']) {
      const found = problems({}, { FIELDMESH_JWT_SECRET: SECRET, FIELDMESH_UPSTREAM_AUTHORIZATION: value });
      expect(found).to.deep.equal([
        'FIELDMESH_UPSTREAM_AUTHORIZATION: must be a valid header value: no line break or other control character',
      ]);
    }
  });

  it('refuses a break-glass webhook with user:password@, and takes one with a token in its query', () => {
    expect(problems({ breakGlassWebhook: 'https://u:t0ken-s3cret@guardian.example/hook' }, { FIELDMESH_JWT_SECRET: SECRET })).to.deep.equal(
      ["--break-glass-webhook: must not hold user:password@ (userinfo is not sent): put the receiver's token in the URL's path or query"],
    );
    expect(
      resolveConfig({ breakGlassWebhook: 'https://guardian.example/hook?token=t' }, { FIELDMESH_JWT_SECRET: SECRET }).breakGlassWebhook,
    ).to.equal('https://guardian.example/hook?token=t');
  });

  it('takes a public URL with a path, and refuses one with userinfo, a query, a fragment or another scheme, naming its source only', () => {
    const env = { FIELDMESH_JWT_SECRET: SECRET };
    expect(resolveConfig({}, { ...env, FIELDMESH_PUBLIC_URL: 'https://records.example/fhir/' }).publicUrl).to.equal(
      'https://records.example/fhir/',
    );
    expect(resolveConfig({}, env).publicUrl).to.equal(undefined);
    expect(problems({}, { ...env, FIELDMESH_PUBLIC_URL: 'https://gw:pa55@records.example' })).to.deep.equal([
      'FIELDMESH_PUBLIC_URL: must not hold user:password@ (every link the gateway writes starts with it)',
    ]);
    for (const url of ['https://records.example/?pa55=1', 'https://records.example/?', 'https://records.example/#pa55']) {
      expect(problems({ publicUrl: url }, env)).to.deep.equal([
        "--public-url: must not hold a query (?…) or a fragment (#…): it is the base each link's own path and query follow",
      ]);
    }
    expect(problems({ publicUrl: 'records.example' }, env)).to.deep.equal(['--public-url: must be an http:// or https:// URL']);
  });
});
