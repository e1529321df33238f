import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { stringify } from 'yaml';
import { fieldmesh } from '../cli/run.js';
import { PolicyError } from '../../src/lib/errors.js';
import { compileCondition, conditionReads } from '../../src/policy/conditions.js';
import { AccessError } from '../../src/engine/access-error.js';
import { policiesFromSources } from '../../src/engine/policy-set.js';
import type { UserClaims } from '../../src/engine/plan.js';

const NOW = new Date('2026-06-01T12:00:00Z');
const TRAINED = '2026-01-15';

type Condition = Record<string, unknown>;
type Row = Record<string, unknown>;

/**
 * A receptionist reads Patient records for administration. `where` goes on
 * her one grant, `when` on one restriction that withholds the address.
 */
function setup({ where, when, withhold = ['address'] }: { where?: Condition; when?: Condition; withhold?: string[] | 'record' } = {}) {
  const policy = {
    resources: { Patient: { fields: { id: 'identifier', name: 'direct', address: 'direct', ward: 'operational' } } },
    purposes: {
      administration: {
        lawfulBasis: { article6: '6(1)(e)' },
        reviewBy: '2099-12-31',
        views: { Patient: { fields: ['id', 'name', 'address', 'ward'] } },
      },
    },
    roles: { receptionist: { grants: [{ purpose: 'administration', resource: 'Patient', read: 'view', ...(where ? { where } : {}) }] } },
    ...(when
      ? {
          restrictions: [{ name: 'sensitive', resource: 'Patient', when, withhold, because: 'Disclosing it can put the person in danger' }],
        }
      : {}),
  };
  const policies = policiesFromSources([{ file: 'conditions.yaml', text: stringify(policy) }], { now: NOW });
  const ctx = (claims: UserClaims) => ({
    resource: 'Patient',
    purpose: 'administration',
    user: { sub: 'u1', roles: ['receptionist'], training: TRAINED, ...claims },
    now: NOW,
  });
  return {
    /** The redacted record, or `undefined` when it is withheld whole. */
    one(record: Row, claims: UserClaims = {}): Row | undefined {
      try {
        return policies.redact(record, ctx(claims)).data as Row;
      } catch (e) {
        if (e instanceof AccessError && e.code === 'record_withheld') return undefined;
        throw e;
      }
    },
    /** The ids of the rows of a list that come back. */
    ids(records: Row[], claims: UserClaims = {}): unknown[] {
      return (policies.redact(records, ctx(claims)).data as Row[]).map((r) => r['id']);
    },
  };
}

/** The issues of a policy set that must not load. */
function loadIssues(opts: { where?: Condition; when?: Condition }): { path: string; message: string }[] {
  try {
    setup(opts);
  } catch (e) {
    expect(e).to.be.instanceOf(PolicyError);
    return (e as PolicyError).issues.filter((i) => i.severity === 'error');
  }
  expect.fail('the policy set loaded, but its condition should have been refused');
}

const person = (id: string, extra: Row = {}): Row => ({ id, name: `Name ${id}`, address: `Address of ${id}`, ward: 'ward-1', ...extra });

