import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { loadPolicies } from '../../src/engine/policy-set.js';
import { FieldmeshError } from '../../src/lib/errors.js';
import { loadRecords, parseCaseFile, runCase } from '../../src/testing/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HEADER = 'now: 2026-11-24T12:00:00Z\npseudonymKey: fixture-pseudonym-key\nuser: { training: 2026-06-01 }\ncases:\n';

/** The example policies and records, and a runner for inline cases (YAML list items under `cases:`). */
async function setup() {
  const policies = await loadPolicies(join(ROOT, 'policies'), { pseudonymKey: 'fixture-pseudonym-key' });
  const records = await loadRecords(join(ROOT, 'fixtures', 'records'));
  const run = (cases: string) => {
    const file = parseCaseFile(HEADER + cases, 'inline.yaml');
    return file.cases.map((c) => runCase(policies, records, file, c, 'inline.yaml'));
  };
  return { policies, run };
}

function problems(cases: string): string[] {
  try {
    parseCaseFile(HEADER + cases, 'c.yaml');
  } catch (e) {
    expect(e).to.be.instanceOf(FieldmeshError);
    expect((e as FieldmeshError).code).to.equal('cases_invalid');
    return (e as FieldmeshError).message.split('\n');
  }
  return expect.fail('the case file was accepted');
}

const ANALYST = '    resource: Patient\n    purpose: service-planning\n    user: { sub: ana-1, roles: [analyst] }\n';
const RECEPTIONIST = '    resource: Patient\n    purpose: administration\n    user: { sub: rec-1, roles: [receptionist] }\n';
const PAT1_PLANNING =
  '      address: [{ postcode: LS1 }]\n      gender: female\n      dateOfBirth: "35-39"\n      careTeam: ward-7\n      diagnoses: [{ code: J45, display: Asthma }]\n';

