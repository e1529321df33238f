import { expect } from 'chai';
import { emptyDecision } from '../../src/engine/decision.js';
import { refusalEntry } from '../../src/http/audit-entry.js';
import { AccessError } from '../../src/lib/errors.js';
import { NOW, patient, refusal, user, validPolicies } from '../helpers.js';

describe('emptyDecision', () => {
  it('starts every decision with nothing disclosed, nothing withheld', () => {
    expect(emptyDecision({ outcome: 'refused', code: 'purpose_unknown', action: 'read', resource: 'Patient', purpose: 'x', roles: ['gp'], policyVersion: 'v1' })).to.deep.equal({
      outcome: 'refused', code: 'purpose_unknown', action: 'read', resource: 'Patient', purpose: 'x', roles: ['gp'],
      disclosed: [], withheld: [], transforms: {}, restrictions: [], grants: [], recordIds: [], withheldRecordIds: [],
      rowsReturned: 0, rowsWithheld: 0, rowReasons: {}, policyVersion: 'v1',
    });
  });

  it('keeps a break-glass reason trimmed, and ignores one that is not text', () => {
    const base = { outcome: 'disclosed' as const, action: 'read' as const, resource: 'Patient', purpose: 'emergency', roles: [], policyVersion: 'v1' };
    expect(emptyDecision({ ...base, breakGlass: '  Unconscious patient in A&E ' }).breakGlass).to.equal('Unconscious patient in A&E');
    expect(emptyDecision({ ...base, breakGlass: 42 })).not.to.have.property('breakGlass');
  });

  it('gives the engine, its writes and the HTTP refusals one shape of decision', () => {
    const policies = validPolicies();
    const keys = Object.keys(emptyDecision({ outcome: 'refused', action: 'read', resource: 'Patient', purpose: 'x', roles: [], policyVersion: 'v' })).sort();
    const read = policies.redact(patient(), { resource: 'Patient', purpose: 'direct-care', user: user(['gp']), now: NOW }).decision;
    const refused = refusal(() => policies.redact(patient(), { resource: 'Patient', purpose: 'nope', user: user(['gp']), now: NOW })).decision as object;
    const written = policies.checkWrite({ ward: 'W9' }, { resource: 'Patient', purpose: 'direct-care', user: user(['nurse']), now: NOW, action: 'update', existing: patient() });
    const entry = refusalEntry(new AccessError('unauthenticated', 'no token'), { requestId: 'r1', resource: 'Patient', action: 'read', policyVersion: policies.version });
    expect(Object.keys(read).sort()).to.deep.equal(keys);
    expect(Object.keys(refused).filter((k) => k !== 'code').sort()).to.deep.equal(keys);
    expect(Object.keys(written).filter((k) => k !== 'written').sort()).to.deep.equal(keys);
    expect(entry).to.include({ decision: 'refused', code: 'unauthenticated', user: 'anonymous', policyVersion: policies.version });
  });
});
