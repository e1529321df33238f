import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { fieldmesh, ROOT } from './run.js';
import type { PolicyIssue } from '../../src/lib/errors.js';

/**
 * `fieldmesh check` as CI and editors use it: every problem at its
 * `file:line:col`, and the three formats (text, json, github).
 */
const LOCATED = 'test/fixtures/policies/located';
const VALID = 'test/fixtures/policies/valid';
const NOW = ['--now', '2026-11-24'];

/** An issue as `check --format json` prints it. */
type Reported = PolicyIssue;

function checkJson(dir: string, ...args: string[]): { code: number | null; issues: Reported[] } {
  const r = fieldmesh(['check', '--policies', dir, ...NOW, '--format', 'json', ...args]);
  return { code: r.code, issues: (JSON.parse(r.stdout) as { issues: Reported[] }).issues };
}

/** Every `# @PATH TOKEN` marker of the files of a directory, as `file:line:col path` (see located/README.md). */
function markers(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.yaml'))) {
    const file = join(dir, name);
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((text, i) => {
        const hash = text.indexOf(' # @');
        if (hash === -1) return;
        for (const m of text.slice(hash + 3).matchAll(/@(.+?) (\S+)(?= @|$)/g)) {
          const col = text.slice(0, hash).indexOf(m[2]!) + 1;
          expect(col, `${file}:${i + 1}: marker token "${m[2]}" is not on its line`).to.be.greaterThan(0);
          out.push(`${file}:${i + 1}:${col} ${m[1]}`);
        }
      });
  }
  return out.sort();
}

const placed = (issues: Reported[]) => issues.map((i) => `${i.file}:${i.line}:${i.col} ${i.path}`).sort();

/** The line and column where `token` first appears on the first line of `file` that holds `lineText`. */
function placeOf(file: string, lineText: string, token: string): string {
  const lines = readFileSync(file, 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(lineText));
  return `${file}:${i + 1}:${lines[i]!.indexOf(token) + 1}`;
}

