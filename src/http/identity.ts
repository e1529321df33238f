import type { KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { AccessError } from '../engine/access-error.js';
import { rolesAt, type User } from './claims.js';
import { resolveIdentityOptions, type IdentityEvent, type IdentityOptions, type ResolvedIdentity } from './identity-options.js';
import { createKeySet, type KeySet } from './jwks.js';
import { TokenCache } from './token-cache.js';

export type { IdentityEvent, IdentityOptions } from './identity-options.js';
export type { User } from './claims.js';

/**
 * Who a verified token says the caller is. `user` is what policies read as `${user.x}`.
 *
 * @example
 * const { sub, roles, user } = await verifier.verify(req.headers.authorization); // user.team, user.training …
 */
export interface VerifiedUser {
  sub: string;
  roles: string[];
  /** The verified payload, as signed. */
  claims: Record<string, unknown>;
  /** `{ ...claims, sub, roles }`: roles as read from the configured roles claim. */
  user: User;
}

/**
 * Verifies `Authorization` headers. One per configuration: it holds the key set and the token cache.
 *
 * @example
 * const verifier: Verifier = createVerifier({ secret: process.env.FIELDMESH_JWT_SECRET });
 */
export interface Verifier {
  verify(authorizationHeader: string | undefined): Promise<VerifiedUser>;
}

const MAX_TOKEN_LENGTH = 16_384;
const TOKEN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * A verifier for bearer JWTs, pinned to one key source and its algorithms.
 * Bad options throw a TypeError now, not on the first request. Every refusal
 * is an `AccessError('unauthenticated')` (401) whose message says what is
 * wrong with the token without ever repeating it.
 *
 * @example
 * const verifier = createVerifier({ jwksUrl: 'https://idp.example/jwks.json', issuer: 'https://idp.example/', audience: 'records' });
 * const { user } = await verifier.verify(req.headers.authorization);
 */
export function createVerifier(opts: IdentityOptions): Verifier {
  const o = resolveIdentityOptions(opts);
  const clock = o.now;
  const now = clock ? () => clock().getTime() : Date.now;
  const emit = o.onEvent ?? ((_event: IdentityEvent) => undefined);
  const keySet =
    o.jwksUrl === undefined
      ? undefined
      : createKeySet({
          url: o.jwksUrl,
          cacheMaxAgeMs: o.jwksCacheMaxAgeMs,
          requestsPerMinute: o.jwksRequestsPerMinute,
          timeoutMs: o.jwksTimeoutMs,
          now,
          onFetch: () => emit('jwks_fetched'),
        });
  const cache = o.cacheTtlMs > 0 ? new TokenCache<VerifiedUser>(o.cacheMaxEntries) : undefined;

  return {
    async verify(authorizationHeader) {
      const token = bearerToken(authorizationHeader);
      const at = now();
      const hit = cache?.get(token, at);
      // A token verified with a key the provider has since withdrawn is verified again (and refused).
      if (hit && (keySet === undefined || (hit.kid !== undefined && keySet.holds(hit.kid)))) {
        emit('cache_hit');
        return copyJson(hit.value);
      }
      const header = tokenHeader(token, o.algorithms);
      const { key, kid } = await keyFor(o, keySet, header);
      emit('signature_checked');
      const verified = checkToken(token, key, o, at);
      const exp = typeof verified.claims.exp === 'number' ? verified.claims.exp * 1000 : Infinity;
      const expiresAt = Math.min(at + o.cacheTtlMs, exp);
      if (cache && expiresAt > at) cache.set(token, { value: verified, expiresAt, kid });
      return copyJson(verified);
    },
  };
}

/**
 * A deep copy of a verified user, so a caller changing it cannot change the
 * next request with the same token. A verified payload is JSON data (objects,
 * arrays, strings, numbers, booleans, null), which this copies several times
 * faster than structuredClone. A claim named `__proto__` stays an own claim:
 * assigning it would set the copy's prototype instead.
 */
function copyJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map(copyJson) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const copied = copyJson((value as Record<string, unknown>)[key]);
    if (key === '__proto__') Object.defineProperty(out, key, { value: copied, enumerable: true, writable: true, configurable: true });
    else out[key] = copied;
  }
  return out as T;
}

function bearerToken(header: string | undefined): string {
  if (header === undefined || header.trim() === '') {
    throw unauthenticated('Authorization header missing: send "Authorization: Bearer <token>"');
  }
  const match = /^\s*bearer\s+(\S*)\s*$/i.exec(header);
  if (!match) throw unauthenticated('Authorization header must use the Bearer scheme');
  const token = match[1] ?? '';
  if (token.length > MAX_TOKEN_LENGTH || !TOKEN.test(token)) throw unauthenticated('token malformed: expected a JWT');
  return token;
}

