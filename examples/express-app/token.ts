/**
 * Demo tokens for the example server: `npx tsx examples/express-app/token.ts gp`.
 * Signed with the demo secret; a real deployment verifies its identity
 * provider's tokens instead (docs/identity.md).
 */
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';

/** Used only when FIELDMESH_JWT_SECRET is not set. Never deploy it. */
export const DEMO_SECRET = process.env['FIELDMESH_JWT_SECRET'] ?? 'demo-only-secret-change-me-0123456789abcdef';
export const DEMO_ISSUER = 'https://idp.example/demo';
export const DEMO_AUDIENCE = 'records-api';

/** Claims of one demo user per role, matching the example policies and fixture records. */
export const DEMO_USERS: Record<string, Record<string, unknown>> = {
  gp: { sub: 'gp-1', roles: ['gp'], practice: 'B86001' },
  'ward-nurse': { sub: 'nurse-1', roles: ['ward-nurse'], team: 'ward-7' },
  receptionist: { sub: 'rec-1', roles: ['receptionist'] },
  analyst: { sub: 'analyst-1', roles: ['analyst'] },
  researcher: { sub: 'res-1', roles: ['researcher'] },
  'safeguarding-lead': { sub: 'sgl-1', roles: ['safeguarding-lead'] },
};

/**
 * A signed token for a demo role, valid for an hour, with a training attestation a month old.
 *
 * @example
 * const token = demoToken('gp'); // Authorization: Bearer <token>
 */
export function demoToken(role: string, now: Date = new Date()): string {
  const claims = DEMO_USERS[role];
  if (claims === undefined) throw new TypeError(`unknown demo role "${role}" (known: ${Object.keys(DEMO_USERS).join(', ')})`);
  const training = new Date(now.getTime() - 30 * 86_400_000).toISOString().slice(0, 10);
  const iat = Math.floor(now.getTime() / 1000);
  return jwt.sign({ ...claims, training, iat, exp: iat + 3600 }, DEMO_SECRET, {
    algorithm: 'HS256',
    issuer: DEMO_ISSUER,
    audience: DEMO_AUDIENCE,
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(demoToken(process.argv[2] ?? 'gp'));
}