describe('testing: kinds of cases and matchers', () => {
  describe('the case schema', () => {
    it('refuses a read case with two kinds of expectation, or none', () => {
      expect(problems(`  - name: a\n${RECEPTIONIST}    ref: Patient/pat-001\n    expect: {}\n    expectFields: [id]\n`)).to.deep.equal([
        'c.yaml › cases[0]: give exactly one of expect, expectRefusal, or expectFields and/or absent',
      ]);
      expect(problems(`  - name: a\n${RECEPTIONIST}    ref: Patient/pat-001\n`)).to.deep.equal([
        'c.yaml › cases[0]: give exactly one of expect, expectRefusal, or expectFields and/or absent',
      ]);
    });

    it('refuses a write case without a body or a stored record, and keys that belong to other kinds', () => {
      expect(problems(`  - name: w\n    action: update\n${RECEPTIONIST}    expectAllowed: true\n`)).to.deep.equal([
        'c.yaml › cases[0]: a write case (action: update) needs body: the request body to check',
        'c.yaml › cases[0]: an update case needs the stored record: give exactly one of ref, record',
      ]);
      expect(
        problems(
          `  - name: w\n    action: create\n${RECEPTIONIST}    ref: Patient/pat-001\n    body: {}\n    expect: {}\n    expectAllowed: true\n`,
        ),
      ).to.deep.equal([
        'c.yaml › cases[0].ref: only for read and update cases: a create has no stored record (the body is the new record)',
        'c.yaml › cases[0].expect: only for read cases: a write or filter case expects expectAllowed: true or expectRefusal',
      ]);
      expect(problems(`  - name: r\n${RECEPTIONIST}    ref: Patient/pat-001\n    body: {}\n    expect: {}\n`)).to.deep.equal([
        'c.yaml › cases[0].body: only for write cases (action: update or create)',
      ]);
    });

    it('refuses a filter case with records, without an expectation, or with refused fields but no refusal', () => {
      expect(
        problems(`  - name: f\n${RECEPTIONIST}    query: { gp: B86001 }\n    ref: Patient/pat-001\n    expectAllowed: true\n`),
      ).to.deep.equal(['c.yaml › cases[0].ref: only for read and write cases: a filter case checks a query, not records']);
      expect(problems(`  - name: f\n${RECEPTIONIST}    query: { gp: B86001 }\n    expectRefusedFields: [gp]\n`)).to.deep.equal([
        'c.yaml › cases[0]: give exactly one of expectAllowed: true, expectRefusal',
        'c.yaml › cases[0].expectRefusedFields: only with expectRefusal',
      ]);
      expect(problems(`  - name: f\n${RECEPTIONIST}    query: { gp: B86001 }\n    expectAllowed: false\n`)[0]).to.equal(
        'c.yaml › cases[0].expectAllowed: expectAllowed takes true (for a refusal, give expectRefusal)',
      );
    });

    it('refuses a malformed matcher and an unknown key, naming where', () => {
      expect(
        problems(`  - name: m\n${ANALYST}    ref: Patient/pat-001\n    expect: { id: { pseudonymOf: [a] }, x: [{ pseudonym: some }] }\n`),
      ).to.deep.equal([
        'c.yaml › cases[0].expect.id: pseudonymOf takes the input value (a string, number or boolean), such as pseudonymOf: pat-001',
        'c.yaml › cases[0].expect.x[0]: pseudonym takes any (pseudonym: any); for a given input value use pseudonymOf: VALUE',
      ]);
      expect(problems(`  - name: m\n${ANALYST}    ref: Patient/pat-001\n    expectField: [id]\n    absent: [name]\n`)[0]).to.match(
        /^c\.yaml › cases\[0\]: Unrecognized key: "expectField"/,
      );
    });
  });

  describe('pseudonym matchers', () => {
    it('pass with the pseudonym of the input value under the case purpose, and any pseudonym where one was given', async () => {
      const results = (await setup()).run(
        `  - name: of\n${ANALYST}    ref: Patient/pat-001\n    expect:\n      id: { pseudonymOf: pat-001 }\n${PAT1_PLANNING}` +
          `  - name: any\n${ANALYST}    ref: Patient/pat-001\n    expect:\n      id: { pseudonym: any }\n${PAT1_PLANNING}`,
      );
      expect(results.map((r) => [r.passed, r.message])).to.deep.equal([
        [true, undefined],
        [true, undefined],
      ]);
    });

    it('fail for another input value, showing the matcher and not the matched values as a change', async () => {
      const [r] = (await setup()).run(
        `  - name: other\n${ANALYST}    ref: Patient/pat-001\n    expect:\n      id: { pseudonymOf: pat-002 }\n${PAT1_PLANNING}`,
      );
      expect(r!.passed).to.equal(false);
      const changed = r!.message!.split('\n').filter((l) => /^[-+]/.test(l));
      expect(changed).to.have.length(2);
      expect(changed[0]).to.equal('-   "id": "<pseudonymOf \\"pat-002\\">"');
      expect(changed[1]).to.match(/^\+ {3}"id": "[0-9a-f]{32}"$/);
    });

    it('never match a hex value the engine did not pseudonymise, nor a pseudonym under another purpose', async () => {
      const hex = '50e1e8591e7824036fcb9c0b3d19e013';
      const results = (await setup()).run(
        `  - name: raw hex\n${RECEPTIONIST}    record: { id: p1, gp: "${hex}" }\n    expect: { id: p1, gp: { pseudonym: any } }\n` +
          // pat-001 under research is `hex`; under planning it is not.
          `  - name: research pseudonym in planning\n${ANALYST}    record: { id: pat-001 }\n    expect: { id: { pseudonymOf: pat-001 } }\n` +
          `  - name: planning\n${ANALYST}    record: { id: pat-001 }\n    expect: { id: "${hex}" }\n`,
      );
      expect(results.map((r) => r.passed)).to.deep.equal([false, true, false]);
      expect(results[0]!.message).to.include('-   "gp": "<any pseudonym>"');
    });
  });

  describe('partial expectations', () => {
    it('expectFields passes on exactly the listed paths and names what is missing or extra', async () => {
      const results = (await setup()).run(
        `  - name: exact\n${ANALYST}    ref: Patient/pat-001\n    expectFields: [id, address.postcode, gender, dateOfBirth, careTeam, diagnoses]\n` +
          `  - name: missing and extra\n${RECEPTIONIST}    ref: Patient/pat-001\n    expectFields: [id, name, diagnoses]\n`,
      );
      expect(results[0]!.passed).to.equal(true);
      expect(results[1]!.message!.split('\n')).to.deep.equal([
        'expectFields: not disclosed: diagnoses',
        'expectFields: disclosed but not listed: address, dateOfBirth, gp, nhsNumber, telecom',
      ]);
    });

    it('absent fails naming the rows that hold the path, and never quotes a value', async () => {
      const [ok, leaked] = (await setup()).run(
        `  - name: ok\n${RECEPTIONIST}    refs: [Patient/pat-001, Patient/pat-002]\n    absent: [diagnoses, medications.dose]\n` +
          `  - name: leaked\n${RECEPTIONIST}    refs: [Patient/pat-002, Patient/pat-001]\n    absent: [address.city]\n`,
      );
      expect(ok!.passed).to.equal(true);
      expect(leaked!.message).to.equal('absent: "address.city" is disclosed (row 2)');
    });

    it('refuses a path that is neither declared nor in the input, so a typo cannot pass by being absent', async () => {
      const [r] = (await setup()).run(`  - name: typo\n${RECEPTIONIST}    ref: Patient/pat-001\n    absent: [adress, flags]\n`);
      expect(r!.passed).to.equal(false);
      // `flags` is a marker the record holds (never declared, never disclosed): a fine thing to prove absent.
      expect(r!.message).to.equal('absent: "adress" is neither a declared field nor a key of the input record (did you mean "address"?)');
    });

    it('refuses a typo below the first segment, an index and an empty segment, from both lists of known paths', async () => {
      const GP = '    resource: Patient\n    purpose: direct-care\n    user: { sub: gp-1, roles: [gp], practice: B86001 }\n';
      const [typos, fields] = (await setup()).run(
        `  - name: typos\n${GP}    ref: Patient/pat-001\n    absent: [diagnoses.dispaly, address.0, name.famly, telecom.valeu, address.0.city]\n` +
          `  - name: expectFields\n${RECEPTIONIST}    ref: Patient/pat-001\n    expectFields: [id, nhsNumber, name, telecom, address, gp, dateOfBirth, address.postcod]\n`,
      );
      expect(typos!.passed).to.equal(false);
      expect(typos!.message!.split('\n')).to.deep.equal([
        'absent: "diagnoses.dispaly" is neither a declared field nor a key of the input record (did you mean "diagnoses.display"?)',
        'absent: "address.0" is not a field path: no index or empty segment (arrays are transparent: write "address")',
        'absent: "name.famly" is neither a declared field nor a key of the input record (did you mean "name.family"?)',
        'absent: "telecom.valeu" is neither a declared field nor a key of the input record (did you mean "telecom.value"?)',
        'absent: "address.0.city" is not a field path: no index or empty segment (arrays are transparent: write "address.city")',
      ]);
      expect(fields!.message).to.equal(
        'expectFields: "address.postcod" is neither a declared field nor a key of the input record (did you mean "address.postcode"?)',
      );
    });

    it('takes a path under a declared field that the input holds, and a sub-path the policies name', async () => {
      const [underInput, named] = (await setup()).run(
        `  - name: under\n${RECEPTIONIST}    ref: Patient/pat-001\n    absent: [medications.dose, flags]\n` +
          `  - name: named\n${RECEPTIONIST}    record: { id: p1 }\n    absent: [diagnoses.code, address.postcode]\n`,
      );
      expect(underInput!.message).to.equal(undefined);
      expect(named!.message).to.equal(undefined);
    });
  });

  describe('write cases', () => {
    it('pass and fail on the refusal code and the refused fields the engine names', async () => {
      const body = 'body: { telecom: [{ value: "1" }], diagnoses: [] }';
      const results = (await setup()).run(
        `  - name: right\n    action: update\n${RECEPTIONIST}    ref: Patient/pat-001\n    ${body}\n    expectRefusal: write_forbidden\n    expectRefusedFields: [diagnoses]\n` +
          `  - name: wrong fields\n    action: update\n${RECEPTIONIST}    ref: Patient/pat-001\n    ${body}\n    expectRefusal: write_forbidden\n    expectRefusedFields: [telecom]\n` +
          `  - name: expected allowed\n    action: update\n${RECEPTIONIST}    ref: Patient/pat-001\n    ${body}\n    expectAllowed: true\n` +
          `  - name: expected refused\n    action: update\n${RECEPTIONIST}    ref: Patient/pat-001\n    body: { telecom: [] }\n    expectRefusal: write_forbidden\n`,
      );
      expect(results.map((r) => [r.kind, r.passed])).to.deep.equal([
        ['write', true],
        ['write', false],
        ['write', false],
        ['write', false],
      ]);
      expect(results[1]!.message).to.equal('refused fields: expected [telecom], got [diagnoses]');
      expect(results[2]!.message).to.match(/^refused with write_forbidden: you may not update "diagnoses"/);
      expect(results[3]!.message).to.equal('expected refusal write_forbidden, but the write was allowed (writes: telecom)');
      expect(results[0]!.decision).to.include({ outcome: 'refused', action: 'update' });
    });

    it('check an update against the stored record as the caller sees it', async () => {
      const [r] = (await setup()).run(
        `  - name: hidden\n    action: update\n${RECEPTIONIST}    record: { id: p9, sealed: true }\n    body: { telecom: [] }\n    expectAllowed: true\n`,
      );
      expect(r!.message).to.match(/^refused with record_withheld: /);
    });
  });

  describe('filter cases', () => {
    it('pass and fail on the query check the shells use, naming refused fields', async () => {
      const results = (await setup()).run(
        `  - name: allowed\n${RECEPTIONIST}    query: { gp: [B86001, B86002] }\n    expectAllowed: true\n` +
          `  - name: refused\n${RECEPTIONIST}    query: { dateOfBirth_gte: 1990-01-01 }\n    sort: [-diagnoses]\n    expectRefusal: filter_forbidden\n    expectRefusedFields: [diagnoses, dateOfBirth]\n` +
          `  - name: wrongly allowed\n${RECEPTIONIST}    query: { gp: B86001 }\n    expectRefusal: filter_forbidden\n` +
          `  - name: wrongly refused\n${ANALYST}    query: { id: pat-001 }\n    expectAllowed: true\n`,
      );
      expect(results.map((r) => [r.kind, r.passed])).to.deep.equal([
        ['filter', true],
        ['filter', false],
        ['filter', false],
        ['filter', false],
      ]);
      // dateOfBirth is readable by a receptionist: only the diagnoses sort is refused.
      expect(results[1]!.message).to.equal('refused fields: expected [dateOfBirth, diagnoses], got [diagnoses]');
      expect(results[2]!.message).to.equal('expected refusal filter_forbidden, but the query was allowed');
      expect(results[3]!.message).to.match(/^refused with filter_forbidden: You may not filter, sort or look records up by "id"/);
    });
  });
});
