import { createMongoAbility, type MongoAbility, type RawRuleOf } from '@casl/ability';
import { AccessError } from './access-error.js';
import { type AccessCode, publicText, statusOf } from '../lib/error-codes.js';
import type { FieldmeshError } from '../lib/errors.js';
import { pathsOf, type CompiledGrant } from './compile.js';
import type { Condition, TransformName } from '../policy/schema.js';
import { splitPath } from '../lib/paths.js';
import { isExempt, type Plan, type Refusal, type RequestContext, type UserClaims } from './plan.js';

/**
 * The server's read rules as a CASL ability for a front end (docs/front-end.md):
 * `ability.can('read', subject('Patient', record), 'address')` says whether
 * the server will disclose some form of that field of that record to this
 * user for this purpose. Built from the same plan the server redacts with,
 * so the two agree; where a rule cannot be said in rules a browser can
 * evaluate, the ability hides more than the server would, never less, except
 * on markers in shapes CASL cannot tell apart (docs/front-end.md lists them).
 */
export type PolicyAbility = MongoAbility & {
  /** Field paths the server discloses only transformed (`nhsNumber: 'pseudonym'`): the browser cannot compute them. */
  readonly transforms: Readonly<Record<string, TransformName>>;
  /** Why the server refuses this user every record of the resource for the purpose; then the ability can do nothing. */
  readonly refusal?: Refusal;
};

type Rule = RawRuleOf<MongoAbility>;

/** What an ability is built from: a `PolicySet`, or anything that plans as one and says why it refuses every read. */
export interface AbilitySource {
  plan(ctx: RequestContext, action?: 'read'): Plan;
  /** Why every read with the plan is refused before any row (no pseudonym key where the view pseudonymises), or nothing. */
  readRefusal?(plan: Plan): FieldmeshError | undefined;
}

/** When the ability is asked for: a break-glass reason for a `breakGlass: true` purpose, and the clock. */
export interface AbilityOptions {
  breakGlass?: string | undefined;
  now?: Date | undefined;
}

/**
 * The CASL ability of what the server will let `user` read of `resource`
 * records for `purpose` (docs/front-end.md). A refused request gives an
 * ability that can do nothing, with `refusal` saying why. Its rules are
 * plain JSON: pack them with `packRules` from `@casl/ability/extra` for the
 * browser, which builds its own with `createMongoAbility(unpackRules(packed))`.
 *
 * @example
 * const ability = abilityFor(policies, { sub: 'u1', roles: ['gp'], practice: 'B86001', training: '2026-06-01' }, 'direct-care', 'Patient');
 * res.json(packRules(ability.rules));
 */
export function abilityFor(
  policies: AbilitySource,
  user: UserClaims,
  purpose: string,
  resource: string,
  opts: AbilityOptions = {},
): PolicyAbility {
  let plan: Plan;
  try {
    plan = policies.plan({ resource, purpose, user, breakGlass: opts.breakGlass, now: opts.now }, 'read');
  } catch (e) {
    if (e instanceof AccessError) return refusedAbility(e);
    throw e;
  }
  // The server refuses every record it would disclose (redact.ts ProjectionCache.keyMissing): so does the ability.
  const missing = policies.readRefusal?.(plan);
  if (missing) return refusedAbility(missing);
  return abilityFromPlan(plan);
}

/**
 * The ability of a planned read (`policies.plan(ctx)`), or of a refused one.
 * It knows the plan only: ask `abilityFor` for one that also refuses when the
 * set has no pseudonym key for a purpose that pseudonymises.
 *
 * @example
 * const ability = abilityFromPlan(policies.plan({ resource: 'Patient', purpose: 'direct-care', user }));
 * packRules(ability.rules); // send to the browser
 */
