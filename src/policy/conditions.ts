import type { ConditionsMatcher, MongoQuery } from '@casl/ability';
import { claimNames, claimOf, isMalformedTemplate, isWholeTemplate, TEMPLATE, TEMPLATE_FORM, WHOLE_TEMPLATE } from './templates.js';
import { compileQuery, type RecordPredicate } from './evaluate.js';
import type { Condition } from './schema.js';

/**
 * Row conditions (`where`, `when`) in MongoDB query syntax, with MongoDB's
 * semantics (docs/policy-language.md "Conditions"), evaluated by our own
 * evaluator (`evaluate.ts`) rather than CASL's default one, which compares
 * values of different types and ignores operators it does not know.
 */

/** Predicates of the conditions handed to CASL, compiled before CASL sees them. */
const compiled = new WeakMap<object, RecordPredicate>();

/**
 * The matcher CASL calls for each rule's conditions. Every condition a plan
 * hands CASL went through `compileCondition`, which compiled it already; one
 * that did not is a programming error, refused rather than guessed at.
 *
 * @example
 * createMongoAbility(rules, { conditionsMatcher });
 */
export const conditionsMatcher: ConditionsMatcher<MongoQuery> = (conditions) => {
  const match = compiled.get(conditions) ?? compileQuery(conditions as Condition, { templates: false }).match;
  if (!match) throw new TypeError('conditionsMatcher: a condition that was never validated reached the engine');
  return match;
};

const LIST_OPERATORS = new Set(['$in', '$nin', '$all']);

/**
 * Every problem in a condition, as `[path, message]` pairs, relative to it.
 * A `${user.x}` claim may stand where its value will be usable; what the claim
 * turns out to hold is checked again per request (`compileCondition`).
 *
 * @example
 * conditionProblems({ $where: 'x' }); // [['$where', 'unsupported operator "$where" …']]
 */
export function conditionProblems(condition: Condition): [string, string][] {
  return [...malformedTemplates(condition, ''), ...compileQuery(condition, { templates: true }).problems];
}

/** Every string holding `${` that is not a well-formed claim template, as a problem naming the accepted form. */
function malformedTemplates(value: unknown, here: string): [string, string][] {
  if (typeof value === 'string') {
    return isMalformedTemplate(value) ? [[here, `not a claim template: write ${TEMPLATE_FORM}`]] : [];
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => malformedTemplates(v, `${here}[${i}]`));
  if (isObject(value)) return Object.entries(value).flatMap(([k, v]) => malformedTemplates(v, here ? `${here}.${k}` : k));
  return [];
}

/** A condition with `${user.x}` claims still to fill in. */
export interface ConditionTemplate {
  /**
   * The condition for this user, compiled and ready for `conditionsMatcher`;
   * `undefined` when it is unusable: a claim it needs is missing, or holds a
   * value the condition cannot compare with (a list where one value belongs).
   */
  resolve(user: Readonly<Record<string, unknown>>): Condition | undefined;
  /**
   * The top-level record keys the condition reads (the first segment of
   * every field path, through `$and`, `$or` and `$nor`); `undefined` when
   * that cannot be told exactly, and the whole record counts as read.
   */
  readonly reads: readonly string[] | undefined;
  /** The condition as the policy wrote it: what `fieldmesh diff` compares (by canonical JSON). */
  readonly source: Condition;
  /**
   * The top-level claim names its `${user…}` templates read, sorted (none
   * for a condition without claims): a user lacking one gets no usable
   * condition, and the decision trace names it.
   */
  readonly claims: readonly string[];
}

/**
 * Compile a condition once, at policy load. A condition without claims
 * resolves to the same object every time; one with claims is filled per user
 * and compiled again. A missing claim, or one that is not a plain value,
 * never becomes `undefined` that matches a missing field: the whole condition
 * is unusable, and the plan fails closed (a grant never matches, a
 * restriction always fires). Nothing here throws at request time.
 *
 * @example
 * compileCondition({ careTeam: '${user.team}' }).resolve({ team: 'ward-7' }); // { careTeam: 'ward-7' }
 * compileCondition({ ward: { $in: '${user.wards}' } }).resolve({ wards: 'ward-7' }); // { ward: { $in: ['ward-7'] } }
 */
export function compileCondition(condition: Condition): ConditionTemplate {
  const reads = conditionReads(condition);
  if (!JSON.stringify(condition).includes('${user')) {
    const usable = usableCondition(condition);
    return { resolve: () => usable, reads, source: condition, claims: [] };
  }
  const names = new Set<string>();
  claimNames(condition, names);
  return {
    reads,
    source: condition,
    claims: Object.freeze([...names].sort()),
    resolve: (user) => {
      const filled = fill(condition, user) as Condition | undefined;
      return filled && usableCondition(filled);
    },
  };
}

/**
 * The top-level keys of a record that a condition reads: the first segment
 * of each field path, collected through `$and`, `$or` and `$nor` (claims fill
 * values, never keys). `undefined` for anything else at the top of a
 * condition, which might read the whole record: the caller then takes the
 * whole record as read (fail closed).
 *
 * @example
 * conditionReads({ $or: [{ sealed: true }, { 'meta.security.code': 'R' }] }); // ['sealed', 'meta']
 */
export function conditionReads(condition: unknown): string[] | undefined {
  const keys = new Set<string>();
  const visit = (c: unknown): boolean => {
    if (!isObject(c)) return false;
    for (const [key, value] of Object.entries(c)) {
      if (key === '$and' || key === '$or' || key === '$nor') {
        if (!Array.isArray(value) || !value.every((v) => visit(v))) return false;
      } else if (key.startsWith('$')) return false;
      else keys.add(key.split('.')[0]!);
    }
    return true;
  };
  return visit(condition) ? [...keys] : undefined;
}

/** The condition, once its predicate is compiled for CASL; `undefined` when it cannot be evaluated. */
function usableCondition(condition: Condition): Condition | undefined {
  const { match } = compileQuery(condition, { templates: false });
  if (!match) return undefined;
  compiled.set(condition, match);
  return condition;
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
      // `$in: "${user.teams}"` with a single team claimed means a list of one.
      const filled = LIST_OPERATORS.has(k) && isWholeTemplate(v) ? asList(fillValue(v, user)) : fillValue(v, user);
      if (filled === MISSING) return MISSING;
      out[k] = filled;
    }
    return out;
  }
  return value;
}

function fillString(text: string, user: Readonly<Record<string, unknown>>): unknown {
  const whole = WHOLE_TEMPLATE.exec(text);
  if (whole) return claim(user, whole) ?? MISSING;
  let missing = false;
  const out = text.replace(TEMPLATE, (...match: (string | undefined)[]) => {
    const v = claim(user, match);
    if (typeof v === 'string' || typeof v === 'number') return String(v);
    missing = true;
    return '';
  });
  return missing ? MISSING : out;
}

/** A claim usable in a condition: a plain value or a list of them. An object could smuggle operators in. */
function claim(user: Readonly<Record<string, unknown>>, match: readonly (string | undefined)[]): unknown {
  const v = claimOf(user, match);
  const plain = (x: unknown) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean';
  if (plain(v)) return v;
  if (Array.isArray(v) && v.length > 0 && v.every(plain)) return v;
  return undefined;
}

function asList(value: unknown): unknown {
  return value === MISSING || Array.isArray(value) ? value : [value];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