function tokenHeader(token: string, algorithms: string[]): { alg: string; kid: string | undefined } {
  let decoded: jwt.Jwt | null = null;
  try {
    decoded = jwt.decode(token, { complete: true });
  } catch {
    decoded = null;
  }
  if (decoded === null || typeof decoded.header !== 'object') throw unauthenticated('token malformed: expected a JWT');
  const { alg, kid } = decoded.header as { alg?: unknown; kid?: unknown };
  // RFC 7515 §4.1.11: a critical extension we do not understand makes the token invalid.
  if (Object.hasOwn(decoded.header, 'crit')) throw unauthenticated('token header names critical extensions (crit) that are not supported');
  // Checked before any key is looked up: an unsigned or HMAC token never reaches a public key.
  if (typeof alg !== 'string' || !algorithms.includes(alg)) {
    throw unauthenticated(`token algorithm is not accepted (accepted: ${algorithms.join(', ')})`);
  }
  return { alg, kid: typeof kid === 'string' && kid !== '' ? kid : undefined };
}

/** The key that must have signed the token, and (from a key set) its id. */
async function keyFor(
  o: ResolvedIdentity,
  keySet: KeySet | undefined,
  header: { alg: string; kid: string | undefined },
): Promise<{ key: KeyObject; kid?: string }> {
  if (keySet === undefined) return { key: o.key as KeyObject };
  const signing = await keySet.get(header.kid);
  // A JWK pinned to one algorithm verifies that algorithm only (RFC 7517 §4.4).
  if (signing.alg !== undefined && signing.alg !== header.alg) throw unauthenticated('token algorithm does not match its signing key');
  return { key: signing.key, kid: signing.kid };
}

function checkToken(token: string, key: KeyObject, o: ResolvedIdentity, at: number): VerifiedUser {
  let payload: string | jwt.JwtPayload;
  try {
    payload = jwt.verify(token, key, {
      algorithms: o.algorithms as jwt.Algorithm[],
      clockTolerance: o.clockToleranceSec,
      clockTimestamp: Math.floor(at / 1000),
      ...(o.issuer === undefined ? {} : { issuer: o.issuer }),
      ...(o.audience === undefined ? {} : { audience: o.audience }),
    });
  } catch (err) {
    throw unauthenticated(describe(err));
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw unauthenticated('token payload is not a JSON object');
  }
  const claims = payload as Record<string, unknown>;
  if (typeof claims.sub !== 'string' || claims.sub === '') throw unauthenticated('token has no subject (sub)');
  // The audit trail records unauthenticated callers under this name: a token may not claim it.
  if (claims.sub === UNAUTHENTICATED_USER)
    throw unauthenticated(`token subject "${UNAUTHENTICATED_USER}" is reserved for unauthenticated requests`);
  if (o.requireExpiry && typeof claims.exp !== 'number') throw unauthenticated('token has no expiry (exp)');
  const roles = rolesAt(claims, o.rolesClaim);
  if (roles === undefined) throw unauthenticated(`token claim "${o.rolesClaim}" must be a string or an array of strings`);
  const sub = claims.sub;
  return { sub, roles, claims, user: { ...claims, sub, roles } };
}

/** jsonwebtoken's reasons, said for the caller; its own messages may quote expected values. */
function describe(err: unknown): string {
  if (err instanceof jwt.TokenExpiredError) return 'token expired';
  if (err instanceof jwt.NotBeforeError) return 'token not yet valid (nbf)';
  const message = err instanceof Error ? err.message : '';
  if (message.startsWith('jwt audience invalid')) return 'audience mismatch';
  if (message.startsWith('jwt issuer invalid')) return 'issuer mismatch';
  if (message === 'invalid signature') return 'token signature invalid';
  if (message === 'jwt signature is required') return 'token is not signed';
  if (message === 'invalid algorithm' || message.includes('"alg"')) return 'token algorithm does not fit the key';
  if (message.startsWith('invalid exp') || message.startsWith('invalid nbf')) return 'token time claims malformed';
  if (message === 'jwt malformed' || message === 'invalid token') return 'token malformed: expected a JWT';
  return 'token invalid';
}

/**
 * The user the audit trail names for a request whose token was missing or refused.
 * Reserved: a token whose `sub` is this name is refused, so the two can never be confused.
 *
 * @example
 * entry.user === UNAUTHENTICATED_USER; // the caller never proved who they are
 */
export const UNAUTHENTICATED_USER = 'anonymous';

function unauthenticated(message: string): AccessError {
  return new AccessError('unauthenticated', message);
}
