import { createHmac } from 'node:crypto';
import type { TransformName } from '../policy/schema.js';
import { keyProblem } from '../lib/keys.js';

/**
 * The least identifying form of a value that still serves the purpose
 * (Caldicott 2 and 3). Each transform takes one leaf value and returns the
 * transformed value, or `DROP` when it cannot transform it safely: a value
 * that cannot be made less identifying is withheld, never passed through.
 */
export const DROP: unique symbol = Symbol('drop');
export type Transform = (value: unknown) => unknown;

export interface TransformContext {
  /** The declared purpose: pseudonyms are keyed per purpose, so they cannot be linked across purposes. */
  purpose: string;
  /** Key of the pseudonym transform, from configuration (never from policy files). */
  pseudonymKey?: string | Buffer | undefined;
  now: Date;
}

/**
 * Build the leaf function for a transform. The pseudonym key for the purpose
 * is derived once here, not per value.
 *
 * @example
 * makeTransform('district', ctx)('LS1 4AP'); // 'LS1'
 */
export function makeTransform(name: TransformName, ctx: TransformContext): Transform {
  switch (name) {
    case 'pseudonym': {
      if (ctx.pseudonymKey === undefined || ctx.pseudonymKey.length === 0) throw new TypeError('pseudonym transform needs a pseudonym key');
      const key = purposeKey(ctx.pseudonymKey, ctx.purpose);
      return (v) => (isScalar(v) ? pseudonymWith(key, String(v)) : DROP);
    }
    case 'year':
      return (v) => parseDate(v)?.getUTCFullYear() ?? DROP;
    case 'district':
      return district;
    case 'mask':
      return mask;
    case 'age-band':
      return (v) => ageBand(v, ctx.now);
  }
}

/**
 * What is wrong with a configured pseudonym key, or `undefined`: none is
 * needed unless the policies pseudonymise (Caldicott 2), and one that is
 * given must be long enough. The middleware, the gateway and the CLI all ask
 * this, so a key one of them accepts none of them refuses.
 *
 * @example
 * pseudonymKeyProblem(undefined, true); // 'required, since a purpose pseudonymises fields (transform: pseudonym)'
 * pseudonymKeyProblem('k', false);      // 'must be at least 16 characters'
 */
export function pseudonymKeyProblem(key: string | Buffer | undefined, usesPseudonyms: boolean): string | undefined {
  if (key === undefined || key.length === 0)
    return usesPseudonyms ? 'required, since a purpose pseudonymises fields (transform: pseudonym)' : undefined;
  return keyProblem(key);
}

/** k = HMAC-SHA256(key, "fieldmesh:pseudonym:" + purpose): one key per purpose. */
export function purposeKey(key: string | Buffer, purpose: string): Buffer {
  return createHmac('sha256', key).update(`fieldmesh:pseudonym:${purpose}`).digest();
}

/**
 * The pseudonym of one value under a purpose's key: stable within the purpose, unlinkable across purposes.
 *
 * @example
 * pseudonymWith(purposeKey('k', 'research'), 'pat-001'); // 32 hex characters
 */
export function pseudonymWith(purposeKeyBytes: Buffer, value: string): string {
  return createHmac('sha256', purposeKeyBytes).update(value).digest('hex').slice(0, PSEUDONYM_HEX_LENGTH);
}

/** Hex characters in a pseudonym: the first 16 bytes of the HMAC. */
export const PSEUDONYM_HEX_LENGTH = 32;
const PSEUDONYM_SHAPE = new RegExp(`^[0-9a-f]{${PSEUDONYM_HEX_LENGTH}}$`);

/**
 * Whether a value has the shape of a pseudonym `pseudonymWith` writes (for
 * tests that cannot know the key): it says nothing of whose it is.
 *
 * @example
 * isPseudonym('9f86d081884c7d659a2feaa0c55ad015'); // true
 * isPseudonym('pat-001'); // false
 */
export function isPseudonym(value: unknown): value is string {
  return typeof value === 'string' && PSEUDONYM_SHAPE.test(value);
}

const POSTCODE = /^([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})$/;
const OUTWARD = /^[A-Z]{1,2}[0-9][A-Z0-9]?$/;

/** Outward code of a UK postcode: `ls1 4ap` → `LS1`. */
function district(v: unknown): unknown {
  if (typeof v !== 'string') return DROP;
  const text = v.trim().toUpperCase();
  const full = POSTCODE.exec(text);
  if (full) return full[1];
  return OUTWARD.test(text) ? text : DROP;
}

/** All but the last 4 characters hidden; a short value is hidden whole, or it would pass unchanged. */
function mask(v: unknown): unknown {
  if (!isScalar(v)) return DROP;
  const text = String(v);
  if (text.length <= 4) return '*'.repeat(text.length);
  return '*'.repeat(text.length - 4) + text.slice(-4);
}

/** A date of birth as a 5-year band at `now`: `35-39`; `90+` from 90. */
function ageBand(v: unknown, now: Date): unknown {
  const born = parseDate(v);
  if (!born || born > now) return DROP;
  let age = now.getUTCFullYear() - born.getUTCFullYear();
  const beforeBirthday =
    now.getUTCMonth() < born.getUTCMonth() || (now.getUTCMonth() === born.getUTCMonth() && now.getUTCDate() < born.getUTCDate());
  if (beforeBirthday) age -= 1;
  if (age >= 90) return '90+';
  const low = Math.floor(age / 5) * 5;
  return `${low}-${low + 4}`;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})(?:$|T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?$)/;
/** Before this year a date of birth is a typo or a placeholder (0001-01-01), not a person's. */
const EARLIEST_YEAR = 1800;

/**
 * A real ISO calendar date, or `undefined`: never a plausible wrong one.
 * `Date.UTC` maps years 0-99 to 1900-1999 (0087 would become 1987), so the
 * year is set on its own; impossible days (02-30) and years before 1800 are refused.
 */
function parseDate(v: unknown): Date | undefined {
  if (typeof v !== 'string') return undefined;
  const m = DATE.exec(v);
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (year < EARLIEST_YEAR) return undefined;
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  return d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day ? d : undefined;
}

function isScalar(v: unknown): v is string | number | boolean {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}
