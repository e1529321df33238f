import { editorSchema, type JsonSchema } from '../lib/json-schema.js';
import { policyFileSchema } from './schema.js';

/**
 * What an editor says about each key of a policy file while it is typed,
 * taken from docs/policy-language.md. Kept here rather than on the zod
 * schema so the schema stays the language and this the help text; a path
 * that no longer names a key fails `npm run schemas` (and its test).
 */
const DESCRIPTIONS: Record<string, string> = {
  resources: 'Every field that may ever be disclosed, per resource. Anything not declared here is never disclosed, whatever a grant says.',
  'resources.*': 'A resource (a kind of record): its id path, consent and opt-out paths, and its fields with their classes.',
  'resources.*.description': 'What this resource is, for people.',
  'resources.*.id': 'Path of the record id (default: id), recorded in the audit trail.',
  'resources.*.subject':
    'Path of the id of the person a record is about (a declared field: id on Patient, subjectId on a case note). Recorded in the audit trail, so a subject access report finds every resource that disclosed something about the person.',
  'resources.*.consent': 'Path of an object { <purpose>: granted | refused }, read by purposes with consent: required.',
  'resources.*.optOut': 'Path of a boolean: the national data opt-out, read by purposes with optOut: respect.',
  'resources.*.fields':
    'Field path → class. A nested path (address.postcode) overrides its parent’s class; a path under a declared field inherits it. Arrays are transparent.',
  'resources.*.fields.*':
    'identifier (pseudonymised for non-identifiable purposes), direct (never in a non-identifiable purpose), quasi, special (needs lawfulBasis.article9) or operational.',
  purposes:
    'Purposes (data flows): every request declares one. Each is written down with its lawful basis, owner and review date (Caldicott 1).',
  'purposes.*': 'A purpose: its lawful basis, review date, terms, and the view it may carry of each resource.',
  'purposes.*.description': 'What this flow is for, for people.',
  'purposes.*.lawfulBasis': 'The lawful basis: article6 (GDPR Article 6) always, article9 when the view carries special category data.',
  'purposes.*.lawfulBasis.article6': 'The GDPR Article 6 basis, such as "6(1)(e)".',
  'purposes.*.lawfulBasis.article9': 'The GDPR Article 9 condition, such as "9(2)(h)": required when a view carries a special field.',
  'purposes.*.owner': 'Who owns this flow (the Caldicott Guardian, say).',
  'purposes.*.reviewBy':
    'A real calendar date (YYYY-MM-DD). After it every request for this purpose is refused (purpose_expired) until the guardian reviews it.',
  'purposes.*.identifiable':
    'false: never direct identifiers, identifiers only as pseudonyms, and only declared field paths are copied (Caldicott 2). Default true.',
  'purposes.*.consent': 'implied (default), or required: rows are withheld unless the record’s consent.<purpose> is granted.',
  'purposes.*.optOut': 'ignore (default), or respect: rows with the national data opt-out set are withheld.',
  'purposes.*.breakGlass':
    'true: usable only with a break-glass reason (at least 10 characters), by roles granted the purpose; every use is flagged for review.',
  'purposes.*.purposeOfUse':
    'HL7 PurposeOfUse codes (case-sensitive, such as TREAT) a token’s purpose claim names this purpose by. ETREAT and BTG also make the request break-glass.',
  'purposes.*.purposeOfUse[]': 'One HL7 PurposeOfUse code, such as TREAT, HOPERAT, PUBHLTH, HRESCH or ETREAT.',
  'purposes.*.views': 'Resource → the most this purpose may ever carry of it. A grant may not exceed its purpose’s view.',
  'purposes.*.views.*': 'The view of one resource: its fields, and how some of them are transformed.',
  'purposes.*.views.*.fields': 'The field paths this purpose may carry of the resource; a path grants its whole subtree.',
  'purposes.*.views.*.transform':
    'Field → transform, applied to every leaf value under the field: pseudonym, year, district, mask or age-band. A value that cannot be transformed is dropped.',
  'purposes.*.views.*.transform.*':
    'pseudonym (keyed HMAC, per purpose), year (of a date), district (outward code of a UK postcode), mask (all but the last 4 characters) or age-band (5-year band).',
  roles: 'Roles and their grants (Caldicott 4): each role sees only the purposes, fields and rows its grants name. Deny by default.',
  'roles.*': 'A role, as named in the user’s roles claim.',
  'roles.*.description': 'What this role is, for people.',
  'roles.*.grants':
    'What the role may read and write, per purpose and resource. Rows that match no grant of the user’s roles are withheld.',
  'roles.*.grants[]': 'One grant: a purpose, a resource, the fields to read, update or create, and an optional row condition.',
  'roles.*.grants[].purpose': 'The purpose this grant works under (a key of purposes).',
  'roles.*.grants[].resource': 'The resource this grant reads or writes (a key of resources, with a view in the purpose).',
  'roles.*.grants[].description': 'Why the role needs this grant, for people.',
  'roles.*.grants[].read': 'Field paths the role may read, within the purpose’s view; or view (everything the view carries).',
  'roles.*.grants[].update': 'Field paths a request body may change. A body with any other field is refused whole.',
  'roles.*.grants[].create': 'Field paths a new record may carry. A body with any other field is refused whole.',
  'roles.*.grants[].where':
    'Row condition in MongoDB query syntax; ${user.x} is the user’s claim x (a missing claim never matches). Omit: every row.',
  restrictions: 'Markers that withhold (safeguarding): fields or whole records withheld when a condition on the record holds.',
  'restrictions[]': 'One restriction: when it fires, what it withholds, who is exempt, and why.',
  'restrictions[].name': 'A unique name, recorded with every decision it takes part in.',
  'restrictions[].resource': 'The resource it applies to (a key of resources).',
  'restrictions[].description': 'What this restriction covers, for people.',
  'restrictions[].when': 'Condition on the record (MongoDB query syntax), such as { flags: dv-risk }. Omit: always.',
  'restrictions[].withhold': 'Field paths to withhold, or record (the whole record).',
  'restrictions[].unless':
    'Exempts a request when every key given is satisfied: one of roles and one of purposes. A role exempts only through its own grants.',
  'restrictions[].unless.roles': 'Roles exempt from this restriction.',
  'restrictions[].unless.purposes': 'Purposes exempt from this restriction.',
  'restrictions[].because': 'Why (required): recorded with every decision, shown to the guardian.',
};

/**
 * The JSON Schema of one policy file, for editors (yaml-language-server) and
 * other tools; shipped as `fieldmesh/schemas/policy.schema.json`
 * (docs/policy-language.md, "Editor support"). Checks what JSON Schema can
 * say: keys, types, classes, transforms, name and path shapes. The rules
 * across files (a grant within its purpose’s view, names that exist) are
 * `fieldmesh check`'s.
 *
 * @example
 * writeFileSync('policy.schema.json', JSON.stringify(policyJsonSchema(), null, 2));
 */
export function policyJsonSchema(): JsonSchema {
  return editorSchema(policyFileSchema, {
    title: 'fieldmesh policy file',
    description:
      'One file of a fieldmesh policy set: any of resources, purposes, roles and restrictions (docs/policy-language.md). `fieldmesh check` checks the rules across files.',
    descriptions: DESCRIPTIONS,
  });
}
