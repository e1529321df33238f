import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { fieldmesh, ROOT, type Run } from './run.js';

const NOW = ['--now', '2026-11-24'];

/** Edit one policy file's text; fails the test when the text to replace is not there, so an edit never silently does nothing. */
function edit(dir: string, file: string, from: string, to: string): void {
  const path = join(dir, file);
  const text = readFileSync(path, 'utf8');
  expect(text, `${file} holds the text to edit`).to.include(from);
  writeFileSync(path, text.replace(from, to));
}

/** The example policies copied twice, OLD and NEW, for NEW to be edited as a person would edit the YAML. */
function setup() {
  const root = mkdtempSync(join(tmpdir(), 'fieldmesh-diff-'));
  const old = join(root, 'old');
  const now = join(root, 'new');
  cpSync(join(ROOT, 'policies'), old, { recursive: true });
  cpSync(join(ROOT, 'policies'), now, { recursive: true });
  const diff = (...args: string[]) => fieldmesh(['diff', old, now, ...NOW, ...args]);
  return { root, old, now, diff };
}

const NURSE_WHERE = '        # Principle 4: only patients of the nurse\'s own care team.\n        where: { careTeam: "${user.team}" }\n';
const GP_NOTES = 'where: { kind: { $in: [clinical, referral] } }';

/** A git repository holding the example policies in ./policies, committed once. */
function repository() {
  const repo = mkdtempSync(join(tmpdir(), 'fieldmesh-diff-git-'));
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=Policy Admin', '-c', 'user.email=admin@example.org', '-c', 'commit.gpgsign=false', ...args], {
      cwd: repo,
      encoding: 'utf8',
    });
  git('init', '-q');
  cpSync(join(ROOT, 'policies'), join(repo, 'policies'), { recursive: true });
  git('add', '.');
  git('commit', '-q', '-m', 'policies');
  return { repo, git, policies: join(repo, 'policies') };
}

