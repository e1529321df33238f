/**
 * Deepest nesting of lists and objects a record may have: 100 levels. Real
 * record APIs (FHIR included) stay within a few dozen; a body nested
 * thousands deep would exhaust the stack of any recursive walk (projection,
 * conditions, audit), so it is refused whole before any is run: nothing of it
 * is disclosed (docs/policy-language.md "Limits").
 */
export const MAX_RECORD_DEPTH = 100;

/**
 * Whether a value nests lists and objects deeper than `limit` levels. Walked
 * with an explicit stack, so it cannot itself overflow.
 *
 * @example
 * nestedDeeperThan(JSON.parse('[[[1]]]'), 2); // true
 * nestedDeeperThan({ a: [{ b: 1 }] }, 3); // false
 */
export function nestedDeeperThan(value: unknown, limit: number = MAX_RECORD_DEPTH): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth + 1 > limit) return true;
    const children = Array.isArray(node) ? node : Object.values(node);
    for (const child of children) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}
