import type { PolicyIssue } from '../lib/errors.js';
import { isWithin, longestPrefix, own } from '../lib/paths.js';
import { conditionProblems } from './conditions.js';
import { fieldIndex, isHostile, type FieldIndex } from './fields.js';
import type {
  Condition,
  FieldClass,
  GrantDef,
  PolicyDocument,
  PurposeDef,
  ResourceDef,
  RestrictionDef,
  RoleDef,
  ViewDef,
} from './schema.js';
import { didYouMean } from '../lib/suggest.js';
import { inheritProblems, rolesHolding } from './roles.js';
import { purposeOfUseIssues } from './purpose-of-use.js';
import { valueKey } from '../lib/value-key.js';

/**
 * The semantic rules of the policy language, checked on the merged set.
 * Returns every problem at once; `severity: 'warning'` ones (a purpose past
 * its review date) do not stop a load.
 */
export function validatePolicies(doc: PolicyDocument, now: Date): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  // Declared fields and the paths named under them (docs/policy-language.md, "Resources": a path under a declared field is a field).
  const index = fieldIndex(doc);
  const fieldsByResource = new Map<string, Map<string, FieldClass>>();
  const check: Check = {
    doc,
    issues,
    report: (section, path, message, severity = 'error') =>
      issues.push({ file: doc.sources.get(section) ?? '(policy set)', path, message, severity }),
    fieldsOf: (name) => {
      let fields = fieldsByResource.get(name);
      if (!fields) fieldsByResource.set(name, (fields = index.fieldsOf(name)));
      return fields;
    },
    ownFieldsOf: index.ownFieldsOf,
    problemsOf: conditionProblemsOnce(),
    inView: inViewOnce(),
  };
  checkResourcePaths(check);
  const today = now.toISOString().slice(0, 10);
  for (const [name, purpose] of Object.entries(doc.purposes)) checkPurpose(check, name, purpose, today);
  issues.push(...purposeOfUseIssues(doc));
  const granted = new Set<string>();
  for (const p of inheritProblems(doc.roles)) check.report(`roles.${p.role}`, p.path, p.message);
  // A role that inherits grants gives its users those: only one that holds none at all sees nothing.
  const holdingGrants = rolesHolding(doc.roles, (role) => doc.roles[role]!.grants.length > 0);
  for (const [name, role] of Object.entries(doc.roles)) checkRole(check, name, role, granted, holdingGrants.has(name));
  doc.restrictions.forEach((r, i) => checkRestriction(check, r, i));
  for (const name of Object.keys(doc.purposes)) {
    if (!granted.has(name)) check.report(`purposes.${name}`, `purposes.${name}`, 'no role is granted this purpose', 'warning');
  }
  return issues;
}

/** What every check shares: the set, the issues found so far, and each resource's fields, worked out once. */
interface Check {
  doc: PolicyDocument;
  issues: PolicyIssue[];
  /** Report an issue in the file that defines `section` (`roles.nurse`). */
  report: (section: string, path: string, message: string, severity?: PolicyIssue['severity']) => void;
  fieldsOf: (resource: string) => Map<string, FieldClass>;
  ownFieldsOf: FieldIndex['ownFieldsOf'];
  /** The problems of a condition, relative to it. */
  problemsOf: (condition: Condition) => [string, string][];
  /** Whether a field lies within a view's fields (a field names its subtree). */
  inView: (view: ViewDef, field: string) => boolean;
}

type Say = (path: string, message: string, severity?: PolicyIssue['severity']) => void;

/**
 * Paths a resource declares that would reach a prototype: its fields, and the
 * id, subject, consent and opt-out paths. The subject path must be one of its
 * declared fields: a typo would leave every disclosure of the resource out
 * of the reports by subject.
 */
