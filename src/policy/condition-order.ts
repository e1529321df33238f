import { canonicalJson } from '../lib/canonical-json.js';
import type { Condition } from './schema.js';

/**
 * Comparing two row conditions without a record, for `fieldmesh diff`: is
 * every row the first matches also matched by the second? Only the cases
 * that can be proved from the text are answered yes; anything else is no,
 * so a change the tool cannot prove harmless is reported as one that may
 * widen access (fail closed).
 */

/** A condition that matches every row: none at all, or `{}` (MongoDB's empty query). */
export const EVERY_ROW: Condition = Object.freeze({});

/** The canonical text of a condition; no condition and `{}` are the same, every row. */
export function conditionKey(condition: Condition | undefined): string {
  return canonicalJson(condition ?? EVERY_ROW);
}

/**
 * Whether every row `inner` matches is matched by `outer`, provably. Top-level
 * keys of a MongoDB query are all required (an implicit `$and`), so `inner`
 * is within `outer` when it requires everything `outer` requires, each
 * requirement the same or narrower: an equal value, an `$in` list that keeps
 * only some of `outer`'s values, or one plain value out of `outer`'s `$in`.
 * Extra keys in `inner` only narrow it. Claims (`${user.team}`) compare as
 * written: the same claim is the same value for one user.
 *
 * @example
 * provablyWithin({ careTeam: '${user.team}', kind: 'clinical' }, { careTeam: '${user.team}' }); // true
 * provablyWithin({ kind: { $in: ['a'] } }, { kind: { $in: ['a', 'b'] } }); // true
 * provablyWithin({ kind: { $in: ['a', 'b'] } }, { kind: { $in: ['a'] } }); // false: it widened
 */
export function provablyWithin(inner: Condition | undefined, outer: Condition | undefined): boolean {
  const i = inner ?? EVERY_ROW;
  for (const [key, want] of Object.entries(outer ?? EVERY_ROW)) {
    if (!Object.hasOwn(i, key)) return false;
    if (!valueWithin(i[key], want)) return false;
  }
  return true;
}

/** Whether the requirement `inner` on one key is the same as, or narrower than, `outer`. */
function valueWithin(inner: unknown, outer: unknown): boolean {
  if (canonicalJson(inner) === canonicalJson(outer)) return true;
  const outerList = inList(outer);
  if (!outerList) return false;
  const allowed = new Set(outerList.map((v) => canonicalJson(v)));
  const innerList = inList(inner);
  if (innerList) return innerList.every((v) => allowed.has(canonicalJson(v)));
  // `{ kind: clinical }` matches what `{ kind: { $in: [clinical] } }` matches (array fields included).
  return isScalar(inner) && allowed.has(canonicalJson(inner));
}

/** The values of a `{ $in: [...] }` operand and nothing else beside it; a claim standing for the list is not a list. */
function inList(value: unknown): unknown[] | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  const list = (value as Record<string, unknown>)['$in'];
  return keys.length === 1 && Array.isArray(list) && list.every(isScalar) ? list : undefined;
}

function isScalar(value: unknown): boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}
