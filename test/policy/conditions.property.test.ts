import { expect } from 'chai';
import fc from 'fast-check';
import { PolicyError } from '../../src/lib/errors.js';
import { policiesFromSources } from '../../src/engine/policy-set.js';
import { compileShapeGuard } from '../../src/policy/marker-shape.js';

/**
 * The condition evaluator against a second, deliberately plain reading of
 * docs/policy-language.md "Conditions", over generated conditions (every
 * operator the loader accepts, claims included) and generated records. Both
 * run through the real engine: a grant's `where` decides which rows a role
 * sees, a restriction's `when` whether it withholds a field.
 */

const NOW = new Date('2026-06-01T12:00:00Z');
const TRAINED = '2026-01-15';
const CLAIM = '${user.c}';

type Doc = Record<string, unknown>;
type Cond = Record<string, unknown>;

// ---------------------------------------------------------------- the reference reading of the docs

const MISSING = Symbol('missing');
const isObj = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

/** "A dotted path walks into objects; a list met on the way is entered element by element (objects only)." */
function at(v: unknown, path: string[]): unknown[] {
  if (path.length === 0) return [v];
  if (Array.isArray(v)) return v.filter(isObj).flatMap((e) => at(e, path));
  if (isObj(v) && Object.hasOwn(v, path[0]!)) return at(v[path[0]!], path.slice(1));
  return [MISSING];
}

/** "Matches when the list itself or any of its elements satisfies the operator." */
const spread = (values: unknown[]) => values.flatMap((v) => (Array.isArray(v) ? [v, ...v] : [v]));
/** "`null` also matches a missing field"; otherwise plain values are equal only to themselves. */
const same = (x: unknown, o: unknown) => (o === null ? x === null || x === MISSING : x === o);
/** "Strings compare by Unicode code point": UTF-8 bytes order the same way. */
function order(x: unknown, o: unknown): number | undefined {
  if (typeof o === 'number' && typeof x === 'number') return x === o ? 0 : x < o ? -1 : 1;
  if (typeof o === 'string' && typeof x === 'string') return Buffer.compare(Buffer.from(x, 'utf8'), Buffer.from(o, 'utf8'));
  return undefined;
}

function matches(doc: unknown, cond: Cond): boolean {
  return Object.entries(cond).every(([key, value]) => {
    if (key === '$and') return (value as Cond[]).every((c) => matches(doc, c));
    if (key === '$or') return (value as Cond[]).some((c) => matches(doc, c));
    if (key === '$nor') return !(value as Cond[]).some((c) => matches(doc, c));
    const values = at(doc, key.split('.'));
    return isObj(value) ? holds(values, value, true) : spread(values).some((x) => same(x, value));
  });
}

/** An operator object on the values at a path; `expand` is false for the elements `$elemMatch` tests as values. */
function holds(values: unknown[], ops: Doc, expand: boolean): boolean {
  const c = expand ? spread(values) : values;
  return Object.entries(ops).every(([op, o]) => {
    switch (op) {
      case '$eq':
        return c.some((x) => same(x, o));
      case '$ne':
        return !c.some((x) => same(x, o));
      case '$in':
        return c.some((x) => (o as unknown[]).some((y) => same(x, y)));
      case '$nin':
        return !c.some((x) => (o as unknown[]).some((y) => same(x, y)));
      case '$all':
        return (o as unknown[]).every((y) => c.some((x) => same(x, y)));
      case '$lt':
        return c.some((x) => (order(x, o) ?? 0) < 0);
      case '$lte':
        return c.some((x) => order(x, o) !== undefined && order(x, o)! <= 0);
      case '$gt':
        return c.some((x) => (order(x, o) ?? 0) > 0);
      case '$gte':
        return c.some((x) => order(x, o) !== undefined && order(x, o)! >= 0);
      case '$size':
        return values.some((v) => Array.isArray(v) && v.length === o);
      case '$exists':
        return values.some((v) => v !== MISSING) === o;
      case '$regex':
        return c.some((x) => typeof x === 'string' && new RegExp(o as string, (ops['$options'] as string | undefined) ?? '').test(x));
      case '$options':
        return true;
      case '$not':
        return !holds(values, o as Doc, expand);
      case '$elemMatch': {
        // "Operators test elements as values; fields (or only $and/$or/$nor) test object elements as records."
        const valueForm = Object.keys(o as Doc).every((k) => k.startsWith('$') && !['$and', '$or', '$nor'].includes(k));
        return values.some(
          (v) => Array.isArray(v) && v.some((e) => (valueForm ? holds([e], o as Doc, false) : isObj(e) && matches(e, o as Cond))),
        );
      }
      default:
        throw new Error(`the reference does not know ${op}`);
    }
  });
}

