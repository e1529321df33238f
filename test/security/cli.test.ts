import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { fieldmesh } from '../cli/run.js';

/** SPEC: no error carries record data, the CLI's included. */
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

  it('fieldmesh redact does not quote the input when it is not valid JSON', () => {
    const r = fieldmesh(['redact', '--role', 'gp', '--purpose', 'direct-care', '--resource', 'Patient', '-'], { input: '{"nhsNumber": "9990000018", "name": Jane Testwood}' });
    expect(r.code).to.equal(2);
    expect(r.stderr).not.to.include('Jane');
  });
});
