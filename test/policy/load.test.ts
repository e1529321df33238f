import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { stringify } from 'yaml';
import { PolicyError, type PolicyIssue } from '../../src/lib/errors.js';
import { readPolicyDirectory } from '../../src/policy/load.js';
import { loadPolicies, policiesFromSources, type PolicySet } from '../../src/engine/policy-set.js';

const INVALID = fileURLToPath(new URL('../fixtures/policies/invalid/', import.meta.url));
const VALID = fileURLToPath(new URL('../fixtures/policies/valid/', import.meta.url));
const NOW = new Date('2026-06-01T12:00:00Z');

/** Load one fixture of `invalid/` and return the PolicyError it must throw. */
function faultOf(name: string): { file: string; error: PolicyError } {
  const file = join(INVALID, name);
  return { file, error: refusal(() => policiesFromSources([{ file, text: readFileSync(file, 'utf8') }], { now: NOW })) };
}

/** The PolicyError that `load` throws; fails the test when it loads or throws anything else. */
function refusal(load: () => unknown): PolicyError {
  let thrown: unknown;
  try {
    load();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'the policy set loaded, but it should have been refused').to.be.instanceOf(PolicyError);
  const error = thrown as PolicyError;
  expect(error.code).to.equal('policy_invalid');
  return error;
}

async function refusalAsync(load: () => Promise<unknown>): Promise<PolicyError> {
  let thrown: unknown;
  try {
    await load();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'the policy set loaded, but it should have been refused').to.be.instanceOf(PolicyError);
  expect((thrown as PolicyError).code).to.equal('policy_invalid');
  return thrown as PolicyError;
}

/** The one error issue at `path`. */
function issueAt(error: PolicyError, path: string): PolicyIssue {
  const found = error.issues.filter((i) => i.path === path && i.severity === 'error');
  expect(found, `an error at ${path}; got:\n${error.format()}`).to.have.length(1);
  return found[0]!;
}

const errorsOf = (error: PolicyError) => error.issues.filter((i) => i.severity === 'error');

/** A small complete policy set as text, for the cases that need no fixture file. */
function minimal(overrides: { roles?: unknown; restrictions?: unknown; purposes?: unknown } = {}): string {
  return stringify({
    resources: { Patient: { fields: { id: 'identifier', name: 'direct', address: 'direct', ward: 'operational' } } },
    purposes: overrides.purposes ?? {
      'direct-care': {
        lawfulBasis: { article6: '6(1)(e)' },
        reviewBy: '2099-12-31',
        views: { Patient: { fields: ['id', 'name', 'address', 'ward'] } },
      },
    },
    roles: overrides.roles ?? { nurse: { grants: [{ purpose: 'direct-care', resource: 'Patient', read: 'view' }] } },
    ...(overrides.restrictions ? { restrictions: overrides.restrictions } : {}),
  });
}

