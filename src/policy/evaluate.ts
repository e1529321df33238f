import { HOSTILE_KEYS, isPlainObject } from '../lib/paths.js';
import { listOperand, regexOperand, scalarOperand, type ConditionProblem, type Scalar } from './operands.js';

/**
 * Our own evaluator of row conditions, with MongoDB's query semantics for
 * every operator the policy language accepts (docs/policy-language.md
 * "Conditions"). CASL's default matcher (ucast) compares anything with
 * anything: `{ riskLevel: { $lte: 2 } }` matched a missing, null or `"high"`
 * risk level, and an object or list operand silently never matched, so a
 * restriction written that way never fired. Here a condition is compiled
 * once into a plain predicate; whatever it cannot evaluate exactly is a
 * problem reported with its path, never a wrong answer or a throw later.
 */

/** A compiled condition: true when the record matches it. Never throws. */
export type RecordPredicate = (record: object) => boolean;

export interface CompileOptions {
  /** At load, a string holding `${user.x}` stands for a claim that is filled in per request. */
  templates: boolean;
  /**
   * The general evaluator only, without the specialised predicates of the
   * common shapes (`specialised`): the reference they are tested against.
   */
  reference?: boolean;
}

/** The values found at a field path; `MISSING` where an object lacks the field. */
type Values = readonly unknown[];
/** An operator expression tested on the values at a path; `leaf` expands arrays found there. */
type ValueTest = (values: Values, leaf: boolean) => boolean;

const MISSING = Symbol('missing');
const LOGICAL = new Set(['$and', '$or', '$nor']);
export const FIELD_OPERATORS: readonly string[] = [
  '$eq',
  '$ne',
  '$lt',
  '$lte',
  '$gt',
  '$gte',
  '$in',
  '$nin',
  '$all',
  '$size',
  '$regex',
  '$options',
  '$elemMatch',
  '$exists',
  '$not',
];
const FIELD_OPERATOR_SET = new Set(FIELD_OPERATORS);
const RANGE = new Set(['$lt', '$lte', '$gt', '$gte']);

/**
 * Compile a condition into a predicate, or list every problem that stops it.
 * With `templates`, `${user.x}` strings are accepted where a claim may stand;
 * the filled condition is compiled again per request, without.
 *
 * @example
 * compileQuery({ riskLevel: { $lte: 2 } }, { templates: false }).match?.({ riskLevel: 'high' }); // false
 * compileQuery({ flags: ['dv-risk'] }, { templates: false }).problems[0]?.[0]; // 'flags'
 */
export function compileQuery(
  condition: Record<string, unknown>,
  opts: CompileOptions,
): { match?: RecordPredicate; problems: ConditionProblem[] } {
  const problems: ConditionProblem[] = [];
  const match = query(condition, '', { ...opts, problems });
  return problems.length === 0 ? { match, problems } : { problems };
}

interface Ctx extends CompileOptions {
  problems: ConditionProblem[];
}

const join = (at: string, key: string) => (at ? `${at}.${key}` : key);
const never: ValueTest = () => false;

function query(condition: Record<string, unknown>, at: string, ctx: Ctx): RecordPredicate {
  const parts: RecordPredicate[] = [];
  for (const [key, value] of Object.entries(condition)) {
    const here = join(at, key);
    if (key.startsWith('$')) {
      if (!LOGICAL.has(key)) {
        ctx.problems.push([here, `unsupported operator "${key}" at the top of a condition: use $and, $or, $nor, or a field name`]);
      } else if (!Array.isArray(value) || value.length === 0 || !value.every(isPlainObject)) {
        ctx.problems.push([here, `${key} takes a non-empty list of conditions`]);
      } else {
        const subs = value.map((c, i) => query(c, `${here}[${i}]`, ctx));
        if (key === '$and') parts.push((r) => subs.every((s) => s(r)));
        else if (key === '$or') parts.push((r) => subs.some((s) => s(r)));
        else parts.push((r) => !subs.some((s) => s(r)));
      }
      continue;
    }
    const segments = key.split('.');
    if (segments.some((s) => s === '' || HOSTILE_KEYS.has(s) || s.includes('${') || s.startsWith('$'))) {
      ctx.problems.push([here, `"${key}" is not a usable field path`]);
      continue;
    }
    const index = segments.findIndex((s) => /^\d+$/.test(s));
    if (index >= 0) {
      const list = segments.slice(0, index).join('.') || segments[0]!;
      ctx.problems.push([
        here,
        `"${key}": a number in a condition path would mean a position in a list, which conditions do not use: match any element with { "${list}": { $elemMatch: { … } } }`,
      ]);
      continue;
    }
    const test = fieldTest(value, here, key, ctx);
    const general: RecordPredicate = (record) => test(valuesAt(record, segments, 0), true);
    parts.push((!ctx.reference && specialised(value, segments, general)) || general);
  }
  if (parts.length === 1) return parts[0]!;
  return (record) => parts.every((p) => p(record));
}