export function abilityFromPlan(plan: Plan): PolicyAbility {
  const subject = plan.resource.name;
  const rules: Rule[] = [];
  const fieldsOf = (mask: bigint) => fieldPatterns(pathsOf(plan.resource, mask & plan.view.mask), plan.view.declaredOnly);
  let granted = 0n;
  for (const { grant } of plan.grants) {
    const fields = fieldsOf(grant.read);
    if (fields.length === 0) continue;
    const terms = grantTerms(grant, plan);
    // A row condition the browser cannot evaluate as the server does: the grant is left out, so it hides more.
    if (terms === UNREPRESENTABLE) continue;
    granted |= grant.read;
    // CASL says "or" with one rule per alternative; its default matcher reads no $and, $or or $nor.
    for (const t of terms)
      rules.push(isEmpty(t) ? { action: 'read', subject, fields } : { action: 'read', subject, fields, conditions: written(t) });
  }
  for (const { restriction } of plan.restrictions) {
    const base: Rule = { action: 'read', subject, inverted: true, reason: restriction.because };
    if (!restriction.record) base.fields = fieldPatterns(restriction.fields, false);
    const when = restriction.when ? dnf(restriction.when.resolve(plan.ctx.user), 'cannot') : [{}];
    // A `when` the browser cannot evaluate (or that reads a claim the user lacks): it fires on every row, as on the server.
    if (when === UNREPRESENTABLE) {
      rules.push(base);
      continue;
    }
    // Exempt where a grant of an exempt role matches the row (plan.ts isExempt): the restriction fires unless one does.
    const exempt = plan.grants.filter(
      (g) => restriction.unlessRoles !== undefined && isExempt(restriction, [g.grant.role], plan.purpose.name),
    );
    if (exempt.some((g) => g.grant.where === undefined)) continue;
    let terms: Term[] = when;
    for (const g of exempt) {
      const matches = grantTerms(g.grant, plan);
      // An exemption the browser cannot evaluate is not counted: the restriction fires more, never less.
      if (matches === UNREPRESENTABLE) continue;
      const next = product(terms, negation(matches), 'cannot');
      if (next === UNREPRESENTABLE) continue;
      terms = next;
    }
    for (const t of terms) rules.push(isEmpty(t) ? base : { ...base, conditions: written(t) });
  }
  rules.push(...gateRules(plan, subject));
  const transforms: Record<string, TransformName> = {};
  for (const [path, t] of plan.view.transforms) if ((granted & plan.resource.bits.get(path)!) !== 0n) transforms[path] = t;
  return withFacts(createMongoAbility(rules), transforms, undefined);
}

/**
 * The ability of a request the server refuses before any record (unknown
 * purpose, expired flow, training, break-glass, no grant, no pseudonym key):
 * it can do nothing, and says why. A refusal the server answers with a 5xx
 * carries that code's public text, never its internal message.
 */
export function refusedAbility(e: AccessError | FieldmeshError): PolicyAbility {
  const code = e.code as AccessCode;
  const message = statusOf(code) >= 500 ? publicText(code) : e.message;
  return withFacts(createMongoAbility([]), {}, { code, message });
}

function withFacts(ability: MongoAbility, transforms: Record<string, TransformName>, refusal: Refusal | undefined): PolicyAbility {
  Object.defineProperty(ability, 'transforms', { value: Object.freeze(transforms), enumerable: true });
  if (refusal) Object.defineProperty(ability, 'refusal', { value: Object.freeze(refusal), enumerable: true });
  return ability as PolicyAbility;
}

/** A field grants its subtree: `address` and `address.**` (any depth). A non-identifiable view copies declared paths only. */
function fieldPatterns(paths: readonly string[], declaredOnly: boolean): string[] {
  return declaredOnly ? [...paths] : paths.flatMap((p) => [p, `${p}.**`]);
}

const UNREPRESENTABLE = Symbol('unrepresentable');
/** Most alternatives one condition may become; more, and it counts as one the browser cannot evaluate. */
const MAX_TERMS = 32;

type Scalar = string | number | boolean;
/** One alternative: every field's comparisons hold (CASL's own "and": several keys, several operators). */
type Term = Record<string, Record<string, Scalar | Scalar[] | boolean>>;
/** How a clash of two comparisons on one field is settled: a grant drops the alternative, a restriction keeps the first (fires more). */
type Mode = 'can' | 'cannot';

