import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import fc from 'fast-check';
import type { Decision } from '../../src/engine/decision.js';
import { policiesFromSources, type PolicySet } from '../../src/engine/policy-set.js';
import { formatPercent } from '../../src/testing/coverage.js';
import {
  type CaseResult,
  type Coverage,
  caseFileSchema,
  coverageOf,
  formatCoverage,
  meetsThreshold,
  runCase,
} from '../../src/testing/index.js';

/** One of everything coverage counts (12 items): test/fixtures/coverage/policies/policy.yaml. */
const SMALL_POLICY = readFileSync(fileURLToPath(new URL('../fixtures/coverage/policies/policy.yaml', import.meta.url)), 'utf8');

function setup() {
  const policies = policiesFromSources([{ file: 'policy.yaml', text: SMALL_POLICY }]);
  const user = (roles: string[], extra: Record<string, unknown> = {}) => ({ sub: 'u1', roles, training: '2026-06-01', ...extra });
  // Each read runs as a fixture case does (runCase), so its result carries what coverage reads: the decision and fieldsSeen.
  const read = (purpose: string, roles: string[], input: unknown, claims: Record<string, unknown> = {}) => {
    const one = { name: 'read', resource: 'Patient', purpose, user: user(roles, claims), expect: null };
    const file = caseFileSchema.parse({
      now: '2026-11-24T12:00:00Z',
      cases: [{ ...one, [Array.isArray(input) ? 'records' : 'record']: input }],
    });
    const result = runCase(policies, new Map(), file, file.cases[0]!, 'inline.yaml');
    if (result.decision === undefined) throw new Error(`no decision: ${result.message}`);
    return result as CaseResult & { decision: Decision };
  };
  const vipOnWard = { id: 'p1', name: 'Ann', diagnoses: ['J45'], ward: 'w1', vip: true };
  const plain = { id: 'p2', name: 'Bob', diagnoses: ['E11'], ward: 'w2' };
  const cases = {
    /** nurse#0 matches; vip fires; id and diagnoses disclosed, name withheld. */
    nurseVip: read('care', ['nurse'], vipOnWard, { ward: 'w1' }),
    /** clerk#0 matches; vip does not fire; name disclosed, id and diagnoses withheld. */
    clerkPlain: read('admin', ['clerk'], plain),
  };
  return { policies, read, vipOnWard, plain, cases };
}

const gapsOf = (c: Coverage) => c.gaps.map((g) => g.message);