describe('loading a policy set', () => {
  describe('refuses each fault with its file, path and a message that helps', () => {
    it('names an unknown key in a grant and suggests the key meant (wher → where)', () => {
      const { file, error } = faultOf('unknown-key.yaml');
      const issue = issueAt(error, 'roles.nurse.grants[0].wher');
      expect(issue.file).to.equal(file);
      expect(issue.message).to.include('unknown key "wher"').and.include('did you mean "where"?');
    });

    it('names an unknown top-level key and suggests the section meant (role → roles)', () => {
      const { file, error } = faultOf('unknown-top-level-key.yaml');
      const issue = issueAt(error, 'role');
      expect(issue.file).to.equal(file);
      expect(issue.message).to.include('unknown key "role"').and.include('did you mean "roles"?');
    });

    it('reports a YAML syntax error with its file and line', () => {
      const { file, error } = faultOf('yaml-syntax.yaml');
      expect(error.issues).to.have.length.greaterThan(0);
      for (const issue of error.issues) {
        expect(issue.file).to.equal(file);
        expect(issue.message).to.match(/^YAML syntax error: /);
        // The list opened on line 13 is never closed; the parser notices it on line 14.
        expect(issue.path).to.be.oneOf(['line 13', 'line 14']);
      }
    });

    it('names an unknown purpose in a grant and suggests the purpose meant (dirct-care → direct-care)', () => {
      const { file, error } = faultOf('unknown-purpose.yaml');
      const issue = issueAt(error, 'roles.nurse.grants[1].purpose');
      expect(issue.file).to.equal(file);
      expect(issue.message).to.equal('unknown purpose "dirct-care" (did you mean "direct-care"?)');
    });

    it('names an unknown resource in a view, a grant and a restriction, suggesting the resource meant', () => {
      const { file, error } = faultOf('unknown-resource.yaml');
      for (const path of ['purposes.direct-care.views.Patinet', 'roles.nurse.grants[0].resource', 'restrictions[0].resource']) {
        const issue = issueAt(error, path);
        expect(issue.file).to.equal(file);
        expect(issue.message).to.equal('unknown resource "Patinet" (did you mean "Patient"?)');
      }
    });

    it("names an unknown role in a restriction's unless.roles, suggesting the role meant", () => {
      const { file, error } = faultOf('unknown-role.yaml');
      const issue = issueAt(error, 'restrictions[0].unless.roles[0]');
      expect(issue.file).to.equal(file);
      expect(issue.message).to.equal('unknown role "safeguarding-led" (did you mean "safeguarding-lead"?)');
    });

    it("names an unknown field in a view, a transform, a grant's read and a restriction's withhold", () => {
      const { file, error } = faultOf('unknown-field.yaml');
      const expected: [string, string, string | undefined][] = [
        ['purposes.direct-care.views.Patient.fields[2]', 'adress', 'address'],
        ['purposes.direct-care.views.Patient.transform.dateOfBrith', 'dateOfBrith', 'dateOfBirth'],
        ['roles.nurse.grants[0].read[1]', 'nmae', 'name'],
        ['restrictions[0].withhold[1]', 'phone', undefined],
      ];
      for (const [path, field, meant] of expected) {
        const issue = issueAt(error, path);
        expect(issue.file).to.equal(file);
        expect(issue.message).to.include(`unknown field "${field}" of Patient`).and.include('declare it under resources.Patient.fields');
        if (meant) expect(issue.message).to.include(`did you mean "${meant}"?`);
      }
      expect(errorsOf(error)).to.have.length(4);
    });

    it('names an unknown transform and lists the transforms there are', () => {
      const { file, error } = faultOf('unknown-transform.yaml');
      const issue = issueAt(error, 'purposes.service-planning.views.Patient.transform.dateOfBirth');
      expect(issue.file).to.equal(file);
      for (const t of ['pseudonym', 'year', 'district', 'mask', 'age-band']) expect(issue.message).to.include(`"${t}"`);
    });

    it('names an unknown field class and lists the classes there are', () => {
      const { file, error } = faultOf('unknown-field-class.yaml');
      const issue = issueAt(error, 'resources.Patient.fields.name');
      expect(issue.file).to.equal(file);
      for (const c of ['identifier', 'direct', 'quasi', 'special', 'operational']) expect(issue.message).to.include(`"${c}"`);
    });

    it("refuses a grant that reads a field its purpose's view does not carry", () => {
      const { file, error } = faultOf('grant-exceeds-view.yaml');
      const issue = issueAt(error, 'roles.receptionist.grants[0].read[2]');
      expect(issue.file).to.equal(file);
      expect(issue.message).to.include('"diagnoses" is not in the view of Patient for purpose "administration"');
    });

    it('refuses a direct identifier in the view of a non-identifiable purpose', () => {
      const { file, error } = faultOf('non-identifiable-direct-field.yaml');
      const issue = issueAt(error, 'purposes.service-planning.views.Patient.fields');
      expect(issue.file).to.equal(file);
      expect(issue.message).to.include('"name" is a direct identifier').and.include('identifiable: false');
    });

    it('refuses an identifier without pseudonym in the view of a non-identifiable purpose, saying how to fix it', () => {
      const { file, error } = faultOf('non-identifiable-identifier-without-pseudonym.yaml');
      const issue = issueAt(error, 'purposes.service-planning.views.Patient.transform');
      expect(issue.file).to.equal(file);
      expect(issue.message).to.include('"nhsNumber" is an identifier').and.include('nhsNumber: pseudonym');
      expect(errorsOf(error)).to.have.length(1); // id is pseudonymised: only nhsNumber is at fault
    });

    it('refuses special category data in the view of a purpose without an Article 9 condition', () => {
      const { file, error } = faultOf('special-without-article9.yaml');
      const issue = issueAt(error, 'purposes.administration.lawfulBasis');
      expect(issue.file).to.equal(file);
      expect(issue.message).to.include('special category').and.include('lawfulBasis.article9');
    });

    it('refuses a consent-based purpose over a resource that declares no consent path', () => {
      const { file, error } = faultOf('consent-required-without-consent-path.yaml');
      const issue = issueAt(error, 'purposes.research.consent');
      expect(issue.file).to.equal(file);
      expect(issue.message).to.include('resources.Patient.consent');
    });

    it('refuses a purpose that respects the opt-out over a resource that declares no optOut path', () => {
      const { file, error } = faultOf('opt-out-without-optout-path.yaml');
      const issue = issueAt(error, 'purposes.service-planning.optOut');
      expect(issue.file).to.equal(file);
      expect(issue.message).to.include('resources.Patient.optOut');
    });

    it('refuses a restriction that does not say why', () => {
      const { file, error } = faultOf('restriction-without-because.yaml');
      const issue = issueAt(error, 'restrictions[0].because');
      expect(issue.file).to.equal(file);
    });

    it('tells the author of an empty because that the reason is recorded with every decision', () => {
      const text = minimal({
        restrictions: [{ name: 'dv-address', resource: 'Patient', when: { flags: 'dv-risk' }, withhold: ['address'], because: '' }],
      });
      const issue = issueAt(
        refusal(() => policiesFromSources([{ file: 'r.yaml', text }], { now: NOW })),
        'restrictions[0].because',
      );
      expect(issue.message).to.include('say why');
    });

    it('refuses a grant for a resource its purpose has no view of', () => {
      const { file, error } = faultOf('grant-for-resource-without-view.yaml');
      const issue = issueAt(error, 'roles.receptionist.grants[1].resource');
      expect(issue.file).to.equal(file);
      expect(issue.message).to.include('purpose "direct-care" has no view of Appointment');
    });

    it('refuses __proto__ declared as a field', () => {
      const { file, error } = faultOf('hostile-field-path.yaml');
      const issue = issueAt(error, 'resources.Patient.fields.__proto__');
      expect(issue.file).to.equal(file);
      expect(issue.message).to.include('"__proto__" can never be a field');
    });

    it('refuses a role and a restriction defined in two files, naming both files', async () => {
      const dir = join(INVALID, 'defined-twice');
      const error = await refusalAsync(() => loadPolicies(dir, { now: NOW }));
      const role = issueAt(error, 'roles.nurse');
      expect(role.file).to.equal(join(dir, 'b.yaml'));
      expect(role.message).to.include(join(dir, 'a.yaml'));
      const restriction = issueAt(error, 'restrictions[0].name');
      expect(restriction.file).to.equal(join(dir, 'b.yaml'));
      expect(restriction.message).to.include('"dv-address"').and.include(join(dir, 'a.yaml'));
    });
  });

  it('refuses a review date that is not a real calendar date', () => {
    for (const reviewBy of ['2026-99-99', '2026-02-30', '2027-13-01']) {
      const purposes = {
        'direct-care': { lawfulBasis: { article6: '6(1)(e)' }, reviewBy, views: { Patient: { fields: ['id', 'name'] } } },
      };
      const error = refusal(() => policiesFromSources([{ file: 'p.yaml', text: minimal({ purposes }) }], { now: NOW }));
      expect(issueAt(error, 'purposes.direct-care.reviewBy').message).to.match(/a real calendar date such as 2027-03-31/);
    }
  });

  describe('reports every problem at once', () => {
    it('lists all five faults of one file in the same error', () => {
      const { error } = faultOf('several-faults.yaml');
      expect(
        errorsOf(error)
          .map((i) => i.path)
          .sort(),
      ).to.deep.equal([
        'purposes.direct-care.lawfulBasis',
        'restrictions[0].unless.roles[0]',
        'restrictions[0].withhold[1]',
        'roles.nurse.grants[0].purpose',
        'roles.nurse.grants[1].read[2]',
      ]);
      expect(error.message).to.match(/^5 problems in the policy set/);
    });

    it('lists the unknown keys of every file, each with its own file', () => {
      const a = minimal().replace('read: view', 'read: view\n        wher: { ward: w1 }');
      const b = 'restrictions:\n  - name: x\n    resource: Patient\n    withold: [address]\n    because: a reason\n';
      const error = refusal(() =>
        policiesFromSources(
          [
            { file: 'a.yaml', text: a },
            { file: 'b.yaml', text: b },
          ],
          { now: NOW },
        ),
      );
      expect(issueAt(error, 'roles.nurse.grants[0].wher').file).to.equal('a.yaml');
      expect(issueAt(error, 'restrictions[0].withold').message).to.include('did you mean "withhold"?');
      expect(issueAt(error, 'restrictions[0].withold').file).to.equal('b.yaml');
    });
  });

  describe('warnings', () => {
    it('warns of a purpose past its review date and still loads the set', () => {
      const text = readFileSync(join(VALID, 'policy.yaml'), 'utf8');
      const policies: PolicySet = policiesFromSources([{ file: 'policy.yaml', text }], { now: NOW });
      const warning = policies.warnings.find((w) => w.path === 'purposes.old-flow.reviewBy');
      expect(warning, 'a warning for old-flow').to.not.equal(undefined);
      expect(warning!.severity).to.equal('warning');
      expect(warning!.file).to.equal('policy.yaml');
      expect(warning!.message).to.include('2025-01-01');
      expect(policies.resourceNames()).to.deep.equal(['Patient']);
    });

    it('does not warn of a review date still to come', () => {
      const policies = policiesFromSources([{ file: 'p.yaml', text: minimal() }], { now: NOW });
      expect(policies.warnings).to.deep.equal([]);
    });

    it('warns of a role with no grants and still loads the set', () => {
      const text = minimal({
        roles: {
          nurse: { grants: [{ purpose: 'direct-care', resource: 'Patient', read: 'view' }] },
          porter: { description: 'No access yet' },
        },
      });
      const policies = policiesFromSources([{ file: 'p.yaml', text }], { now: NOW });
      expect(policies.warnings.map((w) => [w.path, w.severity])).to.deep.equal([['roles.porter', 'warning']]);
      expect(policies.warnings[0]!.message).to.include('no grants');
    });

    it('keeps warnings in the issues of a refused set, apart from its errors', () => {
      const { error } = faultOf('unknown-resource.yaml');
      expect(error.issues.filter((i) => i.severity === 'warning').map((i) => i.path)).to.deep.equal(['purposes.direct-care']);
      expect(error.message).to.match(/^3 problems/);
    });
  });

  describe('names that Object.prototype already has', () => {
    it('reports a grant for a resource named toString as unknown, rather than crashing', () => {
      const text = minimal({ roles: { nurse: { grants: [{ purpose: 'direct-care', resource: 'toString', read: ['id'] }] } } });
      const issue = issueAt(
        refusal(() => policiesFromSources([{ file: 'p.yaml', text }], { now: NOW })),
        'roles.nurse.grants[0].resource',
      );
      expect(issue.message).to.include('unknown resource "toString"');
    });

    it('reports a grant for a purpose named constructor as unknown, rather than crashing', () => {
      const text = minimal({ roles: { nurse: { grants: [{ purpose: 'constructor', resource: 'Patient', read: ['id'] }] } } });
      const issue = issueAt(
        refusal(() => policiesFromSources([{ file: 'p.yaml', text }], { now: NOW })),
        'roles.nurse.grants[0].purpose',
      );
      expect(issue.message).to.include('unknown purpose "constructor"');
    });

    it('reports an exemption for a role named constructor and a purpose named hasOwnProperty as unknown', () => {
      const restrictions = [
        {
          name: 'dv',
          resource: 'Patient',
          when: { flags: 'dv-risk' },
          withhold: ['address'],
          unless: { roles: ['constructor'], purposes: ['hasOwnProperty'] },
          because: 'danger',
        },
      ];
      const error = refusal(() => policiesFromSources([{ file: 'p.yaml', text: minimal({ restrictions }) }], { now: NOW }));
      expect(issueAt(error, 'restrictions[0].unless.roles[0]').message).to.include('unknown role "constructor"');
      expect(issueAt(error, 'restrictions[0].unless.purposes[0]').message).to.include('unknown purpose "hasOwnProperty"');
    });

    it('reports fields named toString and constructor as unknown in a view, a grant and a restriction', () => {
      const text = minimal({
        purposes: {
          'direct-care': {
            lawfulBasis: { article6: '6(1)(e)' },
            reviewBy: '2099-12-31',
            views: { Patient: { fields: ['id', 'name', 'toString'] } },
          },
        },
        roles: { nurse: { grants: [{ purpose: 'direct-care', resource: 'Patient', read: ['id', 'valueOf'] }] } },
        restrictions: [{ name: 'dv', resource: 'Patient', withhold: ['constructor'], because: 'danger' }],
      });
      const error = refusal(() => policiesFromSources([{ file: 'p.yaml', text }], { now: NOW }));
      expect(issueAt(error, 'purposes.direct-care.views.Patient.fields[2]').message).to.include('unknown field "toString"');
      expect(issueAt(error, 'roles.nurse.grants[0].read[1]').message).to.include('unknown field "valueOf"');
      expect(issueAt(error, 'restrictions[0].withhold[0]').message).to.include('unknown field "constructor"');
    });
  });

  describe('suggestions', () => {
    it('tells the author of a restriction written with a grant\'s "where" to use "when", not "where" again', () => {
      const restrictions = [{ name: 'dv', resource: 'Patient', where: { flags: 'dv-risk' }, withhold: ['address'], because: 'danger' }];
      const issue = issueAt(
        refusal(() => policiesFromSources([{ file: 'p.yaml', text: minimal({ restrictions }) }], { now: NOW })),
        'restrictions[0].where',
      );
      expect(issue.message).to.include('unknown key "where"');
      expect(issue.message).not.to.include('did you mean "where"');
    });
  });

  describe('readPolicyDirectory', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'fieldmesh-load-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('refuses a directory that does not exist', async () => {
      const missing = join(dir, 'policies');
      const error = await refusalAsync(() => readPolicyDirectory(missing));
      expect(error.issues).to.have.length(1);
      expect(error.issues[0]!.file).to.equal(missing);
      expect(error.issues[0]!.message).to.include('no such policy directory');
    });

    it('refuses a directory with no *.yaml or *.yml file', async () => {
      await writeFile(join(dir, 'README.md'), '# policies\n');
      await writeFile(join(dir, 'roles.json'), '{}');
      await mkdir(join(dir, 'policies'));
      const error = await refusalAsync(() => readPolicyDirectory(dir));
      expect(error.issues).to.have.length(1);
      expect(error.issues[0]!.file).to.equal(dir);
      expect(error.issues[0]!.message).to.include('no *.yaml or *.yml policy files');
      const empty = await refusalAsync(() => loadPolicies(join(dir, 'policies')));
      expect(empty.issues[0]!.message).to.include('no *.yaml or *.yml policy files');
    });

    it('refuses a file where a directory is expected', async () => {
      const file = join(dir, 'policy.yaml');
      await writeFile(file, minimal());
      await refusalAsync(() => readPolicyDirectory(file));
    });

    it('reads *.yaml and *.yml files sorted by name and ignores the rest', async () => {
      await writeFile(join(dir, 'b.yml'), 'roles: {}\n');
      await writeFile(join(dir, 'a.yaml'), 'resources: {}\n');
      await writeFile(join(dir, 'notes.txt'), 'not policy');
      const sources = await readPolicyDirectory(dir);
      expect(sources.map((s) => s.file)).to.deep.equal([join(dir, 'a.yaml'), join(dir, 'b.yml')]);
      expect(sources[1]!.text).to.equal('roles: {}\n');
    });

    it('loads the valid fixture directory', async () => {
      const policies = await loadPolicies(VALID, { now: NOW, pseudonymKey: 'test-pseudonym-key' });
      expect(policies.resourceNames()).to.deep.equal(['Patient']);
      expect(policies.version).to.match(/^[0-9a-f]{16}$/);
    });
  });
});
