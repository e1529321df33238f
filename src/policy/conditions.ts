import { buildMongoQueryMatcher, type ConditionsMatcher, type MongoQuery } from '@casl/ability';
import { $and, $nor, $not, $or, and, nor, not, or } from '@ucast/mongo2js';
import { getPath, HOSTILE_KEYS } from '../paths.js';
import type { Condition } from './schema.js';

/**
 * Row conditions (`where`, `when`) in CASL's MongoDB syntax.
 *
 * CASL's default matcher treats an operator it does not know (`$or`, `$and`,
 * `$not`, `$nor`, any `$x`) as a literal field name that never matches, so a
 * restriction written with one would never fire and would leak. We support
 * the logical operators properly by giving CASL a matcher that knows them,
 * and refuse every other unknown operator when the policy is loaded.
 */
export const conditionsMatcher: ConditionsMatcher<MongoQuery> = buildMongoQueryMatcher({ $and, $or, $nor, $not }, { and, or, nor, not });

const FIELD_OPERATORS = new Set([
  '$eq', '$ne', '$lt', '$lte', '$gt', '$gte', '$in', '$nin', '$all', '$size', '$regex', '$options', '$elemMatch', '$exists', '$not',
]);
const LIST_OPERATORS = new Set(['$in', '$nin', '$all']);
const TOP_LEVEL_OPERATORS = new Set(['$and', '$or', '$nor']);
const TEMPLATE = /\$\{user\.([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\}/g;
const WHOLE_TEMPLATE = /^\$\{user\.([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\}$/;

/**
 * Every problem in a condition, as `[path, message]` pairs, relative to it.
 *
 * @example
 * conditionProblems({ $where: 'x' }); // [['$where', 'unsupported operator "$where" …']]
 */
export function conditionProblems(condition: Condition, at = ''): [string, string][] {
  // YAML reads .inf and .nan as numbers that JSON, the policy version and the audit trail cannot hold.
  const problems: [string, string][] = at === '' ? nonFiniteNumbers(condition, '') : [];
  for (const [key, value] of Object.entries(condition)) {
    const here = at ? `${at}.${key}` : key;
    if (key.startsWith('$')) {
      if (!TOP_LEVEL_OPERATORS.has(key)) {
        problems.push([here, `unsupported operator "${key}" at the top of a condition: use $and, $or, $nor, or a field name`]);
      } else if (!Array.isArray(value) || value.length === 0 || !value.every(isObject)) {
        problems.push([here, `${key} takes a non-empty list of conditions`]);
      } else {
        value.forEach((c, i) => problems.push(...conditionProblems(c as Condition, `${here}[${i}]`)));
      }
      continue;
    }
    const segments = key.split('.');
    if (segments.some((s) => s === '' || HOSTILE_KEYS.has(s) || s.includes('${'))) {
      problems.push([here, `"${key}" is not a usable field path`]);
      continue;
    }
    problems.push(...fieldProblems(value, here));
  }
  return problems;
}

function nonFiniteNumbers(value: unknown, here: string): [string, string][] {
  if (typeof value === 'number') return Number.isFinite(value) ? [] : [[here, 'a number must be finite (.inf and .nan cannot be compared or recorded)']];
  if (Array.isArray(value)) return value.flatMap((v, i) => nonFiniteNumbers(v, `${here}[${i}]`));
  if (isObject(value)) return Object.entries(value).flatMap(([k, v]) => nonFiniteNumbers(v, here ? `${here}.${k}` : k));
  return [];
}

function fieldProblems(value: unknown, here: string): [string, string][] {
  if (!isObject(value) || !Object.keys(value).some((k) => k.startsWith('$'))) return [];
  const problems: [string, string][] = [];
  for (const [op, arg] of Object.entries(value)) {
    const opAt = `${here}.${op}`;
    if (!op.startsWith('$')) problems.push([opAt, `do not mix operators and field names in one object`]);
    else if (!FIELD_OPERATORS.has(op)) problems.push([opAt, `unsupported operator "${op}": use one of ${[...FIELD_OPERATORS].join(' ')}`]);
    else if (LIST_OPERATORS.has(op) && !Array.isArray(arg) && !isWholeTemplate(arg)) problems.push([opAt, `${op} takes a list`]);
    else if (op === '$not' && !isObject(arg)) problems.push([opAt, '$not takes an operator object such as { $eq: 1 }']);
    else if (op === '$not') problems.push(...fieldProblems(arg, opAt));
    else if (op === '$elemMatch' && !isObject(arg)) problems.push([opAt, '$elemMatch takes a condition']);
    else if (op === '$elemMatch') {
      // `{ $elemMatch: { $gt: 5 } }` matches scalar elements; `{ $elemMatch: { code: 'x' } }` object ones.
      const scalar = Object.keys(arg as Record<string, unknown>).every((k) => k.startsWith('$') && !TOP_LEVEL_OPERATORS.has(k));
      problems.push(...(scalar ? fieldProblems(arg, opAt) : conditionProblems(arg as Condition, opAt)));
    }
  }
  return problems;
}

/** A condition with `${user.x}` claims still to fill in. */
export interface ConditionTemplate {
  /** The condition for this user, or `undefined` when a claim it needs is missing. */
  resolve(user: Readonly<Record<string, unknown>>): Condition | undefined;
}

/**
 * Compile a condition once, at policy load. A condition without claims
 * resolves to the same object every time; one with claims is filled per user.
 * A missing claim, or one that is not a plain value, never becomes
 * `undefined` that matches a missing field: the whole condition is unusable.
 *
 * @example
 * compileCondition({ careTeam: '${user.team}' }).resolve({ team: 'ward-7' }); // { careTeam: 'ward-7' }
 */
export function compileCondition(condition: Condition): ConditionTemplate {
  if (!JSON.stringify(condition).includes('${user.')) return { resolve: () => condition };
  return { resolve: (user) => fill(condition, user) as Condition | undefined };
}

const MISSING = Symbol('missing');

function fill(value: unknown, user: Readonly<Record<string, unknown>>): unknown {
  const out = fillValue(value, user);
  return out === MISSING ? undefined : out;
}

function fillValue(value: unknown, user: Readonly<Record<string, unknown>>): unknown {
  if (typeof value === 'string') return fillString(value, user);
  if (Array.isArray(value)) {
    const items = value.map((v) => fillValue(v, user));
    return items.includes(MISSING) ? MISSING : items;
  }
  if (isObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const filled = fillValue(v, user);
      if (filled === MISSING) return MISSING;
      out[k] = filled;
    }
    return out;
  }
  return value;
}

function fillString(text: string, user: Readonly<Record<string, unknown>>): unknown {
  const whole = WHOLE_TEMPLATE.exec(text);
  if (whole) return claim(user, whole[1]!) ?? MISSING;
  let missing = false;
  const out = text.replace(TEMPLATE, (_, path: string) => {
    const v = claim(user, path);
    if (typeof v === 'string' || typeof v === 'number') return String(v);
    missing = true;
    return '';
  });
  return missing ? MISSING : out;
}

/** A claim usable in a condition: a plain value or a list of them. An object could smuggle operators in. */
function claim(user: Readonly<Record<string, unknown>>, path: string): unknown {
  const v = getPath(user, path);
  const plain = (x: unknown) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean';
  if (plain(v)) return v;
  if (Array.isArray(v) && v.length > 0 && v.every(plain)) return v;
  return undefined;
}

function isWholeTemplate(value: unknown): boolean {
  return typeof value === 'string' && WHOLE_TEMPLATE.test(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
