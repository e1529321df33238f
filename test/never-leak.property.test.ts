import { expect } from 'chai';
import fc from 'fast-check';
import { AccessError } from '../src/engine/access-error.js';
import { policiesFromSources } from '../src/engine/policy-set.js';

/**
 * The engine's central promise, checked against generated policies and
 * records: nothing leaves that the policy does not permit. What "permits"
 * means is computed here a second time, by a deliberately naive reading of
 * docs/policy-language.md, "What a user may read": view ∩ union of the matching grants − firing
 * restrictions, a field's subtree following its longest declared prefix.
 */

const NOW = new Date('2026-06-01T12:00:00Z');
const TRAINED = '2026-01-15';
const SEGMENTS = ['id', 'name', 'address', 'postcode', 'line', 'telecom', 'value', 'code'] as const;
const UNDECLARED = ['extra', 'note', 'geo'] as const;
const HOSTILE = ['__proto__', 'constructor', 'prototype'] as const;
const CLASSES = ['identifier', 'direct', 'quasi', 'special', 'operational'] as const;
const FLAGS = ['a', 'b', 'c'] as const;
const ROLES = ['r0', 'r1', 'r2'] as const;
const PURPOSES = ['p0', 'p1'] as const;
type PurposeName = (typeof PURPOSES)[number];
const MARKER = /M\d+Z/g;

// ---------------------------------------------------------------- conditions on the marker field `flag`

type Cond =
  | { kind: 'eq'; v: string }
  | { kind: 'in'; vs: string[] }
  | { kind: 'ne'; v: string }
  | { kind: 'or'; vs: [string, string] }
  | { kind: 'nor'; v: string }
  | { kind: 'claim' };

const flagArb = fc.constantFrom(...FLAGS);
const condArb: fc.Arbitrary<Cond> = fc.oneof(
  flagArb.map((v) => ({ kind: 'eq' as const, v })),
  fc.subarray([...FLAGS], { minLength: 1 }).map((vs) => ({ kind: 'in' as const, vs })),
  flagArb.map((v) => ({ kind: 'ne' as const, v })),
  fc.tuple(flagArb, flagArb).map((vs) => ({ kind: 'or' as const, vs })),
  flagArb.map((v) => ({ kind: 'nor' as const, v })),
  fc.constant({ kind: 'claim' as const }),
);

function conditionOf(c: Cond): Record<string, unknown> {
  switch (c.kind) {
    case 'eq':
      return { flag: c.v };
    case 'in':
      return { flag: { $in: c.vs } };
    case 'ne':
      return { flag: { $ne: c.v } };
    case 'or':
      return { $or: [{ flag: c.vs[0] }, { flag: c.vs[1] }] };
    case 'nor':
      return { $nor: [{ flag: c.v }] };
    case 'claim':
      return { flag: '${user.flag}' };
  }
}

/** MongoDB equality on a field that may hold a list: any element counts. */
const has = (flag: unknown, v: string) => flag === v || (Array.isArray(flag) && flag.includes(v));

/** Whether a condition holds; `undefined` when it needs a claim the user lacks. */
function holds(c: Cond, flag: unknown, claim: string | undefined): boolean | undefined {
  switch (c.kind) {
    case 'eq':
      return has(flag, c.v);
    case 'in':
      return c.vs.some((v) => has(flag, v));
    case 'ne':
      return !has(flag, c.v);
    case 'or':
      return has(flag, c.vs[0]) || has(flag, c.vs[1]);
    case 'nor':
      return !has(flag, c.v);
    case 'claim':
      return claim === undefined ? undefined : has(flag, claim);
  }
}

// ---------------------------------------------------------------- generated policies

interface GrantModel {
  purpose: PurposeName;
  read: 'view' | string[];
  where?: Cond | undefined;
}
interface RestrictionModel {
  withhold: 'record' | string[];
  when?: Cond | undefined;
  unless?: { roles?: string[] | undefined; purposes?: string[] | undefined } | undefined;
}
interface Model {
  fields: Record<string, (typeof CLASSES)[number]>;
  /** The field paths: the declared ones and those named under them somewhere in the policy. */
  paths: string[];
  /** The field paths p1 may carry when strict: declared, or named by p1's view or grants. */
  ownP1: string[];
  views: Record<PurposeName, string[]>;
  consent: boolean;
  optOut: boolean;
  /** p1 is not identifiable: only declared paths may leave, never keys nested under them. */
  strict: boolean;
  roles: Record<string, GrantModel[]>;
  restrictions: RestrictionModel[];
}

const within = (path: string, prefix: string) => path === prefix || path.startsWith(`${prefix}.`);

