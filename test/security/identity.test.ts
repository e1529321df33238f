import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { AccessError } from '../../src/engine/access-error.js';
import { createVerifier } from '../../src/http/identity.js';

const NOW = new Date('2026-06-01T12:00:00Z');
const T = Math.floor(NOW.getTime() / 1000);
const SECRET = 'a-test-secret-of-at-least-32-bytes!!';

/** Token tricks by someone who can get a token signed (an insider) or who holds none. */
describe('security › bearer tokens', () => {
  const verifier = () => createVerifier({ secret: SECRET, now: () => NOW, cacheTtlMs: 0 });
  const claims = { sub: 'u1', roles: ['ward-nurse'], iat: T, exp: T + 300 };

  async function refused(token: string): Promise<boolean> {
    try {
      await verifier().verify(`Bearer ${token}`);
      return false;
    } catch (e) {
      expect(e).to.be.instanceOf(AccessError);
      return true;
    }
  }

  it('refuses a token whose "crit" header names an extension fieldmesh does not understand (RFC 7515 §4.1.11)', async () => {
    // A token minted for a stricter consumer ("only valid with proof-of-possession")
    // must not be accepted by one that ignores the condition.
    const token = jwt.sign(claims, SECRET, {
      algorithm: 'HS256',
      header: { alg: 'HS256', crit: ['urn:example:pop'], 'urn:example:pop': true } as jwt.JwtHeader,
    });
    expect(await refused(token)).to.equal(true);
  });

  it('refuses a roles claim holding anything but strings', async () => {
    for (const roles of [{ 0: 'gp' }, ['gp', { $ne: 'x' }], ['gp', ['gp']], [''], 7]) {
      expect(await refused(jwt.sign({ ...claims, roles }, SECRET, { algorithm: 'HS256' })), JSON.stringify(roles)).to.equal(true);
    }
  });

  it('refuses alg variants and unsigned tokens', async () => {
    const [h, p] = jwt.sign(claims, SECRET, { algorithm: 'HS256' }).split('.');
    const header = (alg: string) => Buffer.from(JSON.stringify({ alg, typ: 'JWT' })).toString('base64url');
    for (const alg of ['none', 'None', 'hs256', 'HS512']) expect(await refused(`${header(alg)}.${p}.`), alg).to.equal(true);
    expect(h).to.be.a('string');
  });
});