/**
 * "A whole-string template takes the claim's value; in $in, $nin and $all a
 * claim holding one value counts as a list of one." `undefined`: unusable (a
 * claim missing, or of a kind the operator cannot take).
 */
function fill(cond: unknown, claim: unknown, op = ''): unknown {
  if (cond === CLAIM) {
    // "A claim that is missing, null, or an object makes the condition unusable" (so does a list holding one).
    if (claim === undefined || claim === null || (Array.isArray(claim) && claim.some((x) => x === null))) return undefined;
    if (['$in', '$nin', '$all'].includes(op)) return Array.isArray(claim) ? claim : [claim];
    if (Array.isArray(claim) || (['$lt', '$lte', '$gt', '$gte'].includes(op) && typeof claim === 'boolean')) return undefined;
    return claim;
  }
  if (Array.isArray(cond)) {
    const out = cond.map((c) => fill(c, claim, op));
    return out.includes(undefined) ? undefined : out;
  }
  if (isObj(cond)) {
    const out: Doc = {};
    for (const [k, v] of Object.entries(cond)) {
      const f = fill(v, claim, k.startsWith('$') ? k : '');
      if (f === undefined) return undefined;
      out[k] = f;
    }
    return out;
  }
  return cond;
}

// ---------------------------------------------------------------- generated conditions and records

const PLAIN = ['x', 'y', 'X', 'xy', '1', 'true', '', '\u{1F600}', '\uFFFD', 0, 1, 2, 2.5, -1, true, false, null] as const;
const plainArb = fc.constantFrom(...PLAIN);
const orderedArb = fc.constantFrom(...PLAIN.filter((p) => typeof p === 'string' || typeof p === 'number'));
const claimOr = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 5, arbitrary: arb }, { weight: 1, arbitrary: fc.constant(CLAIM) });
const listArb = (min: number) => fc.array(plainArb, { minLength: min, maxLength: 3 });

/** A generated operator object: unique operators, every one the loader accepts. */
function opsArb(depth: number, inElemMatch: boolean): fc.Arbitrary<Doc> {
  const entries: fc.Arbitrary<[string, unknown][]>[] = [
    fc.tuple(fc.constantFrom('$eq', '$ne'), claimOr(plainArb)).map((e) => [e]),
    fc.tuple(fc.constantFrom('$lt', '$lte', '$gt', '$gte'), claimOr(orderedArb)).map((e) => [e]),
    fc.tuple(fc.constantFrom('$in', '$nin'), claimOr(listArb(0))).map((e) => [e]),
    claimOr(listArb(1)).map((l) => [['$all', l]]),
    fc.nat({ max: 3 }).map((n) => [['$size', n]]),
    fc.boolean().map((b) => [['$exists', b]]),
    fc.tuple(fc.constantFrom('^x', 'x$', 'X', 'y|1', '^$', '\u{1F600}'), fc.constantFrom(undefined, 'i')).map(([p, o]) =>
      o
        ? [
            ['$regex', p],
            ['$options', o],
          ]
        : [['$regex', p]],
    ),
  ];
  if (depth > 0) {
    entries.push(opsArb(depth - 1, inElemMatch).map((o) => [['$not', o]]));
    if (!inElemMatch) entries.push(fc.oneof(opsArb(depth - 1, true), condArb(depth - 1, ['x', 'y'])).map((o) => [['$elemMatch', o]]));
  }
  return fc.array(fc.oneof(...entries), { minLength: 1, maxLength: 3 }).map((groups) => {
    const out: Doc = {};
    for (const group of groups) {
      if (group.some(([op]) => Object.hasOwn(out, op))) continue;
      for (const [op, arg] of group) out[op] = arg;
    }
    return out;
  });
}

