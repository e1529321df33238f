import { hash } from 'node:crypto';

/**
 * One verified token, remembered until `expiresAt` (epoch ms).
 *
 * @example
 * const entry: CachedToken<User> = { value: user, expiresAt: exp * 1000, kid: 'key-a' };
 */
export interface CachedToken<T> {
  value: T;
  expiresAt: number;
  /** The signing key's id, so a token signed by a key rotated out stops working. */
  kid?: string | undefined;
}

/**
 * A bounded, least-recently-used cache of verified tokens. Keys are the
 * SHA-256 of the token, so the cache never holds a usable bearer token.
 * Entries never outlive the token's own `exp` (the caller sets `expiresAt`).
 *
 * @example
 * const cache = new TokenCache<User>(1000);
 * cache.set(token, { value: user, expiresAt: Date.now() + 30_000 });
 * cache.get(token, Date.now())?.value;
 */
export class TokenCache<T> {
  readonly #entries = new Map<string, CachedToken<T>>();
  readonly #max: number;

  constructor(maxEntries: number) {
    this.#max = maxEntries;
  }

  get(token: string, now: number): CachedToken<T> | undefined {
    const key = digest(token);
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAt <= now) return undefined;
    this.#entries.set(key, entry); // re-insert: Map order is the recency order
    return entry;
  }

  set(token: string, entry: CachedToken<T>): void {
    const key = digest(token);
    this.#entries.delete(key);
    while (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, entry);
  }

  delete(token: string): void {
    this.#entries.delete(digest(token));
  }

  get size(): number {
    return this.#entries.size;
  }
}

function digest(token: string): string {
  // One-shot: about half the cost of createHash().update().digest() for a token-sized input.
  return hash('sha256', token, 'base64url');
}