// Few segments per level, so that declared paths often nest (address, address.line, address.line.code).
const LEVELS = [
  ['id', 'name', 'address', 'telecom'],
  ['value', 'line', 'code'],
  ['postcode', 'code'],
] as const;
const pathArb = fc
  .integer({ min: 1, max: 3 })
  .chain((depth) => fc.tuple(...LEVELS.slice(0, depth).map((level) => fc.constantFrom(...level))))
  .map((s) => s.join('.'));

/** Paths one level under a declared one that are not declared themselves: a policy may name them as fields. */
const under = (declared: string[]) =>
  [...new Set(declared.flatMap((d) => ['value', 'code', 'note'].map((s) => `${d}.${s}`)))].filter((p) => !declared.includes(p));

// A non-identifiable purpose may carry no direct field and no clear identifier:
// strict models draw only classes that such a view may hold.
const modelArb: fc.Arbitrary<Model> = fc
  .tuple(fc.uniqueArray(pathArb, { minLength: 1, maxLength: 8 }), fc.boolean())
  .chain(([declared, strict]) =>
    fc
      .tuple(
        fc.array(fc.constantFrom(...(strict ? CLASSES.filter((c) => c !== 'direct' && c !== 'identifier') : CLASSES)), {
          minLength: declared.length,
          maxLength: declared.length,
        }),
        fc.subarray(under(declared), { maxLength: 3 }),
      )
      .chain(([classes, subs]) =>
        fc.tuple(
          fc.constant(classes),
          fc.constant([...declared, ...subs]),
          fc.subarray([...declared, ...subs], { minLength: 1 }),
          fc.subarray([...declared, ...subs]),
          fc.boolean(),
          fc.boolean(),
        ),
      )
      .chain(([classes, paths, v0, v1, consent, optOut]) => {
        const views: Record<PurposeName, string[]> = { p0: v0, p1: v1 };
        const grantArb: fc.Arbitrary<GrantModel> = fc.constantFrom(...PURPOSES).chain((purpose) => {
          const candidates = paths.filter((d) => views[purpose].some((v) => within(d, v)));
          return fc.record({
            purpose: fc.constant(purpose),
            read: fc.oneof(
              { weight: 2, arbitrary: fc.constant('view' as const) },
              { weight: 3, arbitrary: fc.subarray(candidates, { minLength: Math.min(1, candidates.length) }) },
            ),
            where: fc.option(condArb, { nil: undefined }),
          });
        });
        const restrictionArb: fc.Arbitrary<RestrictionModel> = fc.record({
          withhold: fc.oneof(
            { weight: 1, arbitrary: fc.constant('record' as const) },
            { weight: 4, arbitrary: fc.subarray([...paths], { minLength: 1 }) },
          ),
          when: fc.option(condArb, { nil: undefined }),
          unless: fc.option(
            fc.record({
              roles: fc.option(fc.subarray([...ROLES], { minLength: 1 }), { nil: undefined }),
              purposes: fc.option(fc.subarray([...PURPOSES], { minLength: 1 }), { nil: undefined }),
            }),
            { nil: undefined, freq: 3 },
          ),
        });
        const grantsArb = fc.array(grantArb, { minLength: 1, maxLength: 3 });
        return fc
          .record({ grants: fc.tuple(grantsArb, grantsArb, grantsArb), restrictions: fc.array(restrictionArb, { maxLength: 3 }) })
          .map(({ grants, restrictions }): Model => {
            // A path under a declared field is a field only where the policy names it.
            const lists = (gs: GrantModel[]) => gs.flatMap((g) => (g.read === 'view' ? [] : g.read));
            const named = new Set([
              ...v0,
              ...v1,
              ...grants.flatMap(lists),
              ...restrictions.flatMap((r) => (r.withhold === 'record' ? [] : r.withhold)),
            ]);
            const byP1 = new Set([...v1, ...lists(grants.flat().filter((g) => g.purpose === 'p1'))]);
            const fields = paths.filter((p) => declared.includes(p) || named.has(p));
            return {
              fields: Object.fromEntries(declared.map((p, i) => [p, classes[i]!])),
              paths: fields,
              ownP1: fields.filter((p) => declared.includes(p) || byP1.has(p)),
              views,
              consent,
              optOut,
              strict,
              roles: { r0: grants[0], r1: grants[1], r2: grants[2] },
              restrictions,
            };
          });
      }),
  );

