import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { stringify } from 'yaml';
import type { z } from 'zod';
import { PolicyError, type PolicyIssue } from '../../src/lib/errors.js';
import type { policyFileSchema } from '../../src/policy/schema.js';
import { policiesFromSources, type PolicySet } from '../../src/engine/policy-set.js';
import { BIN } from '../cli/run.js';

const NOW = new Date('2026-06-01T12:00:00Z');

type Policy = { [K in keyof z.input<typeof policyFileSchema>]-?: NonNullable<z.input<typeof policyFileSchema>[K]> };

/**
 * A valid policy set with one identifiable and one non-identifiable purpose.
 * Each test changes one thing and looks at what the rule says about it.
 */
function base(): Policy {
  return {
    resources: {
      Patient: {
        consent: 'consent',
        optOut: 'optOut',
        fields: {
          id: 'identifier',
          nhsNumber: 'identifier',
          name: 'direct',
          address: 'direct',
          'address.postcode': 'quasi',
          dateOfBirth: 'quasi',
          diagnoses: 'special',
          ward: 'operational',
        },
      },
    },
    purposes: {
      'direct-care': {
        lawfulBasis: { article6: '6(1)(e)', article9: '9(2)(h)' },
        reviewBy: '2099-12-31',
        views: { Patient: { fields: ['id', 'nhsNumber', 'name', 'address', 'dateOfBirth', 'diagnoses', 'ward'] } },
      },
      planning: {
        lawfulBasis: { article6: '6(1)(e)', article9: '9(2)(h)' },
        reviewBy: '2099-12-31',
        identifiable: false,
        views: {
          Patient: {
            fields: ['id', 'address.postcode', 'dateOfBirth'],
            transform: { id: 'pseudonym', 'address.postcode': 'district', dateOfBirth: 'year' },
          },
        },
      },
    },
    roles: {
      nurse: {
        grants: [{ purpose: 'direct-care', resource: 'Patient', read: ['id', 'name', 'ward'], where: { careTeam: '${user.team}' } }],
      },
      analyst: { grants: [{ purpose: 'planning', resource: 'Patient', read: 'view' }] },
      'safeguarding-lead': { grants: [{ purpose: 'direct-care', resource: 'Patient', read: 'view' }] },
    },
    restrictions: [
      {
        name: 'dv-address',
        resource: 'Patient',
        when: { flags: 'dv-risk' },
        withhold: ['address'],
        unless: { roles: ['safeguarding-lead'] },
        because: 'Disclosing where a person at risk lives can put them in danger',
      },
    ],
  };
}

/** Load a policy: its errors and warnings, and the set when it loads. */
function check(policy: Policy, now = NOW): { errors: PolicyIssue[]; warnings: PolicyIssue[]; policies?: PolicySet } {
  try {
    const policies = policiesFromSources([{ file: 'policy.yaml', text: stringify(policy) }], { now, pseudonymKey: 'test-pseudonym-key' });
    return { errors: [], warnings: policies.warnings, policies };
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    return { errors: e.issues.filter((i) => i.severity === 'error'), warnings: e.issues.filter((i) => i.severity === 'warning') };
  }
}

/** The policy loads, without any warning. */
function loadsCleanly(policy: Policy): PolicySet {
  const { errors, warnings, policies } = check(policy);
  expect(errors, 'errors').to.deep.equal([]);
  expect(warnings, 'warnings').to.deep.equal([]);
  return policies!;
}

/** The policy is refused with exactly one error, at `path`; returns its message. */
function refusedAt(policy: Policy, path: string): string {
  const { errors } = check(policy);
  expect(errors.map((e) => e.path)).to.deep.equal([path]);
  expect(errors[0]!.file).to.equal('policy.yaml');
  return errors[0]!.message;
}

const patient = (p: Policy) => p.resources['Patient']!;
const purpose = (p: Policy, name: string) => p.purposes[name]!;
const view = (p: Policy, name: string) => purpose(p, name).views['Patient']!;
const grant = (p: Policy, role: string, i = 0) => p.roles[role]!.grants![i]!;
const restriction = (p: Policy, i = 0) => p.restrictions[i]!;