/**
 * The values at a path, walking arrays as MongoDB does: a list met on the way
 * is entered element by element (objects only), a field an object lacks is
 * `MISSING`, and a list at the end is returned whole (operators expand it).
 */
function valuesAt(value: unknown, segments: readonly string[], i: number): Values {
  if (i === segments.length) return [value === undefined ? MISSING : value];
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const e of value) if (isPlainObject(e)) out.push(...valuesAt(e, segments, i));
    return out;
  }
  if (!isPlainObject(value)) return [MISSING];
  const key = segments[i]!;
  return valuesAt(Object.hasOwn(value, key) ? value[key] : MISSING, segments, i + 1);
}

/**
 * A faster predicate for the shapes most conditions take, with exactly the
 * general evaluator's answer: equality to a plain value other than null
 * (`{ team: "north-2" }`, `{ $eq: … }`), `$in` of plain values without null,
 * `$exists`. The path is walked once, its segments split at compile; where
 * the walk meets a list before the last segment it hands the record to the
 * general evaluator (`general`), which expands lists as MongoDB does.
 * Anything else is not specialised (`undefined`). Tested against the general
 * evaluator (`reference`) on random conditions and records.
 */
function specialised(value: unknown, segments: readonly string[], general: RecordPredicate): RecordPredicate | undefined {
  let op = '$eq' as '$eq' | '$in' | '$exists';
  let arg = value;
  if (isOperatorObject(value)) {
    const keys = Object.keys(value);
    if (keys.length !== 1) return undefined;
    op = keys[0] as typeof op;
    arg = value[op];
    if (op !== '$eq' && op !== '$in' && op !== '$exists') return undefined;
  }
  const plain = (x: unknown): x is string | number | boolean =>
    typeof x === 'string' || typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x));
  const n = segments.length;
  /** The value at the path (`undefined` for missing), or `LIST` when a list stands on the way. */
  const at = (record: object): unknown => {
    let v: unknown = record;
    for (let i = 0; i < n; i++) {
      if (Array.isArray(v)) return LIST;
      if (!isPlainObject(v)) return undefined;
      const key = segments[i]!;
      if (!Object.hasOwn(v, key)) return undefined;
      v = v[key];
    }
    return v;
  };
  if (op === '$exists') {
    if (typeof arg !== 'boolean') return undefined;
    return (record) => {
      const v = at(record);
      return v === LIST ? general(record) : (v !== undefined) === arg;
    };
  }
  if (op === '$eq') {
    if (!plain(arg)) return undefined;
    const o = arg;
    return (record) => {
      const v = at(record);
      if (v === LIST) return general(record);
      if (Array.isArray(v)) {
        for (const e of v) if (e === o) return true;
        return false;
      }
      return v === o;
    };
  }
  if (!Array.isArray(arg) || !arg.every(plain)) return undefined;
  const list = new Set<unknown>(arg);
  return (record) => {
    const v = at(record);
    if (v === LIST) return general(record);
    if (Array.isArray(v)) {
      for (const e of v) if (list.has(e)) return true;
      return false;
    }
    return list.has(v);
  };
}

/** Marks a list met before the end of a path: the general evaluator decides. */
const LIST = Symbol('list');

/** Some value (with `leaf`, or element of a list value) satisfies `test`. */
function some(values: Values, leaf: boolean, test: (v: unknown) => boolean): boolean {
  for (const v of values) {
    if (test(v)) return true;
    if (leaf && Array.isArray(v)) for (const e of v) if (test(e)) return true;
  }
  return false;
}

function isOperatorObject(value: unknown): value is Record<string, unknown> {
  return isPlainObject(value) && Object.keys(value).some((k) => k.startsWith('$'));
}

function fieldTest(value: unknown, here: string, field: string, ctx: Ctx): ValueTest {
  if (isOperatorObject(value)) return operators(value, here, field, ctx);
  const operand = scalarOperand(value, here, field, ctx.problems, 'eq');
  return operand === undefined ? never : (values, leaf) => some(values, leaf, (v) => equals(v, operand.value));
}

