import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { FieldmeshError } from '../../src/lib/errors.js';
import { loadPolicies } from '../../src/engine/policy-set.js';
import { lineDiff, loadRecords, parseCaseFile, runCase } from '../../src/testing/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The example policies and fixture records, and a runner for one inline case file. */
async function setup() {
  const policies = await loadPolicies(join(ROOT, 'policies'), { pseudonymKey: 'fixture-pseudonym-key' });
  const records = await loadRecords(join(ROOT, 'fixtures', 'records'));
  const run = (yaml: string) => {
    const file = parseCaseFile(`now: 2026-11-24T12:00:00Z\nuser: { training: 2026-06-01 }\n${yaml}`, 'inline.yaml');
    return file.cases.map((c) => runCase(policies, records, file, c, 'inline.yaml'));
  };
  return { records, run };
}

function thrown(fn: () => unknown): FieldmeshError {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(FieldmeshError);
    return e as FieldmeshError;
  }
  throw new Error('expected an error');
}

const RECEPTIONIST = 'resource: Patient\n    purpose: administration\n    user: { sub: rec-1, roles: [receptionist] }';

describe('testing/cases', () => {
  describe('loadRecords', () => {
    it('keys every record of each <Resource>.json by Resource/id', async () => {
      const { records } = await setup();
      expect(records.get('Patient/pat-001')).to.deep.include({ id: 'pat-001', nhsNumber: '9990000018' });
      expect([...records.keys()].some((k) => k.startsWith('CaseNote/'))).to.equal(true);
    });

    it('refuses a file that is not JSON, or not a list, saying where and never what', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-records-'));
      writeFileSync(join(dir, 'Patient.json'), '[{"id":"p1","name":"Jan Doe",]');
      const broken = await loadRecords(dir).then(
        () => undefined,
        (e: unknown) => e as FieldmeshError,
      );
      expect(broken?.code).to.equal('records_invalid');
      expect(broken?.message).to.equal(`${join(dir, 'Patient.json')} is not valid JSON`);
      writeFileSync(join(dir, 'Patient.json'), '{"id":"p1"}');
      const notList = await loadRecords(dir).then(
        () => undefined,
        (e: unknown) => e as FieldmeshError,
      );
      expect(notList?.message).to.include('expected a JSON array of records');
    });

    it('reads a missing directory as no records', async () => {
      expect((await loadRecords(join(tmpdir(), 'fieldmesh-no-such-dir'))).size).to.equal(0);
    });
  });

  describe('parseCaseFile', () => {
    it('refuses a "<<" merge key in a record or a user, which YAML 1.2 reads as an ordinary key and merges nothing', () => {
      const base = `cases:\n  - name: a\n    ${RECEPTIONIST}\n    record: &pat { id: p1, gp: B86001 }\n    expect: { id: p1, gp: B86001 }\n`;
      const inRecord = `${base}  - name: b\n    ${RECEPTIONIST}\n    record: { <<: *pat, flags: [dv-risk] }\n    absent: [address]\n`;
      const e = thrown(() => parseCaseFile(inRecord, 'm.yaml'));
      expect(e.code).to.equal('cases_invalid');
      expect(e.message).to.match(/^m\.yaml › cases\[1\]\.record: a "<<" merge key/);
      const inUser = `user: &u { sub: x, roles: [gp] }\ncases:\n  - name: c\n    resource: Patient\n    purpose: direct-care\n    user: { <<: *u, training: 2020-01-01 }\n    record: { id: p1 }\n    expectRefusal: training_expired\n`;
      expect(thrown(() => parseCaseFile(inUser, 'u.yaml')).message).to.match(/^u\.yaml › cases\[0\]\.user: a "<<" merge key/);
      // An alias without a merge key still works: it copies the whole node.
      expect(parseCaseFile(base, 'ok.yaml').cases).to.have.length(1);
    });

    it('names the line of a YAML problem and never quotes the text', () => {
      const e = thrown(() => parseCaseFile('cases:\n  - name: "Jan Doe\n', 'secret.yaml'));
      expect(e.code).to.equal('cases_invalid');
      expect(e.message).to.match(/^secret\.yaml › line \d+: YAML syntax error \(\w+\)/);
      expect(e.message).to.not.include('Jan');
    });

    it('names the path of every schema problem', () => {
      const e = thrown(() =>
        parseCaseFile(
          'cases:\n  - { name: a, resource: Patient, purpose: x, ref: Patient/p1, record: {}, expect: {} }\n  - { name: b, resource: Patient, purpose: x, ref: p, now: tomorrow, expect: {} }\n',
          'c.yaml',
        ),
      );
      expect(e.message.split('\n')).to.deep.equal([
        'c.yaml › cases[0]: give exactly one of ref, refs, record, records',
        'c.yaml › cases[1].now: an ISO date or timestamp, such as 2026-11-24T12:00:00Z',
      ]);
    });

    it('refuses a character that may hide a line, at its line and column, as policy files do', () => {
      const cr = thrown(() => parseCaseFile('cases:\n  - name: a # Jan Doe\r    expectRefusal: record_withheld\n', 'c.yaml'));
      expect(cr.code).to.equal('cases_invalid');
      expect(cr.message).to.equal('c.yaml:2:22 › a carriage return without a line feed: save the file with LF or CRLF line ends');
      const ls = thrown(() => parseCaseFile('cases:\r\n  - name: "a\u2028b"\r\n', 'c.yaml'));
      expect(ls.message).to.match(/^c\.yaml:2:13 › a line separator \(U\+2028\)/);
      // Its escape, in a double-quoted string, is the way to write one.
      const escaped = parseCaseFile('cases:\n  - { name: "a\\u2028b", resource: Patient, purpose: p, record: {}, expect: {} }\n', 'c.yaml');
      expect(escaped.cases[0]!.name).to.equal('a\u2028b');
    });
  });

  describe('runCase', () => {
    it('passes when the output and the decision are as expected', async () => {
      const [r] = (await setup()).run(
        `cases:\n  - name: no diagnoses\n    ${RECEPTIONIST}\n    record: { id: p1, gp: B86001, diagnoses: [{ code: J45 }] }\n    expect: { id: p1, gp: B86001 }\n    expectDecision: { rowsReturned: 1, restrictions: [] }\n`,
      );
      const { decision, ...rest } = r!;
      expect(rest).to.deep.equal({
        file: 'inline.yaml',
        name: 'no diagnoses',
        kind: 'read',
        passed: true,
        // What the record held decides: declared paths the output held, and those the input held and the output lost.
        fieldsSeen: { disclosed: ['gp', 'id'], withheld: ['diagnoses', 'diagnoses.code'] },
      });
      expect(decision).to.include({ outcome: 'disclosed', resource: 'Patient', purpose: 'administration', rowsReturned: 1 });
    });

    it("carries a refusal's decision, and none when the engine was never asked", async () => {
      const [refused, unknown] = (await setup()).run(
        `cases:\n  - name: sealed\n    ${RECEPTIONIST}\n    ref: Patient/pat-004\n    expectRefusal: record_withheld\n` +
          `  - name: missing\n    ${RECEPTIONIST}\n    ref: Patient/nobody\n    expect: {}\n`,
      );
      expect(refused!.passed).to.equal(true);
      expect(refused!.decision).to.include({ outcome: 'refused', code: 'record_withheld', rowsWithheld: 1 });
      expect(unknown!.passed).to.equal(false);
      expect(unknown).to.not.have.property('decision');
    });

    it('fails with a line diff when the output differs', async () => {
      const [r] = (await setup()).run(
        `cases:\n  - name: wrong\n    ${RECEPTIONIST}\n    record: { id: p1, gp: B86001 }\n    expect: { id: p1 }\n`,
      );
      expect(r!.passed).to.equal(false);
      expect(r!.message).to.include('+   "gp": "B86001"');
    });

    it('fails naming each decision key that differs, comparing lists in any order', async () => {
      const [ok, wrong] = (await setup()).run(
        `cases:\n  - name: ok\n    ${RECEPTIONIST}\n    records: [{ id: p1 }, { id: p2 }]\n    expect: [{ id: p1 }, { id: p2 }]\n    expectDecision: { recordIds: [p2, p1] }\n  - name: wrong\n    ${RECEPTIONIST}\n    record: { id: p1 }\n    expect: { id: p1 }\n    expectDecision: { rowsReturned: 2 }\n`,
      );
      expect(ok!.passed).to.equal(true);
      expect(wrong!.message).to.equal('decision.rowsReturned: expected 2, got 1');
    });

    it('passes an expected refusal by code, and fails a different one or a disclosure', async () => {
      const results = (await setup()).run(`cases:
  - name: expected
    ${RECEPTIONIST.replace('administration', 'research')}
    record: { id: p1 }
    expectRefusal: purpose_not_granted
  - name: other code
    ${RECEPTIONIST.replace('administration', 'research')}
    record: { id: p1 }
    expectRefusal: purpose_unknown
  - name: disclosed
    ${RECEPTIONIST}
    record: { id: p1 }
    expectRefusal: purpose_not_granted
`);
      expect(results.map((r) => r.passed)).to.deep.equal([true, false, false]);
      expect(results[0]!.decision).to.include({ outcome: 'refused', code: 'purpose_not_granted' });
      expect(results[1]!.message).to.match(/^refused with purpose_not_granted, expected purpose_unknown: /);
      expect(results[2]!.message).to.match(/^expected refusal purpose_not_granted, but data was disclosed:\n/);
    });

    it('fails a case the engine could not run as an error, never as a refusal it could expect', async () => {
      const keyless = await loadPolicies(join(ROOT, 'policies'));
      const records = await loadRecords(join(ROOT, 'fixtures', 'records'));
      const file = parseCaseFile(
        `now: 2026-11-24T12:00:00Z\nuser: { training: 2026-06-01 }\ncases:\n` +
          `  - name: no key\n    resource: Patient\n    purpose: service-planning\n    user: { sub: a, roles: [analyst] }\n    ref: Patient/pat-001\n    expect: {}\n` +
          `  - name: not a record\n    ${RECEPTIONIST}\n    record: 5\n    expect: {}\n`,
        'inline.yaml',
      );
      const [noKey, notRecord] = file.cases.map((c) => runCase(keyless, records, file, c, 'inline.yaml'));
      expect(noKey!.passed).to.equal(false);
      expect(noKey!.message).to.match(/^error pseudonym_key_missing: purpose "service-planning" pseudonymises id/);
      expect(noKey).to.not.have.property('decision');
      expect(notRecord!.message).to.match(/^error unredactable_body: /);
    });

    it('refuses, when the case file is read, an expectRefusal that is not a refusal code', () => {
      const codes = ['pseudonym_key_missing', 'unredactable_body', 'audit_unavailable', 'cases_invalid', 'record_witheld'];
      for (const code of codes) {
        const e = thrown(() =>
          parseCaseFile(`cases:\n  - name: x\n    ${RECEPTIONIST}\n    record: { id: p1 }\n    expectRefusal: ${code}\n`, 'c.yaml'),
        );
        expect(e.code).to.equal('cases_invalid');
        expect(e.message).to.match(new RegExp(`^c\\.yaml › cases\\[0\\]\\.expectRefusal: .*"${code}"`));
      }
      expect(() =>
        parseCaseFile(`cases:\n  - name: x\n    ${RECEPTIONIST}\n    record: { id: p1 }\n    expectRefusal: bad_request\n`, 'c.yaml'),
      ).to.not.throw();
    });

    it('fails a case whose ref is not among the records', async () => {
      const [one, many] = (await setup()).run(
        `cases:\n  - name: one\n    ${RECEPTIONIST}\n    ref: Patient/nobody\n    expect: {}\n  - name: many\n    ${RECEPTIONIST}\n    refs: [Patient/pat-001, Patient/x, Patient/y]\n    expect: []\n`,
      );
      expect(one!.message).to.equal('unknown ref Patient/nobody');
      expect(many!.message).to.equal('unknown refs Patient/x, Patient/y');
    });

    it('never changes the stored record', async () => {
      const { records, run } = await setup();
      const before = structuredClone(records.get('Patient/pat-001'));
      run(`cases:\n  - name: read\n    ${RECEPTIONIST}\n    ref: Patient/pat-001\n    expect: {}\n`);
      expect(records.get('Patient/pat-001')).to.deep.equal(before);
    });
  });

  describe('lineDiff', () => {
    it('marks removed and added lines, with keys sorted so order never shows as a change', () => {
      expect(lineDiff({ b: 1, a: 2 }, { a: 2, b: 1 })).to.not.match(/^[-+] /m);
      expect(lineDiff({ a: 1 }, { a: 2 })).to.equal('  {\n-   "a": 1\n+   "a": 2\n  }');
      expect(lineDiff(undefined, [])).to.equal('- (nothing)\n+ []');
    });
  });
});