describe('validatePolicies', () => {
  it('loads the base policy set cleanly', () => {
    loadsCleanly(base());
  });

  describe('the subject path', () => {
    it('loads a subject path that is a declared field, a nested one included', () => {
      const p = base();
      patient(p).subject = 'id';
      loadsCleanly(p);
      patient(p).fields['address.postcode'] = 'quasi';
      patient(p).subject = 'address.postcode';
      loadsCleanly(p);
    });

    it('refuses a subject path that is not a declared field, suggesting the field meant', () => {
      const p = base();
      patient(p).subject = 'nhsNumbr';
      const message = refusedAt(p, 'resources.Patient.subject');
      expect(message).to.equal(
        'unknown field "nhsNumbr" of Patient (did you mean "nhsNumber"?): the subject path must be one of its declared fields (resources.Patient.fields)',
      );
    });

    it('refuses a path under a declared field that is not itself declared: only declared fields name a person', () => {
      const p = base();
      patient(p).subject = 'address.city';
      expect(refusedAt(p, 'resources.Patient.subject')).to.include('unknown field "address.city" of Patient');
    });

    it('refuses a hostile subject path once, as a path the engine reads', () => {
      const p = base();
      patient(p).subject = 'a.__proto__';
      expect(refusedAt(p, 'resources.Patient.subject')).to.include('would reach a prototype');
    });
  });

  describe('declared fields', () => {
    for (const key of ['id', 'subject', 'consent', 'optOut'] as const) {
      it(`refuses a hostile segment in the ${key} path the engine reads`, () => {
        const p = base();
        patient(p)[key] = 'prefs.__proto__';
        expect(refusedAt(p, `resources.Patient.${key}`)).to.include('would reach a prototype');
      });
    }

    for (const path of ['constructor', 'prototype', 'address.__proto__', 'address.constructor.name']) {
      it(`refuses "${path}" as a field: it would pollute objects`, () => {
        const p = base();
        patient(p).fields[path] = 'direct';
        expect(refusedAt(p, `resources.Patient.fields.${path}`)).to.include('can never be a field');
      });
    }

    it('accepts fields whose names merely contain those words', () => {
      const p = base();
      Object.assign(patient(p).fields, { proto: 'operational', constructorName: 'operational', 'address.prototypeCode': 'quasi' });
      loadsCleanly(p);
    });
  });

  describe('review dates', () => {
    it('warns when a purpose is past its review date, and still loads', () => {
      const p = base();
      purpose(p, 'planning').reviewBy = '2026-05-31';
      const { errors, warnings, policies } = check(p);
      expect(errors).to.deep.equal([]);
      expect(warnings.map((w) => w.path)).to.deep.equal(['purposes.planning.reviewBy']);
      expect(policies).to.not.equal(undefined);
    });

    it('does not warn on the review date itself', () => {
      const p = base();
      purpose(p, 'planning').reviewBy = '2026-06-01';
      loadsCleanly(p);
    });
  });

  describe('views', () => {
    it('refuses a view of an unknown resource', () => {
      const p = base();
      purpose(p, 'direct-care').views['Pateint'] = { fields: ['id'] };
      expect(refusedAt(p, 'purposes.direct-care.views.Pateint')).to.include('did you mean "Patient"?');
    });

    it('refuses a field under no declared field in a view, and accepts a nested declared one and one under a declared field', () => {
      const bad = base();
      view(bad, 'direct-care').fields.push('adress.line');
      expect(refusedAt(bad, 'purposes.direct-care.views.Patient.fields[7]'))
        .to.include('unknown field "adress.line"')
        .and.include('did you mean "address.line"?');
      const good = base();
      view(good, 'direct-care').fields = ['id', 'name', 'ward', 'address.postcode', 'address.line', 'name.family'];
      loadsCleanly(good);
    });

    it('refuses a transform of a field under no declared field, and accepts one under a declared field', () => {
      const bad = base();
      view(bad, 'planning').transform = { ...view(bad, 'planning').transform, 'postcode.line': 'mask' };
      expect(refusedAt(bad, 'purposes.planning.views.Patient.transform.postcode.line')).to.include('unknown field "postcode.line"');
      const good = base();
      view(good, 'direct-care').transform = { 'name.family': 'mask' };
      loadsCleanly(good);
    });

    for (const path of ['address.__proto__', 'name.constructor', 'name.prototype.x']) {
      it(`refuses "${path}" under a declared field: it would pollute objects`, () => {
        const p = base();
        view(p, 'direct-care').fields.push(path);
        expect(refusedAt(p, 'purposes.direct-care.views.Patient.fields[7]')).to.include('can never be a field');
      });
    }

    it('refuses a transform of a field outside the view, and accepts one nested under a view field', () => {
      const bad = base();
      view(bad, 'direct-care').transform = { ward: 'mask' };
      view(bad, 'direct-care').fields = ['id', 'name'];
      grant(bad, 'nurse').read = ['id', 'name'];
      expect(refusedAt(bad, 'purposes.direct-care.views.Patient.transform.ward')).to.include("not in the view's fields");
      const good = base();
      view(good, 'direct-care').transform = { 'address.postcode': 'district' };
      loadsCleanly(good);
    });
  });

  describe('non-identifiable purposes', () => {
    it('refuses a direct field in the view', () => {
      const p = base();
      view(p, 'planning').fields.push('name');
      expect(refusedAt(p, 'purposes.planning.views.Patient.fields')).to.include('"name" is a direct identifier');
    });

    it('refuses a direct field reached through its parent (address carries address itself)', () => {
      const p = base();
      view(p, 'planning').fields = ['id', 'address'];
      view(p, 'planning').transform = { id: 'pseudonym' };
      expect(refusedAt(p, 'purposes.planning.views.Patient.fields')).to.include('"address" is a direct identifier');
    });

    it('refuses a direct field declared below a quasi field the view names', () => {
      const p = base();
      Object.assign(patient(p).fields, { contact: 'quasi', 'contact.email': 'direct' });
      view(p, 'planning').fields.push('contact');
      expect(refusedAt(p, 'purposes.planning.views.Patient.fields')).to.include('"contact.email" is a direct identifier');
    });

    it('accepts a quasi path declared under a direct parent (address.postcode)', () => {
      const p = base();
      view(p, 'planning').fields = ['id', 'address.postcode'];
      view(p, 'planning').transform = { id: 'pseudonym' };
      loadsCleanly(p);
    });

    it('refuses an identifier carried in clear', () => {
      const p = base();
      view(p, 'planning').fields.push('nhsNumber');
      expect(refusedAt(p, 'purposes.planning.views.Patient.transform')).to.include('"nhsNumber" is an identifier');
    });

    it('refuses an identifier under a transform other than pseudonym', () => {
      const p = base();
      view(p, 'planning').fields.push('nhsNumber');
      view(p, 'planning').transform = { ...view(p, 'planning').transform, nhsNumber: 'mask' };
      expect(refusedAt(p, 'purposes.planning.views.Patient.transform')).to.include('"nhsNumber" is an identifier');
    });

    it('accepts identifiers as pseudonyms, directly or through a pseudonymised parent', () => {
      const p = base();
      Object.assign(patient(p).fields, { ids: 'quasi', 'ids.local': 'identifier' });
      view(p, 'planning').fields.push('nhsNumber', 'ids');
      view(p, 'planning').transform = { ...view(p, 'planning').transform, nhsNumber: 'pseudonym', ids: 'pseudonym' };
      const { errors, warnings, policies } = check(p);
      expect(errors).to.deep.equal([]);
      // ids names a subtree: the warning below is the only thing said about it.
      expect(warnings.map((w) => w.path)).to.deep.equal(['purposes.planning.views.Patient.fields[4]']);
      expect(policies!.usesPseudonyms).to.equal(true);
    });

    it('refuses a path under a direct field by its inherited class (name.family is direct)', () => {
      const p = base();
      view(p, 'planning').fields.push('name.family');
      expect(refusedAt(p, 'purposes.planning.views.Patient.fields')).to.include('"name.family" is a direct identifier');
    });

    it('refuses a path under an identifier carried in clear, and accepts it as a pseudonym', () => {
      const bad = base();
      patient(bad).fields['identifier'] = 'identifier';
      view(bad, 'planning').fields.push('identifier.value');
      expect(refusedAt(bad, 'purposes.planning.views.Patient.transform')).to.include('"identifier.value" is an identifier');
      const good = base();
      patient(good).fields['identifier'] = 'identifier';
      view(good, 'planning').fields.push('identifier.value');
      view(good, 'planning').transform = { ...view(good, 'planning').transform, 'identifier.value': 'pseudonym' };
      loadsCleanly(good);
    });

    it('refuses a path named by a restriction under a direct field (address.line is direct, as address is)', () => {
      const p = base();
      // The restriction names address.line: it is a field, direct like address, and planning may not carry it.
      restriction(p).withhold = ['address', 'address.line'];
      view(p, 'planning').fields.push('address.line');
      expect(refusedAt(p, 'purposes.planning.views.Patient.fields')).to.include('"address.line" is a direct identifier');
    });

    it('warns where the view of a non-identifiable purpose grants a subtree, naming the paths that still pass', () => {
      const p = base();
      Object.assign(patient(p).fields, { 'diagnoses.code': 'special' });
      view(p, 'planning').fields.push('diagnoses');
      const { errors, warnings } = check(p);
      expect(errors).to.deep.equal([]);
      expect(warnings).to.have.length(1);
      expect(warnings[0]).to.include({ path: 'purposes.planning.views.Patient.fields[3]', file: 'policy.yaml', severity: 'warning' });
      expect(warnings[0]!.message)
        .to.include('"diagnoses" grants a subtree')
        .and.include('(diagnoses, diagnoses.code)')
        .and.include('dropped');
    });

    it('does not warn where the view names the paths themselves, nor for an identifiable purpose', () => {
      const named = base();
      Object.assign(patient(named).fields, { 'diagnoses.code': 'special' });
      view(named, 'planning').fields.push('diagnoses.code', 'diagnoses.display');
      loadsCleanly(named);
      const identifiable = base();
      Object.assign(patient(identifiable).fields, { 'diagnoses.code': 'special' });
      loadsCleanly(identifiable);
    });

    it('accepts direct fields and clear identifiers in an identifiable purpose', () => {
      const p = base();
      delete purpose(p, 'planning').identifiable;
      view(p, 'planning').fields = ['id', 'nhsNumber', 'name'];
      view(p, 'planning').transform = {};
      loadsCleanly(p);
    });
  });

  describe('special category data', () => {
    it('refuses a special field in the view of a purpose without an Article 9 condition', () => {
      const p = base();
      delete purpose(p, 'direct-care').lawfulBasis.article9;
      expect(refusedAt(p, 'purposes.direct-care.lawfulBasis')).to.include('article9');
    });

    it('refuses a special field reached through its parent', () => {
      const p = base();
      Object.assign(patient(p).fields, { clinical: 'operational', 'clinical.diagnoses': 'special' });
      view(p, 'planning').fields.push('clinical');
      delete purpose(p, 'planning').lawfulBasis.article9;
      expect(refusedAt(p, 'purposes.planning.lawfulBasis')).to.include('special category');
    });

    it('accepts a purpose without Article 9 whose view carries no special field', () => {
      const p = base();
      delete purpose(p, 'planning').lawfulBasis.article9;
      loadsCleanly(p);
    });
  });

  describe('consent and opt-out', () => {
    it('refuses consent: required over a resource without a consent path, and accepts it with one', () => {
      const bad = base();
      purpose(bad, 'planning').consent = 'required';
      delete patient(bad).consent;
      expect(refusedAt(bad, 'purposes.planning.consent')).to.include('consent path');
      const good = base();
      purpose(good, 'planning').consent = 'required';
      loadsCleanly(good);
    });

    it('refuses optOut: respect over a resource without an optOut path, and accepts it with one', () => {
      const bad = base();
      purpose(bad, 'planning').optOut = 'respect';
      delete patient(bad).optOut;
      expect(refusedAt(bad, 'purposes.planning.optOut')).to.include('optOut path');
      const good = base();
      purpose(good, 'planning').optOut = 'respect';
      loadsCleanly(good);
    });
  });

  describe('roles and grants', () => {
    it('warns of a role without grants, and still loads', () => {
      const p = base();
      p.roles['porter'] = {};
      const { errors, warnings } = check(p);
      expect(errors).to.deep.equal([]);
      expect(warnings.map((w) => w.path)).to.deep.equal(['roles.porter']);
    });

    it('refuses a grant for an unknown purpose and an unknown resource at once', () => {
      const p = base();
      p.roles['nurse']!.grants!.push({ purpose: 'direct-cre', resource: 'Patients', read: ['id'] });
      const { errors } = check(p);
      expect(errors.map((e) => e.path)).to.deep.equal(['roles.nurse.grants[1].purpose', 'roles.nurse.grants[1].resource']);
    });

    it('refuses a grant for a resource the purpose has no view of', () => {
      const p = base();
      p.resources['Appointment'] = { fields: { id: 'identifier' } };
      p.roles['nurse']!.grants!.push({ purpose: 'direct-care', resource: 'Appointment', read: ['id'] });
      expect(refusedAt(p, 'roles.nurse.grants[1].resource')).to.include('has no view of Appointment');
    });

    it('refuses a grant that gives nothing, and accepts one that only updates', () => {
      const bad = base();
      delete grant(bad, 'nurse').read;
      expect(refusedAt(bad, 'roles.nurse.grants[0]')).to.include('gives nothing');
      const good = base();
      delete grant(good, 'nurse').read;
      grant(good, 'nurse').update = ['ward'];
      loadsCleanly(good);
    });

    for (const action of ['read', 'update', 'create'] as const) {
      it(`refuses an undeclared field in ${action}`, () => {
        const p = base();
        grant(p, 'nurse')[action] = ['id', 'wrd'];
        expect(refusedAt(p, `roles.nurse.grants[0].${action}[1]`))
          .to.include('unknown field "wrd"')
          .and.include('did you mean "ward"?');
      });

      it(`refuses a field outside the view in ${action}`, () => {
        const p = base();
        view(p, 'direct-care').fields = ['id', 'name'];
        grant(p, 'nurse').read = ['id'];
        grant(p, 'nurse')[action] = ['id', 'ward'];
        grant(p, 'safeguarding-lead').read = ['id'];
        expect(refusedAt(p, `roles.nurse.grants[0].${action}[1]`)).to.include("may not exceed its purpose's view");
      });
    }

    it('accepts a grant of a path nested inside a view field, and read: view', () => {
      const p = base();
      grant(p, 'nurse').read = ['id', 'address.postcode'];
      grant(p, 'nurse').update = ['address.postcode'];
      loadsCleanly(p);
    });

    it('accepts a grant of a path under a declared field, and refuses one under no declared field', () => {
      const good = base();
      grant(good, 'nurse').read = ['id', 'name.family', 'address.line'];
      grant(good, 'nurse').update = ['name.given'];
      loadsCleanly(good);
      const bad = base();
      grant(bad, 'nurse').read = ['id', 'nmae.family'];
      expect(refusedAt(bad, 'roles.nurse.grants[0].read[1]'))
        .to.include('unknown field "nmae.family"')
        .and.include('did you mean "name.family"?');
    });

    it('refuses an unsupported operator in a where, and accepts the supported ones', () => {
      const bad = base();
      grant(bad, 'nurse').where = { ward: { $regexp: 'x' } };
      expect(refusedAt(bad, 'roles.nurse.grants[0].where.ward.$regexp')).to.include('unsupported operator');
      const good = base();
      grant(good, 'nurse').where = {
        $or: [{ careTeam: '${user.team}' }, { ward: { $in: '${user.wards}' } }],
        status: { $ne: 'deceased', $exists: true },
        tags: { $elemMatch: { code: 'x' } },
        name: { $regex: '^A', $options: 'i' },
        'meta.security.code': { $nin: ['R'] },
      };
      loadsCleanly(good);
    });
  });

  describe('role inheritance', () => {
    it('loads a role that inherits, and does not warn that it has no grants of its own', () => {
      const p = base();
      p.roles['senior-nurse'] = { inherits: ['nurse'] };
      loadsCleanly(p);
    });

    it('still warns of a role that inherits only roles without grants', () => {
      const p = base();
      p.roles['empty'] = {};
      p.roles['also-empty'] = { inherits: ['empty'] };
      const { errors, warnings } = check(p);
      expect(errors).to.deep.equal([]);
      expect(warnings.map((w) => w.path)).to.deep.equal(['roles.empty', 'roles.also-empty']);
    });

    it('refuses an unknown inherited role in the file that defines the role, suggesting the near name', () => {
      const p = base();
      p.roles['senior-nurse'] = { inherits: ['nurce'] };
      expect(refusedAt(p, 'roles.senior-nurse.inherits[0]')).to.equal('unknown role "nurce" (did you mean "nurse"?)');
    });

    it('refuses a role inheriting itself, a duplicate and a cycle, each at its entry', () => {
      const p = base();
      p.roles['nurse']!.inherits = ['nurse'];
      p.roles['analyst']!.inherits = ['safeguarding-lead', 'safeguarding-lead'];
      p.roles['safeguarding-lead']!.inherits = ['analyst'];
      const { errors } = check(p);
      expect(errors.map((e) => `${e.path}: ${e.message}`)).to.have.members([
        'roles.nurse.inherits[0]: a role cannot inherit itself: remove "nurse"',
        'roles.analyst.inherits[1]: "safeguarding-lead" is listed twice: keep one',
        'roles.safeguarding-lead.inherits[0]: inheritance cycle: analyst → safeguarding-lead → analyst',
      ]);
    });

    it('refuses inherits that is not a list of names, and a misspelt key with a suggestion', () => {
      const p = base();
      (p.roles['nurse'] as Record<string, unknown>)['inherits'] = 'gp';
      expect(check(p).errors.map((e) => e.path)).to.deep.equal(['roles.nurse.inherits']);
      const q = base();
      (q.roles['nurse'] as Record<string, unknown>)['inherit'] = ['gp'];
      const [error] = check(q).errors;
      expect(error?.message).to.include('"inherits"');
    });
  });

  describe('restrictions', () => {
    it('refuses a restriction of an unknown resource', () => {
      const p = base();
      restriction(p).resource = 'Patien';
      expect(refusedAt(p, 'restrictions[0].resource')).to.include('did you mean "Patient"?');
    });

    it('refuses an undeclared field in withhold, and accepts nested fields, paths under declared fields and record', () => {
      const bad = base();
      restriction(bad).withhold = ['address', 'telecom'];
      expect(refusedAt(bad, 'restrictions[0].withhold[1]')).to.include('unknown field "telecom"');
      const good = base();
      restriction(good).withhold = ['address.postcode', 'name', 'address.line'];
      p2(good).withhold = 'record';
      loadsCleanly(good);
      const list = base();
      restriction(list).withhold = ['record'];
      loadsCleanly(list);

      function p2(p: Policy) {
        p.restrictions.push({ ...restriction(p), name: 'sealed', when: { sealed: true } });
        return restriction(p, 1);
      }
    });

    it('refuses an unknown role or purpose in unless, and accepts known ones', () => {
      const bad = base();
      restriction(bad).unless = { roles: ['safeguarding-lead', 'safeguarding'], purposes: ['direct-car'] };
      const { errors } = check(bad);
      expect(errors.map((e) => e.path)).to.deep.equal(['restrictions[0].unless.roles[1]', 'restrictions[0].unless.purposes[0]']);
      expect(errors[1]!.message).to.include('did you mean "direct-care"?');
      const good = base();
      restriction(good).unless = { roles: ['safeguarding-lead', 'nurse'], purposes: ['direct-care'] };
      loadsCleanly(good);
    });

    it('refuses an unsupported operator in when, and accepts a restriction without when', () => {
      const bad = base();
      restriction(bad).when = { $text: { $search: 'x' } };
      expect(refusedAt(bad, 'restrictions[0].when.$text')).to.include('unsupported operator');
      const good = base();
      delete restriction(good).when;
      loadsCleanly(good);
    });
  });

  describe('purposes no role is granted', () => {
    it('warns of a purpose no role is granted, and still loads', () => {
      const p = base();
      p.roles['analyst'] = { grants: [{ purpose: 'direct-care', resource: 'Patient', read: ['id'] }] };
      const { errors, warnings } = check(p);
      expect(errors).to.deep.equal([]);
      expect(warnings.map((w) => w.path)).to.deep.equal(['purposes.planning']);
    });
  });
});

