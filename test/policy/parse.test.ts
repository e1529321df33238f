import { expect } from 'chai';
import { formatPath, mergePolicyFiles, parsePolicyText } from '../../src/policy/parse.js';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { writePolicySet } from '../../bench/lib/generate.js';
import { policyFileSchema, type PolicyFile } from '../../src/policy/schema.js';
import { fastYaml } from '../../src/policy/yaml.js';

const PURPOSE = 'lawfulBasis: { article6: "6(1)(e)" }\n    reviewBy: 2099-01-01\n    views: {}';

describe('policy/parse', () => {
  describe('parsePolicyText', () => {
    it('parses a valid file with the schema defaults filled in', () => {
      const { policy, issues } = parsePolicyText(`purposes:\n  direct-care:\n    ${PURPOSE}\nroles:\n  gp: {}\n`, 'p.yaml');
      expect(issues).to.deep.equal([]);
      expect(policy?.purposes?.['direct-care']).to.include({
        identifiable: true,
        consent: 'implied',
        optOut: 'ignore',
        breakGlass: false,
        reviewBy: '2099-01-01',
      });
      expect(policy?.roles?.['gp']?.grants).to.deep.equal([]);
    });

    it('reports a YAML syntax error with its line', () => {
      const { policy, issues } = parsePolicyText('roles:\n  gp: {}\n  nurse: [\n', 'roles.yaml');
      expect(policy).to.equal(undefined);
      expect(issues[0]).to.include({ file: 'roles.yaml', severity: 'error' });
      expect(issues[0]!.path).to.match(/^line \d+$/);
      expect(issues[0]!.message).to.match(/^YAML syntax error: /);
    });

    it('refuses a duplicate key rather than keeping the last one', () => {
      const { issues } = parsePolicyText('roles:\n  gp: {}\n  gp: {}\n', 'roles.yaml');
      expect(issues).to.have.length(1);
      expect(issues[0]!.message).to.match(/^YAML syntax error: /);
    });

    it('refuses two keys that name the same thing in two forms (1 and "1"), rather than keeping the last', () => {
      const { policy, issues } = parsePolicyText('roles:\n  1: { description: a }\n  "1": { description: b }\n', 'roles.yaml');
      expect(policy).to.equal(undefined);
      expect(issues).to.deep.equal([
        {
          file: 'roles.yaml',
          path: 'roles.1',
          message: '"1" is written twice as a key (in two forms): keep one',
          severity: 'error',
          line: 3,
          col: 3,
        },
      ]);
    });

    it('reads a generated policy set to the same policy as the schema does from the reference reader', () => {
      const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-parse-'));
      try {
        writePolicySet(dir, { resources: 3, purposes: 2, roles: 5 });
        for (const name of readdirSync(dir)) {
          const text = readFileSync(join(dir, name), 'utf8');
          expect(fastYaml(text), name).to.not.equal(undefined);
          const { policy, issues } = parsePolicyText(text, name);
          expect(issues).to.deep.equal([]);
          expect(policy).to.deep.equal(policyFileSchema.parse(parse(text)));
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('refuses an empty file, or one holding only a comment: a half-written deploy must not drop rules', () => {
      for (const text of ['', '# nothing yet\n', '~\n']) {
        const { policy, issues } = parsePolicyText(text, 'restrictions.yaml');
        expect(policy, JSON.stringify(text)).to.equal(undefined);
        expect(issues).to.have.length(1);
        expect(issues[0]).to.include({ path: '(file)', severity: 'error' });
      }
    });

    it('refuses a hostile key at any depth, naming its path', () => {
      const { policy, issues } = parsePolicyText('roles:\n  gp:\n    grants:\n      - __proto__: { admin: true }\n', 'roles.yaml');
      expect(policy).to.equal(undefined);
      expect(issues).to.deep.equal([
        {
          file: 'roles.yaml',
          path: 'roles.gp.grants[0].__proto__',
          message: '"__proto__" can never be a field or key: it would pollute objects',
          severity: 'error',
          line: 4,
          col: 9,
        },
      ]);
    });

    it('names an unknown key with the nearest known one', () => {
      const { issues } = parsePolicyText(
        'roles:\n  gp:\n    grants:\n      - { purpose: a, resource: B, read: view, wher: {} }\n',
        'roles.yaml',
      );
      expect(issues).to.deep.equal([
        {
          file: 'roles.yaml',
          path: 'roles.gp.grants[0].wher',
          message: 'unknown key "wher" (did you mean "where"?)',
          severity: 'error',
          line: 4,
          col: 48,
        },
      ]);
    });

    it('reports a schema problem at its path, or at the top level', () => {
      expect(parsePolicyText('roles:\n  gp: { grants: 3 }\n', 'r.yaml').issues[0]?.path).to.equal('roles.gp.grants');
      expect(parsePolicyText('- a\n', 'r.yaml').issues[0]?.path).to.equal('(top level)');
    });
  });

  describe('formatPath', () => {
    it('writes keys dotted and list positions in brackets', () => {
      expect(formatPath(['roles', 'nurse', 'grants', 0, 'purpose'])).to.equal('roles.nurse.grants[0].purpose');
      expect(formatPath([0, 'a'])).to.equal('[0].a');
      expect(formatPath([])).to.equal('');
    });
  });

  describe('mergePolicyFiles', () => {
    const file = (yaml: string) => parsePolicyText(yaml, 'x.yaml').policy as PolicyFile;

    it('merges the sections of several files and remembers where each definition came from', () => {
      const { document, issues } = mergePolicyFiles([
        { file: 'purposes.yaml', policy: file(`purposes:\n  care:\n    ${PURPOSE}\n`) },
        {
          file: 'roles.yaml',
          policy: file('roles:\n  gp: {}\nrestrictions:\n  - { name: dv, resource: Patient, withhold: record, because: danger }\n'),
        },
      ]);
      expect(issues).to.deep.equal([]);
      expect(Object.keys(document.purposes)).to.deep.equal(['care']);
      expect(Object.keys(document.roles)).to.deep.equal(['gp']);
      expect(document.sources.get('purposes.care')).to.equal('purposes.yaml');
      expect(document.sources.get('roles.gp')).to.equal('roles.yaml');
      expect(document.restrictionOrigins).to.deep.equal([{ file: 'roles.yaml', index: 0 }]);
    });

    it('refuses a name defined in two files, naming both, and keeps the first definition', () => {
      const { document, issues } = mergePolicyFiles([
        { file: 'a.yaml', policy: file('roles:\n  gp: { description: first }\n') },
        { file: 'b.yaml', policy: file('roles:\n  gp: { description: second }\n') },
      ]);
      expect(issues).to.deep.equal([
        { file: 'b.yaml', path: 'roles.gp', message: '"gp" is already defined in a.yaml: rename one or merge them', severity: 'error' },
      ]);
      expect(document.roles['gp']?.description).to.equal('first');
    });

    it('refuses a restriction name used twice, at the later one', () => {
      const r = 'restrictions:\n  - { name: dv, resource: Patient, withhold: record, because: danger }\n';
      const { document, issues } = mergePolicyFiles([
        { file: 'a.yaml', policy: file(r) },
        { file: 'b.yaml', policy: file(r) },
      ]);
      expect(issues).to.deep.equal([
        {
          file: 'b.yaml',
          path: 'restrictions[0].name',
          message: 'restriction "dv" is already defined in a.yaml: rename one',
          severity: 'error',
        },
      ]);
      expect(document.restrictions).to.have.length(1);
    });

    it('keeps names such as toString or constructor as ordinary entries', () => {
      const { document } = mergePolicyFiles([{ file: 'a.yaml', policy: file('roles:\n  toString: {}\n') }]);
      expect(Object.keys(document.roles)).to.deep.equal(['toString']);
      expect(Object.keys(document.purposes)).to.deep.equal([]);
    });
  });
});
