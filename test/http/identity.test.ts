import { createHmac, generateKeyPairSync } from 'node:crypto';
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { AccessError } from '../../src/engine/access-error.js';
import { createVerifier, type IdentityEvent, type IdentityOptions } from '../../src/http/identity.js';

const NOW = new Date('2026-06-01T12:00:00Z');
const T = Math.floor(NOW.getTime() / 1000);
const SECRET = 'a-test-secret-of-at-least-32-bytes!!';
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaPublicPem = rsa.publicKey.export({ format: 'pem', type: 'spki' }).toString();
const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ecPublicPem = ec.publicKey.export({ format: 'pem', type: 'spki' }).toString();

/** Claims valid at NOW for five minutes. */
function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { sub: 'u1', roles: ['nurse'], team: 'ward-7', iat: T, exp: T + 300, ...extra };
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Resolves to the AccessError a verification was refused with, checking it is a 401 that does not echo the token. */
async function refusal(promise: Promise<unknown>, token?: string): Promise<AccessError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(AccessError);
    const e = err as AccessError;
    expect(e.code).to.equal('unauthenticated');
    expect(e.status).to.equal(401);
    if (token !== undefined) {
      for (const part of token.split('.').filter((p) => p.length > 8)) expect(e.message).not.to.include(part);
    }
    return e;
  }
  expect.fail('the token was accepted');
}

describe('createVerifier options', () => {
  const bad: [string, IdentityOptions, RegExp][] = [
    ['no key source', {}, /exactly one of secret, publicKey or jwksUrl/],
    ['two key sources', { secret: SECRET, publicKey: rsaPublicPem }, /exactly one.*got secret and publicKey/],
    ['alg none', { secret: SECRET, algorithms: ['none'] }, /"none" is never accepted/],
    ['alg none even beside a real one', { publicKey: rsaPublicPem, algorithms: ['RS256', 'none'] }, /"none" is never accepted/],
    ['HMAC with a public key', { publicKey: rsaPublicPem, algorithms: ['HS256'] }, /HS256 needs a secret/],
    ['HMAC with a JWKS', { jwksUrl: 'https://idp.example/jwks.json', algorithms: ['RS256', 'HS256'] }, /HS256 needs a secret/],
    ['RSA with a secret', { secret: SECRET, algorithms: ['RS256'] }, /RS256 needs a public key or jwksUrl/],
    ['an unknown algorithm', { secret: SECRET, algorithms: ['HS257'] }, /unknown algorithm "HS257"/],
    ['no algorithm', { secret: SECRET, algorithms: [] }, /at least one algorithm/],
    ['a short secret', { secret: 'short' }, /at least 32 bytes/],
    ['a misspelt option', { secret: SECRET, audiance: 'records' } as IdentityOptions, /audiance/],
    ['a private key as public key', { publicKey: rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() }, /private key/],
    ['a non-PEM public key', { publicKey: 'not a key' }, /not a PEM public key/],
    ['algorithms that do not fit the key', { publicKey: rsaPublicPem, algorithms: ['ES256'] }, /none of ES256 fits the RSA public key/],
    ['a JWKS over plain http to another host', { jwksUrl: 'http://idp.example/jwks.json' }, /must use https/],
  ];
  for (const [name, opts, message] of bad) {
    it(`throws a TypeError at creation for ${name}`, () => {
      expect(() => createVerifier(opts)).to.throw(TypeError, message);
    });
  }

  it('accepts a JWKS over http on the loopback interface', () => {
    expect(createVerifier({ jwksUrl: 'http://127.0.0.1:1/jwks.json' })).to.have.property('verify');
  });
});