/** The policy set as text: JSON is YAML too. */
function policyText(m: Model): string {
  const purpose = (name: PurposeName) => ({
    lawfulBasis: { article6: '6(1)(e)', article9: '9(2)(h)' },
    reviewBy: '2099-12-31',
    ...(name === 'p1' && m.consent ? { consent: 'required' } : {}),
    ...(name === 'p1' && m.optOut ? { optOut: 'respect' } : {}),
    ...(name === 'p1' && m.strict ? { identifiable: false } : {}),
    views: { R: { fields: m.views[name] } },
  });
  return JSON.stringify({
    // The opt-out marker sits inside a list of preferences as often as not: the path walks it.
    resources: { R: { consent: 'consent', optOut: 'prefs.optOut', fields: m.fields } },
    purposes: { p0: purpose('p0'), p1: purpose('p1') },
    roles: Object.fromEntries(
      Object.entries(m.roles).map(([role, grants]) => [
        role,
        {
          grants: grants.map((g) => ({
            purpose: g.purpose,
            resource: 'R',
            read: g.read,
            ...(g.where ? { where: conditionOf(g.where) } : {}),
          })),
        },
      ]),
    ),
    restrictions: m.restrictions.map((r, i) => ({
      name: `x${i}`,
      resource: 'R',
      withhold: r.withhold,
      ...(r.when ? { when: conditionOf(r.when) } : {}),
      ...(r.unless ? { unless: r.unless } : {}),
      because: 'generated',
    })),
  });
}

// ---------------------------------------------------------------- generated records

type Tree =
  | { t: 'marker' }
  | { t: 'null' }
  | { t: 'num'; n: number }
  | { t: 'obj'; entries: [string, Tree][] }
  | { t: 'arr'; items: Tree[] };

const leafArb: fc.Arbitrary<Tree> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ t: 'marker' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'null' as const }) },
  { weight: 1, arbitrary: fc.integer().map((n) => ({ t: 'num' as const, n })) },
);

/**
 * Records shaped like the policy: at each level the keys are mostly the next
 * segments of declared paths, mixed with undeclared and hostile keys, so that
 * declared, undeclared and hostile data sit side by side at every depth.
 */
function recordShapes(paths: string[]) {
  const declared = paths.map((p) => p.split('.'));
  const nextSegments = (at: string[]) => [
    ...new Set(declared.filter((d) => d.length > at.length && at.every((s, i) => d[i] === s)).map((d) => d[at.length]!)),
  ];
  const keyAt = (at: string[]): fc.Arbitrary<string> => {
    const next = nextSegments(at);
    return fc.oneof(
      ...(next.length > 0 ? [{ weight: 10, arbitrary: fc.constantFrom(...next) }] : []),
      { weight: 1, arbitrary: fc.constantFrom<string>(...SEGMENTS) },
      { weight: 1, arbitrary: fc.constantFrom<string>(...UNDECLARED) },
      { weight: 1, arbitrary: fc.constantFrom<string>(...HOSTILE) },
    );
  };
  const entriesAt = (at: string[], depth: number, minLength = 0): fc.Arbitrary<[string, Tree][]> =>
    fc
      .uniqueArray(keyAt(at), { minLength, maxLength: 5 })
      .chain((keys) =>
        fc.tuple(...keys.map((k) => valueAt([...at, k], depth - 1))).map((values) => keys.map((k, i): [string, Tree] => [k, values[i]!])),
      );
  const objectAt = (at: string[], depth: number): fc.Arbitrary<Tree> =>
    entriesAt(at, depth).map((entries) => ({ t: 'obj' as const, entries }));
  const valueAt = (at: string[], depth: number): fc.Arbitrary<Tree> => {
    if (depth <= 0) return leafArb;
    // Where declared paths go deeper, mostly objects; elsewhere, mostly values.
    const deeper = nextSegments(at).length > 0;
    return fc.oneof(
      { weight: deeper ? 1 : 4, arbitrary: leafArb },
      { weight: deeper ? 4 : 1, arbitrary: objectAt(at, depth) },
      {
        weight: 1,
        arbitrary: fc.array(fc.oneof(objectAt(at, depth - 1), leafArb), { maxLength: 3 }).map((items) => ({ t: 'arr' as const, items })),
      },
    );
  };
  return { entries: entriesAt([], 4, 1) };
}

/** `prefs` as one object or a list of them, each with an opt-out marker, null, or none. */
type Pref = { optOut?: boolean | null };
interface RecordModel {
  entries: [string, Tree][];
  flag: string | string[] | null | undefined;
  prefs: Pref | Pref[] | undefined;
  consent: Partial<Record<PurposeName, string>> | undefined;
}
const prefArb: fc.Arbitrary<Pref> = fc.oneof(
  fc.boolean().map((b) => ({ optOut: b })),
  fc.constant({}),
  fc.constant({ optOut: null }),
);
const recordArb = (paths: string[]): fc.Arbitrary<RecordModel> =>
  fc.record({
    entries: recordShapes(paths).entries,
    flag: fc.option(fc.oneof(flagArb, fc.subarray([...FLAGS]), fc.constant(null)), { nil: undefined }),
    prefs: fc.option(fc.oneof(prefArb, fc.array(prefArb, { maxLength: 4 })), { nil: undefined, freq: 2 }),
    consent: fc.option(fc.dictionary(fc.constantFrom(...PURPOSES), fc.constantFrom('granted', 'granted', 'refused')), {
      nil: undefined,
      freq: 3,
    }),
  });