describe('testing/coverage', () => {
  describe('coverageOf', () => {
    it('is 100% when every grant, purpose, restriction side and field side was exercised', () => {
      const { policies, cases } = setup();
      const c = coverageOf(policies, [cases.nurseVip, cases.clerkPlain]);
      expect(gapsOf(c)).to.deep.equal([]);
      expect(c).to.deep.include({ covered: 12, total: 12, percent: 100 });
      expect(c.kinds).to.deep.equal({
        grant: { covered: 2, total: 2 },
        restriction: { covered: 2, total: 2 },
        purpose: { covered: 2, total: 2 },
        field: { covered: 6, total: 6 },
      });
    });

    it('lists, by kind, what one case leaves unexercised', () => {
      const { policies, cases } = setup();
      const c = coverageOf(policies, [cases.clerkPlain]);
      expect(gapsOf(c)).to.deep.equal([
        'grant nurse#0 never matched (Patient, care)',
        'restriction vip never fired (Patient)',
        'purpose care never used',
        'field Patient.id never disclosed',
        'field Patient.name never withheld',
        'field Patient.diagnoses never disclosed',
      ]);
      expect(c.gaps[0]).to.deep.equal({
        kind: 'grant',
        name: 'nurse#0',
        missing: 'matched',
        message: 'grant nurse#0 never matched (Patient, care)',
      });
      expect(c).to.deep.include({ covered: 6, total: 12, percent: 50 });
    });

    it('counts a restriction as not firing only on a record it left disclosed', () => {
      const { policies, read, vipOnWard } = setup();
      // The nurse's grant does not match ward w2: the record is refused before any restriction is looked at.
      const refused = read('care', ['nurse'], { ...vipOnWard, vip: false, ward: 'w2' }, { ward: 'w1' });
      expect(refused.decision.outcome).to.equal('refused');
      expect(gapsOf(coverageOf(policies, [refused]))).to.include('restriction vip never seen not firing or exempt (Patient)');
      // In a list where it fires on one row and not on another, the decision cannot tell: not firing is not claimed.
      const list = read('care', ['nurse'], [vipOnWard, { ...vipOnWard, id: 'p3', vip: false }], { ward: 'w1' });
      expect(list.decision.restrictions).to.deep.equal(['vip']);
      const c = coverageOf(policies, [list]);
      expect(gapsOf(c)).to.include('restriction vip never seen not firing or exempt (Patient)');
      expect(gapsOf(c)).to.not.include('restriction vip never fired (Patient)');
    });

    it('does not count a record withheld whole as withholding its fields, but counts its purpose', () => {
      const { policies, read, vipOnWard } = setup();
      const noClaim = read('care', ['nurse'], vipOnWard);
      expect(noClaim.decision.code).to.equal('record_withheld');
      const c = coverageOf(policies, [noClaim]);
      expect(gapsOf(c)).to.include.members(['field Patient.id never withheld', 'field Patient.diagnoses never withheld']);
      expect(gapsOf(c)).to.not.include('purpose care never used');
      expect(c.covered).to.equal(1);
    });

    it('counts a purpose refused before any record was looked at (an expired flow is proven by its refusal)', () => {
      const { policies, read, plain } = setup();
      const untrained = read('admin', ['clerk'], plain, { training: '2020-01-01' });
      expect(untrained.decision.code).to.equal('training_expired');
      expect(gapsOf(coverageOf(policies, [untrained]))).to.not.include('purpose admin never used');
    });

    it('counts a transformed disclosure as disclosed', () => {
      const policies = policiesFromSources([
        {
          file: 'p.yaml',
          text: SMALL_POLICY.replace(
            'views: { Patient: { fields: [id, name, ward] } }',
            'views: { Patient: { fields: [id, name, ward], transform: { name: mask } } }',
          ),
        },
      ]);
      const file = caseFileSchema.parse({
        now: '2026-11-24T12:00:00Z',
        cases: [
          {
            name: 'masked',
            resource: 'Patient',
            purpose: 'admin',
            user: { roles: ['clerk'], training: '2026-06-01' },
            record: { id: 'p2', name: 'Robert', ward: 'w2' },
            expect: null,
          },
        ],
      });
      const result = runCase(policies, new Map(), file, file.cases[0]!, 'inline.yaml');
      expect(result.decision!.transforms).to.deep.equal({ name: 'mask' });
      expect(gapsOf(coverageOf(policies, [result]))).to.not.include('field Patient.name never disclosed');
    });

    it('counts a field disclosed only when the output held it, and withheld only when the input held it', () => {
      const { policies, read } = setup();
      // The grant allows id, name and diagnoses, but the record holds only an id and a ward: only id was disclosed.
      const sparse = read('care', ['nurse'], { id: 'p1', ward: 'w1' }, { ward: 'w1' });
      expect(sparse.decision.disclosed).to.include.members(['name', 'diagnoses']);
      expect(sparse.fieldsSeen).to.deep.equal({ disclosed: ['id', 'ward'], withheld: [] });
      const c = coverageOf(policies, [sparse]);
      expect(gapsOf(c)).to.include.members(['field Patient.name never disclosed', 'field Patient.diagnoses never disclosed']);
      expect(gapsOf(c)).to.not.include('field Patient.id never disclosed');
      // The clerk may not read id or diagnoses; a record without diagnoses withholds only the id.
      const noDiagnoses = read('admin', ['clerk'], { id: 'p2', name: 'Bob', ward: 'w2' });
      expect(noDiagnoses.decision.withheld).to.include.members(['id', 'diagnoses']);
      expect(gapsOf(coverageOf(policies, [noDiagnoses])))
        .to.include('field Patient.diagnoses never withheld')
        .and.not.include('field Patient.id never withheld');
    });

    it('counts a field withheld from a list only when a row returned must have held it', () => {
      const { read, plain } = setup();
      // Two rows, one withheld whole by the ward condition: the row returned cannot be told from the other.
      const oneHeldIt = read(
        'care',
        ['nurse'],
        [
          { id: 'p1', ward: 'w2' },
          { ...plain, ward: 'w1' },
        ],
        { ward: 'w1' },
      );
      expect(oneHeldIt.decision).to.include({ rowsReturned: 1, rowsWithheld: 1 });
      expect(oneHeldIt.fieldsSeen!.disclosed).to.include.members(['id', 'name', 'diagnoses']);
      // Both rows held name and the returned one lost it to the vip restriction: withheld, though a row was withheld whole.
      const both = read(
        'care',
        ['nurse'],
        [
          { ...plain, ward: 'w2' },
          { ...plain, ward: 'w1', vip: true },
        ],
        { ward: 'w1' },
      );
      expect(both.fieldsSeen).to.deep.equal({ disclosed: ['diagnoses', 'id', 'ward'], withheld: ['name'] });
      // Only the row withheld whole held a name: nothing says a returned row lost one.
      const onlyDropped = read(
        'care',
        ['nurse'],
        [
          { ...plain, ward: 'w2' },
          { id: 'p9', ward: 'w1', vip: true },
        ],
        { ward: 'w1' },
      );
      expect(onlyDropped.fieldsSeen!.withheld).to.deep.equal([]);
    });

    it('counts a grant inherited by several roles once, covered through whichever role held it', () => {
      const inherited = SMALL_POLICY.replace(
        'roles:\n',
        'roles:\n  senior:\n    inherits: [nurse]\n    grants: []\n  lead:\n    inherits: [senior]\n    grants: []\n',
      );
      const policies = policiesFromSources([{ file: 'p.yaml', text: inherited }]);
      expect(coverageOf(policies, []).kinds.grant).to.deep.equal({ covered: 0, total: 2 });
      const file = caseFileSchema.parse({
        now: '2026-11-24T12:00:00Z',
        cases: [
          {
            name: 'lead',
            resource: 'Patient',
            purpose: 'care',
            user: { roles: ['lead'], ward: 'w1', training: '2026-06-01' },
            record: { id: 'p1', ward: 'w1' },
            expect: null,
          },
        ],
      });
      const result = runCase(policies, new Map(), file, file.cases[0]!, 'inline.yaml');
      expect(result.decision!.grants).to.deep.equal(['nurse#0']);
      const c = coverageOf(policies, [result]);
      expect(c.kinds.grant).to.deep.equal({ covered: 1, total: 2 });
      expect(gapsOf(c).filter((g) => g.startsWith('grant '))).to.deep.equal(['grant clerk#0 never matched (Patient, admin)']);
    });

    it('skips results without a decision (an unknown ref) and accepts the compiled policies', () => {
      const { policies, cases } = setup();
      const c = coverageOf(policies.compiled, [{}, cases.nurseVip, { decision: undefined }, cases.clerkPlain]);
      expect(c.percent).to.equal(100);
    });

    it('refuses a decision made under another policy version', () => {
      const { cases } = setup();
      const other: PolicySet = policiesFromSources([{ file: 'p.yaml', text: SMALL_POLICY.replace('2099-01-01', '2098-01-01') }]);
      expect(() => coverageOf(other, [cases.nurseVip])).to.throw(TypeError, /policy version/);
    });

    it('is 100% of nothing for a policy set with nothing to cover', () => {
      const policies = policiesFromSources([
        { file: 'p.yaml', text: 'resources:\n  Ward:\n    fields: { name: operational }\npurposes: {}\nroles: {}\n' },
      ]);
      expect(coverageOf(policies, [])).to.deep.include({ covered: 0, total: 0, percent: 100, gaps: [] });
    });

    it('never lowers coverage when more cases run, and leaves one gap per uncovered item', () => {
      const { policies, read, vipOnWard, plain } = setup();
      const pool = [
        read('care', ['nurse'], vipOnWard, { ward: 'w1' }),
        read('care', ['nurse'], plain, { ward: 'w2' }),
        read('care', ['nurse'], plain, { ward: 'w1' }),
        read('admin', ['clerk'], plain),
        read('admin', ['clerk'], vipOnWard),
        read('admin', ['nurse'], plain),
        read('care', ['nurse', 'clerk'], [plain, vipOnWard], { ward: 'w2' }),
      ];
      fc.assert(
        fc.property(fc.subarray(pool), fc.subarray(pool), (some, more) => {
          const a = coverageOf(policies, some);
          const b = coverageOf(policies, [...some, ...more]);
          expect(b.covered).to.be.at.least(a.covered);
          expect(a.gaps.length).to.equal(a.total - a.covered);
          expect(a.total).to.equal(12);
        }),
      );
    });
  });

  describe('meetsThreshold', () => {
    it('compares exactly: 7 of 8 meets 87.5 and misses 87.6', () => {
      const c = { covered: 7, total: 8 } as Coverage;
      expect(meetsThreshold(c, 87.5)).to.equal(true);
      expect(meetsThreshold(c, 87.6)).to.equal(false);
      expect(meetsThreshold(c, 0)).to.equal(true);
      expect(meetsThreshold({ covered: 8, total: 8 } as Coverage, 100)).to.equal(true);
    });

    it('refuses a threshold that is not a percentage', () => {
      const c = { covered: 1, total: 2 } as Coverage;
      for (const bad of [Number.NaN, -1, 100.5, Number.POSITIVE_INFINITY]) expect(() => meetsThreshold(c, bad)).to.throw(TypeError);
    });
  });

  describe('formatCoverage', () => {
    it('prints the total, each kind and every gap', () => {
      const { policies, cases } = setup();
      expect(formatCoverage(coverageOf(policies, [cases.clerkPlain])).split('\n')).to.deep.equal([
        'coverage 50% (6 of 12 items)',
        '  grants        1 of 2',
        '  restrictions  1 of 2',
        '  purposes      1 of 2',
        '  fields        3 of 6',
        'gaps (6):',
        '  grant nurse#0 never matched (Patient, care)',
        '  restriction vip never fired (Patient)',
        '  purpose care never used',
        '  field Patient.id never disclosed',
        '  field Patient.name never withheld',
        '  field Patient.diagnoses never disclosed',
      ]);
    });

    it('never rounds a percentage up to one it did not reach', () => {
      expect(formatPercent(99.99)).to.equal('99.9%');
      expect(formatPercent(100)).to.equal('100%');
      expect(formatPercent(200 / 3)).to.equal('66.6%');
      expect(formatPercent(87.5)).to.equal('87.5%');
    });
  });
});