describe('fieldmesh diff', () => {
  it('finds no change between two copies of a set and exits 0', () => {
    const r = setup().diff();
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include('No change in what the policies disclose.');
  });

  it('reports a change that widens access only through a condition (a row condition removed) and exits 1', () => {
    const { now, diff } = setup();
    edit(now, 'roles.yaml', NURSE_WHERE, '');
    const r = diff();
    expect(r.code).to.equal(1);
    expect(r.stdout).to.include('Access widens: 2 widening, 0 narrowing, 0 to note.');
    expect(r.stdout).to.include('Patient × direct-care');
    expect(r.stdout).to.match(/widens {2}ward-nurse read: .*: now on every row \(was only where \{"careTeam":"\$\{user\.team\}"\}\)/);
    expect(r.stdout).to.match(/widens {2}ward-nurse update: allergies, ward: now on every row/);
  });

  it('reports a condition whose $in gains a value as widening that needs review', () => {
    const { now, diff } = setup();
    edit(now, 'roles.yaml', GP_NOTES, 'where: { kind: { $in: [clinical, referral, safeguarding] } }');
    const r = diff();
    expect(r.code).to.equal(1);
    expect(r.stdout).to.include('CaseNote × direct-care');
    expect(r.stdout).to.include('not provably narrower: review needed');
  });

  it('exits 0 when access only narrows, and says so', () => {
    const { now, diff } = setup();
    edit(now, 'roles.yaml', GP_NOTES, 'where: { kind: { $in: [clinical] } }');
    const r = diff();
    expect(r.code, r.stdout).to.equal(0);
    expect(r.stdout).to.include('Access does not widen: 0 widening, 2 narrowing, 0 to note.');
    expect(r.stdout).to.match(/narrows gp read: .*rows narrowed to where \{"kind":\{"\$in":\["clinical"\]\}\}/);
  });

  it('--allow-widening exits 0 and still reports the widening', () => {
    const { now, diff } = setup();
    edit(now, 'restrictions.yaml', 'unless: { roles: [safeguarding-lead] }', 'unless: { roles: [safeguarding-lead, gp] }');
    const r = diff('--allow-widening');
    expect(r.code).to.equal(0);
    expect(r.stdout).to.include('Access widens');
    expect(r.stdout).to.include('widens  gp: now exempt from restriction dv-address through grant gp#0 where {"gp":"${user.practice}"}');
  });

  it('--format markdown prints a heading, a summary and a table per resource × purpose, escaping policy text', () => {
    const { now, diff } = setup();
    edit(now, 'roles.yaml', NURSE_WHERE, '        where: { careTeam: "a|b" }\n');
    const r = diff('--format', 'markdown');
    expect(r.code).to.equal(1);
    const lines = r.stdout.split('\n');
    expect(lines[0]).to.equal('## fieldmesh policy diff');
    expect(r.stdout).to.include('**Access widens**: 2 widening, 0 narrowing, 0 to note.');
    expect(r.stdout).to.include('### Patient × direct-care');
    expect(r.stdout).to.include('| Effect | Who | Change |');
    const row = lines.find((l) => l.startsWith('| ⚠️ widens | ward-nurse read'))!;
    expect(row, r.stdout).to.not.equal(undefined);
    // The `|` in the condition is escaped: the row still has exactly four cell borders.
    expect(row).to.include('a\\|b');
    expect(row.split(/(?<!\\)\|/)).to.have.length(5);
    expect(row).to.include('review needed');
  });

  it('--format markdown defuses @ mentions and shows bidirectional controls from policy text as \\uXXXX', () => {
    const { now, diff } = setup();
    // YAML's escapes: U+202E (right-to-left override) and U+2066 (left-to-right isolate) inside the condition.
    edit(now, 'roles.yaml', NURSE_WHERE, '        where: { careTeam: "@everyone \\u202Eteam\\u2066" }\n');
    const r = diff('--format', 'markdown');
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stdout).to.include('@\u200beveryone');
    expect(r.stdout).to.not.match(/@everyone/);
    expect(r.stdout).to.not.match(/[\u202a-\u202e\u2066-\u2069]/);
    expect(r.stdout).to.include('\\\\u202e').and.include('\\\\u2066');
    // The other formats carry no raw control either; JSON's `\u202e` parses back to the same condition.
    expect(diff().stdout).to.not.match(/[\u202a-\u202e\u2066-\u2069]/);
    const json = diff('--format', 'json').stdout;
    expect(json).to.not.match(/[\u202a-\u202e\u2066-\u2069]/);
    expect(JSON.parse(json).changes[0].after).to.deep.equal([{ careTeam: '@everyone \u202eteam\u2066' }]);
  });

  it('--format json prints { from, to, widened, summary, changes } with each change scoped', () => {
    const { old, now, diff } = setup();
    edit(now, 'roles.yaml', NURSE_WHERE, '');
    const r = diff('--format', 'json');
    expect(r.code).to.equal(1);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out)).to.deep.equal(['from', 'to', 'widened', 'summary', 'changes']);
    expect(out).to.deep.include({ from: old, to: now, widened: true, summary: { widening: 2, narrowing: 0, neutral: 0 } });
    expect(out.changes[0]).to.deep.include({
      kind: 'condition-removed',
      effect: 'widening',
      resource: 'Patient',
      purpose: 'direct-care',
      role: 'ward-nurse',
      action: 'read',
      before: [{ careTeam: '${user.team}' }],
      after: [{}],
    });
  });

  it('lists purposes that expire by --now, and warnings only the new set has', () => {
    const { now, diff } = setup();
    edit(now, 'purposes.yaml', 'reviewBy: 2027-09-30', 'reviewBy: 2026-10-01');
    const r = diff();
    expect(r.code, r.stdout).to.equal(0);
    expect(r.stdout).to.include('purpose service-planning');
    expect(r.stdout).to.include('narrows expired: review date 2026-10-01 has passed');
    expect(r.stdout).to.include('checks');
    expect(r.stdout).to.match(/note {4}new warning: purposes\.service-planning\.reviewBy: review date 2026-10-01 has passed/);
  });

  describe("a restriction's `when` changed", () => {
    /** `redact` of one record as a receptionist for administration (no row condition), under a policy directory. */
    function redact(dir: string, root: string, record: object): Run {
      const file = join(root, 'record.json');
      writeFileSync(file, JSON.stringify(record));
      const r = fieldmesh([
        'redact',
        file,
        '--policies',
        dir,
        '--role',
        'receptionist',
        '--purpose',
        'administration',
        '--resource',
        'Patient',
      ]);
      expect(r.code, r.stderr).to.equal(0);
      return r;
    }

    it('a conjunct dropped from `when` widens, review needed (exit 1): a marker of an odd shape no longer fires it', () => {
      const { root, old, now, diff } = setup();
      edit(old, 'restrictions.yaml', 'when: { flags: dv-risk }', 'when: { flags: dv-risk, marker: true }');
      const record = { id: 'p1', name: 'Ann', address: [{ city: 'Leeds' }], marker: 'true' };
      // The widening is real: OLD withholds the address (the text "true" fires it, fail closed), NEW discloses it.
      expect(JSON.parse(redact(old, root, record).stdout)).to.not.have.property('address');
      expect(JSON.parse(redact(now, root, record).stdout)).to.have.property('address');
      const r = diff();
      expect(r.code, r.stdout).to.equal(1);
      expect(r.stdout).to.include('Access widens: 1 widening, 0 narrowing, 0 to note.');
      expect(r.stdout).to.match(/widens {2}restriction dv-address: now fires where \{"flags":"dv-risk"\} .*review needed/);
    });

    it('a conjunct reading a claim dropped from `when` widens, review needed (exit 1): a user without the claim was always withheld from', () => {
      const { root, old, now, diff } = setup();
      edit(old, 'restrictions.yaml', 'when: { flags: dv-risk }', 'when: { flags: dv-risk, ward: { $ne: "${user.ward}" } }');
      const record = { id: 'p1', name: 'Ann', address: [{ city: 'Leeds' }] };
      expect(JSON.parse(redact(old, root, record).stdout)).to.not.have.property('address');
      expect(JSON.parse(redact(now, root, record).stdout)).to.have.property('address');
      const r = diff('--format', 'json');
      expect(r.code, r.stdout).to.equal(1);
      expect(JSON.parse(r.stdout).changes).to.deep.equal([
        {
          kind: 'restriction-when-changed',
          effect: 'widening',
          reviewNeeded: true,
          resource: 'Patient',
          restriction: 'dv-address',
          before: { flags: 'dv-risk', ward: { $ne: '${user.ward}' } },
          after: { flags: 'dv-risk' },
          message:
            'now fires where {"flags":"dv-risk"} (was where {"flags":"dv-risk","ward":{"$ne":"${user.ward}"}}): may no longer fire on some records or for some users: review needed',
        },
      ]);
    });

    it('a `when` removed fires on every record: narrowing (exit 0)', () => {
      const { now, diff } = setup();
      edit(now, 'restrictions.yaml', '    when: { sealed: true }\n', '');
      const r = diff();
      expect(r.code, r.stdout).to.equal(0);
      expect(r.stdout).to.match(/narrows restriction sealed-record: now fires on every record \(was where \{"sealed":true\}\)/);
    });
  });

  it('a role gaining `inherits:` of an exempt role widens (exit 1): the inherited grants keep the exemption, though it reads the same', () => {
    const { root, old, now, diff } = setup();
    const deputy = (body: string) => `\n  deputy-lead:\n    description: Deputy safeguarding lead\n${body}`;
    const copies = [
      '    grants:',
      '      - { purpose: safeguarding, resource: SafeguardingConcern, read: view, update: [riskLevel, status, agenciesInformed, caseworker] }',
      '      - { purpose: safeguarding, resource: Patient, read: view }',
      '      - { purpose: safeguarding, resource: CaseNote, read: view }\n',
    ].join('\n');
    writeFileSync(join(old, 'roles.yaml'), readFileSync(join(old, 'roles.yaml'), 'utf8') + deputy(copies));
    writeFileSync(join(now, 'roles.yaml'), readFileSync(join(now, 'roles.yaml'), 'utf8') + deputy('    inherits: [safeguarding-lead]\n'));
    // The widening is real: the deputy now sees the address of a person flagged dv-risk.
    const file = join(root, 'record.json');
    writeFileSync(file, JSON.stringify({ id: 'p1', name: 'Ann', address: [{ city: 'Leeds' }], flags: ['dv-risk'] }));
    const redact = (dir: string) =>
      JSON.parse(
        fieldmesh(['redact', file, '--policies', dir, '--role', 'deputy-lead', '--purpose', 'safeguarding', '--resource', 'Patient'])
          .stdout,
      );
    expect(redact(old)).to.not.have.property('address');
    expect(redact(now)).to.have.property('address');
    const r = diff();
    expect(r.code, r.stdout).to.equal(1);
    expect(r.stdout).to.include('Access widens: 3 widening, 0 narrowing, 0 to note.');
    expect(r.stdout).to.include(
      'widens  deputy-lead: now exempt from restriction dv-address through grant safeguarding-lead#1 (inherited via deputy-lead → safeguarding-lead) on every row: address,',
    );
    const json = JSON.parse(diff('--format', 'json').stdout);
    expect(json.changes.map((c: { restriction: string; role: string; kind: string }) => [c.kind, c.role, c.restriction])).to.deep.equal([
      ['exemption-added', 'deputy-lead', 'dv-address'],
      ['exemption-added', 'deputy-lead', 'dv-location'],
      ['exemption-added', 'deputy-lead', 'hate-crime-location'],
    ]);
  });

  describe('bad input', () => {
    it('refuses an unknown --format naming the option (exit 2)', () => {
      const r = setup().diff('--format', 'xml');
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include("option '--format <format>' argument 'xml' is invalid");
    });

    it('refuses a directory that does not exist, naming the side (exit 2)', () => {
      const { old } = setup();
      const r = fieldmesh(['diff', old, '/nonexistent/policies']);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('NEW policy set /nonexistent/policies cannot be loaded').and.include('no such policy directory');
    });

    it('refuses an invalid set on either side, printing its problems (exit 2)', () => {
      const { old, diff } = setup();
      edit(old, 'roles.yaml', 'purpose: direct-care', 'purpose: dirct-care');
      const r = diff();
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include(`OLD policy set ${old} cannot be loaded`);
      expect(r.stderr).to.include('unknown purpose "dirct-care" (did you mean "direct-care"?)');
      expect(r.stdout).to.equal('');
    });

    it('needs exactly two directories without --git (exit 2)', () => {
      const { old } = setup();
      const r = fieldmesh(['diff', old]);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('give two policy directories, OLD and NEW (or --git REV), not 1');
    });

    it('refuses a --now that is not a date (exit 2)', () => {
      const r = setup().diff('--now', 'someday');
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('--now: "someday" is not a date');
    });
  });

  describe('--git', () => {
    it('compares ./policies at a revision with the working tree', () => {
      const { repo, policies } = repository();
      edit(policies, 'roles.yaml', NURSE_WHERE, '');
      const r = fieldmesh(['diff', '--git', 'HEAD', ...NOW], { cwd: repo });
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stdout.split('\n')[0]).to.equal('HEAD:./policies → ./policies');
      expect(r.stdout).to.include('ward-nurse read');
    });

    it('compares two revisions through a committed change, and a NEW directory given beside --git', () => {
      const { repo, git, policies } = repository();
      edit(policies, 'roles.yaml', GP_NOTES, 'where: { kind: { $in: [clinical, referral, safeguarding] } }');
      git('commit', '-q', '-am', 'gp reads safeguarding notes');
      expect(fieldmesh(['diff', '--git', 'HEAD', ...NOW], { cwd: repo }).code).to.equal(0);
      const r = fieldmesh(['diff', '--git', 'HEAD~1', '--policies', policies, policies, ...NOW, '--format', 'json']);
      expect(r.code, r.stderr).to.equal(1);
      expect(JSON.parse(r.stdout).changes[0]).to.deep.include({
        kind: 'condition-changed',
        reviewNeeded: true,
        role: 'gp',
        resource: 'CaseNote',
      });
    });

    it('refuses a revision that does not exist, naming it (exit 2)', () => {
      const { repo } = repository();
      const r = fieldmesh(['diff', '--git', 'no-such-branch', ...NOW], { cwd: repo });
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('--git: no revision "no-such-branch"');
    });

    it('refuses a revision that would read as an option', () => {
      const { repo } = repository();
      const r = fieldmesh(['diff', '--git=--output=/tmp/x', ...NOW], { cwd: repo });
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('--git: "--output=/tmp/x" is not a revision');
    });

    it('refuses a directory outside any git repository (exit 2)', () => {
      const { old } = setup();
      const r = fieldmesh(['diff', '--git', 'HEAD', '--policies', old, ...NOW], {
        cwd: tmpdir(),
        env: { GIT_CEILING_DIRECTORIES: tmpdir() },
      });
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('is not inside a git repository');
    });

    it('refuses a revision at which the directory holds no policy files (exit 2)', () => {
      const { repo, git } = repository();
      git('mv', 'policies', 'rules');
      git('commit', '-q', '-m', 'moved');
      const r = fieldmesh(['diff', '--git', 'HEAD', '--policies', 'policies', 'rules', ...NOW], { cwd: repo });
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('--git: policies holds no *.yaml or *.yml policy files at HEAD');
    });

    it('refuses a policy file committed as a symbolic link, naming it (exit 2)', () => {
      const { repo, git } = repository();
      git('mv', 'policies/roles.yaml', 'roles.yaml');
      symlinkSync('../roles.yaml', join(repo, 'policies', 'roles.yaml'));
      git('add', '.');
      git('commit', '-q', '-m', 'roles kept outside, linked');
      const r = fieldmesh(['diff', '--git', 'HEAD', ...NOW], { cwd: repo });
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('--git: policies/roles.yaml is a symbolic link at HEAD: not read');
      expect(r.stderr).to.not.include('expected object');
    });

    it('refuses more than one directory beside --git (exit 2)', () => {
      const { repo } = repository();
      const r = fieldmesh(['diff', '--git', 'HEAD', 'a', 'b'], { cwd: repo });
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('with --git, give at most one directory (NEW), not 2');
    });
  });
});