function operators(ops: Record<string, unknown>, here: string, field: string, ctx: Ctx): ValueTest {
  const tests: ValueTest[] = [];
  for (const [op, arg] of Object.entries(ops)) {
    const opAt = `${here}.${op}`;
    const say = (message: string) => ctx.problems.push([opAt, message]);
    if (!op.startsWith('$')) {
      say('do not mix operators and field names in one object');
    } else if (!FIELD_OPERATOR_SET.has(op)) {
      say(`unsupported operator "${op}": use one of ${FIELD_OPERATORS.join(' ')}`);
    } else if (op === '$eq' || op === '$ne') {
      const o = scalarOperand(arg, opAt, field, ctx.problems, 'eq');
      if (o)
        tests.push(
          op === '$eq' ? (vs, leaf) => some(vs, leaf, (v) => equals(v, o.value)) : (vs, leaf) => !some(vs, leaf, (v) => equals(v, o.value)),
        );
    } else if (RANGE.has(op)) {
      const o = scalarOperand(arg, opAt, field, ctx.problems, 'range');
      if (o) tests.push(range(op, o.value as string | number));
    } else if (op === '$in' || op === '$nin' || op === '$all') {
      const list = listOperand(op, arg, opAt, field, ctx);
      if (!list) continue;
      if (op === '$in') tests.push((vs, leaf) => some(vs, leaf, (v) => list.some((o) => equals(v, o))));
      else if (op === '$nin') tests.push((vs, leaf) => !some(vs, leaf, (v) => list.some((o) => equals(v, o))));
      else tests.push((vs, leaf) => list.every((o) => some(vs, leaf, (v) => equals(v, o))));
    } else if (op === '$size') {
      if (typeof arg !== 'number' || !Number.isSafeInteger(arg) || arg < 0)
        say(`$size takes a whole number of elements (0 or more), such as { ${field}: { $size: 2 } }`);
      else tests.push((vs) => vs.some((v) => Array.isArray(v) && v.length === arg));
    } else if (op === '$exists') {
      if (typeof arg !== 'boolean') say(`$exists takes true or false, such as { ${field}: { $exists: true } }`);
      else tests.push((vs) => vs.some((v) => v !== MISSING) === arg);
    } else if (op === '$regex') {
      const re = regexOperand(arg, ops['$options'], opAt, field, ctx);
      if (re) tests.push((vs, leaf) => some(vs, leaf, (v) => typeof v === 'string' && re.test(v)));
    } else if (op === '$options') {
      if (!Object.hasOwn(ops, '$regex')) say('$options goes with $regex, in the same object');
    } else if (op === '$not') {
      if (!isOperatorObject(arg)) say('$not takes an operator object such as { $eq: 1 }');
      else {
        const inner = operators(arg, opAt, field, ctx);
        tests.push((vs, leaf) => !inner(vs, leaf));
      }
    } else if (op === '$elemMatch') {
      tests.push(elemMatch(arg, opAt, field, ctx));
    }
  }
  if (tests.length === 1) return tests[0]!;
  return (vs, leaf) => tests.every((t) => t(vs, leaf));
}

/** `{ $elemMatch: { $gt: 5 } }` tests each element as a value; `{ $elemMatch: { code: x } }` each object element as a record. */
function elemMatch(arg: unknown, here: string, field: string, ctx: Ctx): ValueTest {
  if (!isPlainObject(arg)) {
    ctx.problems.push([here, `$elemMatch takes a condition, such as { ${field}: { $elemMatch: { code: R } } }`]);
    return never;
  }
  const keys = Object.keys(arg);
  if (keys.length > 0 && keys.every((k) => k.startsWith('$') && !LOGICAL.has(k))) {
    const element = operators(arg, here, field, ctx);
    return (vs) => vs.some((v) => Array.isArray(v) && v.some((e) => element([e], false)));
  }
  const record = query(arg, here, ctx);
  return (vs) => vs.some((v) => Array.isArray(v) && v.some((e) => isPlainObject(e) && record(e)));
}

function range(op: string, o: string | number): ValueTest {
  // MongoDB type bracketing: numbers compare with numbers, strings with strings, nothing else.
  const cmp = (v: unknown): number | undefined =>
    typeof o === 'number' ? (typeof v === 'number' ? v - o : undefined) : typeof v === 'string' ? compareStrings(v, o) : undefined;
  const holds =
    op === '$lt'
      ? (c: number) => c < 0
      : op === '$lte'
        ? (c: number) => c <= 0
        : op === '$gt'
          ? (c: number) => c > 0
          : (c: number) => c >= 0;
  return (vs, leaf) =>
    some(vs, leaf, (v) => {
      const c = cmp(v);
      return c !== undefined && holds(c);
    });
}

/** Strings compare by Unicode code point, as MongoDB's default (binary) collation orders them. */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** UTF-16 units reordered so that surrogates (code points above U+FFFF) sort after U+E000–U+FFFF. */
function codePointRank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  return unit >= 0xe000 ? unit - 0x800 : unit;
}

/** Equality of a record value with a plain operand: `null` also matches a missing field. */
function equals(v: unknown, o: Scalar): boolean {
  return o === null ? v === null || v === MISSING : v === o;
}
