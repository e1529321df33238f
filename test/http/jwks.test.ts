import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { AccessError } from '../../src/engine/access-error.js';
import { createVerifier, type IdentityEvent, type IdentityOptions } from '../../src/http/identity.js';

const NOW = new Date('2026-06-01T12:00:00Z');
const T = Math.floor(NOW.getTime() / 1000);
const keyA = generateKeyPairSync('rsa', { modulusLength: 2048 });
const keyB = generateKeyPairSync('rsa', { modulusLength: 2048 });
const keyEc = generateKeyPairSync('ec', { namedCurve: 'P-256' });

function jwk(publicKey: KeyObject, kid: string, alg: string): Record<string, unknown> {
  return { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

function token(privateKey: KeyObject, kid: string, algorithm: jwt.Algorithm = 'RS256', sub = 'u1'): string {
  return jwt.sign({ sub, roles: ['nurse'], iat: T, exp: T + 300 }, privateKey, { algorithm, keyid: kid });
}

async function refusal(promise: Promise<unknown>): Promise<AccessError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(AccessError);
    expect((err as AccessError).code).to.equal('unauthenticated');
    return err as AccessError;
  }
  expect.fail('the token was accepted');
}

/** An identity provider's JWKS endpoint on 127.0.0.1, serving whatever keys the test sets. */
async function setup(opts: Partial<IdentityOptions> = {}) {
  const state = { keys: [jwk(keyA.publicKey, 'key-a', 'RS256')], requests: 0 };
  const server: Server = createServer((_req, res) => {
    state.requests += 1;
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  const clock = { now: NOW.getTime() };
  const events: IdentityEvent[] = [];
  const verifier = createVerifier({
    jwksUrl: url,
    now: () => new Date(clock.now),
    onEvent: (e: IdentityEvent) => events.push(e),
    ...opts,
  });
  const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return { state, verifier, clock, events, close, url };
}

describe('createVerifier with a JWKS', () => {
  const open: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((close) => close()));
  });
  async function provider(opts: Partial<IdentityOptions> = {}) {
    const p = await setup(opts);
    open.push(p.close);
    return p;
  }

  it('accepts a token signed by a key of the set, fetching the set once for many tokens', async () => {
    const { verifier, state } = await provider({ cacheTtlMs: 0 });
    expect((await verifier.verify(`Bearer ${token(keyA.privateKey, 'key-a')}`)).sub).to.equal('u1');
    expect((await verifier.verify(`Bearer ${token(keyA.privateKey, 'key-a', 'RS256', 'u2')}`)).sub).to.equal('u2');
    expect(state.requests).to.equal(1);
  });

  it('accepts an ES256 key from the set', async () => {
    const { verifier, state } = await provider();
    state.keys = [jwk(keyEc.publicKey, 'ec-1', 'ES256')];
    expect((await verifier.verify(`Bearer ${token(keyEc.privateKey, 'ec-1', 'ES256')}`)).sub).to.equal('u1');
  });

  it('follows a key rotation: the new key id is fetched and accepted, the withdrawn key refused', async () => {
    const { verifier, state } = await provider();
    const oldToken = token(keyA.privateKey, 'key-a');
    expect((await verifier.verify(`Bearer ${oldToken}`)).sub).to.equal('u1');
    expect(state.requests).to.equal(1);

    state.keys = [jwk(keyB.publicKey, 'key-b', 'RS256')];
    expect((await verifier.verify(`Bearer ${token(keyB.privateKey, 'key-b', 'RS256', 'u2')}`)).sub).to.equal('u2');
    expect(state.requests).to.equal(2);

    // The same token verified before the rotation: not served from the token cache any more.
    expect((await refusal(verifier.verify(`Bearer ${oldToken}`))).message).to.match(/key id is not in the identity provider's key set/);
    const another = token(keyA.privateKey, 'key-a', 'RS256', 'u3');
    expect((await refusal(verifier.verify(`Bearer ${another}`))).message).to.match(/not in the identity provider's key set/);
  });

  it('refetches a stale key set after its maximum age', async () => {
    const { verifier, state, clock } = await provider({ cacheTtlMs: 0, jwksCacheMaxAgeMs: 60_000 });
    await verifier.verify(`Bearer ${token(keyA.privateKey, 'key-a')}`);
    clock.now += 59_000;
    await verifier.verify(`Bearer ${token(keyA.privateKey, 'key-a')}`);
    expect(state.requests).to.equal(1);
    clock.now += 2_000;
    await verifier.verify(`Bearer ${token(keyA.privateKey, 'key-a')}`);
    expect(state.requests).to.equal(2);
  });

  it('rate-limits fetches caused by tokens naming unknown key ids', async () => {
    const { verifier, state, clock } = await provider({ jwksRequestsPerMinute: 3 });
    const refusals: AccessError[] = [];
    for (let i = 0; i < 8; i++) refusals.push(await refusal(verifier.verify(`Bearer ${token(keyA.privateKey, `invented-${i}`)}`)));
    expect(state.requests).to.equal(3);
    expect(refusals.at(-1)?.message).to.match(/fetched too often/);
    // Tokens of a key already held still verify during the flood, without a fetch.
    expect((await verifier.verify(`Bearer ${token(keyA.privateKey, 'key-a')}`)).sub).to.equal('u1');
    expect(state.requests).to.equal(3);
    // The limit is per minute: a minute later an unknown key id is looked up again.
    clock.now += 60_001;
    state.keys = [jwk(keyB.publicKey, 'key-b', 'RS256')];
    expect((await verifier.verify(`Bearer ${token(keyB.privateKey, 'key-b')}`)).sub).to.equal('u1');
    expect(state.requests).to.equal(4);
  });

  it('fetches once for concurrent tokens of an unknown key', async () => {
    const { verifier, state } = await provider();
    const results = await Promise.all(
      [1, 2, 3, 4].map((n) => verifier.verify(`Bearer ${token(keyA.privateKey, 'key-a', 'RS256', `u${n}`)}`)),
    );
    expect(results.map((r) => r.sub)).to.deep.equal(['u1', 'u2', 'u3', 'u4']);
    expect(state.requests).to.equal(1);
  });

  it('refuses a token whose algorithm differs from the one its key is pinned to', async () => {
    const { verifier } = await provider({ algorithms: ['RS256', 'RS384'] });
    expect((await refusal(verifier.verify(`Bearer ${token(keyA.privateKey, 'key-a', 'RS384')}`))).message).to.match(
      /does not match its signing key/,
    );
  });

  it('refuses a token without a key id when the set holds several keys', async () => {
    const { verifier, state } = await provider();
    state.keys = [jwk(keyA.publicKey, 'key-a', 'RS256'), jwk(keyB.publicKey, 'key-b', 'RS256')];
    const noKid = jwt.sign({ sub: 'u1', iat: T, exp: T + 300 }, keyA.privateKey, { algorithm: 'RS256' });
    expect((await refusal(verifier.verify(`Bearer ${noKid}`))).message).to.match(/no key id/);
  });

  it('refuses with 401 when the key set cannot be fetched', async () => {
    const { verifier, close, events } = await provider();
    await close();
    const e = await refusal(verifier.verify(`Bearer ${token(keyA.privateKey, 'key-a')}`));
    expect(e.status).to.equal(401);
    expect(e.message).to.match(/key set could not be fetched/);
    expect(events).to.deep.equal(['jwks_fetched']);
  });

  it('refuses with 401 when the key set endpoint answers something other than keys', async () => {
    const { verifier, state } = await provider();
    state.keys = [];
    expect((await refusal(verifier.verify(`Bearer ${token(keyA.privateKey, 'key-a')}`))).message).to.match(/could not be fetched/);
  });
});
