import { createPublicKey, type KeyObject } from 'node:crypto';
import jwksRsa from 'jwks-rsa';
import { AccessError } from '../engine/access-error.js';

/**
 * How a JWKS key set is fetched and kept.
 */
export interface KeySetOptions {
  url: string;
  /** A fetched key set is trusted this long before it is fetched again. */
  cacheMaxAgeMs: number;
  /** At most this many fetches per minute, whatever tokens arrive. */
  requestsPerMinute: number;
  timeoutMs: number;
  now: () => number;
  onFetch?: (() => void) | undefined;
}

/**
 * A signing key of the set: its public key and the algorithm it is pinned to, if the JWK says.
 *
 * @example
 * const { key, alg } = await keySet.get('2026-01'); // alg: 'RS256'
 */
export interface SigningKey {
  /** The JWK's `kid` ('' when it has none). */
  kid: string;
  key: KeyObject;
  alg?: string | undefined;
}

/**
 * A key set as the verifier uses it.
 *
 * @example
 * if (!keySet.holds(kid)) await keySet.get(kid); // refetches: the provider may have rotated
 */
export interface KeySet {
  /** Whether the set as last fetched holds `kid` (never fetches). */
  holds(kid: string): boolean;
  /** The key for `kid`, fetching the set when it is stale or does not hold `kid`. */
  get(kid: string | undefined): Promise<SigningKey>;
}

/**
 * An identity provider's JSON Web Key Set, fetched with jwks-rsa (which turns
 * JWKs into public keys) and held as a whole: when a token names a key id the
 * set does not hold, the set is fetched again (the provider rotated its keys)
 * and replaced, so a key the provider has withdrawn stops verifying at once.
 * Fetches are coalesced and rate-limited, so a stream of tokens with invented
 * key ids cannot turn fieldmesh into a flood against the provider.
 *
 * @example
 * const keys = createKeySet({ url, cacheMaxAgeMs: 600_000, requestsPerMinute: 10, timeoutMs: 5000, now: Date.now });
 * const { key } = await keys.get('2026-01');
 */
export function createKeySet(opts: KeySetOptions): KeySet {
  const client = new jwksRsa.JwksClient({ jwksUri: opts.url, cache: false, rateLimit: false, timeout: opts.timeoutMs });
  let keys: Map<string, SigningKey> | undefined;
  let fetchedAt = 0;
  let inflight: Promise<void> | undefined;
  const fetchTimes: number[] = [];

  async function refresh(): Promise<void> {
    const now = opts.now();
    while (fetchTimes.length > 0 && (fetchTimes[0] ?? 0) <= now - 60_000) fetchTimes.shift();
    if (fetchTimes.length >= opts.requestsPerMinute) {
      throw unauthenticated("the identity provider's key set was fetched too often in the last minute; try again shortly");
    }
    fetchTimes.push(now);
    opts.onFetch?.();
    let fetched: jwksRsa.SigningKey[];
    try {
      fetched = await client.getSigningKeys();
    } catch {
      throw unauthenticated("the identity provider's key set could not be fetched");
    }
    const next = new Map<string, SigningKey>();
    for (const k of fetched) {
      const kid = k.kid ?? '';
      next.set(kid, { kid, key: createPublicKey(k.getPublicKey()), alg: k.alg });
    }
    keys = next;
    fetchedAt = opts.now();
  }

  function lookup(kid: string | undefined): SigningKey | undefined {
    if (keys === undefined) return undefined;
    if (kid !== undefined) return keys.get(kid);
    // A token without a key id is only unambiguous against a set of one key.
    return keys.size === 1 ? keys.values().next().value : undefined;
  }

  return {
    holds(kid: string): boolean {
      return keys?.has(kid) ?? false;
    },

    async get(kid: string | undefined): Promise<SigningKey> {
      const fresh = keys !== undefined && opts.now() - fetchedAt < opts.cacheMaxAgeMs;
      const known = fresh ? lookup(kid) : undefined;
      if (known) return known;
      inflight ??= refresh().finally(() => {
        inflight = undefined;
      });
      await inflight;
      const found = lookup(kid);
      if (found) return found;
      throw unauthenticated(
        kid === undefined
          ? 'token names no key id (kid) and the key set holds several keys'
          : "token key id is not in the identity provider's key set",
      );
    },
  };
}

function unauthenticated(message: string): AccessError {
  return new AccessError('unauthenticated', message);
}
