/**
 * A text that names a plain value (what a policy file holds: strings,
 * numbers, booleans, null, lists and objects) so that two values get the same
 * key exactly when they are equal, type by type: `1` and `"1"`, `null` and
 * NaN, `0` and `-0` all differ (JSON would merge some of them). Object keys
 * keep their written order, so equal objects written in other orders get two
 * keys: a miss for a cache, never a wrong hit. Anything else (a Date, a class
 * instance, a sparse list, undefined) has no key: `undefined`, never shared.
 * Used to share what is compiled once for equal conditions and field lists.
 *
 * @example
 * valueKey({ team: '${user.team}' }) === valueKey({ team: '${user.team}' }); // true
 * valueKey([1]) === valueKey(['1']); // false
 */
export function valueKey(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Object.is(value, -0) ? '#-0' : `#${value}`;
    case 'boolean':
      return value ? 'T' : 'F';
    case 'object':
      if (value === null) return 'N';
      return Array.isArray(value) ? listKey(value) : objectKey(value);
    default:
      return undefined;
  }
}

function listKey(list: readonly unknown[]): string | undefined {
  let out = '[';
  for (let i = 0; i < list.length; i++) {
    const key = i in list ? valueKey(list[i]) : undefined;
    if (key === undefined) return undefined;
    out += i === 0 ? key : `,${key}`;
  }
  return `${out}]`;
}

function objectKey(object: object): string | undefined {
  const proto = Object.getPrototypeOf(object);
  if (proto !== Object.prototype && proto !== null) return undefined;
  let out = '{';
  let first = true;
  for (const name of Object.keys(object)) {
    const key = valueKey((object as Record<string, unknown>)[name]);
    if (key === undefined) return undefined;
    out += `${first ? '' : ','}${JSON.stringify(name)}:${key}`;
    first = false;
  }
  return `${out}}`;
}