describe('createVerifier with a secret (HS256)', () => {
  function setup(opts: Partial<IdentityOptions> = {}) {
    const events: IdentityEvent[] = [];
    const verifier = createVerifier({ secret: SECRET, now: () => NOW, onEvent: (e: IdentityEvent) => events.push(e), ...opts });
    const sign = (c: Record<string, unknown> = claims(), options: jwt.SignOptions = {}) =>
      jwt.sign(c, SECRET, { algorithm: 'HS256', ...options });
    return { verifier, events, sign, bearer: (t: string) => `Bearer ${t}` };
  }

  it('returns the subject, the roles and the verified claims, and a user object for conditions', async () => {
    const { verifier, sign, bearer } = setup();
    const v = await verifier.verify(bearer(sign()));
    expect(v.sub).to.equal('u1');
    expect(v.roles).to.deep.equal(['nurse']);
    expect(v.claims.team).to.equal('ward-7');
    expect(v.user).to.include({ sub: 'u1', team: 'ward-7' });
    expect(v.user.roles).to.deep.equal(['nurse']);
  });

  it('refuses a request without an Authorization header', async () => {
    const { verifier } = setup();
    expect((await refusal(verifier.verify(undefined))).message).to.match(/Authorization header missing/);
  });

  it('refuses a scheme other than Bearer', async () => {
    const { verifier } = setup();
    expect((await refusal(verifier.verify('Basic dTE6cGFzc3dvcmQ='))).message).to.match(/Bearer scheme/);
  });

  it('accepts the Bearer scheme in any case', async () => {
    const { verifier, sign } = setup();
    expect((await verifier.verify(`bearer ${sign()}`)).sub).to.equal('u1');
  });

  it('refuses a malformed token', async () => {
    const { verifier } = setup();
    expect((await refusal(verifier.verify('Bearer not-a-jwt'))).message).to.match(/malformed/);
    expect((await refusal(verifier.verify('Bearer e30.e30.e30'))).message).to.match(/malformed|algorithm/);
  });

  it('refuses an unsigned token (alg none)', async () => {
    const { verifier, events } = setup();
    const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims())}.`;
    const e = await refusal(verifier.verify(`Bearer ${token}`), token);
    expect(e.message).to.match(/algorithm is not accepted \(accepted: HS256\)/);
    expect(events).not.to.include('signature_checked');
  });

  it('refuses a token signed with another secret', async () => {
    const { verifier, bearer } = setup();
    const token = jwt.sign(claims(), `${SECRET}-other`, { algorithm: 'HS256' });
    expect((await refusal(verifier.verify(bearer(token)), token)).message).to.equal('token signature invalid');
  });

  it('refuses an expired token, and accepts one expired within the clock tolerance', async () => {
    const { verifier, sign, bearer } = setup();
    const expired = sign(claims({ exp: T - 31 }));
    expect((await refusal(verifier.verify(bearer(expired)), expired)).message).to.equal('token expired');
    expect((await verifier.verify(bearer(sign(claims({ exp: T - 29 }))))).sub).to.equal('u1');
  });

  it('refuses a token not yet valid beyond the clock tolerance', async () => {
    const { verifier, sign, bearer } = setup();
    expect((await refusal(verifier.verify(bearer(sign(claims({ nbf: T + 120 })))))).message).to.match(/not yet valid/);
  });

  it('refuses a token for another audience or from another issuer', async () => {
    const { verifier, sign, bearer } = setup({ issuer: 'https://idp.example/', audience: ['records', 'records-v2'] });
    const good = claims({ iss: 'https://idp.example/', aud: 'records-v2' });
    expect((await verifier.verify(bearer(sign(good)))).sub).to.equal('u1');
    expect((await refusal(verifier.verify(bearer(sign({ ...good, aud: 'billing' }))))).message).to.equal('audience mismatch');
    expect((await refusal(verifier.verify(bearer(sign({ ...good, iss: 'https://evil.example/' }))))).message).to.equal('issuer mismatch');
  });

  it('refuses a token without a subject', async () => {
    const { verifier, sign, bearer } = setup();
    const { sub: _sub, ...noSub } = claims();
    expect((await refusal(verifier.verify(bearer(sign(noSub))))).message).to.match(/no subject \(sub\)/);
  });

  it('refuses a token whose subject is the name the trail gives unauthenticated callers', async () => {
    const { verifier, sign, bearer } = setup();
    expect((await refusal(verifier.verify(bearer(sign(claims({ sub: 'anonymous' })))))).message).to.match(/reserved for unauthenticated/);
  });

  it('refuses a token without an expiry unless told not to', async () => {
    const { exp: _exp, ...noExp } = claims();
    const strict = setup();
    expect((await refusal(strict.verifier.verify(strict.bearer(strict.sign(noExp))))).message).to.match(/no expiry/);
    const lax = setup({ requireExpiry: false });
    expect((await lax.verifier.verify(lax.bearer(lax.sign(noExp)))).sub).to.equal('u1');
  });

  it('reads roles at a nested path of the token', async () => {
    const { verifier, sign, bearer } = setup({ rolesClaim: 'realm_access.roles' });
    const token = sign(claims({ roles: ['admin'], realm_access: { roles: ['nurse', 'safeguarding-lead', 'nurse'] } }));
    const v = await verifier.verify(bearer(token));
    expect(v.roles).to.deep.equal(['nurse', 'safeguarding-lead']);
    expect(v.user.roles).to.deep.equal(['nurse', 'safeguarding-lead']);
  });

  it('reads a namespaced roles claim whose name contains dots', async () => {
    const { verifier, sign, bearer } = setup({ rolesClaim: 'https://idp.example/roles' });
    expect((await verifier.verify(bearer(sign(claims({ 'https://idp.example/roles': 'nurse' }))))).roles).to.deep.equal(['nurse']);
  });

  it('reads a single role given as a string, and no role when the claim is absent', async () => {
    const { verifier, sign, bearer } = setup();
    expect((await verifier.verify(bearer(sign(claims({ roles: 'doctor' }))))).roles).to.deep.equal(['doctor']);
    const { roles: _roles, ...noRoles } = claims();
    expect((await verifier.verify(bearer(sign(noRoles)))).roles).to.deep.equal([]);
  });

  it('refuses a roles claim that is neither a string nor an array of strings', async () => {
    const { verifier, sign, bearer } = setup();
    expect((await refusal(verifier.verify(bearer(sign(claims({ roles: [1, 'nurse'] })))))).message).to.match(
      /"roles" must be a string or an array/,
    );
    expect((await refusal(verifier.verify(bearer(sign(claims({ roles: { nurse: true } })))))).message).to.match(/must be a string/);
  });
});

describe('createVerifier with a public key', () => {
  function setup(opts: Partial<IdentityOptions> = {}) {
    return createVerifier({ publicKey: rsaPublicPem, now: () => NOW, ...opts });
  }

  it('accepts an RS256 token signed by the matching private key', async () => {
    const token = jwt.sign(claims(), rsa.privateKey, { algorithm: 'RS256' });
    expect((await setup().verify(`Bearer ${token}`)).sub).to.equal('u1');
  });

  it('accepts an ES256 token with an EC public key', async () => {
    const token = jwt.sign(claims(), ec.privateKey, { algorithm: 'ES256' });
    expect((await setup({ publicKey: ecPublicPem }).verify(`Bearer ${token}`)).sub).to.equal('u1');
  });

  it('refuses an HS256 token whose HMAC secret is the public key PEM (algorithm confusion)', async () => {
    // The attacker knows the public key and tries it as an HMAC secret.
    const signingInput = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims({ roles: ['admin'] }))}`;
    const token = `${signingInput}.${createHmac('sha256', rsaPublicPem).update(signingInput).digest('base64url')}`;
    const e = await refusal(setup().verify(`Bearer ${token}`), token);
    expect(e.message).to.match(/algorithm is not accepted/);
  });

  it('refuses a token signed by another key', async () => {
    const token = jwt.sign(claims(), otherRsa.privateKey, { algorithm: 'RS256' });
    expect((await refusal(setup().verify(`Bearer ${token}`), token)).message).to.equal('token signature invalid');
  });

  it('refuses an RS384 token when only RS256 is pinned', async () => {
    const token = jwt.sign(claims(), rsa.privateKey, { algorithm: 'RS384' });
    expect((await refusal(setup({ algorithms: ['RS256'] }).verify(`Bearer ${token}`))).message).to.match(/accepted: RS256\)/);
  });
});
