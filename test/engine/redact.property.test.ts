import { expect } from 'chai';
import fc from 'fast-check';
import { MAX_RECORD_DEPTH, nestedDeeperThan } from '../../src/lib/depth.js';
import { FieldmeshError } from '../../src/lib/errors.js';
import { NOW, patient, user, validPolicies } from '../helpers.js';

// The depth of a list's rows is checked where a value is read or copied, not by a walk of the whole row
// (src/engine/redact.ts). Against the whole-row check it replaces, for random rows with one deep or
// cyclic value put anywhere: it never refuses what the whole-row check let through; it refuses whenever
// the deep value lies under a key the decision reads or a part the projection copies; and whenever it
// answers, the answer is the one for the row cut at the limit (the old pipeline's, for a shallow row).

/** Who asks, and the top-level keys deciding on a row reads for them (test/fixtures/policies/valid). */
const SCENARIOS = [
  { roles: ['gp'], purpose: 'direct-care', reads: ['id', 'flags', 'sealed', 'meta'] },
  { roles: ['nurse'], purpose: 'direct-care', reads: ['id', 'flags', 'sealed', 'meta', 'careTeam'] },
  { roles: ['analyst'], purpose: 'service-planning', reads: ['id', 'flags', 'sealed', 'meta', 'optOut'] },
] as const;

/** Declared, partly declared, read and unread keys of a Patient row. */
const KEYS = ['id', 'name', 'address', 'telecom', 'dateOfBirth', 'diagnoses', 'ward', 'careTeam'];
const OTHER_KEYS = ['internalNotes', 'allergies', 'flags', 'sealed', 'meta', 'optOut', 'consent'];
const SEGMENTS = ['value', 'system', 'postcode', 'line', 'code', 'security', 'x'];

const MARK = 'MARK-7c1';

interface Placement {
  key: string;
  /** The way from the key to the nested value: object keys, each maybe inside a list. */
  way: { segment: string; inList: boolean }[];
  /** Lists (true) or objects (false), repeated to the depth. */
  pattern: readonly boolean[];
  levels: number;
  cyclic: boolean;
}

/**
 * The value put at `key`: the way, then `levels` levels of lists and objects, `pattern` repeated from the
 * outside in, around `leaf`, or around an object that holds itself (`{ note: leaf }` when not `cyclic`).
 */
function nested(p: Placement, levels: number, leaf: unknown, cyclic: boolean): unknown {
  let v: unknown = leaf;
  if (p.cyclic) {
    const c: Record<string, unknown> = { note: leaf };
    if (cyclic) c['self'] = c;
    v = c;
  }
  for (let i = levels - 1; i >= 0; i--) v = p.pattern[i % p.pattern.length] ? [v] : { k: v };
  for (const { segment, inList } of [...p.way].reverse()) {
    v = { [segment]: v };
    if (inList) v = [v];
  }
  return v;
}

const CUT = 'CUT-9f2';

/** A copy of `value` (at `level`, the row being 1) with every list or object past level 100 replaced by `CUT`. */
function cut(value: unknown, level: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (level > MAX_RECORD_DEPTH) return CUT;
  if (Array.isArray(value)) return value.map((v) => cut(v, level + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, cut(v, level + 1)]));
}

const placement: fc.Arbitrary<Placement> = fc.record({
  key: fc.constantFrom(...KEYS, ...OTHER_KEYS),
  way: fc.array(fc.record({ segment: fc.constantFrom(...SEGMENTS), inList: fc.boolean() }), { maxLength: 2 }),
  // All lists and all objects are the shapes walks treat most differently: drawn often.
  pattern: fc.oneof(fc.constant([true]), fc.constant([false]), fc.array(fc.boolean(), { minLength: 1, maxLength: 5 })),
  levels: fc.integer({ min: 90, max: 110 }),
  cyclic: fc.boolean(),
});

describe('redact depth (property)', () => {
  const policies = validPolicies();

  it('refuses where the whole-row check refused and the deep part is read or copied, never more, and drops the rest', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SCENARIOS), placement, (scenario, p) => {
        const ctx = { resource: 'Patient', purpose: scenario.purpose, user: user([...scenario.roles]), now: NOW };
        const redact = (input: unknown) => {
          try {
            return { ok: true as const, answer: policies.redact(input, ctx) };
          } catch (e) {
            expect(e).to.be.instanceOf(FieldmeshError);
            expect((e as FieldmeshError).code).to.equal('unredactable_body');
            return { ok: false as const };
          }
        };
        const row = patient({ id: 'b', [p.key]: nested(p, p.levels, 'x', true) });
        const oldRefuses = nestedDeeperThan(row);
        // Whether the projection copies that part: the same shape, one round of the pattern deep, with a marker
        // at its core (every walk treats each round alike: below the way, no key is declared).
        const shallow = redact([patient({ id: 'a' }), patient({ id: 'b', [p.key]: nested(p, p.pattern.length, MARK, false) })]);
        const copied = shallow.ok && JSON.stringify(shallow.answer.data).includes(MARK);
        const read = (scenario.reads as readonly string[]).includes(p.key);

        const now = redact([patient({ id: 'a' }), row]);
        // Never refuses what the whole-row check let through.
        if (!now.ok) expect(oldRefuses).to.equal(true);
        // Refuses whenever the deep part is read or copied.
        if (oldRefuses && (read || copied)) expect(now.ok).to.equal(false);
        // Whenever it answers, nothing below the limit was read or copied: the answer is the one for the row
        // cut at 100 levels (each list or object at level 101 replaced by a marker that never shows). For a
        // row the whole-row check let through, that is the row itself: the answer is the old pipeline's.
        if (now.ok) {
          const expected = redact([patient({ id: 'a' }), cut(row, 1)]);
          expect(expected.ok).to.equal(true);
          if (expected.ok) {
            expect(now.answer.data).to.deep.equal(expected.answer.data);
            expect(now.answer.decision).to.deep.equal(expected.answer.decision);
            expect(JSON.stringify(expected.answer.data)).not.to.include(CUT);
          }
        }
        // A single record is still checked whole.
        if (oldRefuses) expect(redact(row).ok).to.equal(false);
      }),
      { numRuns: 1000 },
    );
  });
});
