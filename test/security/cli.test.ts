import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { fieldmesh } from '../cli/run.js';

/** No error carries record data (docs/errors.md), the CLI's included. */
describe('security › CLI errors', () => {
  it('fieldmesh test does not quote a record when a records file is not valid JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-sec-cli-'));
    // A hand-edited fixture with one unquoted value.
    writeFileSync(join(dir, 'Patient.json'), '[{"id": "pat-001", "nhsNumber": "9990000018", "name": Jane Testwood}]');
    const r = fieldmesh(['test', 'fixtures/cases/refusals.yaml', '--records', dir]);
    expect(r.code).not.to.equal(0);
    // The JSON parser's message quotes the text around the fault: the patient's name.
    expect(r.stdout + r.stderr).not.to.include('Jane');
  });

  /** A case file whose record's name holds `name`, given an unknown tag (a YAML warning). */
  function taggedCase(name: string): string {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-sec-cli-'));
    const cases = join(dir, 'cases.yaml');
    writeFileSync(
      cases,
      [
        'cases:',
        '  - name: an inline record with an unknown tag',
        '    resource: Patient',
        '    purpose: direct-care',
        '    user: { sub: gp-1, roles: [gp], practice: B86001 }',
        `    record: { id: pat-001, name: !secret-tag "${name}" }`,
        '    expect: { id: pat-001 }',
        '',
      ].join('\n'),
    );
    return cases;
  }

  it('fieldmesh test says where a case file has a YAML warning, never the line (values)', () => {
    const r = fieldmesh(['test', taggedCase('Jane Secretname FORGED')]);
    expect(r.code).to.equal(1);
    expect(r.stdout + r.stderr).not.to.include('Secretname');
    expect(r.stdout + r.stderr).to.match(/line 6: YAML warning/);
    expect(r.stdout).to.match(/^\d+ passed, \d+ failed$/m);
  });

  it('fieldmesh test refuses terminal codes in a case file at their line and column, never printing them or the line', () => {
    const cases = taggedCase('Jane Secretname \u001b[2J\u001b[31mFORGED');
    const r = fieldmesh(['test', cases]);
    expect(r.code).to.equal(1);
    expect(r.stdout + r.stderr).not.to.include('Secretname');
    expect(r.stdout + r.stderr).not.to.include('\u001b[2J');
    expect(r.stdout).to.include(`${cases}:6:`);
    expect(r.stdout).to.match(/a control character \(U\+001B\)/);
    expect(r.stdout).to.match(/^\d+ passed, \d+ failed$/m);
  });

  it('fieldmesh redact does not quote the input when it is not valid JSON', () => {
    const r = fieldmesh(['redact', '--role', 'gp', '--purpose', 'direct-care', '--resource', 'Patient', '-'], {
      input: '{"nhsNumber": "9990000018", "name": Jane Testwood}',
    });
    expect(r.code).to.equal(2);
    expect(r.stderr).not.to.include('Jane');
  });
});