function checkResourcePaths({ doc, report }: Check): void {
  for (const [name, resource] of Object.entries(doc.resources)) {
    for (const path of Object.keys(resource.fields)) {
      if (isHostile(path))
        report(`resources.${name}`, `resources.${name}.fields.${path}`, `"${path}" can never be a field: it would pollute objects`);
    }
    // The engine reads these paths in every row: a hostile segment would walk into a prototype.
    for (const key of ['id', 'subject', 'consent', 'optOut'] as const) {
      const path = resource[key];
      if (path !== undefined && isHostile(path))
        report(
          `resources.${name}`,
          `resources.${name}.${key}`,
          `"${path}" can never be a path the engine reads: it would reach a prototype`,
        );
    }
    const subject = resource.subject;
    if (subject !== undefined && !isHostile(subject) && !Object.hasOwn(resource.fields, subject))
      report(
        `resources.${name}`,
        `resources.${name}.subject`,
        `unknown field "${subject}" of ${name}${didYouMean(subject, Object.keys(resource.fields))}: the subject path must be one of its declared fields (resources.${name}.fields)`,
      );
  }
}

/** A purpose: its review date, and each of its views against the resource and the purpose's own terms. */
function checkPurpose(check: Check, name: string, purpose: PurposeDef, today: string): void {
  const at = `purposes.${name}`;
  const say: Say = (path, message, severity) => check.report(at, `${at}${path}`, message, severity);
  if (purpose.reviewBy < today)
    say(
      '.reviewBy',
      `review date ${purpose.reviewBy} has passed: requests for this purpose are refused until the guardian reviews it`,
      'warning',
    );
  for (const [resourceName, view] of Object.entries(purpose.views)) {
    const resource = own(check.doc.resources, resourceName);
    if (!resource) {
      say(`.views.${resourceName}`, `unknown resource "${resourceName}"${didYouMean(resourceName, Object.keys(check.doc.resources))}`);
      continue;
    }
    const fields = check.fieldsOf(resourceName);
    checkView(resource, fields, view, `.views.${resourceName}`, say);
    const subtree = view.fields.flatMap((f) => fieldsWithin(fields, f));
    if (!purpose.identifiable) checkDeidentifiedView(check, name, resourceName, view, subtree, say);
    if (!purpose.lawfulBasis.article9 && subtree.some((d) => fields.get(d) === 'special')) {
      say('.lawfulBasis', `the view of ${resourceName} carries special category data: add lawfulBasis.article9 (GDPR Article 9 condition)`);
    }
    if (purpose.consent === 'required' && !resource.consent)
      say('.consent', `consent is required but resource ${resourceName} declares no consent path (resources.${resourceName}.consent)`);
    if (purpose.optOut === 'respect' && !resource.optOut)
      say('.optOut', `opt-out is respected but resource ${resourceName} declares no optOut path (resources.${resourceName}.optOut)`);
  }
}

/**
 * The view of a purpose that is not identifiable (Caldicott 2): no direct
 * identifier, identifiers only as pseudonyms, and a warning where a granted
 * subtree would drop keys the record API adds under it.
 */
function checkDeidentifiedView(check: Check, purposeName: string, resourceName: string, view: ViewDef, subtree: string[], say: Say): void {
  const fields = check.fieldsOf(resourceName);
  // Only paths declared or named by this purpose reach it (compile.ts), so only
  // they are checked. Classes are inherited: `name.family` under `name` is direct.
  const passing = check.ownFieldsOf(resourceName, purposeName);
  for (const d of subtree.filter((d) => passing.has(d))) {
    const cls = fields.get(d);
    if (cls === 'direct')
      say(
        `.views.${resourceName}.fields`,
        `"${d}" is a direct identifier and this purpose is not identifiable (identifiable: false): remove it`,
      );
    if (cls === 'identifier' && transformAt(view.transform, d) !== 'pseudonym')
      say(
        `.views.${resourceName}.transform`,
        `"${d}" is an identifier: a non-identifiable purpose may carry it only as a pseudonym (transform: { ${d}: pseudonym })`,
      );
  }
  // Keys the record API adds under a field (free text such as clinicianNotes)
  // are dropped here: say so where the view looks as if it granted them.
  view.fields.forEach((f, j) => {
    const below = fieldsWithin(fields, f).filter((d) => d !== f && passing.has(d));
    if (below.length > 0) {
      say(
        `.views.${resourceName}.fields[${j}]`,
        `"${f}" grants a subtree, but this purpose is not identifiable (identifiable: false): only its field paths (${[f, ...below].join(', ')}) are copied and any other key under it is dropped; name the paths this purpose needs instead`,
        'warning',
      );
    }
  });
}

