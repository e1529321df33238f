import { HOSTILE_KEYS, isPlainObject } from '../paths.js';
import type { Condition } from './schema.js';

type Kind = 'string' | 'number' | 'boolean';

/**
 * A restriction must not be dodged by a marker in a shape its condition does
 * not expect: `sealed: "true"` where the policy says `sealed: true`,
 * `riskLevel: "4"` where it says `{ $gte: 3 }`, or `flags: [["dv-risk"]]`
 * where it says `flags: dv-risk`. Under MongoDB semantics (`evaluate.ts`)
 * the condition rightly does not match, so the restriction would not fire;
 * an upstream in another language sends such shapes without meaning any
 * harm. Conditions answer what the query says; this guard is the separate,
 * fail-closed rule that a marker in the wrong shape still counts.
 *
 * From a restriction's `when`, at policy load, this derives the scalar types
 * each field is compared with, and returns a check that is true when a
 * record holds a field of another shape (then the restriction fires: fail
 * closed). Fields compared only through templates, `$exists`, `$size` or
 * `$elemMatch` are not checked.
 *
 * @example
 * const odd = compileShapeGuard({ sealed: true });
 * odd?.({ sealed: 'true' }); // true: fire the restriction
 */
export function compileShapeGuard(condition: Condition): ((record: object) => boolean) | undefined {
  const expected = new Map<string, Set<Kind> | 'any'>();
  collect(condition, expected);
  const checks = [...expected].filter((e): e is [string, Set<Kind>] => e[1] !== 'any' && e[1].size > 0);
  if (checks.length === 0) return undefined;
  return (record) => checks.some(([path, kinds]) => valuesAt(record, path.split('.')).some((v) => !fits(v, kinds)));
}

function collect(condition: Condition, out: Map<string, Set<Kind> | 'any'>): void {
  for (const [key, value] of Object.entries(condition)) {
    if (key === '$and' || key === '$or' || key === '$nor') {
      if (Array.isArray(value)) for (const c of value) if (isPlainObject(c)) collect(c, out);
    } else if (!key.startsWith('$')) {
      field(key, value, out);
    }
  }
}

function field(path: string, value: unknown, out: Map<string, Set<Kind> | 'any'>): void {
  const add = (v: unknown): void => {
    const kind = kindOf(v);
    const current = out.get(path);
    if (current === 'any') return;
    // A template's type is the claim's, and `null` says nothing of a type: neither is checked.
    if (!kind || (typeof v === 'string' && v.includes('${user.'))) out.set(path, 'any');
    else out.set(path, (current ?? new Set<Kind>()).add(kind));
  };
  if (!isPlainObject(value) || !Object.keys(value).some((k) => k.startsWith('$'))) {
    add(value);
    return;
  }
  for (const [op, arg] of Object.entries(value)) {
    if (['$eq', '$ne', '$lt', '$lte', '$gt', '$gte'].includes(op)) add(arg);
    else if (['$in', '$nin', '$all'].includes(op)) (Array.isArray(arg) ? arg : [arg]).forEach(add);
    else if (op === '$regex') add('');
    else if (op === '$not') field(path, arg, out);
    else if (op === '$elemMatch' || op === '$size') out.set(path, 'any');
  }
}

function kindOf(v: unknown): Kind | undefined {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? typeof v as Kind : undefined;
}

/** Every value at a path, walking into arrays as MongoDB does. */
function valuesAt(value: unknown, segments: string[]): unknown[] {
  if (Array.isArray(value)) return value.flatMap((v) => (Array.isArray(v) ? [v] : valuesAt(v, segments)));
  if (segments.length === 0) return [value];
  // A class instance, Date or Map on the way is not JSON record data: an odd shape, not an absent marker.
  if (!isPlainObject(value)) return value !== null && typeof value === 'object' ? [value] : [];
  const [head, ...rest] = segments;
  if (HOSTILE_KEYS.has(head!) || !Object.hasOwn(value, head!)) return [];
  return valuesAt(value[head!], rest);
}

/** Absent and null markers say nothing; a nested array or another type is an odd shape. */
function fits(v: unknown, kinds: Set<Kind>): boolean {
  if (v === undefined || v === null) return true;
  if (Array.isArray(v)) return false;
  const kind = kindOf(v);
  return kind !== undefined && kinds.has(kind);
}
