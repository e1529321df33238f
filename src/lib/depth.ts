import { FieldmeshError } from './errors.js';

/**
 * Deepest nesting of lists and objects a record may have: 100 levels, the
 * record itself the first. Real record APIs (FHIR included) stay within a
 * few dozen; a body nested thousands deep would exhaust the stack of any
 * recursive walk (projection, conditions, audit), so a value nested deeper
 * is refused before any walk reaches past the limit: nothing of the body is
 * disclosed (docs/policy-language.md "Limits").
 */
export const MAX_RECORD_DEPTH = 100;

/**
 * The refusal of a body nested deeper than `MAX_RECORD_DEPTH`: one message,
 * whichever walk meets it (the row check or a projection). Nothing of the
 * body has been returned when it is thrown.
 */
export function refuseTooDeep(): never {
  throw new FieldmeshError('unredactable_body', `the input nests lists and objects deeper than ${MAX_RECORD_DEPTH} levels`);
}

/**
 * Whether a value nests lists and objects deeper than `limit` levels. Walked
 * with an explicit stack, so it cannot itself overflow.
 *
 * @example
 * nestedDeeperThan(JSON.parse('[[[1]]]'), 2); // true
 * nestedDeeperThan({ a: [{ b: 1 }] }, 3); // false
 */
export function nestedDeeperThan(value: unknown, limit: number = MAX_RECORD_DEPTH): boolean {
  if (value === null || typeof value !== 'object') return false;
  // Recursion as deep as the limit is safe for any limit a record may have; past that, an explicit stack.
  return limit <= RECURSION_LIMIT ? deeper(value, limit) : deeperWithStack(value, limit);
}

/** Limits up to this are checked by recursion, which never goes deeper than the limit. */
const RECURSION_LIMIT = 1000;

/** Whether `node` (an object or list) nests more than `left` levels. Own enumerable keys, as `Object.values`. */
function deeper(node: object, left: number): boolean {
  if (left < 1) return true;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const child: unknown = node[i];
      if (child !== null && typeof child === 'object' && deeper(child, left - 1)) return true;
    }
    return false;
  }
  for (const key in node) {
    const child: unknown = (node as Record<string, unknown>)[key];
    if (child !== null && typeof child === 'object' && Object.hasOwn(node, key) && deeper(child, left - 1)) return true;
  }
  return false;
}

function deeperWithStack(value: unknown, limit: number): boolean {
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
