import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as chai from 'chai';
import { loadPolicies, redactBody } from '../../src/index.js';
import { fieldmeshChai, loadRecords } from '../../src/testing/index.js';

chai.use(fieldmeshChai);
const { expect, AssertionError } = chai;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KEY = 'fixture-pseudonym-key';

/** The example policies and records; a receptionist's view of pat-001 and pat-002, and a planner's list. */
async function setup() {
  const policies = await loadPolicies(join(ROOT, 'policies'), { pseudonymKey: KEY });
  const records = await loadRecords(join(ROOT, 'fixtures', 'records'));
  const now = new Date('2026-11-24T12:00:00Z');
  const redact = (purpose: string, role: string, input: unknown) =>
    policies.redact(structuredClone(input), {
      resource: 'Patient',
      purpose,
      user: { sub: 'u1', roles: [role], training: '2026-06-01' },
      now,
    });
  const patient = (id: string) => records.get(`Patient/${id}`);
  const gpCtx = {
    resource: 'Patient',
    purpose: 'direct-care',
    user: { sub: 'g', roles: ['gp'], practice: 'B86001', training: '2026-06-01' },
    now,
  };
  /** A gp's answer through redactBody, the shells' function: a record, or rows at `list` of an envelope. */
  const gpBody = (body: unknown, list?: string) => redactBody(policies, policies.plan(gpCtx, 'read'), structuredClone(body), list);
  return {
    policies,
    patient,
    gpBody,
    /** A gp's view of a record whose raw id is 32 hex characters: shaped like a pseudonym, never pseudonymised. */
    hexId: policies.redact({ id: '0123456789abcdef0123456789abcdef', gp: 'B86001' }, gpCtx),
    admin: redact('administration', 'receptionist', patient('pat-001')),
    adminDv: redact('administration', 'receptionist', patient('pat-002')),
    planning: redact('service-planning', 'analyst', [patient('pat-001'), patient('pat-002'), patient('pat-024')]),
    planningOne: redact('service-planning', 'analyst', patient('pat-001')),
  };
}

/** The assertion error `fn` throws, to read its message and diff. */
function failure(fn: () => unknown): InstanceType<typeof AssertionError> {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(AssertionError);
    return e as InstanceType<typeof AssertionError>;
  }
  throw new Error('expected the assertion to fail');
}

