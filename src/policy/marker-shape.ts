import { HOSTILE_KEYS, isPlainObject } from '../lib/paths.js';
import type { Condition } from './schema.js';

type Kind = 'string' | 'number' | 'boolean';

/** What a restriction's `when` lets a field hold, from every form it is compared with. */
interface Expected {
  /** Types of the plain values the field is compared with: a field with none is not checked. */
  kinds: Set<Kind>;
  /** Types `$elemMatch` compares list elements with (value form): accepted inside a list only. */
  elementKinds: Set<Kind>;
  /** `$elemMatch` in record form: a list of objects is expected, objects accepted inside a list only. */
  elementObjects: boolean;
}

const LOGICAL = new Set(['$and', '$or', '$nor']);

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
 * From a restriction's `when`, at policy load, this derives per field the
 * scalar types it is compared with, and returns a check that is true when a
 * record holds a field of another shape (then the restriction fires: fail
 * closed). A field compared with any plain value is checked, whatever else
 * it is compared with; other forms on the same field only widen what it may
 * hold as far as they imply: `$elemMatch` on records accepts objects inside
 * a list, `$elemMatch` on values accepts its operands' types inside a list,
 * `null` accepts null or missing. Claims, `$exists` and `$size` widen
 * nothing. A scalar met where the path goes on (`meta: "R"` for
 * `meta.security.code`) is an odd shape too. Fields compared only through
 * claims, `null`, `$exists`, `$size` or `$elemMatch` are not checked; the
 * fields inside an `$elemMatch` on records are checked as any other.
 *
 * @example
 * const odd = compileShapeGuard({ sealed: true });
 * odd?.({ sealed: 'true' }); // true: fire the restriction
 */
export function compileShapeGuard(condition: Condition): ((record: object) => boolean) | undefined {
  const expected = new Map<string, Expected>();
  collect(condition, '', expected);
  const checks = [...expected].filter(([, e]) => e.kinds.size > 0);
  if (checks.length === 0) return undefined;
  // A scalar where a path goes on is judged by the field it sits at, when that field is checked itself
  // (`flags: other` for both `flags: dv-risk` and `flags.code: …`); otherwise it is an odd shape.
  const judgedAt = (found: Found, segments: string[]) => (found.stuck ? expected.get(segments.slice(0, found.depth).join('.')) : undefined);
  // Segments split once, here, not per record.
  const split = checks.map(([path, e]) => ({ segments: path.split('.'), e }));
  const odd = (record: object, segments: string[], e: Expected): boolean =>
    valuesAt(record, segments, false, 0).some((found) => {
      const owner = judgedAt(found, segments);
      return owner !== undefined && owner.kinds.size > 0
        ? !fits({ value: found.value, inList: found.inList, depth: found.depth }, owner)
        : !fits(found, e);
    });
  return (record) => {
    for (const { segments, e } of split) {
      const v = plainWalk(record, segments);
      // Only a walk through plain objects is read here (to a value, or a list of them); the rest by the general walk.
      if (v === UNSURE ? odd(record, segments, e) : Array.isArray(v) ? !elementsFit(v, e) : !fitsValue(v, false, e)) return true;
    }
    return false;
  };
}

/** Marks a walk that met a list, or something it cannot walk into: `valuesAt` decides. */
const UNSURE = Symbol('unsure');

/**
 * The value at the end of a path walked through plain objects only (`null`
 * where the path ends early at null, a missing key or a hostile one: no value,
 * as `valuesAt` finds none), or `UNSURE` where a list or something else
 * stands on the way.
 */
function plainWalk(record: object, segments: readonly string[]): unknown {
  let v: unknown = record;
  for (let depth = 0; depth < segments.length; depth++) {
    if (v === null || v === undefined) return null;
    if (Array.isArray(v) || !isPlainObject(v)) return UNSURE;
    const head = segments[depth]!;
    if (HOSTILE_KEYS.has(head) || !Object.hasOwn(v, head)) return null;
    v = v[head];
  }
  return v;
}