/**
 * The record as JSON text, each marker a unique `M<n>Z`, then parsed: as a
 * record API's JSON body would be, with `__proto__` an own key.
 */
function render(records: RecordModel[]): unknown[] {
  let n = 0;
  const json = (t: Tree): string => {
    switch (t.t) {
      case 'marker':
        return JSON.stringify(`M${n++}Z`);
      case 'null':
        return 'null';
      case 'num':
        return String(t.n);
      case 'arr':
        return `[${t.items.map(json).join(',')}]`;
      case 'obj':
        return `{${t.entries.map(([k, v]) => `${JSON.stringify(k)}:${json(v)}`).join(',')}}`;
    }
  };
  const rows = records.map((r) => {
    const extra = [
      ...(r.flag !== undefined ? [`"flag":${JSON.stringify(r.flag)}`] : []),
      ...(r.prefs !== undefined ? [`"prefs":${JSON.stringify(r.prefs)}`] : []),
      ...(r.consent !== undefined ? [`"consent":${JSON.stringify(r.consent)}`] : []),
    ];
    return `{${[...r.entries.map(([k, v]) => `${JSON.stringify(k)}:${json(v)}`), ...extra].join(',')}}`;
  });
  return JSON.parse(`[${rows.join(',')}]`) as unknown[];
}

// ---------------------------------------------------------------- the reference reading of the spec

interface UserModel {
  roles: string[];
  flag: string | undefined;
  purpose: PurposeName;
}
const userArb: fc.Arbitrary<UserModel> = fc.record({
  roles: fc.subarray([...ROLES, 'ghost'], { minLength: 1 }),
  flag: fc.option(flagArb, { nil: undefined }),
  purpose: fc.constantFrom(...PURPOSES),
});

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** National data opt-out read naively: any marker in the preferences that is not false or null. */
function optedOut(prefs: unknown): boolean {
  const list = Array.isArray(prefs) ? prefs : prefs === undefined ? [] : [prefs];
  return list.some((p) => isRecord(p) && p['optOut'] !== undefined && p['optOut'] !== null && p['optOut'] !== false);
}

class Reference {
  private readonly declared: string[][];
  constructor(
    private readonly m: Model,
    private readonly u: UserModel,
  ) {
    this.declared = m.paths.map((p) => p.split('.'));
  }

  /** Declared paths inside the subtrees of `fields`. */
  private subtree(fields: string[]): Set<string> {
    return new Set(this.m.paths.filter((d) => fields.some((f) => within(d, f))));
  }
  /** The view's field paths; a strict purpose's only those declared or named by itself. */
  private get view(): Set<string> {
    const view = this.subtree(this.m.views[this.u.purpose]);
    return this.strict ? new Set([...view].filter((d) => this.m.ownP1.includes(d))) : view;
  }
  private readOf(g: GrantModel): Set<string> {
    const view = this.view;
    return g.read === 'view' ? view : new Set([...this.subtree(g.read)].filter((d) => view.has(d)));
  }
  /** The user's grants for the purpose that give something to read. */
  grants(): (GrantModel & { role: string })[] {
    return this.u.roles
      .flatMap((r) => (this.m.roles[r] ?? []).map((g) => ({ ...g, role: r })))
      .filter((g) => g.purpose === this.u.purpose && this.readOf(g).size > 0);
  }
  /** Exempt through the roles whose grants matched the row, never through a role merely held (docs/policy-language.md). */
  private exempt(r: RestrictionModel, matchedRoles: string[]): boolean {
    if (!r.unless || (r.unless.roles === undefined && r.unless.purposes === undefined)) return false;
    const byRole = r.unless.roles === undefined || matchedRoles.some((x) => r.unless!.roles!.includes(x));
    const byPurpose = r.unless.purposes === undefined || r.unless.purposes.includes(this.u.purpose);
    return byRole && byPurpose;
  }

  /** The declared paths permitted in one row, or `undefined` when the row is withheld whole. */
  permitted(row: Record<string, unknown>): Set<string> | undefined {
    const { u, m } = this;
    if (u.purpose === 'p1' && m.optOut && optedOut(row['prefs'])) return undefined;
    if (u.purpose === 'p1' && m.consent && !(isRecord(row['consent']) && row['consent'][u.purpose] === 'granted')) return undefined;
    const flag = row['flag'];
    const matched = this.grants().filter((g) => !g.where || holds(g.where, flag, u.flag) === true);
    if (matched.length === 0) return undefined;
    const matchedRoles = matched.map((g) => g.role);
    const firing = m.restrictions.filter((r) => !this.exempt(r, matchedRoles) && (!r.when || holds(r.when, flag, u.flag) !== false));
    if (firing.some((r) => r.withhold === 'record')) return undefined;
    const withheld = this.subtree(firing.flatMap((r) => (r.withhold === 'record' ? [] : r.withhold)));
    const view = this.view;
    return new Set(matched.flatMap((g) => [...this.readOf(g)]).filter((d) => view.has(d) && !withheld.has(d)));
  }

