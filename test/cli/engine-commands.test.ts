import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { stringify } from 'yaml';
import { patient } from '../helpers.js';
import { fieldmesh } from './run.js';

const VALID = 'test/fixtures/policies/valid';
const NOW = ['--now', '2026-11-24'];

function tmp(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-cli-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

describe('fieldmesh check', () => {
  it('passes a valid set, printing a summary and the version; warnings do not fail it', () => {
    const r = fieldmesh(['check', '--policies', VALID, ...NOW]);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/OK .*1 resource, 5 purposes, 4 roles, 2 restrictions; version [0-9a-f]{16}; 1 warning/);
    expect(r.stdout).to.include('warning').and.include('purposes.old-flow.reviewBy');
  });

  it('fails on warnings with --strict', () => {
    expect(fieldmesh(['check', '--policies', VALID, ...NOW, '--strict']).code).to.equal(1);
  });

  it('exits 1 listing every error with file, path and a suggestion', () => {
    const dir = tmp({
      'p.yaml':
        'resources:\n  R:\n    fields: { id: identifier }\nroles:\n  a:\n    grants:\n      - { purpose: dirct-care, resource: R, read: [id], wher: {} }\n',
    });
    const r = fieldmesh(['check', '--policies', dir]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.include('p.yaml:7:57 › roles.a.grants[0].wher: unknown key "wher" (did you mean "where"?)');
  });

  it('prints JSON with --json', () => {
    const out = JSON.parse(fieldmesh(['check', '--policies', VALID, ...NOW, '--json']).stdout);
    expect(out).to.include({ ok: true, errors: 0, warnings: 1 });
  });

  it('says so when the directory is missing', () => {
    const r = fieldmesh(['check', '--policies', '/nonexistent/policies']);
    expect(r.code).to.equal(1);
    expect(r.stdout + r.stderr).to.include('no such policy directory');
  });
});

describe('fieldmesh redact', () => {
  const input = JSON.stringify(patient({ flags: ['dv-risk'] }));

  it('prints the redacted record for a role', () => {
    const r = fieldmesh(
      ['redact', '--policies', VALID, ...NOW, '--role', 'safeguarding-lead', '--purpose', 'direct-care', '--resource', 'Patient', '-'],
      { input: JSON.stringify(patient()) },
    );
    expect(r.code).to.equal(0, r.stderr);
    expect(JSON.parse(r.stdout)).to.deep.equal({
      id: 'p1',
      name: [{ family: 'Doe', given: ['Jan'] }],
      address: [{ line: ['1 High St'], postcode: 'LS1 4AP', geo: { lat: 53.8 } }],
    });
  });

  it('refuses a single record a role-only user cannot match (no team claim): the missing claim never matches', () => {
    const r = fieldmesh(['redact', '--policies', VALID, ...NOW, '--role', 'nurse', '--purpose', 'direct-care', '--resource', 'Patient'], {
      input: JSON.stringify(patient()),
    });
    expect(r.code).to.equal(3);
    const { error } = JSON.parse(r.stderr);
    expect(error.code).to.equal('record_withheld');
    // The first cause, named: the nurse's grant reads a team claim that --role alone cannot give.
    expect(error.hint).to.include('claim team').and.include('--claim team=');
    expect(error.cause).to.equal('grant nurse#0 did not match: missing claim user.team');
  });

  it('names the refusing gate as the cause of a request refused before any record is read', () => {
    const args = ['redact', '--policies', VALID, ...NOW, '--role', 'nurse', '--purpose', 'direct-care', '--resource', 'Patient'];
    const lapsed = fieldmesh([...args, '--claim', 'training=2020-01-01'], { input: JSON.stringify(patient()) });
    expect(lapsed.code).to.equal(3);
    expect(JSON.parse(lapsed.stderr).error).to.include({ code: 'training_expired', cause: 'gate training refused' });
  });

  it('gives a --role user claims with --claim, so row conditions see them', () => {
    const args = ['redact', '--policies', VALID, ...NOW, '--role', 'nurse', '--purpose', 'direct-care', '--resource', 'Patient'];
    const seen = fieldmesh([...args, '--claim', 'team=ward-7'], { input: JSON.stringify(patient()) });
    expect(seen.code).to.equal(0, seen.stderr);
    expect(JSON.parse(seen.stdout)).to.have.property('id', 'p1');
    // Another team's nurse still sees nothing, and is told no claim is missing (no hint).
    const other = fieldmesh([...args, '--claim', 'team=ward-9'], { input: JSON.stringify(patient()) });
    expect(other.code).to.equal(3);
    expect(JSON.parse(other.stderr).error).to.not.have.property('hint');
    // A claim overrides the default training date, so a training refusal can be tried too.
    const lapsed = fieldmesh([...args, '--claim', 'team=ward-7', '--claim', 'training=2020-01-01'], { input: JSON.stringify(patient()) });
    expect(lapsed.code).to.equal(3);
    expect(JSON.parse(lapsed.stderr).error.code).to.equal('training_expired');
  });

  it('refuses a malformed --claim, a roles claim, a hostile name, a repeated one, and --claim beside --user (exit 2)', () => {
    const args = ['redact', '--policies', VALID, ...NOW, '--purpose', 'direct-care', '--resource', 'Patient'];
    const input = JSON.stringify(patient());
    for (const [claim, says] of [
      ['team', 'write name=value'],
      ['=ward-7', 'write name=value'],
      ['roles=gp', 'the role comes from --role'],
      ['__proto__=x', 'not a claim name'],
    ] as const) {
      const r = fieldmesh([...args, '--role', 'nurse', '--claim', claim], { input });
      expect(r.code, claim).to.equal(2);
      expect(r.stderr, claim).to.include(says);
    }
    const twice = fieldmesh([...args, '--role', 'nurse', '--claim', 'team=a', '--claim', 'team=b'], { input });
    expect(twice.code).to.equal(2);
    expect(twice.stderr).to.include('given twice');
    const dir = tmp({ 'user.json': JSON.stringify({ sub: 'n1', roles: ['nurse'], team: 'ward-7', training: '2026-06-01' }) });
    const both = fieldmesh([...args, '--user', join(dir, 'user.json'), '--claim', 'team=ward-7'], { input });
    expect(both.code).to.equal(2);
    expect(both.stderr).to.include('--claim goes with --role');
  });

  it('uses the claims of --user, so row conditions see them', () => {
    const dir = tmp({
      'user.json': JSON.stringify({ sub: 'n1', roles: ['nurse'], team: 'ward-9', training: '2026-06-01' }),
      'rec.json': input,
    });
    const r = fieldmesh([
      'redact',
      '--policies',
      VALID,
      ...NOW,
      '--user',
      join(dir, 'user.json'),
      '--purpose',
      'direct-care',
      '--resource',
      'Patient',
      join(dir, 'rec.json'),
    ]);
    expect(r.code).to.equal(3);
    expect(JSON.parse(r.stderr)).to.deep.equal({
      error: {
        code: 'record_withheld',
        message: 'No Patient record you may see for purpose "direct-care"',
        cause: 'grant nurse#0 did not match: condition false on careTeam',
      },
    });
    expect(r.stdout).to.equal('');
  });

  it('prints only the permitted rows of a list, and never refuses a list', () => {
    const rows = JSON.stringify([patient({ id: 'a' }), patient({ id: 'b', careTeam: 'x' })]);
    const dir = tmp({ 'user.json': JSON.stringify({ sub: 'n1', roles: ['nurse'], team: 'ward-7', training: '2026-06-01' }) });
    const r = fieldmesh(
      ['redact', '--policies', VALID, ...NOW, '--user', join(dir, 'user.json'), '--purpose', 'direct-care', '--resource', 'Patient'],
      { input: rows },
    );
    expect(r.code).to.equal(0);
    expect(JSON.parse(r.stdout).map((x: { id: string }) => x.id)).to.deep.equal(['a']);
  });

  it('exits 3 with the JSON error for a refused purpose or break-glass', () => {
    const r = fieldmesh(
      [
        'redact',
        '--policies',
        VALID,
        ...NOW,
        '--role',
        'nurse',
        '--purpose',
        'emergency',
        '--resource',
        'Patient',
        '--break-glass',
        'short',
      ],
      { input },
    );
    expect(r.code).to.equal(3);
    expect(JSON.parse(r.stderr).error.code).to.equal('break_glass_refused');
  });

  it('pseudonymises with FIELDMESH_PSEUDONYM_KEY and, without it, exits 2 naming the missing configuration', () => {
    const args = ['redact', '--policies', VALID, ...NOW, '--role', 'analyst', '--purpose', 'service-planning', '--resource', 'Patient'];
    const withKey = fieldmesh(args, { input, env: { FIELDMESH_PSEUDONYM_KEY: 'cli-test-pseudonym-key' } });
    expect(withKey.code).to.equal(0);
    expect(JSON.parse(withKey.stdout).id).to.match(/^[0-9a-f]{32}$/);
    const without = fieldmesh(args, { input, env: { FIELDMESH_PSEUDONYM_KEY: '' } });
    expect(without.code).to.equal(2);
    expect(without.stderr).to.match(/^FIELDMESH_PSEUDONYM_KEY: required, since purpose "service-planning" pseudonymises fields/);
    expect(without.stdout).to.equal('');
  });

  it('exits 2 on bad usage or input that is not JSON, without echoing the input', () => {
    const bad = fieldmesh(['redact', '--policies', VALID, '--role', 'gp', '--purpose', 'direct-care', '--resource', 'Patient'], {
      input: '{"nhsNumber": "9990000018", oops',
    });
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.include('not valid JSON').and.not.include('9990000018');
    expect(fieldmesh(['redact', '--policies', VALID, '--purpose', 'direct-care', '--resource', 'Patient'], { input }).code).to.equal(2);
    expect(fieldmesh(['redact', '--policies', VALID, '--role', 'gp', '--resource', 'Patient'], { input }).code).to.equal(2);
  });

  describe('--trace', () => {
    const args = ['redact', '--policies', VALID, ...NOW, '--purpose', 'direct-care', '--resource', 'Patient'];

    it('prints how a disclosure was decided instead of the data, and exits 0 as redact does', () => {
      const r = fieldmesh([...args, '--role', 'nurse', '--claim', 'team=ward-7', '--trace'], {
        input: JSON.stringify(patient({ flags: ['dv-risk'] })),
      });
      expect(r.code).to.equal(0, r.stderr);
      const lines = r.stdout.split('\n');
      expect(lines[0]).to.match(/^read Patient for purpose "direct-care" as nurse \(policy version [0-9a-f]{16}\)$/);
      expect(r.stdout).to.match(/passed +training +claim user\.training is a date within 365 days/);
      expect(r.stdout).to.match(/matched +nurse#0/);
      expect(r.stdout).to.match(/fired +dv-address +condition true on flags \(withholds address, telecom\.value\)/);
      expect(r.stdout).to.match(/out +address +restriction dv-address/);
      expect(r.stdout).to.match(/in +name +grant nurse#0/);
      expect(r.stdout.trimEnd().split('\n').at(-1)).to.equal('disclosed');
      // Names only: no value of the record, nor of the claims.
      for (const value of ['Doe', '1 High St', '9990000018', 'ward-7', 'W7']) expect(r.stdout).to.not.include(value);
      expect(r.stderr).to.equal('');
    });

    it('prints the trace of a refusal with its cause, exits 3, and keeps the JSON error on stderr', () => {
      const r = fieldmesh([...args, '--role', 'nurse', '--trace'], { input: JSON.stringify(patient()) });
      expect(r.code).to.equal(3);
      expect(r.stdout).to.match(/no match +nurse#0 +missing claim user\.team/);
      expect(r.stdout).to.include('cause: grant nurse#0 did not match: missing claim user.team');
      expect(JSON.parse(r.stderr).error).to.include({
        code: 'record_withheld',
        cause: 'grant nurse#0 did not match: missing claim user.team',
      });
    });

    it('prints the trace as JSON with --json, one trace per row of a list', () => {
      const rows = [patient({ id: 'a' }), patient({ id: 'b', careTeam: 'x' })];
      const r = fieldmesh([...args, '--role', 'nurse', '--claim', 'team=ward-7', '--trace', '--json'], { input: JSON.stringify(rows) });
      expect(r.code).to.equal(0, r.stderr);
      const trace = JSON.parse(r.stdout);
      expect(trace).to.include({ input: 'list', outcome: 'disclosed', resource: 'Patient', purpose: 'direct-care' });
      expect(trace.rows.map((row: { index: number; outcome: string }) => [row.index, row.outcome])).to.deep.equal([
        [0, 'disclosed'],
        [1, 'withheld'],
      ]);
      expect(trace.rows[1].grants[0]).to.deep.equal({
        grant: 'nurse#0',
        role: 'nurse',
        matched: false,
        why: 'condition false on careTeam',
      });
      expect(r.stdout).to.not.include('"a"').and.not.include('Doe');
    });

    it('names only the roles the policy set defines, counting the others a claims file holds, in text and JSON', () => {
      const name = 'Amelia Testwood 9990000018';
      const dir = tmp({
        'user.json': JSON.stringify({ sub: 'n1', roles: ['nurse', name, '\u001b[2J'], team: 'ward-7', training: '2026-06-01' }),
        'none.json': JSON.stringify({ sub: 'n1', roles: [name], training: '2026-06-01' }),
      });
      const input = JSON.stringify(patient());
      const text = fieldmesh([...args, '--user', join(dir, 'user.json'), '--trace'], { input });
      expect(text.code).to.equal(0, text.stderr);
      expect(text.stdout.split('\n')[0]).to.match(
        /^read Patient for purpose "direct-care" as nurse and 2 roles not in the policy set \(policy version [0-9a-f]{16}\)$/,
      );
      expect(text.stdout).to.match(/passed +roles-claim +roles nurse and 2 roles not in the policy set\n/);
      const json = fieldmesh([...args, '--user', join(dir, 'user.json'), '--trace', '--json'], { input });
      expect(JSON.parse(json.stdout)).to.include({ rolesNotInPolicySet: 2 }).and.have.deep.property('roles', ['nurse']);
      // Refused (no role of the set grants anything): the header, the gate, the cause and the error on stderr alike.
      const refused = fieldmesh([...args, '--user', join(dir, 'none.json'), '--trace'], { input });
      expect(refused.code).to.equal(3);
      expect(refused.stdout).to.include('as 1 role not in the policy set (').and.include('cause: gate role-granted refused');
      for (const r of [text, json, refused]) {
        expect(r.stdout + r.stderr)
          .to.not.include('Amelia')
          .and.not.include('9990000018');
        expect(r.stdout + r.stderr).to.not.include('[2J');
      }
    });

    it('refuses --json without --trace, and keeps the usage errors of redact (exit 2)', () => {
      const input = JSON.stringify(patient());
      const json = fieldmesh([...args, '--role', 'gp', '--json'], { input });
      expect(json.code).to.equal(2);
      expect(json.stderr).to.include('--json goes with --trace');
      const notRecord = fieldmesh([...args, '--role', 'gp', '--trace'], { input: '42' });
      expect(notRecord.code).to.equal(2);
      expect(notRecord.stderr).to.include('cannot be redacted');
      expect(notRecord.stdout).to.equal('');
    });
  });

  it('has --help', () => {
    const r = fieldmesh(['redact', '--help']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.include('--break-glass').and.include('Exit codes');
  });
});

describe('fieldmesh explain', () => {
  it('prints every field with its outcome and the rule that decided', () => {
    const r = fieldmesh(['explain', '--policies', VALID, '--role', 'analyst', '--purpose', 'service-planning', '--resource', 'Patient']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/^dateOfBirth\s+quasi\s+transformed \(year\)\s+grant analyst#0, view transform year$/m);
    expect(r.stdout).to.match(/^name\s+direct\s+withheld\s+not in the view of purpose service-planning$/m);
  });

  it('prints JSON with --json, including conditional restrictions', () => {
    const out = JSON.parse(
      fieldmesh(['explain', '--policies', VALID, '--role', 'nurse', '--purpose', 'direct-care', '--resource', 'Patient', '--json']).stdout,
    );
    const address = out.fields.find((f: { field: string }) => f.field === 'address');
    expect(address.status).to.equal('disclosed');
    expect(address.conditions.join('\n')).to.include('restriction dv-address');
  });

  it('says where an inherited grant came from, in text and JSON', () => {
    const args = [
      'explain',
      '--policies',
      'test/fixtures/policies/inherits',
      '--role',
      'senior-nurse',
      '--purpose',
      'direct-care',
      '--resource',
      'Patient',
    ];
    const r = fieldmesh(args);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/^diagnoses\s+special\s+disclosed\s+grant ward-nurse#0 \(inherited: senior-nurse → ward-nurse\)$/m);
    expect(r.stdout).to.match(/^address\s+direct\s+disclosed\s+grant senior-nurse#0$/m);
    const name = JSON.parse(fieldmesh([...args, '--json']).stdout).fields.find((f: { field: string }) => f.field === 'name');
    expect(name.inherited).to.deep.equal([{ grant: 'hca#0', via: ['senior-nurse', 'ward-nurse', 'hca'] }]);
  });

  it('refuses to load a policy whose roles inherit in a cycle, naming it', () => {
    const dir = tmp({
      'p.yaml': 'resources:\n  R:\n    fields: { id: identifier }\nroles:\n  a:\n    inherits: [b]\n  b:\n    inherits: [a]\n',
    });
    const r = fieldmesh(['check', '--policies', dir]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.include('p.yaml:8:16 › roles.b.inherits[0]: inheritance cycle: a → b → a');
  });

  it('exits 2 naming an unknown role', () => {
    const r = fieldmesh(['explain', '--policies', VALID, '--role', 'nurce', '--purpose', 'direct-care', '--resource', 'Patient']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('did you mean "nurse"');
  });
});

describe('fieldmesh test', () => {
  const caseFile = (expectName: unknown) =>
    stringify({
      now: '2026-11-24T12:00:00Z',
      user: { training: '2026-06-01' },
      cases: [
        {
          name: 'gp sees the name',
          resource: 'Patient',
          purpose: 'direct-care',
          user: { sub: 'g', roles: ['gp'] },
          record: { id: 'p', name: 'Ann', internal: 'x' },
          expect: { id: 'p', name: expectName },
        },
        {
          name: 'nurse outside the team is refused',
          resource: 'Patient',
          purpose: 'direct-care',
          user: { sub: 'n', roles: ['nurse'], team: 'w1' },
          record: { id: 'p', careTeam: 'w2' },
          expectRefusal: 'record_withheld',
        },
      ],
    });

  it('runs passing cases and ends with the summary line', () => {
    const dir = tmp({ 'cases/a.yaml': caseFile('Ann') });
    const r = fieldmesh(['test', '--policies', VALID, join(dir, 'cases')]);
    expect(r.code).to.equal(0, r.stdout);
    expect(r.stdout.trim().split('\n').pop()).to.equal('2 passed, 0 failed');
  });

  it('shows a readable diff for a failing case and exits 1', () => {
    const dir = tmp({ 'a.yaml': caseFile('Bob') });
    const r = fieldmesh(['test', '--policies', VALID, join(dir, 'a.yaml')]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.include('✗').and.include('-   "name": "Bob"').and.include('+   "name": "Ann"');
    expect(r.stdout.trim().split('\n').pop()).to.equal('1 passed, 1 failed');
  });

  it('reports a malformed case file as a failure with its path', () => {
    const dir = tmp({ 'a.yaml': 'cases:\n  - name: x\n    resource: Patient\n    purpose: direct-care\n    record: {}\n' });
    const r = fieldmesh(['test', '--policies', VALID, join(dir, 'a.yaml')]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.include('cases[0]').and.include('expect');
  });
});
