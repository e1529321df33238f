import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { envOrFile, FILE_VARIABLES } from '../../src/lib/env-file.js';

describe('lib/env-file', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function setup() {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-env-file-'));
    dirs.push(dir);
    const file = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    return { dir, file };
  }

  it('takes the variable when no _FILE form is set, and nothing when neither is', () => {
    expect(envOrFile({ FIELDMESH_PSEUDONYM_KEY: 'k' }, 'FIELDMESH_PSEUDONYM_KEY')).to.deep.equal({
      value: 'k',
      from: 'FIELDMESH_PSEUDONYM_KEY',
    });
    expect(envOrFile({}, 'FIELDMESH_PSEUDONYM_KEY')).to.deep.equal({ value: undefined, from: 'FIELDMESH_PSEUDONYM_KEY' });
    expect(envOrFile({ FIELDMESH_PSEUDONYM_KEY: '' }, 'FIELDMESH_PSEUDONYM_KEY').value).to.equal(undefined);
  });

  for (const [ending, text] of [
    ['a trailing LF', 'the-secret\n'],
    ['a trailing CRLF', 'the-secret\r\n'],
    ['no line break', 'the-secret'],
  ] as const) {
    it(`reads the file _FILE names, with ${ending} taken off`, () => {
      const { file } = setup();
      const path = file('secret', text);
      expect(envOrFile({ FIELDMESH_JWT_SECRET_FILE: path }, 'FIELDMESH_JWT_SECRET')).to.deep.equal({
        value: 'the-secret',
        from: 'FIELDMESH_JWT_SECRET_FILE',
      });
    });
  }

  for (const [what, text] of [
    ['two line breaks', `${'x'.repeat(40)}\n\n`],
    ['trailing spaces', `${'x'.repeat(40)}   `],
    ['trailing spaces before the line break', `${'x'.repeat(40)} \n`],
    ['a leading space', ` ${'x'.repeat(40)}`],
    ['a trailing tab', `${'x'.repeat(40)}\t\r\n`],
  ] as const) {
    it(`takes off one line break only and trims nothing else: a file with ${what} is refused as ambiguous`, () => {
      const { file } = setup();
      const got = envOrFile({ FIELDMESH_JWT_SECRET_FILE: file('k', text) }, 'FIELDMESH_JWT_SECRET');
      expect(got.value).to.equal(undefined);
      expect(got.problem).to.match(/^FIELDMESH_JWT_SECRET_FILE: the value begins or ends with whitespace .*only one trailing line break/);
      expect(got.problem).not.to.include('xxxx');
    });
  }

  it('refuses a variable that begins or ends with whitespace, naming it and not its value', () => {
    for (const value of [`${'x'.repeat(40)} `, `\t${'x'.repeat(40)}`, `${'x'.repeat(40)}\n`]) {
      const got = envOrFile({ FIELDMESH_JWT_SECRET: value }, 'FIELDMESH_JWT_SECRET');
      expect(got.problem).to.match(/^FIELDMESH_JWT_SECRET: the value begins or ends with whitespace/);
    }
    // Inner spaces are the value.
    expect(envOrFile({ FIELDMESH_UPSTREAM_AUTHORIZATION: 'Bearer a b' }, 'FIELDMESH_UPSTREAM_AUTHORIZATION').value).to.equal('Bearer a b');
  });

  it('refuses both the variable and its _FILE form, naming both and neither value', () => {
    const { file } = setup();
    const got = envOrFile(
      { FIELDMESH_AUDIT: 'postgres://u:pw1@db/x', FIELDMESH_AUDIT_FILE: file('a', 'postgres://u:pw2@db/x') },
      'FIELDMESH_AUDIT',
    );
    expect(got.problem).to.equal('FIELDMESH_AUDIT and FIELDMESH_AUDIT_FILE are both set: set only one');
  });

  it('refuses an empty file, a file holding one line break, a missing file and a directory, naming the variable and the path', () => {
    const { dir, file } = setup();
    mkdirSync(join(dir, 'a-dir'));
    for (const [path, why] of [
      [file('empty', ''), 'is empty'],
      [file('newline', '\n'), 'is empty'],
      [join(dir, 'missing'), 'cannot read'],
      [join(dir, 'a-dir'), 'cannot read'],
    ] as const) {
      const got = envOrFile({ FIELDMESH_AUDIT_CHAIN_KEY_FILE: path }, 'FIELDMESH_AUDIT_CHAIN_KEY');
      expect(got.problem).to.include('FIELDMESH_AUDIT_CHAIN_KEY_FILE: ').and.include(path).and.include(why);
    }
    expect(envOrFile({ FIELDMESH_AUDIT_CHAIN_KEY_FILE: join(dir, 'missing') }, 'FIELDMESH_AUDIT_CHAIN_KEY').problem).to.match(
      /\(ENOENT\)$/,
    );
  });

  it('never puts what a file holds into a problem', () => {
    const { file } = setup();
    // A file that cannot be used for another reason than its content is covered above; here the content is fine but ambiguous.
    const got = envOrFile(
      { FIELDMESH_JWT_SECRET: 'env-value-secret', FIELDMESH_JWT_SECRET_FILE: file('s', 'file-value-secret') },
      'FIELDMESH_JWT_SECRET',
    );
    expect(got.problem).not.to.include('value-secret');
  });

  it('lists every secret the gateway and the CLI read', () => {
    expect([...FILE_VARIABLES].sort()).to.deep.equal([
      'FIELDMESH_AUDIT',
      'FIELDMESH_AUDIT_CHAIN_KEY',
      'FIELDMESH_AUDIT_RECORD_KEY',
      'FIELDMESH_BREAK_GLASS_WEBHOOK',
      'FIELDMESH_JWT_SECRET',
      'FIELDMESH_PSEUDONYM_KEY',
      'FIELDMESH_UPSTREAM_AUTHORIZATION',
    ]);
  });
});
