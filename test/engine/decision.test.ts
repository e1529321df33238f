import { expect } from 'chai';
import { asRefusal, emptyDecision, mergeDecision, type Decision } from '../../src/engine/decision.js';
import { refusalEntry } from '../../src/http/audit-entry.js';
import { AccessError } from '../../src/engine/access-error.js';
import { NOW, patient, refusal, user, validPolicies } from '../helpers.js';

const START = { action: 'read' as const, resource: 'Patient', purpose: 'x', roles: ['gp'], policyVersion: 'v1' };
const NOTHING = {
  disclosed: [],
  withheld: [],
  transforms: {},
  restrictions: [],
  grants: [],
  recordIds: [],
  withheldRecordIds: [],
  subjectIds: [],
  withheldSubjectIds: [],
  rowsReturned: 0,
  rowsWithheld: 0,
  rowReasons: {},
};

describe('emptyDecision', () => {
  it('starts every decision with nothing disclosed, nothing withheld', () => {
    expect(emptyDecision(START)).to.deep.equal({
      outcome: 'disclosed',
      action: 'read',
      resource: 'Patient',
      purpose: 'x',
      roles: ['gp'],
      ...NOTHING,
      policyVersion: 'v1',
    });
  });

  it('keeps a break-glass reason trimmed, and ignores one that is not text', () => {
    const base = { action: 'read' as const, resource: 'Patient', purpose: 'emergency', roles: [], policyVersion: 'v1' };
    expect(emptyDecision({ ...base, breakGlass: '  Unconscious patient in A&E ' }).breakGlass).to.equal('Unconscious patient in A&E');
    expect(emptyDecision({ ...base, breakGlass: 42 })).not.to.have.property('breakGlass');
  });

  it('gives the engine, its writes and the HTTP refusals one shape of decision', () => {
    const policies = validPolicies();
    const keys = Object.keys(emptyDecision({ action: 'read', resource: 'Patient', purpose: 'x', roles: [], policyVersion: 'v' })).sort();
    const read = policies.redact(patient(), { resource: 'Patient', purpose: 'direct-care', user: user(['gp']), now: NOW }).decision;
    const refused = refusal(() => policies.redact(patient(), { resource: 'Patient', purpose: 'nope', user: user(['gp']), now: NOW }))
      .decision as object;
    const written = policies.checkWrite(
      { ward: 'W9' },
      { resource: 'Patient', purpose: 'direct-care', user: user(['nurse']), now: NOW, action: 'update', existing: patient() },
    );
    const entry = refusalEntry(new AccessError('unauthenticated', 'no token'), {
      requestId: 'r1',
      resource: 'Patient',
      action: 'read',
      policyVersion: policies.version,
      purposeLabel: '(unknown)',
    });
    expect(Object.keys(read).sort()).to.deep.equal(keys);
    expect(
      Object.keys(refused)
        .filter((k) => k !== 'code')
        .sort(),
    ).to.deep.equal(keys);
    expect(
      Object.keys(written)
        .filter((k) => k !== 'written')
        .sort(),
    ).to.deep.equal(keys);
    expect(entry).to.include({ decision: 'refused', code: 'unauthenticated', user: 'anonymous', policyVersion: policies.version });
  });
});

describe('asRefusal', () => {
  it('refuses from a start with nothing disclosed and the refusal code', () => {
    expect(asRefusal(START, 'purpose_unknown')).to.deep.equal({
      outcome: 'refused',
      code: 'purpose_unknown',
      action: 'read',
      resource: 'Patient',
      purpose: 'x',
      roles: ['gp'],
      ...NOTHING,
      policyVersion: 'v1',
    });
  });

  it('keeps the reasoning of a decision made so far, and never changes the one it was given', () => {
    const soFar: Decision = { ...emptyDecision(START), written: ['ward'], recordIds: ['pat-001'], grants: ['nurse#0'] };
    const refused = asRefusal({ ...soFar, withheld: ['nhsNumber'] }, 'write_forbidden');
    expect(refused).to.deep.include({
      outcome: 'refused',
      code: 'write_forbidden',
      written: ['ward'],
      recordIds: ['pat-001'],
      grants: ['nurse#0'],
      withheld: ['nhsNumber'],
    });
    expect(soFar.outcome).to.equal('disclosed');
    expect(soFar).not.to.have.property('code');
  });

  it('replaces the code of a decision already refused', () => {
    const hidden = asRefusal(START, 'record_withheld');
    expect(asRefusal({ ...hidden, action: 'update' }, 'not_found')).to.include({ outcome: 'refused', code: 'not_found', action: 'update' });
  });

  it('is what the engine refuses with: an unknown purpose carries a refused decision with its code', () => {
    const policies = validPolicies();
    const err = refusal(() => policies.redact(patient(), { resource: 'Patient', purpose: 'nope', user: user(['gp']), now: NOW }));
    expect(err.decision).to.deep.equal(
      asRefusal(
        { action: 'read', resource: 'Patient', purpose: 'nope', roles: ['gp'], policyVersion: policies.version },
        'purpose_unknown',
      ),
    );
  });
});

describe('mergeDecision', () => {
  it('folds a row into a list: unions of names, sums of counts, ids in row order', () => {
    const list = { ...emptyDecision(START), disclosed: ['id', 'name'], recordIds: ['pat-001'], rowsReturned: 1, grants: ['gp#0'] };
    const row = {
      ...emptyDecision(START),
      disclosed: ['name', 'address'],
      withheld: ['nhsNumber'],
      transforms: { birthDate: 'year' },
      restrictions: ['sealed'],
      grants: ['gp#0', 'gp#1'],
      recordIds: ['pat-002'],
      withheldRecordIds: ['pat-003'],
      rowsReturned: 1,
      rowsWithheld: 1,
      rowReasons: { 'opt-out': 1 },
    };
    const merged = mergeDecision(list, row);
    expect(merged).to.equal(list);
    expect(merged).to.deep.include({
      disclosed: ['id', 'name', 'address'],
      withheld: ['nhsNumber'],
      transforms: { birthDate: 'year' },
      restrictions: ['sealed'],
      grants: ['gp#0', 'gp#1'],
      recordIds: ['pat-001', 'pat-002'],
      withheldRecordIds: ['pat-003'],
      rowsReturned: 2,
      rowsWithheld: 1,
      rowReasons: { 'opt-out': 1 },
    });
    mergeDecision(merged, { ...emptyDecision(START), rowsWithheld: 2, rowReasons: { 'opt-out': 2 } });
    expect(merged).to.deep.include({ rowsWithheld: 3, rowReasons: { 'opt-out': 3 } });
  });

  it('merges a bundle row by row into what redacting the rows at once records', () => {
    const policies = validPolicies();
    const ctx = { resource: 'Patient', purpose: 'direct-care', user: user(['gp']), now: NOW };
    const rows = [patient(), patient({ id: 'pat-002' })];
    const plan = policies.plan(ctx, 'read');
    const oneByOne = rows.reduce(
      (into, row) => mergeDecision(into, policies.redactWith(plan, [row]).decision),
      policies.redactWith(plan, []).decision,
    );
    const atOnce = policies.redactWith(plan, rows).decision;
    expect(oneByOne).to.deep.equal(atOnce);
  });
});
