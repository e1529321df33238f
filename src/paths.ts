/**
 * Field paths: `address.postcode`. Arrays are transparent: a path walks into
 * every element of an array it meets (SPEC "Policy language").
 */

/** Keys that are never copied nor read: they would pollute prototypes. */
export const HOSTILE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** @example splitPath('address.postcode') // ['address', 'postcode'] */
export function splitPath(path: string): string[] {
  return path.split('.');
}

/** True when `path` is `prefix` or lies inside its subtree. @example isWithin('address.postcode', 'address') // true */
export function isWithin(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(prefix + '.');
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * The value at a dotted path of a plain object, without walking arrays and
 * never through a hostile key or an inherited property.
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