function condArb(depth: number, paths: string[]): fc.Arbitrary<Cond> {
  const field = fc.tuple(fc.constantFrom(...paths), fc.oneof(claimOr(plainArb), opsArb(depth, false)));
  const logical =
    depth > 0
      ? [fc.tuple(fc.constantFrom('$and', '$or', '$nor'), fc.array(condArb(depth - 1, paths), { minLength: 1, maxLength: 2 }))]
      : [];
  return fc
    .uniqueArray(fc.oneof({ weight: 3, arbitrary: field }, ...logical.map((arbitrary) => ({ weight: 1, arbitrary }))), {
      minLength: 1,
      maxLength: 2,
      selector: ([k]) => k,
    })
    .map((entries) => Object.fromEntries(entries));
}

/** Shallow conditions on few paths hit each operator's edges often; deep ones combine them. */
const shallowArb = condArb(1, ['f', 'n.x']);
const conditionArb = condArb(2, ['f', 'g', 'n.x', 'n.y']);
const RUNS: [string, fc.Arbitrary<Cond>, number][] = [
  ['shallow', shallowArb, 1000],
  ['nested', conditionArb, 400],
];

const leafArb = fc.oneof(plainArb, fc.array(plainArb, { maxLength: 3 }));
const elementArb = fc.oneof(plainArb, fc.array(plainArb, { maxLength: 2 }), fc.record({ x: leafArb, y: leafArb }, { requiredKeys: [] }));
const valueArb = fc.oneof(plainArb, fc.array(elementArb, { maxLength: 3 }), fc.record({ x: leafArb, y: leafArb }, { requiredKeys: [] }));
const recordsArb = fc
  .array(fc.record({ f: valueArb, g: valueArb, n: valueArb }, { requiredKeys: [] }), { minLength: 1, maxLength: 12 })
  .map((rows) => rows.map((r, i) => ({ id: `r${i}`, address: `Address ${i}`, ...r })));
const claimArb = fc.option(fc.oneof(plainArb, fc.array(plainArb, { minLength: 1, maxLength: 2 })), { nil: undefined });

// ---------------------------------------------------------------- the engine

/** Role `g` sees rows through a grant with `where`; role `r` sees every row, minus the address when `when` fires. */
function engine(where: Cond, when: Cond) {
  const policy = {
    resources: { P: { fields: { id: 'identifier', address: 'direct' } } },
    purposes: { care: { lawfulBasis: { article6: '6(1)(e)' }, reviewBy: '2099-12-31', views: { P: { fields: ['id', 'address'] } } } },
    roles: {
      g: { grants: [{ purpose: 'care', resource: 'P', read: 'view', where }] },
      r: { grants: [{ purpose: 'care', resource: 'P', read: 'view' }] },
    },
    restrictions: [{ name: 'marker', resource: 'P', when, withhold: ['address'], because: 'Disclosing it can put the person in danger' }],
  };
  const policies = policiesFromSources([{ file: 'generated.json', text: JSON.stringify(policy) }], { now: NOW });
  const redact = (role: string, rows: Doc[], claim: unknown) =>
    policies.redact(rows, {
      resource: 'P',
      purpose: 'care',
      now: NOW,
      user: { sub: 'u1', roles: [role], training: TRAINED, ...(claim === undefined ? {} : { c: claim }) },
    }).data as Doc[];
  return {
    granted: (rows: Doc[], claim: unknown) => redact('g', rows, claim).map((r) => r['id']),
    withheld: (rows: Doc[], claim: unknown) =>
      redact('r', rows, claim)
        .filter((r) => !('address' in r))
        .map((r) => r['id']),
  };
}

