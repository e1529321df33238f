import { expect } from 'chai';
import { asRefusal } from '../../src/engine/decision.js';
import { ERROR_CODES, statusOf, type ErrorCode, type FixedCode } from '../../src/lib/error-codes.js';
import { FieldmeshError, NO_SUCH_RECORD, PolicyError, formatIssue, handlerStatusError } from '../../src/lib/errors.js';
import { AccessError, isWithheld } from '../../src/engine/access-error.js';

const START = { action: 'read' as const, resource: 'Patient', purpose: 'direct-care', roles: ['gp'], policyVersion: 'v1' };

describe('FieldmeshError', () => {
  it("takes every fixed code's status from the registry", () => {
    for (const [code, entry] of Object.entries(ERROR_CODES)) {
      if (typeof entry.status !== 'number') continue;
      expect(new FieldmeshError(code as FixedCode, 'm').status, code).to.equal(entry.status);
    }
  });

  it("relays a record API's or a handler's status only within the code's range", () => {
    expect(new FieldmeshError('upstream_error', 'The record API answered 409', { status: 409 }).status).to.equal(409);
    expect(() => new FieldmeshError('upstream_error', 'm', { status: 200 })).to.throw(TypeError, /relays a 4xx\/5xx status/);
    expect(() => new (FieldmeshError as new (c: string, m: string) => FieldmeshError)('upstream_error', 'm')).to.throw(TypeError);
  });

  it('refuses, at creation, a status beside a code that has its own, and a code the registry lacks', () => {
    expect(
      () =>
        new (FieldmeshError as new (c: string, m: string, r: { status: number }) => FieldmeshError)('purpose_unknown', 'm', {
          status: 400,
        }),
    ).to.throw(TypeError, /has its own status \(403\)/);
    expect(() => new (FieldmeshError as new (c: string, m: string) => FieldmeshError)('odd', 'm')).to.throw(
      TypeError,
      /unknown error code "odd"/,
    );
  });

  describe('toJSON', () => {
    it('shows a 4xx message, which says how to fix the request', () => {
      expect(new AccessError('purpose_required', 'Declare a purpose').toJSON()).to.deep.equal({
        error: { code: 'purpose_required', message: 'Declare a purpose' },
      });
    });

    it("hides the message of every 5xx behind the code's fixed text", () => {
      const secret = 'SQLITE_BUSY at /var/lib/fieldmesh/audit.db for pat-001';
      for (const [code, entry] of Object.entries(ERROR_CODES)) {
        const err =
          typeof entry.status === 'number'
            ? new FieldmeshError(code as FixedCode, secret)
            : entry.status === '4xx'
              ? undefined
              : new FieldmeshError(code as 'upstream_error', secret, { status: 503 });
        if (err === undefined || err.status < 500) continue;
        const json = JSON.stringify(err);
        expect(json, code).not.to.include('pat-001');
        expect(json, code).not.to.include('/var/lib');
        expect(err.toJSON().error.code, code).to.equal(code);
      }
      expect(new AccessError('audit_unavailable', secret).toJSON().error.message).to.equal(
        'The audit trail cannot be written, so nothing is disclosed',
      );
      expect(new FieldmeshError('resource_unknown', 'unknown resource "Patint"').toJSON().error.message).to.equal(
        'Internal error: nothing was disclosed',
      );
    });

    it('shows a relayed 4xx from the record API, and hides a relayed 5xx', () => {
      expect(
        new FieldmeshError('upstream_error', 'The record API answered 409: nothing was disclosed', { status: 409 }).toJSON().error.message,
      ).to.equal('The record API answered 409: nothing was disclosed');
      expect(
        new FieldmeshError('upstream_error', 'The record API answered 503 from 10.0.0.7', { status: 503 }).toJSON().error.message,
      ).to.equal('The record API answered with an error: nothing was disclosed');
    });

    it('answers a withheld record exactly as a missing one, whatever its message names', () => {
      const hidden = new AccessError(
        'record_withheld',
        'No Patient record you may see for purpose "direct-care"',
        asRefusal(START, 'record_withheld'),
      );
      expect(hidden.status).to.equal(statusOf('not_found'));
      expect(hidden.toJSON()).to.deep.equal({ error: NO_SUCH_RECORD });
      expect(hidden.toJSON()).to.deep.equal(new AccessError('not_found', NO_SUCH_RECORD.message).toJSON());
    });
  });
});

describe('AccessError', () => {
  it('carries the refused decision, typed, for the audit trail', () => {
    const decision = asRefusal(START, 'purpose_unknown');
    const err = new AccessError('purpose_unknown', 'unknown purpose "x"', decision);
    expect(err.decision).to.equal(decision);
    expect(err.decision?.code).to.equal('purpose_unknown');
    expect(err.status).to.equal(403);
    expect(err).to.be.instanceOf(FieldmeshError);
    expect(err.name).to.equal('AccessError');
    expect(new AccessError('unauthenticated', 'no token').decision).to.equal(undefined);
  });
});

describe('isWithheld', () => {
  it("is true only for a hidden record's refusal that carries its decision", () => {
    expect(isWithheld(new AccessError('record_withheld', 'm', asRefusal(START, 'record_withheld')))).to.equal(true);
    expect(isWithheld(new AccessError('record_withheld', 'm'))).to.equal(false);
    expect(isWithheld(new AccessError('not_found', 'm', asRefusal(START, 'not_found')))).to.equal(false);
    expect(isWithheld(new Error('record_withheld'))).to.equal(false);
  });
});

describe('handlerStatusError', () => {
  it("names a handler's status by the registry, and relays one it does not name", () => {
    const cases: [number, ErrorCode][] = [
      [400, 'bad_request'],
      [403, 'forbidden'],
      [409, 'conflict'],
      [418, 'request_error'],
      [500, 'handler_error'],
      [503, 'handler_error'],
    ];
    for (const [status, code] of cases) {
      const err = handlerStatusError(status, 'Error');
      expect([err.status, err.code], String(status)).to.deep.equal([status, code]);
    }
  });
});

describe('PolicyError', () => {
  it('is policy_invalid, a 500, and counts only the errors in its message', () => {
    const err = new PolicyError([
      { file: 'roles.yaml', path: 'roles.nurse.grants[0].purpose', message: 'unknown purpose "dirct-care"', severity: 'error' },
      { file: 'roles.yaml', path: 'roles.gp', message: 'grants nothing', severity: 'warning' },
    ]);
    expect([err.code, err.status]).to.deep.equal(['policy_invalid', 500]);
    expect(err.message).to.match(
      /^1 problem in the policy set:\nroles\.yaml › roles\.nurse\.grants\[0\]\.purpose: unknown purpose "dirct-care"$/,
    );
    expect(err.format()).to.include('roles.yaml › roles.gp: grants nothing');
  });

  it('prints file:line:col before the path when the issue has a place', () => {
    const issue = {
      file: 'policies/roles.yaml',
      path: 'roles.nurse.grants[0].purpose',
      message: 'unknown purpose "x"',
      severity: 'error' as const,
    };
    expect(formatIssue({ ...issue, line: 12, col: 9 })).to.equal(
      'policies/roles.yaml:12:9 › roles.nurse.grants[0].purpose: unknown purpose "x"',
    );
    expect(formatIssue({ ...issue, line: 12 })).to.equal('policies/roles.yaml:12 › roles.nurse.grants[0].purpose: unknown purpose "x"');
    expect(formatIssue(issue)).to.equal('policies/roles.yaml › roles.nurse.grants[0].purpose: unknown purpose "x"');
  });
});