  /** The longest declared path that `segments` lies within. */
  unit(segments: string[]): string | undefined {
    let best: string[] | undefined;
    for (const d of this.declared) {
      if (d.length <= segments.length && d.every((s, i) => segments[i] === s) && (!best || d.length > best.length)) best = d;
    }
    return best?.join('.');
  }

  /** Whether `segments` leads towards a permitted declared path without being inside one. */
  leadsTo(segments: string[], permitted: Set<string>): boolean {
    return [...permitted].some((p) => {
      const d = p.split('.');
      return d.length > segments.length && segments.every((s, i) => d[i] === s);
    });
  }

  /** Whether the purpose copies only declared paths (not identifiable). */
  get strict(): boolean {
    return this.u.purpose === 'p1' && this.m.strict;
  }

  /** Whether a value at `segments` lies within a permitted path: exactly on one when strict. */
  allowed(segments: string[], permitted: Set<string>): boolean {
    if (this.strict) return permitted.has(segments.join('.'));
    const unit = this.unit(segments);
    return unit !== undefined && permitted.has(unit);
  }

  /**
   * Whether every declared path below `segments` is permitted: a scalar where
   * a declared field below is withheld cannot be told apart from it, so it is dropped.
   */
  wholeBelow(segments: string[], permitted: Set<string>): boolean {
    return this.declared.every((d) => d.length <= segments.length || !segments.every((s, i) => d[i] === s) || permitted.has(d.join('.')));
  }

  /** Markers of a row, split by whether the spec lets them out. */
  markers(row: unknown, permitted: Set<string> | undefined): { disclosed: Set<string>; hidden: Set<string> } {
    const disclosed = new Set<string>();
    const hidden = new Set<string>();
    const walk = (v: unknown, at: string[], hostile: boolean) => {
      if (Array.isArray(v)) v.forEach((x) => walk(x, at, hostile));
      else if (isRecord(v)) for (const k of Object.keys(v)) walk(v[k], [...at, k], hostile || (HOSTILE as readonly string[]).includes(k));
      else if (typeof v === 'string' && /^M\d+Z$/.test(v)) {
        const out = !hostile && permitted !== undefined && this.allowed(at, permitted) && this.wholeBelow(at, permitted);
        (out ? disclosed : hidden).add(v);
      }
    };
    walk(row, [], false);
    return { disclosed, hidden };
  }
}

// ---------------------------------------------------------------- checks on an output

const markersIn = (value: unknown) => new Set(JSON.stringify(value)?.match(MARKER) ?? []);

/**
 * (a) every value lies within a permitted declared path (arrays transparent);
 * keys on the way to one (`address` above a permitted `address.postcode`)
 * and lists emptied of every element may remain, as structure without a value.
 * (c) no hostile key and no foreign prototype anywhere.
 */
function checkShape(ref: Reference, out: unknown, permitted: Set<string>): void {
  const walk = (v: unknown, at: string[]) => {
    const inside = ref.allowed(at, permitted);
    if (Array.isArray(v)) {
      expect(inside || v.length === 0 || at.length === 0 || ref.leadsTo(at, permitted), `array at ${at.join('.')}`).to.equal(true);
      v.forEach((x) => walk(x, at));
      return;
    }
    if (v !== null && typeof v === 'object') {
      expect(Object.getPrototypeOf(v), `prototype of the object at ${at.join('.')}`).to.equal(Object.prototype);
      const keys = Reflect.ownKeys(v);
      for (const k of keys) {
        expect(k).to.be.a('string');
        expect(HOSTILE as readonly unknown[], `hostile key at ${at.join('.')}`).not.to.include(k);
        const path = [...at, k as string];
        expect(ref.allowed(path, permitted) || ref.leadsTo(path, permitted), `path ${path.join('.')} is not permitted`).to.equal(true);
        walk((v as Record<string, unknown>)[k as string], path);
      }
      if (keys.length === 0 && at.length > 0) expect(inside, `empty object at ${at.join('.')}`).to.equal(true);
      return;
    }
    expect(inside, `value at ${at.join('.')} is not permitted`).to.equal(true);
  };
  walk(out, []);
}