describe('row conditions', () => {
  describe('$or', () => {
    it('shows a receptionist the patients of either ward her grant names, and no other', () => {
      const { one, ids } = setup({ where: { $or: [{ ward: 'ward-7' }, { ward: 'ward-9' }] } });
      expect(ids([person('p7', { ward: 'ward-7' }), person('p1'), person('p9', { ward: 'ward-9' })])).to.deep.equal(['p7', 'p9']);
      expect(one(person('p9', { ward: 'ward-9' }))).to.deep.equal(person('p9', { ward: 'ward-9' }));
      expect(one(person('p1'))).to.equal(undefined);
    });

    it('withholds the address of a person flagged dv-risk or hate-crime from a receptionist, and not of one flagged neither', () => {
      const { one } = setup({ when: { $or: [{ flags: 'dv-risk' }, { flags: 'hate-crime' }] } });
      expect(one(person('a', { flags: ['dv-risk'] }))).to.deep.equal({ id: 'a', name: 'Name a', ward: 'ward-1' });
      expect(one(person('b', { flags: ['hate-crime'] }))).to.deep.equal({ id: 'b', name: 'Name b', ward: 'ward-1' });
      expect(one(person('c', { flags: ['falls-risk'] }))).to.deep.equal({
        id: 'c',
        name: 'Name c',
        address: 'Address of c',
        ward: 'ward-1',
      });
      expect(one(person('d'))).to.have.property('address', 'Address of d');
    });
  });

  describe('$and', () => {
    it("shows a receptionist only patients who match every part of her grant's condition", () => {
      const { ids } = setup({ where: { $and: [{ ward: 'ward-7' }, { careTeam: 'red' }] } });
      const rows = [
        person('both', { ward: 'ward-7', careTeam: 'red' }),
        person('ward', { ward: 'ward-7', careTeam: 'blue' }),
        person('team', { careTeam: 'red' }),
      ];
      expect(ids(rows)).to.deep.equal(['both']);
    });

    it("withholds the address only when every part of the restriction's condition holds", () => {
      const { one } = setup({ when: { $and: [{ flags: 'dv-risk' }, { ward: 'ward-7' }] } });
      expect(one(person('both', { ward: 'ward-7', flags: 'dv-risk' }))).not.to.have.property('address');
      expect(one(person('flag', { flags: 'dv-risk' }))).to.have.property('address', 'Address of flag');
      expect(one(person('ward', { ward: 'ward-7' }))).to.have.property('address', 'Address of ward');
    });
  });

  describe('$nor', () => {
    it('shows a receptionist no patient of a ward her grant excludes', () => {
      const { ids, one } = setup({ where: { $nor: [{ ward: 'ward-secure' }, { ward: 'ward-forensic' }] } });
      expect(ids([person('a', { ward: 'ward-secure' }), person('b'), person('c', { ward: 'ward-forensic' })])).to.deep.equal(['b']);
      expect(one(person('c', { ward: 'ward-forensic' }))).to.equal(undefined);
    });

    it('withholds the address of every person not flagged shareable', () => {
      const { one } = setup({ when: { $nor: [{ flags: 'shareable' }, { flags: 'consented-to-share' }] } });
      expect(one(person('a'))).not.to.have.property('address');
      expect(one(person('b', { flags: ['other'] }))).not.to.have.property('address');
      expect(one(person('c', { flags: ['shareable'] }))).to.have.property('address', 'Address of c');
      expect(one(person('d', { flags: 'consented-to-share' }))).to.have.property('address', 'Address of d');
    });
  });

  describe('$not', () => {
    it('shows a receptionist no patient of the ward her grant negates', () => {
      const { ids } = setup({ where: { ward: { $not: { $eq: 'ward-secure' } } } });
      expect(ids([person('a', { ward: 'ward-secure' }), person('b'), person('c', { ward: 'ward-3' })])).to.deep.equal(['b', 'c']);
    });

    it('withholds the address of a person whose status is not active, including one with no status', () => {
      const { one } = setup({ when: { status: { $not: { $in: ['active', 'inpatient'] } } } });
      expect(one(person('a', { status: 'active' }))).to.have.property('address', 'Address of a');
      expect(one(person('b', { status: 'inpatient' }))).to.have.property('address', 'Address of b');
      expect(one(person('c', { status: 'deceased' }))).not.to.have.property('address');
      expect(one(person('d'))).not.to.have.property('address');
    });
  });

  describe('markers', () => {
    it('reads a marker field the resource never declares, and never discloses it', () => {
      const { one } = setup({ where: { careTeam: 'red' }, when: { flags: 'dv-risk' } });
      const out = one(person('a', { careTeam: 'red', flags: ['dv-risk'] }));
      expect(out).to.deep.equal({ id: 'a', name: 'Name a', ward: 'ward-1' });
    });

    it('matches a nested path through an array of objects (meta.security.code)', () => {
      const { one } = setup({ when: { 'meta.security.code': 'R' }, withhold: 'record' });
      expect(one(person('sealed', { meta: { security: [{ code: 'N' }, { code: 'R' }] } }))).to.equal(undefined);
      expect(one(person('normal', { meta: { security: [{ code: 'N' }] } }))).to.deep.equal(person('normal'));
      expect(one(person('none', { meta: { security: [] } }))).to.deep.equal(person('none'));
    });

    it('fires on untidy markers (case, spaces) only when written as the pattern docs/security.md gives', () => {
      const exact = setup({ when: { flags: 'dv-risk' } });
      const pattern = setup({ when: { flags: { $regex: '^\\s*dv-risk\\s*$', $options: 'i' } } });
      for (const flags of [['DV-RISK'], ['dv-risk '], [' Dv-Risk']]) {
        expect(exact.one(person('a', { flags })), JSON.stringify(flags)).to.have.property('address');
        expect(pattern.one(person('a', { flags })), JSON.stringify(flags)).not.to.have.property('address');
      }
      expect(pattern.one(person('a', { flags: ['no-dv-risk'] }))).to.have.property('address');
    });

    it("matches a grant's nested array path only on the elements that carry it", () => {
      const { ids } = setup({ where: { 'identifier.system': 'local-mrn' } });
      const rows = [
        person('a', { identifier: [{ system: 'nhs' }, { system: 'local-mrn' }] }),
        person('b', { identifier: [{ system: 'nhs' }] }),
        person('c'),
      ];
      expect(ids(rows)).to.deep.equal(['a']);
    });
  });

  describe('unknown operators are refused at load', () => {
    const cases: [string, Condition, string, string][] = [
      ['$where', { $where: 'this.ward == "ward-7"' }, '$where', 'unsupported operator "$where"'],
      ['$foo', { $foo: [{ ward: 'ward-7' }] }, '$foo', 'unsupported operator "$foo"'],
      ['$expr', { $expr: { $eq: ['$ward', 'ward-7'] } }, '$expr', 'unsupported operator "$expr"'],
      ['a field-level $bar', { ward: { $bar: 'ward-7' } }, 'ward.$bar', 'unsupported operator "$bar"'],
      ['$mod', { age: { $mod: [2, 0] } }, 'age.$mod', 'unsupported operator "$mod"'],
      ['a top-level $not (MongoDB has none)', { $not: { ward: 'ward-7' } }, '$not', 'unsupported operator "$not"'],
      ['$where inside $or', { $or: [{ ward: 'ward-7' }, { $where: 'true' }] }, '$or[1].$where', 'unsupported operator "$where"'],
      ['$bar inside $not', { ward: { $not: { $bar: 1 } } }, 'ward.$not.$bar', 'unsupported operator "$bar"'],
      [
        '$where inside $elemMatch',
        { tags: { $elemMatch: { $or: [{ $where: 'x' }] } } },
        'tags.$elemMatch.$or[0].$where',
        'unsupported operator "$where"',
      ],
    ];
    for (const [name, condition, at, message] of cases) {
      it(`refuses ${name} in a grant's where`, () => {
        const issues = loadIssues({ where: condition });
        expect(issues.map((i) => i.path)).to.deep.equal([`roles.receptionist.grants[0].where.${at}`]);
        expect(issues[0]!.message).to.include(message);
      });
      it(`refuses ${name} in a restriction's when`, () => {
        const issues = loadIssues({ when: condition });
        expect(issues.map((i) => i.path)).to.deep.equal([`restrictions[0].when.${at}`]);
        expect(issues[0]!.message).to.include(message);
      });
    }

    it('names the operators that may be used', () => {
      const [issue] = loadIssues({ where: { ward: { $bar: 1 } } });
      expect(issue!.message).to.include('$in').and.include('$elemMatch');
    });

    it('refuses a logical operator that is not given a list of conditions', () => {
      expect(loadIssues({ where: { $or: { ward: 'ward-7' } } })[0]!.message).to.include('$or takes a non-empty list');
      expect(loadIssues({ when: { $and: [] } })[0]!.message).to.include('$and takes a non-empty list');
    });

    it('refuses $in given a single value instead of a list', () => {
      expect(loadIssues({ where: { ward: { $in: 'ward-7' } } })[0]!.path).to.equal('roles.receptionist.grants[0].where.ward.$in');
    });

    it('refuses .inf and .nan, which the policy version and the audit trail cannot hold, as policy problems', () => {
      const issues = loadIssues({ where: { age: { $lt: Infinity } }, when: { $or: [{ score: Number.NaN }] } });
      expect(issues.map((i) => i.path)).to.have.members([
        'roles.receptionist.grants[0].where.age.$lt',
        'restrictions[0].when.$or[0].score',
      ]);
      expect(issues[0]!.message).to.include('finite');
    });
  });

  describe('hostile field names in conditions are refused at load', () => {
    for (const key of ['constructor', 'prototype', 'meta.__proto__.x']) {
      it(`refuses "${key}" as a field in a where and a when`, () => {
        // A bare hostile key is refused as the YAML is read; a dotted path holding one by the condition check.
        expect(loadIssues({ where: { [key]: 'x' } })[0]!.message).to.match(/is not a usable field path|can never be a field/);
        expect(loadIssues({ when: { [key]: 'x' } })[0]!.message).to.match(/is not a usable field path|can never be a field/);
      });
    }

    it('refuses "__proto__" as a field in a where, rather than dropping the condition and granting every row', () => {
      // The policy text has `__proto__` as an own key, as YAML and JSON.parse make it.
      const where = JSON.parse('{ "__proto__": { "ward": "ward-7" } }') as Condition;
      expect(Object.keys(where)).to.deep.equal(['__proto__']);
      const issues = loadIssues({ where });
      expect(issues.map((i) => i.path)).to.deep.equal(['roles.receptionist.grants[0].where.__proto__']);
    });

    it('never lets a where written with "__proto__" grant a row that fails its condition', () => {
      const where = JSON.parse('{ "__proto__": { "ward": "ward-7" } }') as Condition;
      let shown: unknown[] = [];
      try {
        shown = setup({ where }).ids([person('p7', { ward: 'ward-7' }), person('p1')]);
      } catch (e) {
        expect(e).to.be.instanceOf(PolicyError); // refusing the policy is the other safe outcome
      }
      expect(shown).not.to.include('p1');
    });

    it('refuses "__proto__" as a field in a when', () => {
      const when = JSON.parse('{ "__proto__": { "flags": "dv-risk" } }') as Condition;
      expect(loadIssues({ when }).map((i) => i.path)).to.deep.equal(['restrictions[0].when.__proto__']);
    });
  });

  describe('${user.x} claims', () => {
    describe('a string holding ${ that is not a well-formed template is refused at load, naming the form', () => {
      const bad: [string, Condition, string][] = [
        ['a namespaced claim written dotted', { excludedStaff: '${user.https://idp.example/staff_id}' }, 'excludedStaff'],
        ['spaces inside', { excludedStaff: '${ user.staff }' }, 'excludedStaff'],
        ['a space in the name', { excludedStaff: '${user.staff id}' }, 'excludedStaff'],
        ['no user.', { excludedStaff: '${staff}' }, 'excludedStaff'],
        ['an unclosed template', { excludedStaff: 'x-${user.staff' }, 'excludedStaff'],
        ['a bad template in $in', { excludedStaff: { $in: ['a', '${ user.staff }'] } }, 'excludedStaff.$in[1]'],
        ['a bad list template', { excludedStaff: { $in: '${user.staff }' } }, 'excludedStaff.$in'],
      ];
      for (const [name, condition, at] of bad) {
        for (const where of ['where', 'when'] as const) {
          it(`${name} in a ${where === 'where' ? "grant's where" : "restriction's when"}`, () => {
            const issues = loadIssues({ [where]: condition });
            const path = where === 'where' ? `roles.receptionist.grants[0].where.${at}` : `restrictions[0].when.${at}`;
            const found = issues.find((i) => i.path === path);
            expect(found, JSON.stringify(issues)).to.not.equal(undefined);
            expect(found!.message).to.include('not a claim template: write ${user.claim}');
            expect(found!.message).to.include('${user["https://idp.example/staff_id"]}');
          });
        }
      }
    });

    it('reads a namespaced claim written quoted (${user["https://idp.example/staff_id"]}), and fires the restriction for it', () => {
      const { one } = setup({ when: { excludedStaff: '${user["https://idp.example/staff_id"]}' } });
      const record = person('a', { excludedStaff: 'u1' });
      expect(one(record, { 'https://idp.example/staff_id': 'u1' })).to.not.have.property('address');
      expect(one(record, { 'https://idp.example/staff_id': 'u2' })).to.have.property('address');
      // A missing claim makes the restriction unusable: it fires.
      expect(one(record)).to.not.have.property('address');
      const spliced = setup({ where: { ward: 'ward-${user["urn:org:ward"]}' } });
      expect(spliced.ids([person('a', { ward: 'ward-7' }), person('b', { ward: 'ward-8' })], { 'urn:org:ward': 7 })).to.deep.equal(['a']);
    });

    it('fills a nested claim path (${user.org.team})', () => {
      const { ids } = setup({ where: { careTeam: '${user.org.team}' } });
      const rows = [person('red', { careTeam: 'red' }), person('blue', { careTeam: 'blue' })];
      expect(ids(rows, { org: { team: 'red' } })).to.deep.equal(['red']);
      expect(ids(rows, { org: { team: 'blue' } })).to.deep.equal(['blue']);
    });

    it('fills a list claim into $in', () => {
      const { ids } = setup({ where: { ward: { $in: '${user.wards}' } } });
      const rows = [person('a', { ward: 'ward-7' }), person('b', { ward: 'ward-8' }), person('c', { ward: 'ward-9' })];
      expect(ids(rows, { wards: ['ward-7', 'ward-9'] })).to.deep.equal(['a', 'c']);
      expect(ids(rows, { wards: ['ward-8'] })).to.deep.equal(['b']);
    });

    it('fills a claim embedded in a longer string ("ward-${user.n}")', () => {
      const { ids } = setup({ where: { ward: 'ward-${user.n}' } });
      const rows = [person('a', { ward: 'ward-7' }), person('b', { ward: 'ward-8' })];
      expect(ids(rows, { n: 7 })).to.deep.equal(['a']);
      expect(ids(rows, { n: '8' })).to.deep.equal(['b']);
    });

    it('never matches when a claim the grant needs is missing, not even a record that lacks the field too', () => {
      const { one, ids } = setup({ where: { careTeam: '${user.team}' } });
      expect(one(person('a', { careTeam: 'red' }))).to.equal(undefined);
      expect(one(person('b'))).to.equal(undefined);
      expect(one(person('c', { careTeam: null }))).to.equal(undefined);
      expect(ids([person('a', { careTeam: 'red' }), person('b')])).to.deep.equal([]);
      expect(ids([person('a', { careTeam: 'red' }), person('b')], { team: 'red' })).to.deep.equal(['a']);
    });

    it('never matches when a claim embedded in a string is missing', () => {
      const { ids } = setup({ where: { ward: 'ward-${user.n}' } });
      expect(ids([person('a', { ward: 'ward-' }), person('b', { ward: 'ward-undefined' })])).to.deep.equal([]);
    });

    it('treats a claim that is an object as missing, so it cannot smuggle in an operator', () => {
      const { one, ids } = setup({ where: { careTeam: '${user.team}' } });
      expect(one(person('a', { careTeam: 'red' }), { team: { $ne: null } })).to.equal(undefined);
      expect(ids([person('a', { careTeam: 'red' }), person('b', { careTeam: 'blue' })], { team: { $exists: true } })).to.deep.equal([]);
      expect(ids([person('a', { careTeam: 'red' })], { team: [{ $ne: null }] })).to.deep.equal([]);
    });

    it('treats an object claim in $in as missing', () => {
      const { ids } = setup({ where: { ward: { $in: '${user.wards}' } } });
      expect(ids([person('a', { ward: 'ward-7' })], { wards: { $exists: true } })).to.deep.equal([]);
    });

    it('never reads a claim through a prototype (${user.constructor.name})', () => {
      const { ids } = setup({ where: { ward: '${user.constructor.name}' } });
      expect(ids([person('a', { ward: 'Object' }), person('b', { ward: 'Function' })])).to.deep.equal([]);
    });

    it("withholds the address when a restriction's claim is missing (fail closed)", () => {
      const { one } = setup({ when: { careTeam: { $ne: '${user.team}' } } });
      expect(one(person('a', { careTeam: 'red' }), { team: 'red' })).to.have.property('address', 'Address of a');
      expect(one(person('a', { careTeam: 'red' }), { team: 'blue' })).not.to.have.property('address');
      expect(one(person('a', { careTeam: 'red' }))).not.to.have.property('address');
      expect(one(person('a', { careTeam: 'red' }), { team: { $exists: true } })).not.to.have.property('address');
    });

    it("withholds the whole record when a record restriction's claim is missing", () => {
      const { one } = setup({ when: { 'meta.owner': { $ne: '${user.sub}' } }, withhold: 'record' });
      expect(one(person('a', { meta: { owner: 'u1' } }))).to.have.property('id', 'a');
      expect(one(person('a', { meta: { owner: 'u1' } }), { sub: undefined })).to.equal(undefined);
    });
  });
  describe('MongoDB semantics', () => {
    it('never lets a comparison match a missing, null, differently typed or object value', () => {
      const { ids } = setup({ where: { riskLevel: { $lte: 2 } } });
      const rows = [
        person('one', { riskLevel: 1 }),
        person('two', { riskLevel: 2 }),
        person('three', { riskLevel: 3 }),
        person('missing'),
        person('null', { riskLevel: null }),
        person('high', { riskLevel: 'high' }),
        person('text', { riskLevel: '1' }),
        person('object', { riskLevel: { value: 1 } }),
        person('bool', { riskLevel: false }),
        person('list', { riskLevel: [5, 1] }),
      ];
      expect(ids(rows)).to.deep.equal(['one', 'two', 'list']);
    });

    it('compares strings with strings, so ISO dates compare by date', () => {
      const { ids } = setup({ where: { reviewed: { $gte: '2026-01-01', $lt: '2027-01-01' } } });
      const rows = [
        person('in', { reviewed: '2026-05-02' }),
        person('before', { reviewed: '2025-12-31' }),
        person('after', { reviewed: '2027-01-01' }),
        person('number', { reviewed: 20260502 }),
      ];
      expect(ids(rows)).to.deep.equal(['in']);
    });

    it('matches null against a missing field in $eq and $in, and $ne and $nin exclude it', () => {
      const rows = [
        person('missing'),
        person('null', { team: null }),
        person('red', { team: 'red' }),
        person('list', { team: ['red', null] }),
      ];
      expect(setup({ where: { team: null } }).ids(rows)).to.deep.equal(['missing', 'null', 'list']);
      expect(setup({ where: { team: { $in: [null, 'blue'] } } }).ids(rows)).to.deep.equal(['missing', 'null', 'list']);
      expect(setup({ where: { team: { $ne: null } } }).ids(rows)).to.deep.equal(['red']);
      expect(setup({ where: { team: { $nin: [null] } } }).ids(rows)).to.deep.equal(['red']);
      expect(setup({ where: { team: { $ne: 'red' } } }).ids(rows)).to.deep.equal(['missing', 'null']);
    });

    it('walks a dotted path through a list as MongoDB does for null (an object element without the field counts, a scalar one does not)', () => {
      const { ids } = setup({ where: { 'a.b': null } });
      const rows = [
        person('1', { a: [{ b: 5 }] }),
        person('2', { a: [{}] }),
        person('3', { a: [] }),
        person('4', { a: [{}, { b: 5 }] }),
        person('5', { a: [5, { b: 5 }] }),
        person('6', { a: 4 }),
      ];
      expect(ids(rows)).to.deep.equal(['2', '4', '6']);
    });

    it('fires $nor and $not for a record that lacks the field', () => {
      expect(setup({ when: { $nor: [{ consentToShare: true }] } }).one(person('a'))).not.to.have.property('address');
      expect(setup({ when: { riskLevel: { $not: { $lt: 3 } } } }).one(person('a'))).not.to.have.property('address');
      expect(setup({ when: { riskLevel: { $not: { $lt: 3 } } } }).one(person('b', { riskLevel: 1 }))).to.have.property('address');
    });

    it('reads $all as every value present, $size as the list length, $exists as the path reaching anything', () => {
      const rows = [
        person('both', { flags: ['x', 'y', 'z'] }),
        person('one', { flags: ['x'] }),
        person('scalar', { flags: 'x' }),
        person('none'),
        person('null', { flags: null }),
      ];
      expect(setup({ where: { flags: { $all: ['x', 'y'] } } }).ids(rows)).to.deep.equal(['both']);
      expect(setup({ where: { flags: { $all: ['x'] } } }).ids(rows)).to.deep.equal(['both', 'one', 'scalar']);
      expect(setup({ where: { flags: { $size: 1 } } }).ids(rows)).to.deep.equal(['one']);
      expect(setup({ where: { flags: { $exists: true } } }).ids(rows)).to.deep.equal(['both', 'one', 'scalar', 'null']);
      expect(setup({ where: { flags: { $exists: false } } }).ids(rows)).to.deep.equal(['none']);
    });

    it('matches $regex with $options on strings only, including list elements', () => {
      const { ids } = setup({ where: { ward: { $regex: '^WARD-7', $options: 'i' } } });
      expect(
        ids([
          person('a', { ward: 'ward-7' }),
          person('b', { ward: ['x', 'Ward-71'] }),
          person('c', { ward: 7 }),
          person('d', { ward: 'ward-8' }),
        ]),
      ).to.deep.equal(['a', 'b']);
    });

    it('matches $elemMatch on one element satisfying every part, as values or as records', () => {
      const values = setup({ where: { scores: { $elemMatch: { $gte: 3, $lt: 5 } } } });
      expect(values.ids([person('a', { scores: [1, 4] }), person('b', { scores: [2, 6] }), person('c', { scores: 4 })])).to.deep.equal([
        'a',
      ]);
      const records = setup({ when: { 'meta.security': { $elemMatch: { system: 'conf', code: 'R' } } }, withhold: 'record' });
      expect(
        records.one(
          person('same', {
            meta: {
              security: [
                { code: 'N', system: 'x' },
                { system: 'conf', code: 'R', display: 'restricted' },
              ],
            },
          }),
        ),
      ).to.equal(undefined);
      expect(
        records.one(
          person('split', {
            meta: {
              security: [
                { system: 'conf', code: 'N' },
                { system: 'x', code: 'R' },
              ],
            },
          }),
        ),
      ).to.deep.equal(person('split'));
    });

    it('tests $elemMatch value operators on each element as it is, without opening a list inside the list', () => {
      const rows = [person('flat', { scores: [4] }), person('nested', { scores: [[4]] })];
      expect(setup({ where: { scores: { $elemMatch: { $eq: 4 } } } }).ids(rows)).to.deep.equal(['flat']);
      expect(setup({ where: { scores: { $elemMatch: { $size: 1 } } } }).ids(rows)).to.deep.equal(['nested']);
      expect(setup({ where: { scores: 4 } }).ids(rows)).to.deep.equal(['flat']);
    });

    it('orders strings by Unicode code point, as MongoDB does (U+1F600 after U+FFFD)', () => {
      const { ids } = setup({ where: { mark: { $gt: '\uFFFD' } } });
      expect(
        ids([person('emoji', { mark: '\u{1F600}' }), person('replacement', { mark: '\uFFFD' }), person('a', { mark: 'a' })]),
      ).to.deep.equal(['emoji']);
    });

    it('withholds the record whose marker arrives in another type than the restriction compares with', () => {
      const { one } = setup({ when: { riskLevel: { $gte: 3 } } });
      expect(one(person('a', { riskLevel: 4 }))).not.to.have.property('address');
      expect(one(person('b', { riskLevel: 1 }))).to.have.property('address');
      expect(one(person('c', { riskLevel: '4' }))).not.to.have.property('address');
      expect(one(person('d'))).to.have.property('address');
    });
  });

  describe('operands that would not mean what they say are refused at load, naming the working form', () => {
    const cases: [string, Condition, string, string[]][] = [
      ['a list in implicit equality', { flags: ['dv-risk'] }, 'flags', ['{ flags: dv-risk }', '$all', '$in']],
      [
        'an object in implicit equality',
        { 'meta.security': { system: 's', code: 'R' } },
        'meta.security',
        ['$elemMatch: { system: …, code: … }', '"meta.security.code"'],
      ],
      ['a list in $eq', { flags: { $eq: ['a', 'b'] } }, 'flags.$eq', ['{ flags: a }']],
      ['an object in $ne', { meta: { $ne: { code: 'R' } } }, 'meta.$ne', ['$elemMatch']],
      ['a list inside $in', { flags: { $in: [['a']] } }, 'flags.$in[0]', ['list plain values']],
      ['an object inside $nin', { 'meta.security': { $nin: [{ code: 'R' }] } }, 'meta.security.$nin[0]', ['$elemMatch']],
      ['$gt: true', { sealed: { $gt: true } }, 'sealed.$gt', ['numbers with numbers and strings with strings']],
      ['$gte: null', { riskLevel: { $gte: null } }, 'riskLevel.$gte', ['give it a number or a string']],
      ['$lt: a list', { riskLevel: { $lt: [3] } }, 'riskLevel.$lt', ['give it a number or a string']],
      ['an infinite number', { riskLevel: { $lte: Infinity } }, 'riskLevel.$lte', ['finite number']],
      ['$size: -1', { flags: { $size: -1 } }, 'flags.$size', ['whole number']],
      ['$size: 1.5', { flags: { $size: 1.5 } }, 'flags.$size', ['whole number']],
      ['$exists: "yes"', { flags: { $exists: 'yes' } }, 'flags.$exists', ['true or false']],
      ['an invalid $regex', { ward: { $regex: '(' } }, 'ward.$regex', ['not a valid JavaScript regular expression']],
      ['$options with a stateful flag', { ward: { $regex: 'x', $options: 'g' } }, 'ward.$regex', ['i, m, s']],
      ['$options without $regex', { ward: { $options: 'i' } }, 'ward.$options', ['goes with $regex']],
      ['a claim in a pattern', { ward: { $regex: '^${user.team}' } }, 'ward.$regex', ['cannot be part of a pattern']],
      ['$all: []', { flags: { $all: [] } }, 'flags.$all', ['non-empty list']],
      ['a position in a path', { 'identifier.0.system': 'nhs' }, 'identifier.0.system', ['{ "identifier": { $elemMatch']],
      ['an empty $not', { ward: { $not: {} } }, 'ward.$not', ['operator object']],
    ];
    for (const [name, condition, at, fragments] of cases) {
      it(`refuses ${name} in a grant's where and in a restriction's when`, () => {
        for (const [opts, prefix] of [
          [{ where: condition }, 'roles.receptionist.grants[0].where'],
          [{ when: condition }, 'restrictions[0].when'],
        ] as const) {
          const issues = loadIssues(opts);
          expect(issues.map((i) => i.path)).to.deep.equal([`${prefix}.${at}`]);
          for (const f of fragments) expect(issues[0]!.message).to.include(f);
        }
      });
    }

    it('fieldmesh check refuses the restrictions that used to load and never fire, naming the working form', () => {
      const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-conditions-'));
      const policy = {
        resources: { Patient: { fields: { id: 'identifier', address: 'direct', riskLevel: 'operational' } } },
        purposes: {
          administration: {
            lawfulBasis: { article6: '6(1)(e)' },
            reviewBy: '2099-12-31',
            views: { Patient: { fields: ['id', 'address', 'riskLevel'] } },
          },
        },
        roles: {
          receptionist: {
            grants: [
              { purpose: 'administration', resource: 'Patient', read: 'view', where: { riskLevel: { $gte: null } } },
              { purpose: 'administration', resource: 'Patient', read: 'view', where: { riskLevel: { $gt: true } } },
            ],
          },
        },
        restrictions: [
          {
            name: 'dv',
            resource: 'Patient',
            when: { flags: ['dv-risk'] },
            withhold: ['address'],
            because: 'Disclosing it can put the person in danger',
          },
          {
            name: 'sealed',
            resource: 'Patient',
            when: { 'meta.security': { system: 'conf', code: 'R' } },
            withhold: 'record',
            because: 'Restricted record',
          },
        ],
      };
      writeFileSync(join(dir, 'policy.yaml'), stringify(policy));
      const r = fieldmesh(['check', '--policies', dir]);
      expect(r.code).to.equal(1);
      expect(r.stdout)
        .to.match(/policy\.yaml:\d+:\d+ › restrictions\[0\]\.when\.flags: comparing flags with a whole list/)
        .and.include('use { flags: dv-risk }');
      expect(r.stdout)
        .to.match(/policy\.yaml:\d+:\d+ › restrictions\[1\]\.when\.meta\.security: comparing meta\.security with a whole object/)
        .and.include('$elemMatch');
      expect(r.stdout).to.include('roles.receptionist.grants[0].where.riskLevel.$gte: $gte compares numbers with numbers');
      expect(r.stdout).to.include('roles.receptionist.grants[1].where.riskLevel.$gt: $gt compares numbers with numbers');
    });
  });

  describe('a condition that loads never fails a request', () => {
    it('reads a single claimed team in $in as a list of one', () => {
      const { ids } = setup({ where: { careTeam: { $in: '${user.teams}' } } });
      const rows = [person('red', { careTeam: 'red' }), person('blue', { careTeam: 'blue' })];
      expect(ids(rows, { teams: 'red' })).to.deep.equal(['red']);
      expect(ids(rows, { teams: ['red', 'blue'] })).to.deep.equal(['red', 'blue']);
      expect(
        setup({ when: { careTeam: { $nin: '${user.teams}' } } }).one(person('blue', { careTeam: 'blue' }), { teams: 'red' }),
      ).not.to.have.property('address');
    });

    it('makes a condition unusable when a claim holds a kind its operator cannot take: the grant never matches, the restriction fires', () => {
      const grant = setup({ where: { riskLevel: { $lte: '${user.maxRisk}' } } });
      expect(grant.ids([person('a', { riskLevel: 1 })], { maxRisk: 2 })).to.deep.equal(['a']);
      expect(grant.ids([person('a', { riskLevel: 1 })], { maxRisk: true })).to.deep.equal([]);
      const list = setup({ where: { careTeam: '${user.teams}' } });
      expect(
        list.ids([person('a', { careTeam: 'red' }), person('b', { careTeam: ['red', 'blue'] })], { teams: ['red', 'blue'] }),
      ).to.deep.equal([]);
      const restriction = setup({ when: { riskLevel: { $gt: '${user.maxRisk}' } } });
      expect(restriction.one(person('a', { riskLevel: 1 }), { maxRisk: 2 })).to.have.property('address');
      expect(restriction.one(person('a', { riskLevel: 1 }), { maxRisk: false })).not.to.have.property('address');
      expect(restriction.one(person('a', { riskLevel: 1 }), { maxRisk: [5] })).not.to.have.property('address');
    });
  });
});