describe('fieldmesh check (the built binary)', () => {
  const checkDir = (policy: Policy, ...flags: string[]) => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-validate-'));
    writeFileSync(join(dir, 'policy.yaml'), stringify(policy));
    const r = spawnSync(process.execPath, [BIN, 'check', '--policies', dir, '--now', '2026-06-01', ...flags], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });
    return { code: r.status, stdout: r.stdout, dir };
  };

  it('warns where the view of a non-identifiable purpose grants a subtree, and fails only with --strict', () => {
    const p = base();
    Object.assign(patient(p).fields, { 'diagnoses.code': 'special' });
    view(p, 'planning').fields.push('diagnoses');
    const r = checkDir(p);
    expect(r.code).to.equal(0);
    const line = r.stdout.split('\n').find((l) => l.startsWith(`warning ${join(r.dir, 'policy.yaml')}:`));
    expect(line).to.match(/^warning \S+:\d+:\d+ › purposes\.planning\.views\.Patient\.fields\[3\]: "diagnoses" grants a subtree/);
    expect(r.stdout).to.include('1 warning');
    expect(checkDir(p, '--strict').code).to.equal(1);
  });

  it('accepts paths under declared fields and refuses a typo under none, with a suggestion', () => {
    const good = base();
    grant(good, 'nurse').read = ['id', 'name.family'];
    restriction(good).withhold = ['address.line'];
    expect(checkDir(good, '--strict').code).to.equal(0);
    const bad = base();
    grant(bad, 'nurse').read = ['id', 'nmae.family'];
    const r = checkDir(bad);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.include('roles.nurse.grants[0].read[1]: unknown field "nmae.family" of Patient (did you mean "name.family"?)');
  });
});