/** A role: that it grants something, and each grant. Purposes a grant names are added to `granted`. */
function checkRole(check: Check, roleName: string, role: RoleDef, granted: Set<string>, holdsGrants: boolean): void {
  const at = `roles.${roleName}`;
  if (!holdsGrants) check.report(at, at, 'this role has no grants: its users will see nothing', 'warning');
  role.grants.forEach((grant, i) => checkGrant(check, at, grant, `${at}.grants[${i}]`, granted));
}

/** A grant names a known purpose and resource, stays within the purpose's view, and has a usable condition. */
function checkGrant(check: Check, at: string, grant: GrantDef, g: string, granted: Set<string>): void {
  const { doc, report, fieldsOf } = check;
  const purpose = own(doc.purposes, grant.purpose);
  const resource = own(doc.resources, grant.resource);
  if (!purpose) report(at, `${g}.purpose`, `unknown purpose "${grant.purpose}"${didYouMean(grant.purpose, Object.keys(doc.purposes))}`);
  if (!resource)
    report(at, `${g}.resource`, `unknown resource "${grant.resource}"${didYouMean(grant.resource, Object.keys(doc.resources))}`);
  if (!purpose || !resource) return;
  granted.add(grant.purpose);
  const view = own(purpose.views, grant.resource);
  if (!view) {
    report(
      at,
      `${g}.resource`,
      `purpose "${grant.purpose}" has no view of ${grant.resource}: add purposes.${grant.purpose}.views.${grant.resource} first`,
    );
    return;
  }
  if (grant.read === undefined && !grant.update && !grant.create) report(at, g, 'this grant gives nothing: add read, update or create');
  for (const action of ['read', 'update', 'create'] as const) {
    const fields = grant[action];
    if (fields === undefined || fields === 'view') continue;
    fields.forEach((field, j) => {
      if (!fieldsOf(grant.resource).has(field)) report(at, `${g}.${action}[${j}]`, unknownField(grant.resource, field, resource));
      else if (!check.inView(view, field))
        report(
          at,
          `${g}.${action}[${j}]`,
          `"${field}" is not in the view of ${grant.resource} for purpose "${grant.purpose}": a grant may not exceed its purpose's view`,
        );
    });
  }
  if (grant.where) conditionIssues(check, grant.where, `${g}.where`, (p, m) => report(at, p, m));
}

/** A restriction names a known resource, its fields, roles and purposes, and has a usable condition; reported where it was written. */
function checkRestriction(check: Check, r: RestrictionDef, i: number): void {
  const { doc, issues, fieldsOf } = check;
  const origin = doc.restrictionOrigins[i] ?? { file: '(policy set)', index: i };
  const at = `restrictions[${origin.index}]`;
  const say = (path: string, message: string) => issues.push({ file: origin.file, path: `${at}${path}`, message, severity: 'error' });
  const resource = own(doc.resources, r.resource);
  if (!resource) say('.resource', `unknown resource "${r.resource}"${didYouMean(r.resource, Object.keys(doc.resources))}`);
  else if (r.withhold !== 'record') {
    r.withhold.forEach((f, j) => {
      if (f !== 'record' && !fieldsOf(r.resource).has(f)) say(`.withhold[${j}]`, unknownField(r.resource, f, resource));
    });
  }
  r.unless?.roles?.forEach((role, j) => {
    if (!own(doc.roles, role)) say(`.unless.roles[${j}]`, `unknown role "${role}"${didYouMean(role, Object.keys(doc.roles))}`);
  });
  r.unless?.purposes?.forEach((p, j) => {
    if (!own(doc.purposes, p)) say(`.unless.purposes[${j}]`, `unknown purpose "${p}"${didYouMean(p, Object.keys(doc.purposes))}`);
  });
  if (r.when)
    conditionIssues(check, r.when, `${at}.when`, (p, m) => issues.push({ file: origin.file, path: p, message: m, severity: 'error' }));
}

