import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import type { AccessError } from '../../src/engine/access-error.js';
import { createVerifier, type IdentityEvent, type IdentityOptions } from '../../src/http/identity.js';
import { TokenCache } from '../../src/http/token-cache.js';

const NOW = new Date('2026-06-01T12:00:00Z');
const T = Math.floor(NOW.getTime() / 1000);
const SECRET = 'a-test-secret-of-at-least-32-bytes!!';

describe('TokenCache', () => {
  it('forgets an entry at its expiry', () => {
    const cache = new TokenCache<string>(10);
    cache.set('t1', { value: 'u1', expiresAt: 1000 });
    expect(cache.get('t1', 999)?.value).to.equal('u1');
    expect(cache.get('t1', 1000)).to.equal(undefined);
  });

  it('holds at most its bound, dropping the least recently used', () => {
    const cache = new TokenCache<string>(2);
    cache.set('t1', { value: 'u1', expiresAt: Infinity });
    cache.set('t2', { value: 'u2', expiresAt: Infinity });
    cache.get('t1', 0);
    cache.set('t3', { value: 'u3', expiresAt: Infinity });
    expect(cache.size).to.equal(2);
    expect(cache.get('t2', 0)).to.equal(undefined);
    expect(cache.get('t1', 0)?.value).to.equal('u1');
  });
});

describe('createVerifier token cache', () => {
  function setup(opts: Partial<IdentityOptions> = {}) {
    const clock = { now: NOW.getTime() };
    const events: IdentityEvent[] = [];
    const verifier = createVerifier({
      secret: SECRET,
      now: () => new Date(clock.now),
      onEvent: (e: IdentityEvent) => events.push(e),
      ...opts,
    });
    const checks = () => events.filter((e) => e === 'signature_checked').length;
    const bearer = (sub = 'u1', exp = T + 300) => `Bearer ${jwt.sign({ sub, roles: ['nurse'], iat: T, exp }, SECRET)}`;
    return { verifier, clock, events, checks, bearer };
  }

  it('does not check the signature of a token again within the cache time', async () => {
    const { verifier, checks, events, bearer } = setup();
    const header = bearer();
    await verifier.verify(header);
    await verifier.verify(header);
    expect(checks()).to.equal(1);
    expect(events).to.deep.equal(['signature_checked', 'cache_hit']);
  });

  it('checks the signature again once the cache time has passed', async () => {
    const { verifier, checks, clock, bearer } = setup({ cacheTtlMs: 30_000 });
    const header = bearer();
    await verifier.verify(header);
    clock.now += 29_999;
    await verifier.verify(header);
    expect(checks()).to.equal(1);
    clock.now += 2;
    await verifier.verify(header);
    expect(checks()).to.equal(2);
  });

  it('never keeps a token beyond its own expiry', async () => {
    const { verifier, checks, clock, bearer } = setup({ cacheTtlMs: 60_000, clockToleranceSec: 0 });
    const header = bearer('u1', T + 10);
    await verifier.verify(header);
    clock.now += 11_000;
    try {
      await verifier.verify(header);
      expect.fail('an expired token was served from the cache');
    } catch (err) {
      expect((err as AccessError).message).to.equal('token expired');
    }
    expect(checks()).to.equal(2);
  });

  it('does not cache when the cache time is 0', async () => {
    const { verifier, checks, bearer } = setup({ cacheTtlMs: 0 });
    const header = bearer();
    await verifier.verify(header);
    await verifier.verify(header);
    expect(checks()).to.equal(2);
  });

  it('holds at most cacheMaxEntries tokens', async () => {
    const { verifier, checks, bearer } = setup({ cacheMaxEntries: 2 });
    const [a, b, c] = [bearer('a'), bearer('b'), bearer('c')];
    for (const header of [a, b, c, a]) await verifier.verify(header);
    expect(checks()).to.equal(4);
  });

  it('hands out a copy, so a caller changing its user cannot change the next request', async () => {
    const { verifier, bearer } = setup();
    const header = bearer();
    const first = await verifier.verify(header);
    first.user.roles.push('admin');
    first.roles.push('admin');
    const second = await verifier.verify(header);
    expect(second.roles).to.deep.equal(['nurse']);
    expect(second.user.roles).to.deep.equal(['nurse']);
  });

  it('copies nested claims too, and keeps a claim named __proto__ a claim, never the prototype of the copy', async () => {
    const { verifier } = setup();
    // jsonwebtoken signs a payload given as a string as it is, so the JSON can carry an own "__proto__" key.
    const payload = `{"sub":"u1","roles":["nurse"],"iat":${T},"exp":${T + 300},"org":{"teams":["ward-7"]},"__proto__":{"practice":"B86001"}}`;
    const header = `Bearer ${jwt.sign(payload, SECRET)}`;
    const first = await verifier.verify(header);
    (first.user['org'] as { teams: string[] }).teams.push('ward-9');
    // The second comes from the cache: changing it must not reach the third either.
    const second = await verifier.verify(header);
    expect(second.user['org']).to.deep.equal({ teams: ['ward-7'] });
    (second.claims['org'] as { teams: string[] }).teams.push('ward-9');
    second.user.roles.push('admin');
    const third = await verifier.verify(header);
    expect(third.claims['org']).to.deep.equal({ teams: ['ward-7'] });
    expect(third.user.roles).to.deep.equal(['nurse']);
    for (const user of [first.user, second.user, third.user]) {
      expect(Object.getPrototypeOf(user)).to.equal(Object.prototype);
      expect(user['practice']).to.equal(undefined);
      expect(Object.hasOwn(user, '__proto__')).to.equal(true);
    }
  });
});
