/**
 * Field paths: `address.postcode`. Arrays are transparent: a path walks into
 * every element of an array it meets (docs/policy-language.md, "Resources").
 */

/** Keys that are never copied nor read: they would pollute prototypes. */
export const HOSTILE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** The segments of a dotted field path. @example splitPath('address.postcode') // ['address', 'postcode'] */
export function splitPath(path: string): string[] {
  return path.split('.');
}

/** True when `path` is `prefix` or lies inside its subtree. @example isWithin('address.postcode', 'address') // true */
export function isWithin(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(`${prefix}.`);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * The value at a dotted path of a plain object, without walking arrays and
 * never through a hostile key or an inherited property: for claims and
 * envelopes. What the engine reads from a record goes through `valuesAt`.
 *
 * @example getPath({ consent: { research: 'granted' } }, 'consent') // { research: 'granted' }
 */
export function getPath(record: unknown, path: string): unknown {
  let value: unknown = record;
  for (const key of splitPath(path)) {
    if (!isPlainObject(value) || HOSTILE_KEYS.has(key) || !Object.hasOwn(value, key)) return undefined;
    value = value[key];
  }
  return value;
}

/** What a path holds in one record, arrays walked: see `valuesAt`. */
export interface PathValues {
  /** Every value found at the end of the path (null included, absent keys not), arrays flattened. */
  values: unknown[];
  /**
   * True when the walk met, before the path ended, something it cannot walk
   * into (a string, a number, a class instance) or a hostile key: the record
   * does not have the shape the policy declares, and a reader that must fail
   * closed takes the worst case.
   */
  malformed: boolean;
}

/**
 * Every value at a dotted path (or a list of segments), walking into each
 * element of every array met on the way and of an array found at the end:
 * arrays are transparent for every path the engine reads (id, opt-out,
 * consent), as they are for fields (docs/policy-language.md, "Resources"). Own keys only;
 * `null` or a missing key ends a branch without a value.
 *
 * @example
 * valuesAt({ prefs: [{ dataOptOut: false }, { dataOptOut: true }] }, 'prefs.dataOptOut');
 * // { values: [false, true], malformed: false }
 */
export function valuesAt(record: unknown, path: string | readonly string[]): PathValues {
  const segments = typeof path === 'string' ? splitPath(path) : path;
  const out: PathValues = { values: [], malformed: false };
  walkPath(record, segments, 0, out);
  return out;
}

/** One step of `valuesAt`: a plain function, not a closure made per call (it runs per row). */
function walkPath(value: unknown, segments: readonly string[], depth: number, out: PathValues): void {
  if (value === undefined) return;
  if (Array.isArray(value)) {
    for (const element of value) walkPath(element, segments, depth, out);
    return;
  }
  if (depth === segments.length) {
    out.values.push(value);
    return;
  }
  if (value === null) return;
  const key = segments[depth]!;
  if (!isPlainObject(value) || HOSTILE_KEYS.has(key)) {
    out.malformed = true;
    return;
  }
  if (Object.hasOwn(value, key)) walkPath(value[key], segments, depth + 1, out);
}

/** The longest of `prefixes` that `path` lies within. @example longestPrefix(['address', 'address.postcode'], 'address.postcode.x') // 'address.postcode' */
export function longestPrefix(prefixes: Iterable<string>, path: string): string | undefined {
  let best: string | undefined;
  for (const p of prefixes) if (isWithin(path, p) && (best === undefined || p.length > best.length)) best = p;
  return best;
}

/**
 * A dictionary entry by name, own keys only: a name such as `toString` or
 * `constructor` in a policy must never find a built-in property.
 *
 * @example own({ a: 1 }, 'toString') // undefined
 */
export function own<T>(dict: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(dict, key) ? dict[key] : undefined;
}