function checkView(
  resource: ResourceDef,
  fields: Map<string, FieldClass>,
  view: ViewDef,
  at: string,
  say: (path: string, message: string) => void,
): void {
  const resourceName = at.split('.').pop()!;
  view.fields.forEach((f, j) => {
    if (!fields.has(f)) say(`${at}.fields[${j}]`, unknownField(resourceName, f, resource));
  });
  for (const [f, t] of Object.entries(view.transform)) {
    if (!fields.has(f)) say(`${at}.transform.${f}`, unknownField(resourceName, f, resource));
    else if (!view.fields.some((v) => isWithin(f, v)))
      say(`${at}.transform.${f}`, `"${f}" is transformed (${t}) but not in the view's fields: add it to fields or remove the transform`);
  }
}

/** The transform that applies to `path`: that of its longest transformed prefix (descendants inherit it). */
export function transformAt<T>(transforms: Record<string, T>, path: string): T | undefined {
  const key = longestPrefix(Object.keys(transforms), path);
  return key === undefined ? undefined : transforms[key];
}

/** Field paths inside the subtree of `field`, itself included. */
function fieldsWithin(fields: Map<string, FieldClass>, field: string): string[] {
  return [...fields.keys()].filter((d) => isWithin(d, field));
}

/** Why a named path is not a field: hostile, or under no declared field (then a typo, most likely). */
function unknownField(resourceName: string, field: string, resource: ResourceDef): string {
  if (isHostile(field) && longestPrefix(Object.keys(resource.fields), field) !== undefined)
    return `"${field}" can never be a field: it would pollute objects`;
  return `unknown field "${field}" of ${resourceName}${didYouMean(field, nearPaths(field, Object.keys(resource.fields)))}: declare it under resources.${resourceName}.fields`;
}

/**
 * What a misspelt path may have meant: every declared field, and the path
 * with its head replaced by each declared field (`adress.line` → `address.line`).
 */
function nearPaths(field: string, declared: string[]): string[] {
  const segments = field.split('.');
  const near = new Set(declared);
  for (const d of declared) {
    const k = d.split('.').length;
    if (k < segments.length) near.add([d, ...segments.slice(k)].join('.'));
  }
  return [...near];
}

function conditionIssues(check: Check, condition: Condition, at: string, say: (path: string, message: string) => void): void {
  for (const [path, message] of check.problemsOf(condition)) say(`${at}.${path}`, message);
}

/** `inView`, worked out once per view and field: the grants of many roles ask the same. */
function inViewOnce(): (view: ViewDef, field: string) => boolean {
  const cache = new Map<ViewDef, Map<string, boolean>>();
  return (view, field) => {
    let fields = cache.get(view);
    if (!fields) cache.set(view, (fields = new Map()));
    let within = fields.get(field);
    if (within === undefined) fields.set(field, (within = view.fields.some((v) => isWithin(field, v))));
    return within;
  };
}

/**
 * The problems of a condition, worked out once per distinct condition of a
 * set: many roles repeat the same few (`team: ${user.team}`). Problems are
 * relative to the condition, so equal conditions share them.
 */
function conditionProblemsOnce(): (condition: Condition) => [string, string][] {
  const cache = new Map<string, [string, string][]>();
  return (condition) => {
    const key = valueKey(condition);
    if (key === undefined) return conditionProblems(condition);
    let problems = cache.get(key);
    if (!problems) cache.set(key, (problems = conditionProblems(condition)));
    return problems;
  };
}
