import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { parse, stringify } from 'yaml';
import { diffPolicies, type PolicyChange } from '../../src/engine/diff.js';
import { policiesFromSources } from '../../src/engine/policy-set.js';
import { NOW, VALID_POLICY } from '../helpers.js';

// biome-ignore lint/suspicious/noExplicitAny: a policy document edited freely, as a person edits the YAML
type Doc = any;

/** The valid fixture set, and the same set edited by `edit`, diffed. */
function setup() {
  const text = readFileSync(VALID_POLICY, 'utf8');
  const load = (t: string) => policiesFromSources([{ file: 'policy.yaml', text: t }], { now: NOW });
  const before = load(text);
  const diff = (edit: (doc: Doc) => void, now = NOW) => {
    const doc = parse(text) as Doc;
    edit(doc);
    return diffPolicies(before, load(stringify(doc)), { now });
  };
  const only = (edit: (doc: Doc) => void, filter: Partial<PolicyChange> = {}) =>
    diff(edit).changes.filter((c) => Object.entries(filter).every(([k, v]) => (c as unknown as Record<string, unknown>)[k] === v));
  const grant = (doc: Doc, role: string, i = 0) => doc.roles[role].grants[i];
  return { before, diff, only, grant };
}

describe('engine/diff', () => {
  describe('diffPolicies', () => {
    it('finds nothing between a set and itself', () => {
      const { before } = setup();
      const diff = diffPolicies(before, before, { now: NOW });
      expect(diff).to.deep.equal({ widened: false, summary: { widening: 0, narrowing: 0, neutral: 0 }, changes: [] });
    });

    it('reports a field a role gains, per role, purpose, resource and action, with the rows it is granted on', () => {
      const { diff, grant } = setup();
      const d = diff((doc) => grant(doc, 'nurse').read.push('diagnoses'));
      expect(d.widened).to.equal(true);
      expect(d.changes).to.deep.equal([
        {
          kind: 'fields-gained',
          effect: 'widening',
          resource: 'Patient',
          purpose: 'direct-care',
          role: 'nurse',
          action: 'read',
          fields: ['diagnoses'],
          after: [{ careTeam: '${user.team}' }],
          message: 'gains diagnoses where {"careTeam":"${user.team}"}',
        },
      ]);
    });

    it('reports fields lost as narrowing, and update and create apart from read', () => {
      const { only, grant } = setup();
      const changes = only((doc) => {
        grant(doc, 'nurse').read = ['id', 'name'];
        grant(doc, 'nurse').update = [];
        grant(doc, 'gp').create = ['diagnoses'];
      });
      expect(changes.map((c) => [c.role, c.action, c.kind, c.effect, c.fields])).to.deep.equal([
        ['gp', 'create', 'fields-gained', 'widening', ['diagnoses']],
        ['nurse', 'read', 'fields-lost', 'narrowing', ['address', 'address.postcode', 'dateOfBirth', 'telecom.value', 'ward']],
        ['nurse', 'update', 'fields-lost', 'narrowing', ['ward']],
      ]);
    });

    it('a change that widens access only through a condition: the condition removed', () => {
      const { diff, grant } = setup();
      const d = diff((doc) => delete grant(doc, 'nurse').where);
      expect(d.widened).to.equal(true);
      const read = d.changes.find((c) => c.action === 'read')!;
      expect(read).to.deep.include({
        kind: 'condition-removed',
        effect: 'widening',
        role: 'nurse',
        before: [{ careTeam: '${user.team}' }],
        after: [{}],
      });
      expect(read.message).to.include('now on every row');
      expect(d.changes.find((c) => c.action === 'update')).to.deep.include({ kind: 'condition-removed', fields: ['ward'] });
    });

    it('a condition emptied to {} matches every row: the same as removed', () => {
      const { only, grant } = setup();
      const [read] = only((doc) => (grant(doc, 'nurse').where = {}), { action: 'read' });
      expect(read).to.deep.include({ kind: 'condition-removed', effect: 'widening' });
    });

    it('a condition whose $in gains a value widens and needs review; one that loses a value narrows', () => {
      const { grant } = setup();
      // Two edited sets compared directly: ['W1'] then ['W1', 'W2'].
      const load = (list: string[]) => {
        const doc = parse(readFileSync(VALID_POLICY, 'utf8')) as Doc;
        grant(doc, 'gp').where = { ward: { $in: list } };
        return policiesFromSources([{ file: 'p.yaml', text: stringify(doc) }], { now: NOW });
      };
      // gp is exempt from `sealed` through this grant: its rows changing changes that exemption too (diff-exemptions.ts).
      const wider = diffPolicies(load(['W1']), load(['W1', 'W2']), { now: NOW });
      expect(wider.widened).to.equal(true);
      expect(wider.changes.map((c) => c.kind)).to.deep.equal(['exemption-added', 'condition-changed']);
      expect(wider.changes[1]).to.deep.include({ kind: 'condition-changed', effect: 'widening', reviewNeeded: true, role: 'gp' });
      expect(wider.changes[1]!.message).to.include('review needed');
      const narrower = diffPolicies(load(['W1', 'W2']), load(['W1']), { now: NOW });
      expect(narrower.widened).to.equal(false);
      expect(narrower.changes.map((c) => c.kind)).to.deep.equal(['exemption-removed', 'condition-changed']);
      expect(narrower.changes[1]).to.deep.include({ kind: 'condition-changed', effect: 'narrowing' });
      expect(narrower.changes[1]).to.not.have.property('reviewNeeded');
    });

    it('a condition changed to another value is not provably narrower: widening, review needed', () => {
      const { only, grant } = setup();
      const [read] = only((doc) => (grant(doc, 'nurse').where = { careTeam: '${user.ward}' }), { action: 'read' });
      expect(read).to.deep.include({ kind: 'condition-changed', effect: 'widening', reviewNeeded: true });
    });

    it('a condition added to a grant, or a conjunct added to one, narrows', () => {
      const { only, grant } = setup();
      const [added] = only((doc) => (grant(doc, 'gp').where = { ward: 'W1' }), { role: 'gp', kind: 'condition-added' });
      expect(added).to.deep.include({ kind: 'condition-added', effect: 'narrowing', after: [{ ward: 'W1' }] });
      const [conjunct] = only((doc) => (grant(doc, 'nurse').where = { careTeam: '${user.team}', ward: 'W1' }), { action: 'read' });
      expect(conjunct).to.deep.include({ kind: 'condition-changed', effect: 'narrowing' });
    });

    it('a second grant on other rows widens: the field is now granted where either matches', () => {
      const { only, grant, diff } = setup();
      const d = diff((doc) => doc.roles.nurse.grants.push({ ...grant(doc, 'nurse'), update: undefined, where: { ward: 'W9' } }));
      expect(d.widened).to.equal(true);
      const [read] = only((doc) => doc.roles.nurse.grants.push({ ...grant(doc, 'nurse'), update: undefined, where: { ward: 'W9' } }), {
        action: 'read',
      });
      expect(read).to.deep.include({ kind: 'condition-changed', effect: 'widening' });
      expect(read!.after).to.deep.equal([{ careTeam: '${user.team}' }, { ward: 'W9' }]);
    });

    it('a role granted a new purpose gains every field it reads there', () => {
      const { only } = setup();
      const changes = only((doc) => doc.roles.gp.grants.push({ purpose: 'research', resource: 'Patient', read: ['id'] }));
      expect(changes).to.have.length(1);
      expect(changes[0]).to.deep.include({ kind: 'fields-gained', purpose: 'research', role: 'gp', fields: ['id'], after: [{}] });
      expect(changes[0]!.message).to.equal('gains id on every row');
    });

    it('sees a grant of a new role', () => {
      const { only } = setup();
      const changes = only((doc) => (doc.roles.porter = { grants: [{ purpose: 'direct-care', resource: 'Patient', read: ['ward'] }] }));
      expect(changes.map((c) => [c.role, c.kind, c.fields])).to.deep.equal([['porter', 'fields-gained', ['ward']]]);
    });

    describe('views and transforms', () => {
      it('a view widened is reported on the view and on every role that reads the whole view', () => {
        const { diff } = setup();
        const d = diff((doc) => doc.purposes.emergency.views.Patient.fields.push('address'));
        expect(d.widened).to.equal(true);
        const kinds = d.changes.map((c) => [c.role ?? '(view)', c.kind, c.fields]);
        expect(kinds).to.deep.include(['(view)', 'view-fields-gained', ['address', 'address.postcode']]);
        expect(kinds).to.deep.include(['nurse', 'fields-gained', ['address', 'address.postcode']]);
      });

      it('a transform removed widens, added narrows', () => {
        const { only } = setup();
        const [removed] = only((doc) => delete doc.purposes['service-planning'].views.Patient.transform['address.postcode'], {
          kind: 'transform-removed',
        });
        expect(removed).to.deep.include({
          effect: 'widening',
          purpose: 'service-planning',
          fields: ['address.postcode'],
          before: 'district',
          after: 'none',
        });
        const [added] = only((doc) => (doc.purposes['direct-care'].views.Patient.transform = { dateOfBirth: 'year' }), {
          kind: 'transform-added',
        });
        expect(added).to.deep.include({ effect: 'narrowing', fields: ['dateOfBirth'], before: 'none', after: 'year' });
      });

      it('a transform removed from a path only it named widens: the values go out in clear under the parent', () => {
        // `name.family` is declared nowhere; only the transform names it. Removed, the path leaves the
        // compiled set of the newer side, yet `name` still carries it, now untransformed.
        const text = readFileSync(VALID_POLICY, 'utf8');
        const load = (t: string) => policiesFromSources([{ file: 'policy.yaml', text: t }], { now: NOW });
        const doc = parse(text) as Doc;
        doc.purposes['direct-care'].views.Patient.transform = { 'name.family': 'mask' };
        const masked = load(stringify(doc));
        const plain = load(text);
        const d = diffPolicies(masked, plain, { now: NOW });
        expect(d.widened).to.equal(true);
        expect(d.changes.find((c) => c.kind === 'transform-removed')).to.deep.include({
          effect: 'widening',
          purpose: 'direct-care',
          fields: ['name.family'],
          before: 'mask',
          after: 'none',
        });
        // Nothing is reported lost: the path is still carried, through `name`.
        expect(d.changes.filter((c) => c.effect === 'narrowing')).to.deep.equal([]);
        // And the reverse is a transform added, narrowing only.
        const back = diffPolicies(plain, masked, { now: NOW });
        expect(back.widened).to.equal(false);
        expect(back.changes.map((c) => [c.kind, c.effect])).to.deep.include(['transform-added', 'narrowing']);
      });

      it('a transform changed to a more identifying one widens, to a less identifying one narrows', () => {
        const { only } = setup();
        const [more] = only((doc) => (doc.purposes.research.views.Patient.transform.dateOfBirth = 'year'), { kind: 'transform-changed' });
        expect(more).to.deep.include({ effect: 'widening', before: 'age-band', after: 'year' });
        expect(more!.message).to.equal('dateOfBirth: age-band → year (more identifying)');
        const [less] = only((doc) => (doc.purposes['service-planning'].views.Patient.transform.dateOfBirth = 'age-band'), {
          kind: 'transform-changed',
        });
        expect(less).to.deep.include({ effect: 'narrowing', before: 'year', after: 'age-band' });
      });
    });

    describe('restrictions', () => {
      it('a restriction removed widens, added narrows', () => {
        const { only } = setup();
        const [removed] = only((doc) => doc.restrictions.splice(0, 1), { kind: 'restriction-removed' });
        expect(removed).to.deep.include({ effect: 'widening', resource: 'Patient', restriction: 'dv-address' });
        expect(removed!.message).to.equal('removed: no longer withholds address, telecom.value where {"flags":"dv-risk"}');
        const [added] = only(
          (doc) => doc.restrictions.push({ name: 'vip', resource: 'Patient', when: { vip: true }, withhold: ['name'], because: 'privacy' }),
          { kind: 'restriction-added' },
        );
        expect(added).to.deep.include({ effect: 'narrowing', restriction: 'vip' });
      });

      it('an exemption added widens, per purpose and role, naming the grants it now holds through', () => {
        const { only } = setup();
        const exempt = only((doc) => doc.restrictions[0].unless.roles.push('nurse'), { kind: 'exemption-added' });
        expect(exempt.map((c) => [c.effect, c.restriction, c.purpose, c.role, c.fields, c.message])).to.deep.equal([
          [
            'widening',
            'dv-address',
            'direct-care',
            'nurse',
            ['address', 'address.postcode', 'dateOfBirth', 'id', 'name', 'telecom.value', 'ward'],
            'now exempt from restriction dv-address through grant nurse#0 where {"careTeam":"${user.team}"}: address, dateOfBirth, id, name, telecom.value, ward',
          ],
          [
            'widening',
            'dv-address',
            'emergency',
            'nurse',
            ['dateOfBirth', 'diagnoses', 'id', 'name'],
            'now exempt from restriction dv-address through grant nurse#1 on every row: dateOfBirth, diagnoses, id, name',
          ],
        ]);
        expect(exempt[1]!.after).to.deep.equal([{ grant: 'nurse#1', where: {}, fields: ['dateOfBirth', 'diagnoses', 'id', 'name'] }]);
        expect(exempt[1]!.before).to.deep.equal([]);
      });

      it('an exemption moved from a role to a purpose: the roles with grants for that purpose gain it, the role loses it', () => {
        const { only } = setup();
        const moved = only((doc) => (doc.restrictions[1].unless = { purposes: ['emergency'] }));
        expect(moved.map((c) => [c.kind, c.effect, c.purpose, c.role])).to.deep.equal([
          ['exemption-removed', 'narrowing', 'direct-care', 'gp'],
          ['exemption-added', 'widening', 'emergency', 'nurse'],
        ]);
        const byPurpose = only((doc) => (doc.restrictions[0].unless = { purposes: ['emergency'] }));
        expect(byPurpose.map((c) => [c.kind, c.purpose, c.role])).to.deep.equal([
          ['exemption-removed', 'direct-care', 'safeguarding-lead'],
          ['exemption-added', 'emergency', 'nurse'],
        ]);
      });

      it('an exemption removed narrows', () => {
        const { only } = setup();
        const changes = only((doc) => delete doc.restrictions[1].unless);
        expect(changes.map((c) => [c.kind, c.effect, c.role, c.message])).to.deep.equal([
          [
            'exemption-removed',
            'narrowing',
            'gp',
            'no longer exempt from restriction sealed through grant gp#0 on every row: address, careTeam, dateOfBirth, diagnoses, id, name, nhsNumber, telecom.value, ward',
          ],
        ]);
      });

      /** Two sets edited from the fixture, compared. */
      function sets(edit: (doc: Doc) => void, editAfter: (doc: Doc) => void) {
        const text = readFileSync(VALID_POLICY, 'utf8');
        const load = (e: (doc: Doc) => void) => {
          const doc = parse(text) as Doc;
          e(doc);
          return policiesFromSources([{ file: 'p.yaml', text: stringify(doc) }], { now: NOW });
        };
        const before = load(edit);
        const after = load(editAfter);
        return { before, after, diff: diffPolicies(before, after, { now: NOW }) };
      }

      const LEAD_GRANT = { purpose: 'direct-care', resource: 'Patient', read: ['id', 'name', 'address'] };

      it('a role gaining `inherits:` of an exempt role widens: it is exempt through the inherited grants, though it reads the same', () => {
        const { before, after, diff } = sets(
          (doc) => (doc.roles.deputy = { grants: [LEAD_GRANT] }),
          (doc) => (doc.roles.deputy = { inherits: ['safeguarding-lead'] }),
        );
        // What the engine does: the deputy now sees the address of a person flagged dv-risk.
        const ctx = {
          resource: 'Patient',
          purpose: 'direct-care',
          user: { sub: 'd1', roles: ['deputy'], training: '2026-06-01' },
          now: NOW,
        };
        const record = { id: 'p1', name: 'Ann', address: { postcode: 'LS1 1AA' }, flags: ['dv-risk'] };
        expect(before.redact(record, ctx).data).to.not.have.property('address');
        expect(after.redact(record, ctx).data).to.have.property('address');
        expect(diff.widened).to.equal(true);
        expect(diff.changes).to.deep.equal([
          {
            kind: 'exemption-added',
            effect: 'widening',
            resource: 'Patient',
            purpose: 'direct-care',
            role: 'deputy',
            restriction: 'dv-address',
            fields: ['address', 'address.postcode', 'id', 'name'],
            before: [],
            after: [
              {
                grant: 'safeguarding-lead#0',
                inheritedVia: ['deputy', 'safeguarding-lead'],
                where: {},
                fields: ['address', 'address.postcode', 'id', 'name'],
              },
            ],
            message:
              'now exempt from restriction dv-address through grant safeguarding-lead#0 (inherited via deputy → safeguarding-lead) on every row: address, id, name',
          },
        ]);
      });

      it('an exempt grant that reads more widens, naming only the fields it gained', () => {
        const { only } = setup();
        const [gained] = only((doc) => doc.roles['safeguarding-lead'].grants[0].read.push('telecom.value'), { kind: 'exemption-added' });
        expect(gained).to.deep.include({ effect: 'widening', role: 'safeguarding-lead', fields: ['telecom.value'] });
      });

      it('a row condition moved from a grant to an exempt one widens, though the role reads the same fields on the same rows', () => {
        // The nurse reads id and address through a grant of its own and one inherited from an exempt role.
        const nurse = (exemptWhere: object, ownWhere: object) => (doc: Doc) => {
          const read = ['id', 'address'];
          doc.roles.nurse = {
            inherits: ['lead-of-ward'],
            grants: [{ purpose: 'direct-care', resource: 'Patient', read, where: ownWhere }],
          };
          doc.roles['lead-of-ward'] = { grants: [{ purpose: 'direct-care', resource: 'Patient', read, where: exemptWhere }] };
          doc.restrictions[0].unless.roles.push('lead-of-ward');
        };
        const { diff } = sets(nurse({ ward: 'W1' }, { ward: 'W2' }), nurse({ ward: 'W2' }, { ward: 'W1' }));
        const nurseChanges = diff.changes.filter((c) => c.role === 'nurse');
        expect(nurseChanges.map((c) => [c.kind, c.effect])).to.deep.equal([
          ['exemption-added', 'widening'],
          ['exemption-removed', 'narrowing'],
        ]);
        expect(diff.widened).to.equal(true);
      });

      it('exempt grants renumbered are the same exemptions: no change', () => {
        const EMERGENCY = { purpose: 'emergency', resource: 'Patient', read: ['id', 'name'] };
        const { diff } = sets(
          (doc) => doc.roles['safeguarding-lead'].grants.push(EMERGENCY),
          (doc) => doc.roles['safeguarding-lead'].grants.unshift(EMERGENCY),
        );
        expect(diff.changes).to.deep.equal([]);
      });

      it('withholding fewer fields widens; the whole record down to fields widens', () => {
        const { only } = setup();
        const [less] = only((doc) => (doc.restrictions[0].withhold = ['address']), { kind: 'restriction-withholds-less' });
        expect(less).to.deep.include({ effect: 'widening', fields: ['telecom.value'] });
        const [record] = only((doc) => (doc.restrictions[1].withhold = ['name']), { kind: 'restriction-withholds-less' });
        expect(record).to.deep.include({ effect: 'widening', fields: ['record'] });
      });

      it('a `when` that fires on fewer rows or on other rows widens, review needed; removed (every record), it narrows', () => {
        const { only } = setup();
        const [fewer] = only((doc) => (doc.restrictions[0].when = { flags: 'dv-risk', adult: true }), { kind: 'restriction-when-changed' });
        expect(fewer).to.deep.include({ effect: 'widening', reviewNeeded: true });
        const [other] = only((doc) => (doc.restrictions[0].when = { flags: 'dv-high' }), { kind: 'restriction-when-changed' });
        expect(other).to.deep.include({ effect: 'widening', reviewNeeded: true });
        const [other2] = only((doc) => (doc.restrictions[1].when = { sealed: true }), { kind: 'restriction-when-changed' });
        expect(other2).to.deep.include({ effect: 'widening', reviewNeeded: true, after: { sealed: true } });
        const [more] = only((doc) => delete doc.restrictions[0].when, { kind: 'restriction-when-changed' });
        expect(more).to.deep.include({ effect: 'narrowing', after: {} }).and.not.have.property('reviewNeeded');
        const [emptied] = only((doc) => (doc.restrictions[1].when = {}), { kind: 'restriction-when-changed' });
        expect(emptied).to.deep.include({ effect: 'narrowing', after: {} });
      });

      /** Before: the fixture with dv-address firing on `when`; after: the fixture as it is ({ flags: dv-risk }). */
      function dropped(when: Record<string, unknown>) {
        const text = readFileSync(VALID_POLICY, 'utf8');
        const doc = parse(text) as Doc;
        doc.restrictions[0].when = when;
        const before = policiesFromSources([{ file: 'p.yaml', text: stringify(doc) }], { now: NOW });
        const after = policiesFromSources([{ file: 'p.yaml', text }], { now: NOW });
        return { before, after, diff: diffPolicies(before, after, { now: NOW }) };
      }

      it('a `when` added to a restriction that fired on every record widens, review needed', () => {
        const { diff } = dropped({});
        expect(diff.changes).to.have.length(1);
        expect(diff.changes[0]).to.deep.include({ kind: 'restriction-when-changed', effect: 'widening', reviewNeeded: true, before: {} });
      });

      it('a conjunct dropped from `when` widens, review needed: the dropped field fired the restriction on a marker of an odd shape', () => {
        const { before, after, diff } = dropped({ flags: 'dv-risk', marker: true });
        // What the engine does: a `marker` held as text fires the old restriction (fail closed), not the new one.
        const ctx = { resource: 'Patient', purpose: 'direct-care', user: { sub: 'u1', roles: ['gp'], training: '2026-06-01' }, now: NOW };
        const record = { id: 'p1', name: 'Ann', address: { postcode: 'LS1 1AA' }, marker: 'true' };
        expect(before.redact(record, ctx).data).to.not.have.property('address');
        expect(after.redact(record, ctx).data).to.have.property('address');
        expect(diff.widened).to.equal(true);
        expect(diff.changes).to.have.length(1);
        expect(diff.changes[0]).to.deep.include({
          kind: 'restriction-when-changed',
          effect: 'widening',
          reviewNeeded: true,
          restriction: 'dv-address',
          before: { flags: 'dv-risk', marker: true },
          after: { flags: 'dv-risk' },
        });
        expect(diff.changes[0]!.message).to.include('review needed');
      });

      it('a conjunct reading a claim dropped from `when` widens, review needed: a user without the claim was always withheld from', () => {
        const { before, after, diff } = dropped({ flags: 'dv-risk', ward: { $ne: '${user.ward}' } });
        const ctx = { resource: 'Patient', purpose: 'direct-care', user: { sub: 'u1', roles: ['gp'], training: '2026-06-01' }, now: NOW };
        const record = { id: 'p1', name: 'Ann', address: { postcode: 'LS1 1AA' } };
        expect(before.redact(record, ctx).data).to.not.have.property('address');
        expect(after.redact(record, ctx).data).to.have.property('address');
        expect(diff.widened).to.equal(true);
        expect(diff.changes[0]).to.deep.include({ kind: 'restriction-when-changed', effect: 'widening', reviewNeeded: true });
      });
    });

    describe('purposes', () => {
      it('a purpose added widens; removed narrows', () => {
        const { only } = setup();
        const add = only((doc) => {
          doc.purposes.audit = { lawfulBasis: { article6: '6(1)(c)' }, reviewBy: '2027-01-01', views: { Patient: { fields: ['ward'] } } };
          doc.roles.analyst.grants.push({ purpose: 'audit', resource: 'Patient', read: 'view' });
        });
        expect(add.map((c) => [c.kind, c.effect, c.role])).to.deep.equal([
          ['purpose-added', 'widening', undefined],
          ['view-added', 'widening', undefined],
          ['fields-gained', 'widening', 'analyst'],
        ]);
      });

      it('a review date moved later widens, earlier narrows, into the past expires, out of it brings the flow back', () => {
        const { only } = setup();
        const redate = (purpose: string, date: string) => only((doc) => (doc.purposes[purpose].reviewBy = date))[0];
        expect(redate('direct-care', '2028-01-01')).to.deep.include({
          kind: 'purpose-redated',
          effect: 'widening',
          before: '2027-03-31',
          after: '2028-01-01',
        });
        expect(redate('direct-care', '2027-01-01')).to.deep.include({ kind: 'purpose-redated', effect: 'narrowing' });
        expect(redate('direct-care', '2026-01-01')).to.deep.include({ kind: 'purpose-expired', effect: 'narrowing' });
        expect(redate('old-flow', '2027-01-01')).to.deep.include({ kind: 'purpose-redated', effect: 'widening' });
        expect(redate('old-flow', '2025-06-01')).to.deep.include({ kind: 'purpose-redated', effect: 'neutral' });
      });

      it('loosening identifiability, consent, opt-out or break-glass widens; tightening narrows', () => {
        const { only } = setup();
        const [consent] = only((doc) => (doc.purposes.research.consent = 'implied'), { kind: 'purpose-changed' });
        expect(consent).to.deep.include({ effect: 'widening', before: { consent: 'required' }, after: { consent: 'implied' } });
        const [optOut] = only((doc) => (doc.purposes['service-planning'].optOut = 'ignore'), { kind: 'purpose-changed' });
        expect(optOut).to.deep.include({ effect: 'widening' });
        const [glass] = only((doc) => (doc.purposes.emergency.breakGlass = false), { kind: 'purpose-changed' });
        expect(glass).to.deep.include({ effect: 'widening' });
        const [tighter] = only((doc) => (doc.purposes['direct-care'].optOut = 'respect'), { kind: 'purpose-changed' });
        expect(tighter).to.deep.include({ effect: 'narrowing' });
      });
    });

    describe('resources', () => {
      it('a field reclassified to a less strict class widens; to a stricter one narrows', () => {
        const { only } = setup();
        const [less] = only((doc) => (doc.resources.Patient.fields.ward = 'operational'));
        expect(less).to.equal(undefined);
        const [looser] = only((doc) => (doc.resources.Patient.fields.dateOfBirth = 'operational'), { kind: 'field-reclassified' });
        expect(looser).to.deep.include({ effect: 'widening', fields: ['dateOfBirth'], before: 'quasi', after: 'operational' });
        const [stricter] = only((doc) => (doc.resources.Patient.fields.ward = 'quasi'), { kind: 'field-reclassified' });
        expect(stricter).to.deep.include({ effect: 'narrowing' });
      });

      it('a path newly declared under a field gets its own class: less strict widens', () => {
        const { only } = setup();
        const [declared] = only((doc) => (doc.resources.Patient.fields['name.use'] = 'operational'), { kind: 'field-declared' });
        expect(declared).to.deep.include({ effect: 'widening', before: 'direct', after: 'operational' });
        const [top] = only((doc) => (doc.resources.Patient.fields.gender = 'quasi'), { kind: 'field-declared' });
        expect(top).to.deep.include({ effect: 'neutral', message: 'gender declared (quasi)' });
      });
    });

    it('lists warnings only the newer set has, matched by path and message', () => {
      const { only } = setup();
      const [lint] = only((doc) => (doc.roles.porter = { grants: [] }), { kind: 'lint-worse' });
      expect(lint).to.deep.include({ effect: 'neutral' });
      expect(lint!.message).to.equal('new warning: roles.porter: this role has no grants: its users will see nothing');
    });

    it('sorts changes by resource, purpose and role, so the same sets always give the same list', () => {
      const { diff, grant } = setup();
      const edit = (doc: Doc) => {
        grant(doc, 'nurse').read.push('diagnoses');
        grant(doc, 'gp').where = { ward: 'W1' };
        doc.restrictions.splice(0, 1);
      };
      const a = diff(edit);
      expect(a).to.deep.equal(diff(edit));
      expect(a.changes.map((c) => [c.resource, c.purpose, c.role])).to.deep.equal([
        ['Patient', undefined, undefined],
        ['Patient', 'direct-care', 'gp'],
        ['Patient', 'direct-care', 'gp'],
        ['Patient', 'direct-care', 'nurse'],
      ]);
      expect(a.summary).to.deep.equal({ widening: 2, narrowing: 2, neutral: 0 });
    });

    it('refuses an invalid clock', () => {
      const { before } = setup();
      expect(() => diffPolicies(before, before, { now: new Date('nope') })).to.throw(TypeError, /now/);
    });
  });

  it('is exported by the package: two policy directories loaded and compared, as a user does', async () => {
    await import('../cli/run.js'); // makes sure dist/ is built from the current src/
    const pkg = (await import('fieldmesh' as string)) as typeof import('../../src/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-diff-lib-'));
    cpSync(VALID_POLICY, join(dir, 'policy.yaml'));
    const before = await pkg.loadPolicies(join(dir), { now: NOW });
    writeFileSync(join(dir, 'policy.yaml'), readFileSync(VALID_POLICY, 'utf8').replace('where: { careTeam: "${user.team}" }', 'where: {}'));
    const after = await pkg.loadPolicies(join(dir), { now: NOW });
    const diff = pkg.diffPolicies(before, after, { now: NOW });
    expect(diff.widened).to.equal(true);
    expect(diff.changes.map((c) => [c.kind, c.role, c.action])).to.deep.equal([
      ['condition-removed', 'nurse', 'read'],
      ['condition-removed', 'nurse', 'update'],
    ]);
  });
});