/** A grant's `where` for this user as alternatives; `UNREPRESENTABLE` when the browser cannot evaluate it, or a claim is missing. */
function grantTerms(grant: CompiledGrant, plan: Plan): Term[] | typeof UNREPRESENTABLE {
  return grant.where ? dnf(grant.where.resolve(plan.ctx.user), 'can') : [{}];
}

/**
 * A resolved condition as alternatives of plain JSON comparisons that CASL's
 * default matcher answers as the engine's evaluator does (policy/evaluate.ts):
 * equality with a string, a finite number or a boolean, `$eq`, `$ne`, `$in`
 * and `$nin` of such values, `$exists`, through `$and` and `$or`. Ranges,
 * `$regex`, `$size`, `$all`, `$not`, `$elemMatch`, `$nor`, `null` and object
 * or list operands CASL compares otherwise or not at all: `UNREPRESENTABLE`,
 * and the caller fails closed. So is `undefined`: a claim the user lacks.
 */
function dnf(condition: Condition | undefined, mode: Mode): Term[] | typeof UNREPRESENTABLE {
  if (condition === undefined) return UNREPRESENTABLE;
  let terms: Term[] = [{}];
  for (const [key, value] of Object.entries(condition)) {
    let alternatives: Term[] | typeof UNREPRESENTABLE;
    if (key === '$and' || key === '$or') {
      if (!Array.isArray(value) || value.length === 0) return UNREPRESENTABLE;
      const parts = value.map((part) => (isObject(part) ? dnf(part, mode) : UNREPRESENTABLE));
      if (parts.some((p) => p === UNREPRESENTABLE)) return UNREPRESENTABLE;
      const lists = parts as Term[][];
      alternatives =
        key === '$or'
          ? lists.flat()
          : lists.reduce<Term[] | typeof UNREPRESENTABLE>((acc, p) => (acc === UNREPRESENTABLE ? acc : product(acc, p, mode)), [{}]);
    } else if (key.startsWith('$') || splitPath(key).some((s) => s.startsWith('$'))) {
      return UNREPRESENTABLE;
    } else {
      const ops = comparisons(value);
      if (ops === UNREPRESENTABLE) return UNREPRESENTABLE;
      alternatives = [{ [key]: ops }];
    }
    if (alternatives === UNREPRESENTABLE) return UNREPRESENTABLE;
    const next = product(terms, alternatives, mode);
    if (next === UNREPRESENTABLE) return UNREPRESENTABLE;
    terms = next;
  }
  return terms;
}

function comparisons(value: unknown): Term[string] | typeof UNREPRESENTABLE {
  if (isScalar(value)) return { $eq: value };
  if (!isObject(value)) return UNREPRESENTABLE;
  const entries = Object.entries(value);
  if (entries.length === 0) return UNREPRESENTABLE;
  const out: Term[string] = {};
  for (const [op, arg] of entries) {
    if ((op === '$eq' || op === '$ne') && isScalar(arg)) out[op] = arg;
    else if ((op === '$in' || op === '$nin') && Array.isArray(arg) && arg.length > 0 && arg.every(isScalar)) out[op] = [...arg];
    else if (op === '$exists' && typeof arg === 'boolean') out[op] = arg;
    else return UNREPRESENTABLE;
  }
  return out;
}

/** Every alternative of `a` and of `b` together. */
function product(a: Term[], b: Term[], mode: Mode): Term[] | typeof UNREPRESENTABLE {
  const out: Term[] = [];
  for (const x of a) {
    for (const y of b) {
      const merged = merge(x, y, mode);
      if (merged !== UNREPRESENTABLE) out.push(merged);
    }
  }
  return out.length > MAX_TERMS || (out.length === 0 && mode === 'cannot') ? UNREPRESENTABLE : out;
}