/** A list at the end of the path: each element is a value found in a list (a list in it is an odd shape). */
function elementsFit(list: readonly unknown[], e: Expected): boolean {
  for (const v of list) if (!fitsValue(v, true, e)) return false;
  return true;
}

function collect(condition: Condition, prefix: string, out: Map<string, Expected>): void {
  for (const [key, value] of Object.entries(condition)) {
    if (LOGICAL.has(key)) {
      if (Array.isArray(value)) for (const c of value) if (isPlainObject(c)) collect(c, prefix, out);
    } else if (!key.startsWith('$')) {
      field(prefix + key, value, out);
    }
  }
}

function expectedAt(path: string, out: Map<string, Expected>): Expected {
  let e = out.get(path);
  if (!e) out.set(path, (e = { kinds: new Set(), elementKinds: new Set(), elementObjects: false }));
  return e;
}

function field(path: string, value: unknown, out: Map<string, Expected>, element = false): void {
  const add = (v: unknown): void => {
    const kind = kindOf(v);
    // A claim's type is the token's and `null` says nothing of a type: neither widens what the field may hold.
    if (!kind || (typeof v === 'string' && v.includes('${'))) return;
    const e = expectedAt(path, out);
    (element ? e.elementKinds : e.kinds).add(kind);
  };
  if (!isPlainObject(value) || !Object.keys(value).some((k) => k.startsWith('$'))) {
    add(value);
    return;
  }
  for (const [op, arg] of Object.entries(value)) {
    if (['$eq', '$ne', '$lt', '$lte', '$gt', '$gte'].includes(op)) add(arg);
    else if (['$in', '$nin', '$all'].includes(op)) (Array.isArray(arg) ? arg : [arg]).forEach(add);
    else if (op === '$regex') add('');
    else if (op === '$not') field(path, arg, out, element);
    else if (op === '$elemMatch' && isPlainObject(arg)) {
      const keys = Object.keys(arg);
      if (keys.length > 0 && keys.every((k) => k.startsWith('$') && !LOGICAL.has(k))) {
        // On values ({ $gte: 3 }): the elements are compared with the operands.
        field(path, arg, out, true);
      } else {
        // On records ({ code: x }): the elements are objects, whose fields are compared as any other.
        expectedAt(path, out).elementObjects = true;
        collect(arg, `${path}.`, out);
      }
    }
  }
}

function kindOf(v: unknown): Kind | undefined {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? (typeof v as Kind) : undefined;
}

/** A value met at the path, whether it sat inside a list, and whether the path could not be walked to it. */
interface Found {
  value: unknown;
  inList: boolean;
  /** How many segments of the path lead to it. */
  depth: number;
  /** The path goes on, but this is not an object to walk into (`meta: "R"` for `meta.security.code`). */
  stuck?: true;
}

/** Every value at a path, walking into arrays as MongoDB does. */
function valuesAt(value: unknown, segments: string[], inList: boolean, depth: number): Found[] {
  if (Array.isArray(value))
    return value.flatMap((v) => (Array.isArray(v) ? [{ value: v, inList: true, depth }] : valuesAt(v, segments, true, depth)));
  if (segments.length === depth) return [{ value, inList, depth }];
  if (value === null || value === undefined) return [];
  // A scalar where the path goes on, or a class instance, Date or Map on the way (not JSON record data):
  // an odd shape, not an absent marker.
  if (!isPlainObject(value)) return [{ value, inList, depth, stuck: true }];
  const head = segments[depth]!;
  if (HOSTILE_KEYS.has(head) || !Object.hasOwn(value, head)) return [];
  return valuesAt(value[head], segments, inList, depth + 1);
}

/** Absent and null markers say nothing; a nested array, an unwalkable path or another type is an odd shape. */
function fits(found: Found, e: Expected): boolean {
  return !found.stuck && fitsValue(found.value, found.inList, e);
}

function fitsValue(value: unknown, inList: boolean, e: Expected): boolean {
  if (value === undefined || value === null) return true;
  if (Array.isArray(value)) return false;
  if (isPlainObject(value)) return inList && e.elementObjects;
  const kind = kindOf(value);
  return kind !== undefined && (e.kinds.has(kind) || (inList && e.elementKinds.has(kind)));
}