describe('testing/chai', () => {
  describe('disclose', () => {
    it('passes when every path is present, in a record, a redact result and every row of a list', async () => {
      const { admin, planning } = await setup();
      expect(admin.data).to.disclose(['id', 'name', 'address.postcode', 'telecom.value']);
      expect(admin).to.disclose(['nhsNumber']).and.to.withhold(['diagnoses']);
      expect(planning.data).to.have.length(2);
      expect(planning).to.disclose(['id', 'dateOfBirth', 'diagnoses.code']);
    });

    it('counts a key holding null or an empty list as present: it was disclosed', () => {
      expect({ telecom: [], gp: null }).to.disclose(['telecom', 'gp']);
      expect({ telecom: [] }).to.withhold(['telecom.value']);
    });

    it('fails naming the absent paths, with a diff of the paths', async () => {
      const { adminDv } = await setup();
      const e = failure(() => expect(adminDv).to.disclose(['name', 'address', 'telecom.value']));
      expect(e.message).to.equal(
        'expected the record to disclose [name, address, telecom.value], but address is absent; telecom.value is absent',
      );
      expect(e).to.deep.include({ showDiff: true, expected: ['name', 'address', 'telecom.value'], actual: ['name'] });
    });

    it('fails naming the rows of a list that lack a path, and fails on a list with no rows', async () => {
      const { planning } = await setup();
      const e = failure(() => expect(planning).to.disclose(['address.postcode']));
      expect(e.message).to.equal('expected every row to disclose [address.postcode], but address.postcode is absent in row 0');
      expect(failure(() => expect([]).to.disclose(['id'])).message).to.equal('expected every row to disclose [id], but there are no rows');
    });

    it('with .not, passes when some path is absent and fails when all are present', async () => {
      const { admin } = await setup();
      expect(admin).to.not.disclose(['name', 'diagnoses']);
      expect(failure(() => expect(admin).to.not.disclose(['name', 'gp'])).message).to.equal(
        'expected the record not to disclose all of [name, gp], but every one is present',
      );
    });
  });

  describe('withhold', () => {
    it('passes when no path is present in any row', async () => {
      const { adminDv, planning } = await setup();
      expect(adminDv).to.withhold(['address', 'telecom', 'diagnoses']);
      expect(planning.data).to.withhold(['name', 'nhsNumber', 'address.line']);
      expect([]).to.withhold(['name']);
    });

    it('fails naming the paths present, and where', async () => {
      const { admin, planning } = await setup();
      const e = failure(() => expect(admin).to.withhold(['diagnoses', 'nhsNumber', 'address.city']));
      expect(e.message).to.equal(
        'expected the record to withhold [diagnoses, nhsNumber, address.city], but nhsNumber is present; address.city is present',
      );
      expect(e).to.deep.include({ showDiff: true, expected: [], actual: ['nhsNumber', 'address.city'] });
      expect(failure(() => expect(planning).to.withhold(['address'])).message).to.equal(
        'expected every row to withhold [address], but address is present in row 1',
      );
    });

    it('with .not, passes when some path is present and fails when none is', async () => {
      const { adminDv } = await setup();
      expect(adminDv).to.not.withhold(['name', 'address']);
      expect(failure(() => expect(adminDv).to.not.withhold(['address', 'telecom'])).message).to.equal(
        'expected the record not to withhold all of [address, telecom], but none is present',
      );
    });
  });

  describe('pseudonymise', () => {
    it('passes for any pseudonym the engine writes, in a record and in every row', async () => {
      const { planning, planningOne } = await setup();
      expect(planningOne).to.pseudonymise('id');
      expect(planning.data).to.pseudonymise('id');
    });

    it("with `of`, computes the pseudonym with the engine's own transform, the purpose taken from the decision", async () => {
      const { planningOne } = await setup();
      expect(planningOne).to.pseudonymise('id', { of: 'pat-001', key: KEY });
      expect(planningOne.data).to.pseudonymise('id', { of: 'pat-001', purpose: 'service-planning', key: KEY });
      // The value fixtures/cases/secondary-use.yaml pins for pat-001.
      expect({ id: '8ee0261c8ac1159bb708160acead3719' }).to.pseudonymise('id', { of: 'pat-001', purpose: 'service-planning', key: KEY });
    });

    it('fails, with a diff, for the pseudonym of someone else, of another purpose or key', async () => {
      const { planningOne } = await setup();
      const e = failure(() => expect(planningOne).to.pseudonymise('id', { of: 'pat-002', key: KEY }));
      expect(e.message).to.equal(
        'expected id of the record to be the pseudonym of pat-002, but id holds "8ee0261c8ac1159bb708160acead3719"',
      );
      expect(e.showDiff).to.equal(true);
      expect(e.actual).to.equal('8ee0261c8ac1159bb708160acead3719');
      expect(e.expected).to.match(/^[0-9a-f]{32}$/);
      failure(() => expect(planningOne).to.pseudonymise('id', { of: 'pat-001', purpose: 'research', key: KEY }));
      failure(() => expect(planningOne).to.pseudonymise('id', { of: 'pat-001', key: 'another-pseudonym-key' }));
    });

    it('fails for a value that is not a pseudonym, or a path with no value', async () => {
      const { admin } = await setup();
      expect(failure(() => expect(admin).to.pseudonymise('id')).message).to.equal(
        'expected id of the record to be a pseudonym, but id holds "pat-001"',
      );
      expect(failure(() => expect(admin).to.pseudonymise('diagnoses.code')).message).to.equal(
        'expected diagnoses.code of the record to be a pseudonym, but diagnoses.code has no value',
      );
      expect(failure(() => expect([{ id: 'a' }, {}]).to.pseudonymise('id')).message).to.include('id has no value in row 1');
    });

    it('with .not, passes for a value in the clear and fails for a pseudonym', async () => {
      const { admin, planningOne } = await setup();
      expect(admin).to.not.pseudonymise('id');
      expect(failure(() => expect(planningOne).to.not.pseudonymise('id')).message).to.equal(
        'expected id of the record not to be a pseudonym, but it is',
      );
    });

    it('refuses options it cannot use: `of` without a key or a purpose, an unknown option', async () => {
      const { planningOne } = await setup();
      expect(() => expect(planningOne).to.pseudonymise('id', { of: 'pat-001' })).to.throw(TypeError, /options\.key/);
      expect(() => expect(planningOne.data).to.pseudonymise('id', { of: 'pat-001', key: KEY })).to.throw(TypeError, /purpose/);
      expect(() => expect(planningOne).to.pseudonymise('id', { off: 'pat-001' } as never)).to.throw(TypeError, /unknown option off/);
    });
  });

  describe('targets and paths', () => {
    it('refuses what is not a record, a list of records or a redact result, even under .not', () => {
      for (const bad of [42, null, 'pat-001', undefined]) {
        expect(() => expect(bad).to.disclose(['id'])).to.throw(TypeError, /expected a redacted record/);
        expect(() => expect(bad).to.not.withhold(['id'])).to.throw(TypeError, /expected a redacted record/);
      }
      expect(() => expect([{ id: 'a' }, 'b']).to.disclose(['id'])).to.throw(TypeError, /row 1 of the list is not a record/);
    });

    it('refuses a path that is not a field path, for a record and a redact result alike', async () => {
      const { admin } = await setup();
      for (const bad of ['address.0', 'address[0].city', 'address.', ' address', 'address..city', 'telecom.0.value']) {
        for (const target of [admin, admin.data]) {
          expect(() => expect(target).to.withhold([bad])).to.throw(TypeError, `withhold: ${JSON.stringify(bad)} is not a field path`);
          expect(() => expect(target).to.not.disclose([bad])).to.throw(TypeError, 'is not a field path');
        }
      }
      expect(() => expect(admin).to.pseudonymise('id.0')).to.throw(TypeError, 'pseudonymise: "id.0" is not a field path');
    });

    it('refuses, on a redact result, a path the decision names nowhere, with the nearest it names', async () => {
      const { admin } = await setup();
      const typo = (path: string) => () => expect(admin).to.withhold([path]);
      expect(typo('adress')).to.throw(
        TypeError,
        'withhold: "adress" is not a field path the decision names, nor present in the result (did you mean "address"?)',
      );
      // Under a declared field, beside a path the policies name: a near miss is a typo, not a field of its own.
      expect(typo('diagnoses.dispaly')).to.throw(TypeError, '(did you mean "diagnoses.display"?)');
      expect(typo('Address')).to.throw(TypeError, '(did you mean "address"?)');
      expect(() => expect(admin).to.not.disclose(['diagnoses', 'nope'])).to.throw(TypeError, 'disclose: "nope" is not a field path');
      expect(() => expect(admin).to.not.pseudonymise('idd')).to.throw(TypeError, 'pseudonymise: "idd" is not a field path');
    });

    it('takes, on a redact result, a named path, one above it, one present, and one under a named field', async () => {
      const { admin, adminDv } = await setup();
      expect(adminDv).to.withhold(['address', 'address.postcode', 'address.city', 'telecom.value']);
      expect(admin).to.disclose(['address.city', 'name.family', 'address']);
      // A bare record has no decision to check a path against: a typo is absent, and withhold passes (docs/testing.md).
      expect(admin.data).to.withhold(['adress']);
    });

    it('refuses an object with a decision key that is not exactly a redact result, and a bare decision', async () => {
      const { admin } = await setup();
      for (const bad of [
        { ...admin, ok: true },
        { data: admin.data, decision: {} },
        { record: admin.data, decision: admin.decision },
      ]) {
        expect(() => expect(bad).to.withhold(['diagnoses'])).to.throw(TypeError, 'an object with a decision key must be exactly');
        expect(() => expect(bad).to.not.disclose(['diagnoses'])).to.throw(TypeError, 'an object with a decision key must be exactly');
      }
      expect(() => expect(admin.decision).to.withhold(['diagnoses'])).to.throw(TypeError, 'this is a decision, not redacted output');
      expect(() => expect(JSON.parse(JSON.stringify(admin.decision))).to.withhold(['x'])).to.throw(TypeError, 'this is a decision');
    });

    it('refuses a list of redact results or decisions: taken as rows, withhold would pass for any field', async () => {
      const { admin, gpBody, patient } = await setup();
      for (const list of [[admin], [admin, admin], [gpBody(patient('pat-001'))], [admin.decision]]) {
        expect(() => expect(list).to.withhold(['name'])).to.throw(TypeError, 'is a redact result or a decision, not a record');
        expect(() => expect(list).to.pseudonymise('data.id')).to.throw(TypeError, 'is a redact result or a decision');
      }
      // A record may hold a key named decision: only the engine's decision is taken for one.
      expect([{ id: 'p1', decision: 'granted' }]).to.withhold(['name']);
    });

    it("reads redactBody's { body, decision } as a result, and refuses a body whose rows sit in an envelope", async () => {
      const { gpBody, patient } = await setup();
      const one = gpBody(patient('pat-001'));
      expect(one).to.disclose(['diagnoses', 'nhsNumber']);
      expect(failure(() => expect(one).to.withhold(['diagnoses'])).message).to.equal(
        'expected the record to withhold [diagnoses], but diagnoses is present',
      );
      const rows = gpBody({ items: [patient('pat-001'), patient('pat-002')] }, 'items');
      expect(() => expect(rows).to.withhold(['diagnoses'])).to.throw(TypeError, 'the result holds 1 row but its decision returned 2');
      const single = gpBody({ items: [patient('pat-001')] }, 'items');
      expect(() => expect(single).to.withhold(['diagnoses'])).to.throw(
        TypeError,
        'row 0 holds "items", which the decision names no field for',
      );
      expect({ data: (rows.body as { items: unknown[] }).items, decision: rows.decision }).to.disclose(['diagnoses']);
    });
  });

  describe('pseudonymise against the decision', () => {
    it("fails on a redact result unless the engine pseudonymised the path, whatever the value's shape", async () => {
      const { hexId, planningOne } = await setup();
      expect(hexId.data).to.deep.include({ id: '0123456789abcdef0123456789abcdef' });
      expect(failure(() => expect(hexId).to.pseudonymise('id')).message).to.equal(
        'expected id of the record to be a pseudonym, but the decision did not pseudonymise id (its transforms: none)',
      );
      expect(hexId).to.not.pseudonymise('id');
      expect(planningOne).to.pseudonymise('id');
      // A bare record carries no decision: only the shape can be checked (docs/testing.md).
      expect(hexId.data).to.pseudonymise('id');
    });
  });

  describe('path lists', () => {
    it('refuses a path list that is empty or not a list of paths', () => {
      expect(() => expect({ id: 'a' }).to.disclose([])).to.throw(TypeError, /non-empty list of field paths/);
      expect(() => expect({ id: 'a' }).to.withhold('id' as never)).to.throw(TypeError, /non-empty list of field paths/);
      expect(() => expect({ id: 'a' }).to.pseudonymise('')).to.throw(TypeError, /non-empty list of field paths/);
    });
  });
});
