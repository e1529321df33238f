import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';

const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
const KEY_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'] as const;
const KNOWN = new Set<string>([...HMAC_ALGORITHMS, ...KEY_ALGORITHMS]);
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
const isFunction = (v: unknown): boolean => typeof v === 'function';

/**
 * What a verifier reports to `onEvent`: for metrics, and for tests that count work done.
 *
 * @example
 * createVerifier({ secret, onEvent: (e) => { if (e === 'jwks_fetched') metrics.jwksFetches.inc(); } });
 */
export type IdentityEvent = 'signature_checked' | 'cache_hit' | 'jwks_fetched';
const nonEmpty = z.string().min(1);
const oneOrMore = z.union([nonEmpty, z.tuple([nonEmpty], nonEmpty)]);

/**
 * Options of `createVerifier`, checked once at creation. Unknown keys are
 * refused: a misspelt `audiance` must not silently stop the audience check.
 */
export const identityOptionsSchema = z
  .object({
    /** HMAC key (HS256 by default). At least 32 bytes: RFC 7518 §3.2. */
    secret: z.string().min(32, 'secret must be at least 32 bytes (RFC 7518 §3.2)').optional(),
    /** PEM public key (RS256 or ES256 by default). */
    publicKey: z.string().optional(),
    /** The identity provider's JSON Web Key Set. */
    jwksUrl: z.url().optional(),
    algorithms: z.array(z.string()).min(1, 'algorithms must name at least one algorithm').optional(),
    issuer: oneOrMore.optional(),
    audience: oneOrMore.optional(),
    clockToleranceSec: z.number().int().min(0).max(300).default(30),
    /** Where the roles are: a claim name or a dotted path (`realm_access.roles`). */
    rolesClaim: z.string().min(1).default('roles'),
    /** Refuse tokens without `exp` (a bearer token that never expires is a standing key to records). */
    requireExpiry: z.boolean().default(true),
    /** How long a verified token is remembered (0: never); never beyond its `exp`. */
    cacheTtlMs: z.number().int().min(0).default(30_000),
    cacheMaxEntries: z.number().int().min(1).default(1000),
    jwksCacheMaxAgeMs: z.number().int().min(1000).default(600_000),
    jwksRequestsPerMinute: z.number().int().min(1).default(10),
    jwksTimeoutMs: z.number().int().min(1).default(5000),
    /** The clock (tests inject one). */
    now: z.custom<() => Date>(isFunction, 'must be a function returning a Date').optional(),
    onEvent: z.custom<(event: IdentityEvent) => void>(isFunction, 'must be a function').optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    const sources = (['secret', 'publicKey', 'jwksUrl'] as const).filter((k) => o[k] !== undefined);
    if (sources.length !== 1) {
      const found = sources.length === 0 ? 'none was given' : `got ${sources.join(' and ')}`;
      ctx.addIssue({ code: 'custom', message: `exactly one of secret, publicKey or jwksUrl is needed (${found})` });
      return;
    }
    if (o.jwksUrl !== undefined) {
      const url = new URL(o.jwksUrl);
      // Keys fetched over plain HTTP could be swapped in transit: only a local provider may use it.
      if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
        ctx.addIssue({ code: 'custom', path: ['jwksUrl'], message: 'jwksUrl must use https (http only for localhost)' });
      }
    }
    for (const [i, alg] of (o.algorithms ?? []).entries()) {
      const path = ['algorithms', i];
      if (alg.toLowerCase() === 'none') {
        ctx.addIssue({ code: 'custom', path, message: 'algorithm "none" is never accepted: an unsigned token proves nothing' });
      } else if (!KNOWN.has(alg)) {
        ctx.addIssue({ code: 'custom', path, message: `unknown algorithm "${alg}" (known: ${[...KNOWN].join(', ')})` });
      } else if (o.secret !== undefined && !alg.startsWith('HS')) {
        ctx.addIssue({ code: 'custom', path, message: `${alg} needs a public key or jwksUrl, not a secret` });
      } else if (o.secret === undefined && alg.startsWith('HS')) {
        // Algorithm confusion: a verifier that takes HS256 with a public key lets
        // anyone holding the (public) key forge tokens, using it as the HMAC secret.
        ctx.addIssue({ code: 'custom', path, message: `${alg} needs a secret: HMAC with a public key would let anyone forge tokens` });
      }
    }
    if (o.publicKey !== undefined) {
      if (/PRIVATE KEY/.test(o.publicKey)) {
        ctx.addIssue({ code: 'custom', path: ['publicKey'], message: 'publicKey holds a private key: give the public half only' });
      } else if (publicKeyOf(o.publicKey) === undefined) {
        ctx.addIssue({ code: 'custom', path: ['publicKey'], message: 'publicKey is not a PEM public key' });
      }
    }
  });

/**
 * Options of `createVerifier`, as given (defaults filled in by the schema).
 */
export type IdentityOptions = z.input<typeof identityOptionsSchema>;
type ParsedOptions = z.output<typeof identityOptionsSchema>;

/**
 * What the verifier needs, resolved once: the key and the algorithms it may be used with.
 *
 * @example
 * resolveIdentityOptions({ publicKey: ecPem }).algorithms; // ['ES256']: RS256 does not fit an EC key
 */
export interface ResolvedIdentity extends ParsedOptions {
  algorithms: string[];
  key?: KeyObject;
}

/**
 * Parse and resolve verifier options, or throw a TypeError listing every problem.
 */
export function resolveIdentityOptions(input: IdentityOptions): ResolvedIdentity {
  const parsed = identityOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.length > 0 ? `${i.path.join('.')}: ` : ''}${i.message}`);
    throw new TypeError(`Invalid identity options:\n${lines.join('\n')}`);
  }
  const o = parsed.data;
  if (o.secret !== undefined) {
    return { ...o, algorithms: o.algorithms ?? ['HS256'], key: createSecretKey(Buffer.from(o.secret)) };
  }
  const requested = o.algorithms ?? ['RS256', 'ES256'];
  if (o.publicKey === undefined) return { ...o, algorithms: requested };
  const key = publicKeyOf(o.publicKey) as KeyObject;
  // Pin to the algorithms this key can verify, so a token's `alg` never picks a different family.
  const family = key.asymmetricKeyType === 'ec' ? /^ES/ : /^(RS|PS)/;
  const algorithms = requested.filter((a) => family.test(a));
  if (algorithms.length === 0) {
    throw new TypeError(
      `Invalid identity options:\n  algorithms: none of ${requested.join(', ')} fits the ${String(key.asymmetricKeyType).toUpperCase()} public key`,
    );
  }
  return { ...o, algorithms, key };
}

function publicKeyOf(pem: string): KeyObject | undefined {
  try {
    const key = createPublicKey(pem);
    return key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss' || key.asymmetricKeyType === 'ec' ? key : undefined;
  } catch {
    return undefined;
  }
}