describe('conditions (differential, generated)', () => {
  for (const [kind, arb, numRuns] of RUNS) {
    it(`a grant's where shows exactly the rows the documented semantics match (${kind} conditions)`, () => {
      fc.assert(
        fc.property(arb, recordsArb, claimArb, (where, rows, claim) => {
          const filled = fill(where, claim) as Cond | undefined;
          const expected = rows.filter((r) => filled !== undefined && matches(r, filled)).map((r) => r.id);
          expect(engine(where, { never: 'set' }).granted(rows, claim)).to.deep.equal(expected);
        }),
        { numRuns },
      );
    });

    it(`a restriction's when withholds exactly where the documented semantics match, a claim is unusable, or a marker has an odd shape (${kind} conditions)`, () => {
      fc.assert(
        fc.property(arb, recordsArb, claimArb, (when, rows, claim) => {
          const filled = fill(when, claim) as Cond | undefined;
          const odd = compileShapeGuard(when);
          const expected = rows.filter((r) => filled === undefined || matches(r, filled) || odd?.(r) === true).map((r) => r.id);
          expect(engine({ never: 'set' }, when).withheld(rows, claim)).to.deep.equal(expected);
        }),
        { numRuns },
      );
    });
  }

  it('a condition either is refused at load or answers every request without throwing, whatever the claims and records', () => {
    // Mostly near-valid shapes, with every kind of wrong operand mixed in.
    const operators = ['$eq', '$ne', '$lt', '$gte', '$in', '$nin', '$all', '$size', '$exists', '$regex', '$options', '$not', '$elemMatch'];
    const fields = ['f', 'n.x', '$and', '$or', '$nor', '$eq'];
    const { condition } = fc.letrec((tie) => ({
      anything: fc.oneof(
        { depthSize: 'small' },
        { weight: 4, arbitrary: plainArb },
        { weight: 1, arbitrary: fc.constantFrom(CLAIM, 'ward-${user.c}', '(', Number.POSITIVE_INFINITY, 3.5) },
        { weight: 1, arbitrary: fc.array(tie('anything'), { maxLength: 3 }) },
        { weight: 2, arbitrary: tie('operators') },
        { weight: 1, arbitrary: tie('condition') },
      ),
      operators: fc.dictionary(fc.constantFrom(...operators), tie('anything'), { minKeys: 1, maxKeys: 2 }),
      condition: fc.dictionary(fc.constantFrom(...fields), tie('anything'), { minKeys: 1, maxKeys: 2 }),
    }));
    const claims = fc.oneof(claimArb, fc.constant({ $ne: null }), fc.constant([['x']]));
    let loaded = 0;
    fc.assert(
      fc.property(condition as fc.Arbitrary<Cond>, recordsArb, claims, (cond, rows, claim) => {
        let run: ReturnType<typeof engine>;
        try {
          run = engine(cond, cond);
        } catch (e) {
          expect(e).to.be.instanceOf(PolicyError);
          return;
        }
        loaded++;
        run.granted(rows, claim);
        run.withheld(rows, claim);
      }),
      { numRuns: 1000 },
    );
    expect(loaded, 'some generated conditions load').to.be.greaterThan(50);
  });

  it('generates every operator the loader accepts', () => {
    const seen = new Set<string>();
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (isObj(v))
        for (const [k, x] of Object.entries(v)) {
          if (k.startsWith('$')) seen.add(k);
          walk(x);
        }
    };
    fc.sample(conditionArb, { numRuns: 500, seed: 1 }).forEach(walk);
    expect([...seen].sort()).to.deep.equal(
      [
        '$all',
        '$and',
        '$elemMatch',
        '$eq',
        '$exists',
        '$gt',
        '$gte',
        '$in',
        '$lt',
        '$lte',
        '$ne',
        '$nin',
        '$nor',
        '$not',
        '$options',
        '$or',
        '$regex',
        '$size',
      ].sort(),
    );
  });
});
