import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { AccessError, policiesFromSources, type PolicySet } from '../../src/index.js';

// Holding a role C that inherits P is holding C (without `inherits`) and P: the same rows, fields,
// restrictions and grant labels, for any record and any claims (docs/policy-language.md, "Roles").

const TEXT = readFileSync(fileURLToPath(new URL('../fixtures/policies/inherits/policy.yaml', import.meta.url)), 'utf8');
const NOW = new Date('2026-11-24T12:00:00Z');

function load(text: string): PolicySet {
  return policiesFromSources([{ file: 'policy.yaml', text }], { now: NOW });
}

/** The fixture with the `inherits` of the named roles removed. */
function flattened(...roles: string[]): PolicySet {
  const doc = parse(TEXT) as { roles: Record<string, { inherits?: string[] }> };
  for (const r of roles) delete doc.roles[r]!.inherits;
  return load(stringify(doc));
}

/** What a request answers, as data to compare: the rows and the decision's names, or the refusal's code. */
function answer(policies: PolicySet, roles: string[], claims: Record<string, unknown>, input: unknown): unknown {
  try {
    const { data, decision } = policies.redact(structuredClone(input), {
      resource: 'Patient',
      purpose: 'direct-care',
      user: { ...claims, roles, training: '2026-06-01' },
      now: NOW,
    });
    const sorted = (list: string[]) => [...list].sort();
    return {
      data,
      disclosed: sorted(decision.disclosed),
      withheld: sorted(decision.withheld),
      restrictions: sorted(decision.restrictions),
      grants: sorted(decision.grants),
      rowsWithheld: decision.rowsWithheld,
      rowReasons: decision.rowReasons,
    };
  } catch (e) {
    if (e instanceof AccessError) return { refused: e.code };
    throw e;
  }
}

const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const recordArb = fc
  .record({
    id: fc.constantFrom('p1', 'p2'),
    name: fc.constant('Jan Doe'),
    address: fc.constant('1 High St'),
    telecom: fc.constant('0113 496 0000'),
    diagnoses: fc.constant(['E11']),
    ward: maybe(fc.constantFrom('W7', 'W9')),
    careTeam: maybe(fc.constantFrom('ward-7', 'ward-9')),
    caseload: maybe(fc.constantFrom('u1', 'u2')),
    flags: maybe(fc.subarray(['dv-risk', 'hate-crime'])),
    sealed: maybe(fc.boolean()),
  })
  .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)));
const claimsArb = fc
  .record({ sub: fc.constantFrom('u1', 'u2'), team: maybe(fc.constantFrom('ward-7', 'ward-9')), ward: maybe(fc.constantFrom('W7', 'W9')) })
  .map((c) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)));
const inputArb = fc.oneof(recordArb, fc.array(recordArb, { maxLength: 5 }));

describe('role inheritance (property)', () => {
  const inheriting = load(TEXT);
  const flat = flattened('senior-nurse', 'deputy-lead');
  const pairs = [
    { held: ['senior-nurse'], flat: ['senior-nurse', 'ward-nurse'] },
    { held: ['deputy-lead'], flat: ['deputy-lead', 'safeguarding-lead'] },
    { held: ['senior-nurse', 'hca'], flat: ['senior-nurse', 'ward-nurse', 'hca'] },
  ];

  for (const pair of pairs) {
    it(`redacts for ${pair.held.join(' + ')} exactly as for ${pair.flat.join(' + ')} without inherits`, () => {
      fc.assert(
        fc.property(claimsArb, inputArb, (claims, input) => {
          expect(answer(inheriting, pair.held, claims, input)).to.deep.equal(answer(flat, pair.flat, claims, input));
        }),
        { numRuns: 300 },
      );
    });
  }

  it('never gives an inheriting role less than the role it inherits', () => {
    fc.assert(
      fc.property(claimsArb, recordArb, (claims, record) => {
        const parent = answer(inheriting, ['safeguarding-lead'], claims, record) as { data?: Record<string, unknown> };
        const child = answer(inheriting, ['deputy-lead'], claims, record) as { data?: Record<string, unknown> };
        if (parent.data === undefined) return;
        expect(child.data).to.not.equal(undefined);
        for (const key of Object.keys(parent.data)) expect(child.data).to.have.property(key);
      }),
      { numRuns: 300 },
    );
  });
});