describe('conditionReads', () => {
  it('names the first segment of every field path, through $and, $or and $nor, operators and $elemMatch below a field', () => {
    expect(conditionReads({ careTeam: '${user.team}' })).to.deep.equal(['careTeam']);
    expect(conditionReads({ $or: [{ sealed: true }, { 'meta.security.code': 'R' }] })).to.deep.equal(['sealed', 'meta']);
    expect(
      conditionReads({
        $and: [{ $nor: [{ 'a.b': { $in: [1, 2] } }] }, { list: { $elemMatch: { 'x.y': 1, z: { $gt: 2 } } } }],
        riskLevel: { $gte: 3 },
      }),
    ).to.deep.equal(['a', 'list', 'riskLevel']);
    expect(conditionReads({})).to.deep.equal([]);
    expect(compileCondition({ $or: [{ flags: 'dv-risk' }, { 'meta.code': '${user.team}' }] }).reads).to.deep.equal(['flags', 'meta']);
  });

  it('cannot tell, and says so, for anything else at the top of a condition: the whole record counts as read', () => {
    expect(conditionReads({ $where: 'true' })).to.equal(undefined);
    expect(conditionReads({ $expr: { $eq: ['$a', 1] } })).to.equal(undefined);
    expect(conditionReads({ $or: [{ a: 1 }, { $text: 'x' }] })).to.equal(undefined);
    expect(conditionReads({ $and: 'not a list' })).to.equal(undefined);
    expect(conditionReads({ $or: [1] })).to.equal(undefined);
    expect(conditionReads(['a'])).to.equal(undefined);
  });
});