function tmp(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-check-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

describe('fieldmesh check (file:line:col)', () => {
  for (const [dir, what] of [
    ['schema', 'what the parser refuses: bad values, unknown, missing, hostile and doubled keys, the wrong shape'],
    ['rules', 'what the validator refuses or warns about, and names defined in two files'],
    ['yaml-syntax', 'YAML that cannot be read'],
  ] as const) {
    it(`places every problem of ${what} on its line and column, and reports nothing else`, () => {
      const { code, issues } = checkJson(join(LOCATED, dir));
      expect(code).to.equal(1);
      const withPlace = issues.filter((i) => i.line !== undefined);
      expect(placed(withPlace)).to.deep.equal(markers(join(LOCATED, dir)));
      for (const i of withPlace) expect(i.col, `${i.file} › ${i.path}`).to.be.a('number').and.be.greaterThan(0);
    });
  }

  it('gives an empty file no place, rather than a made-up one', () => {
    const { issues } = checkJson(join(LOCATED, 'schema'));
    const empty = issues.filter((i) => i.line === undefined);
    expect(empty).to.have.length(1);
    expect(empty[0]).to.include({ file: join(LOCATED, 'schema', 'f.yaml'), path: '(file)' });
    expect(empty[0]).to.not.have.property('col');
  });

  it('names the place of the first definition in the message of a name defined twice', () => {
    const dir = join(LOCATED, 'rules');
    const { issues } = checkJson(dir);
    const role = issues.find((i) => i.path === 'roles.nurse')!;
    expect(role.message).to.include(`already defined in ${placeOf(join(dir, 'roles.yaml'), '  nurse:', 'nurse')}:`);
    const restriction = issues.find((i) => i.file.endsWith('z-more.yaml') && i.path === 'restrictions[0].name')!;
    expect(restriction.message).to.include(`already defined in ${placeOf(join(dir, 'restrictions.yaml'), 'name: flagged', 'flagged')}:`);
  });

  it('prints file:line:col before the path in the text format', () => {
    const r = fieldmesh(['check', '--policies', join(LOCATED, 'rules'), ...NOW]);
    expect(r.code).to.equal(1);
    const at = placeOf(join(LOCATED, 'rules', 'roles.yaml'), 'dirct-care', 'dirct-care');
    expect(r.stdout).to.include(
      `error ${at} › roles.nurse.grants[0].purpose: unknown purpose "dirct-care" (did you mean "direct-care"?)\n`,
    );
  });
});

describe('fieldmesh check --format', () => {
  it('keeps --json as the same as --format json, line and col included', () => {
    const a = fieldmesh(['check', '--policies', join(LOCATED, 'rules'), ...NOW, '--json']);
    const b = fieldmesh(['check', '--policies', join(LOCATED, 'rules'), ...NOW, '--format', 'json']);
    expect(a.code).to.equal(1);
    expect(a.stdout).to.equal(b.stdout);
    const out = JSON.parse(a.stdout) as { ok: boolean; issues: Reported[] };
    expect(out.ok).to.equal(false);
    expect(out.issues[0]).to.have.keys('file', 'path', 'message', 'severity', 'line', 'col');
  });

  it('prints GitHub Actions annotations: ::error and ::warning with file, line, col and title', () => {
    const r = fieldmesh(['check', '--policies', join(LOCATED, 'rules'), ...NOW, '--format', 'github']);
    expect(r.code).to.equal(1);
    const lines = r.stdout.trimEnd().split('\n');
    const [line, col] = placeOf(join(LOCATED, 'rules', 'roles.yaml'), 'dirct-care', 'dirct-care')
      .split(':')
      .slice(-2);
    expect(lines).to.include(
      `::error file=${LOCATED}/rules/roles.yaml,line=${line},col=${col},title=fieldmesh check::roles.nurse.grants[0].purpose: unknown purpose "dirct-care" (did you mean "direct-care"?)`,
    );
    expect(lines.filter((l) => l.startsWith('::warning file='))).to.have.length(4);
    expect(lines.filter((l) => l.startsWith('::error file='))).to.have.length(26);
    // The summary stays a plain line of the log.
    expect(lines.at(-1)).to.equal(`FAIL ${LOCATED}/rules: 26 errors`);
  });

  it('leaves out line and col of a problem that has no place', () => {
    const r = fieldmesh(['check', '--policies', join(LOCATED, 'schema'), '--format', 'github']);
    expect(r.stdout).to.include(`::error file=${LOCATED}/schema/f.yaml,title=fieldmesh check::(file): the file is empty`);
  });

  it('escapes hostile key names and file names so that no message can end a command early or forge another', () => {
    const dir = tmp({
      'odd,name:1.yaml': [
        'resources:',
        '  R: { fields: { id: identifier } }',
        'roles:',
        '  a:',
        '    grants:',
        '      - purpose: p',
        '        resource: R',
        '        "k::v,w": 1',
        '        "x\\ny": 2',
        '        "50%\\r::error file=forged.yaml::owned": 3',
        '        "esc\\e[31m": 4',
      ].join('\n'),
    });
    const r = fieldmesh(['check', '--policies', dir, '--format', 'github']);
    expect(r.code).to.equal(1);
    const lines = r.stdout.trimEnd().split('\n');
    // One line per problem and the summary: no message broke a line.
    expect(lines).to.have.length(5);
    const file = `file=${dir.replace(/:/g, '%3A').replace(/,/g, '%2C')}/odd%2Cname%3A1.yaml`;
    expect(lines[0]).to.equal(`::error ${file},line=8,col=9,title=fieldmesh check::roles.a.grants[0].k::v,w: unknown key "k::v,w"`);
    expect(lines[1]).to.equal(`::error ${file},line=9,col=9,title=fieldmesh check::roles.a.grants[0].x%0Ay: unknown key "x%0Ay"`);
    expect(lines[2]).to.equal(
      `::error ${file},line=10,col=9,title=fieldmesh check::roles.a.grants[0].50%25%0D::error file=forged.yaml::owned: unknown key "50%25%0D::error file=forged.yaml::owned"`,
    );
    expect(lines[3]).to.equal(
      `::error ${file},line=11,col=9,title=fieldmesh check::roles.a.grants[0].esc\\u001b[31m: unknown key "esc\\u001b[31m"`,
    );
    for (const l of lines.slice(0, 4)) expect(l.startsWith('::error ')).to.equal(true);
    // The text format shows the same control character escaped, never raw.
    const text = fieldmesh(['check', '--policies', dir]).stdout;
    expect(text).to.include('unknown key "esc\\u001b[31m"').and.not.include('\u001b');
  });

  it('refuses an unknown format with exit 2, naming it and the choices', () => {
    const r = fieldmesh(['check', '--policies', VALID, '--format', 'sarif']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include("'sarif' is invalid").and.include('text, json, github');
    expect(r.stdout).to.equal('');
  });

  it('refuses --json beside another format, rather than picking one', () => {
    const r = fieldmesh(['check', '--policies', VALID, '--json', '--format', 'github']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('--json and --format github');
  });

  it('keeps the exit codes in every format: 0 clean, 1 on errors, warnings only with --strict', () => {
    for (const format of ['text', 'json', 'github']) {
      expect(fieldmesh(['check', '--policies', VALID, ...NOW, '--format', format]).code, format).to.equal(0);
      expect(fieldmesh(['check', '--policies', VALID, ...NOW, '--format', format, '--strict']).code, format).to.equal(1);
      expect(fieldmesh(['check', '--policies', join(LOCATED, 'yaml-syntax'), '--format', format]).code, format).to.equal(1);
    }
  });
});

describe('fieldmesh check: characters that may hide a line', () => {
  /** The example policies with `roles.yaml` changed: the hidden `where` is what makes a GP see only their practice. */
  function withRoles(change: (text: string) => string): { dir: string; file: string } {
    const roles = readFileSync(join(ROOT, 'policies', 'roles.yaml'), 'utf8');
    const files: Record<string, string> = {};
    for (const name of readdirSync(join(ROOT, 'policies')).filter((n) => n.endsWith('.yaml')))
      files[name] = readFileSync(join(ROOT, 'policies', name), 'utf8');
    files['roles.yaml'] = change(roles);
    const dir = tmp(files);
    return { dir, file: join(dir, 'roles.yaml') };
  }
  const COMMENT = "# Principle 4: only patients registered at the GP's own practice.";
  const hide = (sep: string) => (t: string) => t.replace(`${COMMENT}\n`, `${COMMENT}${sep}`);

  it('refuses a carriage return without a line feed at its line and column, rather than dropping the line it hides', () => {
    const { dir, file } = withRoles(hide('\r'));
    const { code, issues } = checkJson(dir);
    expect(code).to.equal(1);
    const lines = readFileSync(file, 'utf8').split('\n');
    const line = lines.findIndex((l) => l.includes(COMMENT)) + 1;
    const col = lines[line - 1]!.indexOf('\r') + 1;
    expect(issues).to.deep.equal([
      {
        file,
        path: `line ${line}`,
        message: 'a carriage return without a line feed: save the file with LF or CRLF line ends',
        severity: 'error',
        line,
        col,
      },
    ]);
    const text = fieldmesh(['check', '--policies', dir, ...NOW]);
    expect(text.code).to.equal(1);
    expect(text.stdout).to.include(`error ${file}:${line}:${col} › line ${line}: a carriage return without a line feed`);
  });

  for (const [name, ch] of [
    ['a next-line character', '\u0085'],
    ['a line separator', '\u2028'],
    ['a paragraph separator', '\u2029'],
    ['a vertical tab', '\v'],
    ['a form feed', '\f'],
  ] as const) {
    it(`refuses ${name} (U+${ch.charCodeAt(0).toString(16).padStart(4, '0')}) after a comment, where an editor shows a new line`, () => {
      const { dir, file } = withRoles(hide(ch));
      const { code, issues } = checkJson(dir);
      expect(code).to.equal(1);
      expect(issues).to.have.length(1);
      expect(issues[0]).to.include({ file, severity: 'error' });
      expect(issues[0]!.message).to.match(new RegExp(`^${name} \\(U\\+`));
      const lines = readFileSync(file, 'utf8').split('\n');
      expect(lines[issues[0]!.line! - 1]![issues[0]!.col! - 1]).to.equal(ch);
    });
  }

  it('refuses a terminal escape sequence in a comment, which can redraw the line a reviewer reads over the rule that loads', () => {
    // ESC[1A ESC[2K moves up one line and clears it: `cat` shows the narrow `where` the comment repeats, not the real one.
    const { dir, file } = withRoles((t) =>
      t.replace(`${COMMENT}\n`, `${COMMENT}\n        where: { gp: { $exists: true } } # \u001b[1A\u001b[2K\u001b[1G\n`),
    );
    const { code, issues } = checkJson(dir);
    expect(code).to.equal(1);
    expect(issues).to.have.length(1);
    expect(issues[0]!.message).to.match(/^a control character \(U\+001B\)/);
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines[issues[0]!.line! - 1]![issues[0]!.col! - 1]).to.equal('\u001b');
  });

  for (const [name, ch] of [
    ['NUL', '\u0000'],
    ['DEL', '\u007f'],
    ['a C1 control', '\u009b'],
    ['a right-to-left override', '\u202e'],
    ['a left-to-right isolate', '\u2066'],
  ] as const) {
    it(`refuses ${name} in a comment, and accepts a tab`, () => {
      const { dir } = withRoles((t) => t.replace(COMMENT, `${COMMENT} ${ch}x`));
      expect(checkJson(dir).code).to.equal(1);
      expect(checkJson(dir).issues[0]!.message).to.match(/^a control character/);
      const tab = withRoles((t) => t.replace(COMMENT, `${COMMENT}\tx`));
      expect(checkJson(tab.dir).code).to.equal(0);
    });
  }

  it('refuses one inside a quoted string too, where the two readers fold it differently', () => {
    const { dir } = withRoles((t) => t.replace('General practitioner at a registered practice', 'General practitioner\u2028at a practice'));
    const { code, issues } = checkJson(dir);
    expect(code).to.equal(1);
    expect(issues[0]!.message).to.match(/^a line separator \(U\+2028\)/);
  });

  it('accepts CRLF line ends, and a set saved with them reads as the same policy version as with LF', () => {
    const lf = withRoles((t) => t);
    const crlf = withRoles((t) => t.replace(/\n/g, '\r\n'));
    const a = fieldmesh(['check', '--policies', lf.dir, ...NOW]);
    const b = fieldmesh(['check', '--policies', crlf.dir, ...NOW]);
    expect([a.code, b.code]).to.deep.equal([0, 0]);
    const version = (out: string) => /version ([0-9a-f]+)/.exec(out)?.[1];
    expect(version(b.stdout)).to.be.a('string').and.equal(version(a.stdout));
  });
});

describe('fieldmesh check: alias bombs', () => {
  it('refuses a file that expands aliases too often as a problem of that file, at its first alias, with exit 1', () => {
    const aliases = Array.from({ length: 120 }, (_, i) => `  copy${i}: *base\n`).join('');
    const dir = tmp({ 'roles.yaml': `roles:\n  base: &base\n    grants: []\n${aliases}` });
    const file = join(dir, 'roles.yaml');
    const { code, issues } = checkJson(dir);
    expect(code).to.equal(1);
    expect(issues).to.have.length(1);
    expect(issues[0]).to.include({ file, path: 'line 4', severity: 'error', line: 4, col: 10 });
    expect(issues[0]!.message).to.include('aliases').and.include('more than 100 times');
    const text = fieldmesh(['check', '--policies', dir, ...NOW]);
    expect(text.code).to.equal(1);
    expect(text.stdout).to.include(`error ${file}:4:10 › line 4: the YAML expands its aliases`);
    expect(text.stderr).to.equal('');
  });

  it('still reads a file with a few aliases', () => {
    const dir = tmp({
      'roles.yaml': 'roles:\n  a: &r\n    description: one\n  b: *r\n',
      'purposes.yaml': 'purposes: {}\n',
    });
    const { issues } = checkJson(dir);
    expect(issues.filter((i) => /alias/.test(i.message))).to.deep.equal([]);
  });
});

describe('fieldmesh check: entries named like policy files', () => {
  it('refuses a directory or a broken link named *.yaml by name, exit 1, rather than crashing on EISDIR or skipping it', () => {
    const files: Record<string, string> = {};
    for (const name of readdirSync(join(ROOT, 'policies'))) files[name] = readFileSync(join(ROOT, 'policies', name), 'utf8');
    const dir = tmp(files);
    mkdirSync(join(dir, 'zz.yaml'));
    symlinkSync(join(dir, 'nowhere.yaml'), join(dir, 'broken.yml'));
    const r = fieldmesh(['check', '--policies', dir, '--format', 'json', ...NOW]);
    expect(r.code).to.equal(1);
    const issues = (JSON.parse(r.stdout) as { issues: { file: string; message: string }[] }).issues;
    expect(issues.map((i) => i.file).sort()).to.deep.equal([join(dir, 'broken.yml'), join(dir, 'zz.yaml')]);
    expect(issues[0]!.message).to.match(/^not a policy file/);
    expect(r.stderr).to.not.include('EISDIR');
  });
});
