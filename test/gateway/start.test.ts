import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import { ConfigError, resolveConfig } from '../../src/gateway/config.js';
import { FieldmeshError } from '../../src/lib/errors.js';
import { makeVerifier, startGateway } from '../../src/gateway/start.js';
import { POLICIES, ROUTES, SECRET } from './helpers.js';

const quiet = pino({ level: 'silent' });

async function startError(flags: Record<string, string>, env: Record<string, string> = {}): Promise<FieldmeshError> {
  const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-start-'));
  const config = resolveConfig(
    {
      upstream: 'http://127.0.0.1:9',
      routes: ROUTES,
      policies: POLICIES,
      port: '0',
      jwtSecret: SECRET,
      audit: join(dir, 'a.db'),
      ...flags,
    },
    env,
  );
  try {
    const gw = await startGateway(config, { logger: quiet, watch: false });
    await gw.close();
  } catch (e) {
    expect(e).to.be.instanceOf(FieldmeshError);
    return e as FieldmeshError;
  }
  return expect.fail('the gateway started');
}

describe('gateway › start-up checks', () => {
  it('names the flag or variable of a JWT option the verifier refuses', () => {
    let error: unknown;
    try {
      makeVerifier(resolveConfig({ jwtJwksUrl: 'http://idp.example/jwks' }, {}));
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(ConfigError);
    expect((error as ConfigError).problems).to.deep.equal([
      '--jwt-jwks-url / FIELDMESH_JWT_JWKS_URL: jwksUrl must use https (http only for localhost)',
    ]);
  });

  it('refuses to start without a pseudonym key when a purpose pseudonymises', async () => {
    const e = await startError({});
    expect(e.code).to.equal('policy_rejected');
    expect(e.message).to.include('FIELDMESH_PSEUDONYM_KEY: required');
  });

  it('refuses to start when a route names a resource the policies do not define', async () => {
    const routes = join(mkdtempSync(join(tmpdir(), 'fieldmesh-start-')), 'routes.yaml');
    writeFileSync(routes, 'routes:\n  - { path: /observations, resource: Observation, list: "" }\n');
    const e = await startError({ routes }, { FIELDMESH_PSEUDONYM_KEY: 'start-test-pseudonym-key' });
    expect(e.code).to.equal('routes_invalid');
    expect(e.message).to.include('unknown resource "Observation"');
  });
});
