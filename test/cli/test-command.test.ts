import { cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { parseXml } from '../testing/xml.js';
import { fieldmesh, ROOT } from './run.js';

const CASES = join(ROOT, 'fixtures', 'cases');
const HEADER = 'now: 2026-11-24T12:00:00Z\npseudonymKey: fixture-pseudonym-key\nuser: { training: 2026-06-01 }\ncases:\n';
const RECEPTIONIST = '    resource: Patient\n    purpose: administration\n    user: { sub: rec-1, roles: [receptionist] }\n';

/** A temporary directory holding `files`. */
function tmp(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-test-cmd-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

describe('fieldmesh test (case kinds, --filter, --reporter, --update)', () => {
  it('runs the example fixtures, with their matchers, write and filter cases, green', () => {
    const r = fieldmesh(['test', '--quiet']);
    expect(r.code).to.equal(0, r.stdout);
    expect(r.stdout.trim().split('\n').pop()).to.match(/^\d+ passed, 0 failed$/);
  });

  it('--filter runs only the cases whose "file › name" matches, and exits 2 when none does', () => {
    const some = fieldmesh(['test', '--filter', 'writes-and-filters.yaml › a receptionist may']);
    expect(some.code).to.equal(0, some.stdout);
    expect(some.stdout.trim().split('\n').pop()).to.equal('5 passed, 0 failed');
    const re = fieldmesh(['test', '--quiet', '--filter', '/SEALED record$/i']);
    expect(re.stdout.trim().split('\n').pop()).to.match(/^[1-9]\d* passed, 0 failed$/);
    const none = fieldmesh(['test', '--filter', 'no such case anywhere']);
    expect(none.code).to.equal(2);
    expect(none.stderr).to.include('--filter: no case matches "no such case anywhere"');
    const bad = fieldmesh(['test', '--filter', '/a(/']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.include('--filter: /a(/ is not a valid regular expression');
  });

  it('refuses an unknown reporter naming it and the choices, and --reporter-output beside spec', () => {
    const r = fieldmesh(['test', '--reporter', 'tap']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('--reporter: unknown reporter "tap" (choose one of spec, json, junit)');
    const out = fieldmesh(['test', '--reporter-output', join(tmpdir(), 'x.xml')]);
    expect(out.code).to.equal(2);
    expect(out.stderr).to.include('--reporter-output: give --reporter json or junit');
  });

  it('--reporter json prints one document on stdout and the summary on stderr', () => {
    const dir = tmp({
      'a.yaml': `${HEADER}  - name: passes\n${RECEPTIONIST}    record: { id: p1 }\n    expect: { id: p1 }\n  - name: fails\n${RECEPTIONIST}    query: { diagnoses: J45 }\n    expectAllowed: true\n`,
    });
    const r = fieldmesh(['test', '--reporter', 'json', join(dir, 'a.yaml')]);
    expect(r.code).to.equal(1);
    const doc = JSON.parse(r.stdout) as { results: Record<string, unknown>[]; summary: unknown };
    expect(doc.summary).to.deep.equal({ passed: 1, failed: 1, total: 2 });
    expect(doc.results.map((x) => [x['name'], x['kind'], x['passed']])).to.deep.equal([
      ['passes', 'read', true],
      ['fails', 'filter', false],
    ]);
    expect(doc.results[1]!['message']).to.match(/^refused with filter_forbidden: /);
    expect(doc.results[0]!['durationMs']).to.be.a('number');
    expect(r.stderr.trim()).to.equal('1 passed, 1 failed');
  });

  it('--reporter junit writes XML a strict reader accepts, whatever the case names hold', () => {
    const hostile = 'a <b> & "c" \'d\' ]]> \u0001 end';
    const dir = tmp({
      'a.yaml': `${HEADER}  - name: ${JSON.stringify(hostile)}\n${RECEPTIONIST}    record: { id: p1 }\n    expect: { id: p2 }\n  - name: ok\n${RECEPTIONIST}    record: { id: p1 }\n    expect: { id: p1 }\n`,
      'broken.yaml': 'cases: [',
    });
    const report = join(dir, 'junit.xml');
    const r = fieldmesh(['test', '--reporter', 'junit', '--reporter-output', report, dir]);
    expect(r.code).to.equal(1);
    // With --reporter-output the spec lines still go to stdout.
    expect(r.stdout.trim().split('\n').pop()).to.equal('1 passed, 2 failed');
    const root = parseXml(readFileSync(report, 'utf8'));
    expect(root.attrs).to.include({ tests: '3', failures: '2' });
    const [a, broken] = root.children;
    expect(a!.children.map((c) => c.attrs['name'])).to.deep.equal([hostile.replace('\u0001', '\uFFFD'), 'ok']);
    expect(a!.children[0]!.children[0]!.text).to.include('-   "id": "p2"');
    expect(broken!.children[0]!.attrs['name']).to.equal('(case file)');
  });

  it('fails a case file with an unknown key or a write case without a body, naming where', () => {
    const dir = tmp({
      'a.yaml': `${HEADER}  - name: typo\n${RECEPTIONIST}    record: { id: p1 }\n    expect: { id: p1 }\n    expectDecison: {}\n  - name: write\n    action: create\n${RECEPTIONIST}    expectAllowed: true\n`,
    });
    const r = fieldmesh(['test', join(dir, 'a.yaml')]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.include('cases[0]: Unrecognized key: "expectDecison"');
    expect(r.stdout).to.include('cases[1]: a write case (action: create) needs body');
  });

  it('--update rewrites failing read cases in a copy, keeps comments, and a second run passes and changes nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-update-'));
    cpSync(join(CASES, 'secondary-use.yaml'), join(dir, 'secondary-use.yaml'));
    cpSync(join(CASES, 'writes-and-filters.yaml'), join(dir, 'writes-and-filters.yaml'));
    const path = join(dir, 'secondary-use.yaml');
    const original = readFileSync(path, 'utf8');
    // Two cases go stale: a pseudonym of the wrong input, and a refusal that is now a disclosure.
    const stale = original
      .replace('id: { pseudonymOf: pat-021 }', 'id: { pseudonymOf: pat-999 }')
      .replace(
        '    ref: Patient/pat-021\n    expectRefusal: record_withheld',
        '    ref: Patient/pat-021\n    expectRefusal: purpose_unknown',
      );
    writeFileSync(path, stale);
    const wf = join(dir, 'writes-and-filters.yaml');
    writeFileSync(wf, readFileSync(wf, 'utf8').replace('expectRefusedFields: [author]', 'expectRefusedFields: [text]'));
    const wfBefore = readFileSync(wf, 'utf8');

    const first = fieldmesh(['test', '--quiet', '--update', dir]);
    expect(first.stdout).to.include('↻ updated').and.include('not updated: ').and.include('write cases state a rule; fix by hand');
    expect(first.stdout).to.include('2 cases updated');
    expect(first.code).to.equal(1, first.stdout); // the write case still fails
    expect(readFileSync(wf, 'utf8')).to.equal(wfBefore);
    const updated = readFileSync(path, 'utf8');
    // Both stale cases are as they were; the rewritten expect differs from the hand-written one only in a quote.
    const changed = updated.split('\n').filter((line, i) => line !== original.split('\n')[i]);
    expect(changed).to.deep.equal(['      dateOfBirth: 35-39']);

    const second = fieldmesh(['test', '--quiet', '--update', path]);
    expect(second.code).to.equal(0, second.stdout);
    expect(second.stdout).to.include('0 cases updated');
    expect(readFileSync(path, 'utf8')).to.equal(updated);
  });

  it('fails a case the engine could not run (no pseudonym key) as an error, and --update never writes it as a refusal', () => {
    const text =
      'now: 2026-11-24T12:00:00Z\nuser: { training: 2026-06-01 }\ncases:\n  - name: analyst pseudonym\n    resource: Patient\n' +
      '    purpose: service-planning\n    user: { sub: ana-1, roles: [analyst] }\n    ref: Patient/pat-001\n    expect: { id: { pseudonymOf: pat-001 } }\n';
    const dir = tmp({ 'nokey.yaml': text });
    const r = fieldmesh(['test', '--update', dir], { env: { FIELDMESH_PSEUDONYM_KEY: undefined } });
    expect(r.code).to.equal(1, r.stdout);
    expect(r.stdout).to.include('    error pseudonym_key_missing: purpose "service-planning" pseudonymises id');
    expect(r.stdout).to.include('not updated: ').and.include('it did not run: error pseudonym_key_missing');
    expect(r.stdout).to.include('0 cases updated');
    expect(r.stdout.trimEnd().split('\n').pop()).to.equal('0 passed, 1 failed');
    expect(readFileSync(join(dir, 'nokey.yaml'), 'utf8')).to.equal(text);
  });

  it('refuses expectRefusal naming a failure or an unknown code in the case file, naming it', () => {
    const dir = tmp({
      'codes.yaml':
        `${HEADER}  - name: key\n${RECEPTIONIST}    ref: Patient/pat-001\n    expectRefusal: pseudonym_key_missing\n` +
        `  - name: body\n${RECEPTIONIST}    ref: Patient/pat-001\n    expectRefusal: unredactable_body\n` +
        `  - name: typo\n${RECEPTIONIST}    ref: Patient/pat-001\n    expectRefusal: record_witheld\n`,
    });
    const r = fieldmesh(['test', dir]);
    expect(r.code).to.equal(1);
    const file = join(dir, 'codes.yaml');
    expect(r.stdout).to.include(`${file} › cases[0].expectRefusal: "pseudonym_key_missing" is not a refusal a case can expect`);
    expect(r.stdout).to.include(`${file} › cases[1].expectRefusal: "unredactable_body" is not a refusal a case can expect`);
    expect(r.stdout).to.include(
      `${file} › cases[2].expectRefusal: unknown refusal code "record_witheld" (did you mean "record_withheld"?)`,
    );
  });

  it('prints case names, file names and messages with every control character made visible', () => {
    const dir = tmp({
      'names\u001b[2J.yaml':
        `${HEADER}  - name: "a \\x1b[31m red \\u0085 next \\u2028 sep \\r\\n forged \\u202e end"\n${RECEPTIONIST}` +
        '    record: { id: p1, gp: "B86\\u009b001" }\n    expect: { id: "x\\x07" }\n' +
        `  - name: "ok \\x1b[32m"\n${RECEPTIONIST}    record: { id: p1 }\n    expect: { id: p1 }\n`,
      'broken\u0085.yaml': `${HEADER}  - nme: x\n`,
    });
    const r = fieldmesh(['test', dir]);
    expect(r.code).to.equal(1);
    // Nothing a terminal acts on: no C0 control but the line feed, no DEL, C1, line separator or bidirectional control.
    const unsafe = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
    expect(r.stdout).to.not.match(unsafe);
    expect(r.stdout).to.include('names\\u001b[2J.yaml › a \\u001b[31m red \\u0085 next \\u2028 sep \\u000d\\u000a forged \\u202e end\n');
    expect(r.stdout).to.include('"gp": "B86\\u009b001"');
    expect(r.stdout).to.include('✓ ').and.include('names\\u001b[2J.yaml › ok \\u001b[32m\n');
    expect(r.stdout).to.include('✗ ').and.include('broken\\u0085.yaml\n');
    expect(r.stdout.trimEnd().split('\n').pop()).to.equal('1 passed, 2 failed');
  });

  it('skips a directory named *.yaml inside a cases directory, and descends into one named directly', () => {
    const ok = `${HEADER}  - name: ok\n${RECEPTIONIST}    record: { id: p1 }\n    expect: { id: p1 }\n`;
    const dir = tmp({ 'a.yaml': ok, 'old.yaml/b.yaml': ok.replace('name: ok', 'name: inner') });
    const r = fieldmesh(['test', dir]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout)
      .to.include(`${join(dir, 'a.yaml')} › ok`)
      .and.not.include('inner');
    expect(r.stdout.trimEnd().split('\n').pop()).to.equal('1 passed, 0 failed');
    const named = fieldmesh(['test', join(dir, 'old.yaml')]);
    expect(named.code, named.stderr).to.equal(0);
    expect(named.stdout).to.include(`${join(dir, 'old.yaml', 'b.yaml')} › inner`);
    // Only a directory of directories: no case files, a usage error, never EISDIR.
    const none = fieldmesh(['test', join(tmp({ 'x.yaml/y.txt': '' }))]);
    expect(none.code).to.equal(2);
    expect(none.stderr).to.include('no case files found in');
  });

  it('--update never writes through a symbolic link, nor rewrites a file that does not parse', () => {
    const dir = tmp({
      'real/a.yaml': `${HEADER}  - name: stale\n${RECEPTIONIST}    record: { id: p1 }\n    expect: { id: p2 }\n`,
      'broken.yaml': `${HEADER}  - name: x\n    expect: [`,
    });
    symlinkSync(join(dir, 'real', 'a.yaml'), join(dir, 'link.yaml'));
    const brokenBefore = readFileSync(join(dir, 'broken.yaml'), 'utf8');
    const r = fieldmesh(['test', '--update', join(dir, 'link.yaml'), join(dir, 'broken.yaml')]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.include('the case file is a symbolic link');
    expect(readFileSync(join(dir, 'real', 'a.yaml'), 'utf8')).to.include('expect: { id: p2 }');
    expect(readFileSync(join(dir, 'broken.yaml'), 'utf8')).to.equal(brokenBefore);
  });
  it('fails a case file holding a carriage return without a line feed, at its place, rather than dropping the line it hides', () => {
    const hidden = `${HEADER}  - name: dv address\n${RECEPTIONIST}    record: { id: p1 }\n    absent: [diagnoses] # no clinical data\r    expectDecision: { restrictions: [dv-address] }\n`;
    const dir = tmp({ 'a.yaml': hidden });
    const file = join(dir, 'a.yaml');
    const r = fieldmesh(['test', file]);
    expect(r.code).to.equal(1, r.stdout);
    const lines = hidden.split('\n');
    const line = lines.findIndex((l) => l.includes('\r')) + 1;
    const col = lines[line - 1]!.indexOf('\r') + 1;
    expect(r.stdout).to.include(`${file}:${line}:${col} › a carriage return without a line feed: save the file with LF or CRLF line ends`);
    expect(r.stdout.trim().split('\n').pop()).to.equal('0 passed, 1 failed');
    // Saved with CRLF, the same file is read, and the case (which expects a restriction that does not fire) fails as a case.
    const crlf = tmp({ 'a.yaml': hidden.replace('\r', '\n').replace(/\n/g, '\r\n') });
    const r2 = fieldmesh(['test', join(crlf, 'a.yaml')]);
    expect(r2.stdout).to.not.include('carriage return');
    expect(r2.stdout).to.include('✗').and.include('dv address');
  });

  it('--update writes a value holding a line separator as an escape, so the file it writes reads back', () => {
    const dir = tmp({
      'a.yaml': `${HEADER}  - name: stale\n${RECEPTIONIST}    record: { id: p1, name: "Ann\\u2028Lee" }\n    expect: { id: p1 }\n`,
    });
    const file = join(dir, 'a.yaml');
    const first = fieldmesh(['test', '--update', file]);
    expect(first.stdout).to.include('1 case updated');
    const written = readFileSync(file, 'utf8');
    expect(written).to.include('"Ann\\u2028Lee"').and.not.include('\u2028');
    const second = fieldmesh(['test', file]);
    expect(second.code).to.equal(0, second.stdout);
  });
});