/** Markers a decision may carry: the ids of the records it names (a list of ids walked), never any other value. */
function checkDecision(decision: unknown, rows: unknown[]): void {
  const flat = (v: unknown): unknown[] => (Array.isArray(v) ? v.flatMap(flat) : [v]);
  const ids = new Set(rows.flatMap((r) => (isRecord(r) ? flat(r['id']).filter((v): v is string => typeof v === 'string') : [])));
  for (const marker of markersIn(decision)) expect(ids.has(marker), `decision carries the value ${marker}`).to.equal(true);
}

const scenarioArb = modelArb.chain((model) =>
  fc.record({ model: fc.constant(model), user: userArb, records: fc.array(recordArb(model.paths), { minLength: 1, maxLength: 5 }) }),
);

const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();

describe('never leak (property)', () => {
  afterEach(() => {
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).to.deep.equal(PROTOTYPE_KEYS);
  });

  it('discloses exactly what view ∩ matching grants − firing restrictions permits, for lists and single records', () => {
    fc.assert(
      fc.property(scenarioArb, ({ model, user: u, records }) => {
        const policies = policiesFromSources([{ file: 'generated.yaml', text: policyText(model) }], { now: NOW });
        const rows = render(records);
        const before = structuredClone(rows);
        const ref = new Reference(model, u);
        const ctx = {
          resource: 'R',
          purpose: u.purpose,
          user: { sub: 'u1', roles: u.roles, training: TRAINED, ...(u.flag ? { flag: u.flag } : {}) },
          now: NOW,
        };

        if (ref.grants().length === 0) {
          // No grant of the user's roles gives anything to read for this purpose: refused before any row.
          expect(() => policies.redact(rows, ctx))
            .to.throw(AccessError)
            .with.property('code', 'purpose_not_granted');
          expect(() => policies.redact(rows[0], ctx))
            .to.throw(AccessError)
            .with.property('code', 'purpose_not_granted');
          expect(rows).to.deep.equal(before);
          return;
        }

        // A list: exactly the permitted rows, in order, each with exactly its permitted values.
        const { data, decision } = policies.redact(rows, ctx);
        expect(rows, 'the input is never mutated').to.deep.equal(before);
        const expected = rows
          .map((row) => ({ row, permitted: ref.permitted(row as Record<string, unknown>) }))
          .filter((e) => e.permitted !== undefined);
        expect(data).to.be.an('array').with.length(expected.length);
        const out = data as unknown[];
        const text = JSON.stringify(out);
        if (model.strict && u.purpose === 'p1') {
          // De-identified rows come in the order of their own content, never the input's (docs/security.md).
          const keys = out.map((r) => JSON.stringify(r));
          expect(keys, 'de-identified rows in content order').to.deep.equal([...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
          const keyOf = new Map(expected.map((e) => [e, JSON.stringify(policies.redact(e.row, ctx).data)]));
          expected.sort((a, b) => (keyOf.get(a)! < keyOf.get(b)! ? -1 : keyOf.get(a)! > keyOf.get(b)! ? 1 : 0));
        }
        expected.forEach(({ row, permitted }, i) => {
          const { disclosed } = ref.markers(row, permitted);
          expect(markersIn(out[i]), `the values of row ${i}`).to.deep.equal(disclosed);
          checkShape(ref, out[i], permitted!);
        });
        for (const row of rows) {
          for (const marker of ref.markers(row, ref.permitted(row as Record<string, unknown>)).hidden) expect(text).not.to.include(marker);
        }
        checkDecision(decision, rows);
        expect(decision.rowsReturned + decision.rowsWithheld).to.equal(rows.length);

        // The same rows one by one: a withheld record is a refusal that carries no value.
        for (const row of rows) {
          const permitted = ref.permitted(row as Record<string, unknown>);
          if (permitted === undefined) {
            let error: unknown;
            try {
              policies.redact(row, ctx);
            } catch (e) {
              error = e;
            }
            expect(error).to.be.instanceOf(AccessError).with.property('code', 'record_withheld');
            checkDecision((error as AccessError).decision, [row]);
            continue;
          }
          const one = policies.redact(row, ctx);
          expect(markersIn(one.data)).to.deep.equal(ref.markers(row, permitted).disclosed);
          checkShape(ref, one.data, permitted);
          checkDecision(one.decision, [row]);
        }
        expect(rows, 'the input is never mutated').to.deep.equal(before);
      }),
      { numRuns: 600 }, // 600 generated policy sets, each with 1–5 records read as a list and one by one
    );
  });

  it('never outputs from a non-identifiable purpose a path that is neither declared nor named by that purpose', () => {
    const KEYS = ['code', 'display', 'note', 'text'] as const;
    const subArb = fc.tuple(fc.constantFrom('dx', 'meds'), fc.constantFrom(...KEYS)).map(([a, b]) => `${a}.${b}`);
    const scenario = fc.record({
      // Paths under declared fields that other purposes (and restrictions) name: fields, but not planning's.
      elsewhere: fc.uniqueArray(subArb, { maxLength: 4 }),
      // Paths under declared fields that planning names itself.
      own: fc.uniqueArray(subArb, { maxLength: 2 }),
      record: fc.letrec<{ v: unknown }>((tie) => ({
        v: fc.oneof(
          { maxDepth: 4 },
          fc.constant('M0Z'),
          fc.integer(),
          fc.array(tie('v'), { maxLength: 3 }),
          fc.dictionary(fc.constantFrom(...KEYS), tie('v'), { maxKeys: 4 }),
        ),
      })).v,
    });
    fc.assert(
      fc.property(scenario, ({ elsewhere, own, record }) => {
        const text = JSON.stringify({
          resources: { R: { fields: { id: 'operational', dx: 'special', 'dx.code': 'special', meds: 'special' } } },
          purposes: {
            care: {
              lawfulBasis: { article6: '6(1)(e)', article9: '9(2)(h)' },
              reviewBy: '2099-12-31',
              views: { R: { fields: ['id', 'dx', 'meds'] } },
            },
            planning: {
              lawfulBasis: { article6: '6(1)(e)', article9: '9(2)(h)' },
              reviewBy: '2099-12-31',
              identifiable: false,
              views: { R: { fields: ['id', 'dx', 'meds', ...own] } },
            },
          },
          roles: {
            clinician: { grants: [{ purpose: 'care', resource: 'R', read: ['id', ...elsewhere] }] },
            analyst: { grants: [{ purpose: 'planning', resource: 'R', read: 'view' }] },
          },
          restrictions:
            elsewhere.length > 0 ? [{ name: 'x', resource: 'R', when: { never: true }, withhold: elsewhere, because: 'generated' }] : [],
        });
        const policies = policiesFromSources([{ file: 'planning.yaml', text }], { now: NOW });
        const row = { id: 'r1', dx: record, meds: record, extra: record };
        const { data } = policies.redact(row, {
          resource: 'R',
          purpose: 'planning',
          user: { sub: 'u1', roles: ['analyst'], training: TRAINED },
          now: NOW,
        });
        const allowed = new Set(['id', 'dx', 'dx.code', 'meds', ...own]);
        // Every value leaves at exactly an allowed path (lists walked); keys only on the way to one.
        const walk = (v: unknown, at: string[]): void => {
          if (Array.isArray(v)) return v.forEach((x) => walk(x, at));
          const path = at.join('.');
          if (isRecord(v)) {
            for (const [k, x] of Object.entries(v)) {
              const next = [...at, k].join('.');
              expect(
                [...allowed].some((a) => within(a, next)),
                `key ${next}`,
              ).to.equal(true);
              walk(x, [...at, k]);
            }
            return;
          }
          expect(allowed.has(path), `value at ${path}`).to.equal(true);
        };
        walk(data, []);
      }),
      { numRuns: 300 }, // 300 planning views beside other purposes naming paths under the same fields
    );
  });

  it('withholds a row with an opt-out marker anywhere on its path, however deep in lists, and only then', () => {
    // The path's segments, and at each of them whether the value is wrapped in a list (or a list of lists).
    const levelArb = fc.record({ segment: fc.constantFrom('prefs', 'optOut', 'national', 'flags'), wrap: fc.constantFrom(0, 1, 2) });
    const scenario = fc.record({
      levels: fc.array(levelArb, { minLength: 1, maxLength: 3 }),
      // An opt-out marker: anything but false and null opts out, whatever its type.
      marker: fc.oneof(fc.constant<unknown>(true), fc.constant<unknown>('yes'), fc.constant<unknown>(1), fc.constant<unknown>({})),
      // Siblings on every level that do not opt out: false, null, or no marker at all.
      quiet: fc.array(fc.constantFrom<unknown>(false, null, undefined), { maxLength: 3 }),
      at: fc.nat(),
    });
    const build = (levels: { segment: string; wrap: number }[], leaf: unknown, quiet: unknown[], at: number): Record<string, unknown> => {
      const [level, ...rest] = levels;
      const inner = rest.length === 0 ? leaf : build(rest, leaf, quiet, at);
      const sibling = (q: unknown) => (rest.length === 0 ? q : build(rest, q, [], at));
      let value: unknown = inner;
      if (level!.wrap > 0) {
        const list = quiet.map(sibling);
        list.splice(at % (list.length + 1), 0, inner);
        value = level!.wrap === 2 ? [[], list] : list;
      }
      return value === undefined ? {} : { [level!.segment]: value };
    };
    fc.assert(
      fc.property(scenario, ({ levels, marker, quiet, at }) => {
        const path = levels.map((l) => l.segment).join('.');
        const text = JSON.stringify({
          resources: { R: { optOut: path, fields: { id: 'operational', ward: 'operational' } } },
          purposes: {
            p: {
              lawfulBasis: { article6: '6(1)(e)' },
              reviewBy: '2099-12-31',
              optOut: 'respect',
              views: { R: { fields: ['id', 'ward'] } },
            },
          },
          roles: { r: { grants: [{ purpose: 'p', resource: 'R', read: 'view' }] } },
        });
        const policies = policiesFromSources([{ file: 'opt-out.yaml', text }], { now: NOW });
        const ctx = { resource: 'R', purpose: 'p', user: { sub: 'u1', roles: ['r'], training: TRAINED }, now: NOW };
        const out = { id: 'out', ward: 'M1Z', ...build(levels, marker, quiet, at) };
        const stay = { id: 'stay', ward: 'M2Z', ...build(levels, false, quiet, at) };
        const { data, decision } = policies.redact([out, stay], ctx);
        expect(data).to.deep.equal([{ id: 'stay', ward: 'M2Z' }]);
        expect(decision.withheldRecordIds).to.deep.equal(['out']);
        expect(decision.rowReasons).to.deep.equal({ 'opt-out': 1 });
        expect(() => policies.redact(out, ctx))
          .to.throw(AccessError)
          .with.property('code', 'record_withheld');
      }),
      { numRuns: 300 }, // 300 opt-out paths up to three levels deep, lists at any level
    );
  });

  it('never lets the raw value of a pseudonymised field out, however it is nested', () => {
    const text = JSON.stringify({
      resources: { R: { fields: { id: 'identifier', ids: 'identifier', 'ids.system': 'operational', ward: 'operational' } } },
      purposes: Object.fromEntries(
        ['planning', 'research'].map((p) => [
          p,
          {
            lawfulBasis: { article6: '6(1)(e)' },
            reviewBy: '2099-12-31',
            identifiable: false,
            views: { R: { fields: ['id', 'ids', 'ward'], transform: { id: 'pseudonym', ids: 'pseudonym' } } },
          },
        ]),
      ),
      roles: {
        analyst: {
          grants: [
            { purpose: 'planning', resource: 'R', read: 'view' },
            { purpose: 'research', resource: 'R', read: 'view' },
          ],
        },
      },
    });
    const policies = policiesFromSources([{ file: 'pseudonyms.yaml', text }], { now: NOW, pseudonymKey: 'property-pseudonym-key' });
    const user = { sub: 'u1', roles: ['analyst'], training: TRAINED };
    const raw = fc.oneof(
      fc.string({ minLength: 1 }).map((s) => `R${s}Q`),
      fc.integer({ min: 1_000_000_000 }),
    );
    const nested = fc.letrec<{ v: unknown }>((tie) => ({
      v: fc.oneof(
        { maxDepth: 3 },
        raw,
        fc.array(tie('v'), { maxLength: 3 }),
        fc.dictionary(fc.constantFrom('value', 'system', 'code'), tie('v'), { maxKeys: 3 }),
      ),
    }));
    const leaves = (v: unknown): (string | number)[] =>
      Array.isArray(v)
        ? v.flatMap(leaves)
        : isRecord(v)
          ? Object.values(v).flatMap(leaves)
          : typeof v === 'string' || typeof v === 'number'
            ? [v]
            : [];

    fc.assert(
      fc.property(raw, nested.v, raw, (id, ids, ward) => {
        const record = { id, ids, ward };
        const planning = policies.redact(record, { resource: 'R', purpose: 'planning', user, now: NOW }).data as Record<string, unknown>;
        const research = policies.redact(record, { resource: 'R', purpose: 'research', user, now: NOW }).data as Record<string, unknown>;
        // Only the pseudonymised fields are searched: ward may hold the same raw value, in clear, by design.
        const out = JSON.stringify({ id: planning['id'], ids: planning['ids'], research: [research['id'], research['ids']] });
        for (const value of [id, ...leaves(ids)])
          expect(out).not.to.include(typeof value === 'number' ? String(value) : JSON.stringify(value).slice(1, -1));
        expect(planning['ward'], 'an untransformed field passes as it is').to.equal(ward);
        expect(planning['id']).to.match(/^[0-9a-f]{32}$/);
        for (const leaf of leaves(planning['ids'])) expect(String(leaf)).to.match(/^[0-9a-f]{32}$/);
        // Within a purpose the same value gives the same pseudonym; across purposes they cannot be linked.
        expect(policies.redact({ id }, { resource: 'R', purpose: 'planning', user, now: NOW }).data).to.deep.equal({ id: planning['id'] });
        expect(research['id'])
          .to.match(/^[0-9a-f]{32}$/)
          .and.not.equal(planning['id']);
      }),
      { numRuns: 300 }, // 300 records with nested identifiers
    );
  });
});