/** Both alternatives at once; `$ne` and `$nin` on one field join into one `$nin`. */
function merge(x: Term, y: Term, mode: Mode): Term | typeof UNREPRESENTABLE {
  const out: Term = { ...x };
  for (const [field, ops] of Object.entries(y)) {
    const have = { ...(out[field] ?? {}) };
    for (const [op, arg] of Object.entries(ops)) {
      if (op === '$ne' || op === '$nin') {
        const excluded = [...toList(have['$nin']), ...toList(have['$ne']), ...toList(arg)];
        delete have['$ne'];
        have['$nin'] = [...new Set(excluded)];
      } else if (!Object.hasOwn(have, op)) have[op] = arg;
      // The same comparison twice with other operands: a grant's alternative is dropped (hides more); a
      // restriction keeps the first only, which matches more rows (fires more).
      else if (JSON.stringify(have[op]) !== JSON.stringify(arg) && mode === 'can') return UNREPRESENTABLE;
    }
    out[field] = have;
  }
  return out;
}

/**
 * The complement of alternatives, as alternatives: not (A or B) is (not A)
 * and (not B); not (a and b) is (not a) or (not b); and under MongoDB
 * semantics `$ne`, `$nin` and `$exists: false` match exactly the rows `$eq`,
 * `$in` and `$exists: true` do not (lists and missing fields included).
 */
function negation(terms: Term[]): Term[] {
  let out: Term[] = [{}];
  for (const t of terms) {
    const alternatives = Object.entries(t).flatMap(([field, ops]) =>
      Object.entries(ops).map(([op, arg]): Term => ({ [field]: op === '$exists' ? { $exists: !arg } : { [NEGATED[op]!]: arg } })),
    );
    const next = product(out, alternatives, 'cannot');
    if (next === UNREPRESENTABLE) return [];
    out = next;
  }
  return out;
}

const NEGATED: Record<string, string> = { $eq: '$ne', $ne: '$eq', $in: '$nin', $nin: '$in' };

/** A term as conditions: `{ careTeam: 'ward-7' }` for a plain equality, operators otherwise. */
function written(t: Term): Condition {
  return Object.fromEntries(
    Object.entries(t).map(([field, ops]) => {
      const keys = Object.keys(ops);
      return [field, keys.length === 1 && keys[0] === '$eq' ? ops['$eq']! : ops];
    }),
  );
}

function toList(v: unknown): Scalar[] {
  return v === undefined ? [] : Array.isArray(v) ? (v as Scalar[]) : [v as Scalar];
}

function isEmpty(t: Term): boolean {
  return Object.keys(t).length === 0;
}

/**
 * Rows the purpose withholds whole before any grant (redact.ts gateReason):
 * opted out (a marker that is neither absent, `false` nor `null`, also as
 * an element of a list) and, where consent is required, a consent that is
 * not `granted` everywhere it is given. A purpose name holding a dot cannot
 * be a path segment here: every row is withheld (fail closed).
 */
function gateRules(plan: Plan, subject: string): Rule[] {
  const withhold = (reason: string, conditions?: Condition): Rule =>
    conditions === undefined
      ? { action: 'read', subject, inverted: true, reason }
      : { action: 'read', subject, inverted: true, reason, conditions };
  const rules: Rule[] = [];
  const { optOut, consent } = plan.resource.def;
  if (plan.purpose.def.optOut === 'respect' && optOut !== undefined) {
    const set = { $nin: [false, null] };
    rules.push(withhold('national data opt-out', { [optOut]: { $exists: true, ...set } }));
    rules.push(withhold('national data opt-out', { [optOut]: { $elemMatch: set } }));
  }
  if (plan.purpose.def.consent === 'required' && consent !== undefined) {
    const at = `${consent}.${plan.purpose.name}`;
    if (plan.purpose.name.includes('.')) rules.push(withhold('consent not granted'));
    else {
      // `$ne` matches a missing consent too; `$elemMatch` a refusal in a list beside a grant.
      rules.push(withhold('consent not granted', { [at]: { $ne: 'granted' } }));
      rules.push(withhold('consent not granted', { [at]: { $elemMatch: { $ne: 'granted' } } }));
    }
  }
  return rules;
}

function isScalar(v: unknown): v is string | number | boolean {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
