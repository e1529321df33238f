import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { AccessError } from '../src/engine/access-error.js';
import { policiesFromSources, type PolicyOptions } from '../src/engine/policy-set.js';

/** The small, complete policy set most engine tests use. */
export const VALID_POLICY = fileURLToPath(new URL('./fixtures/policies/valid/policy.yaml', import.meta.url));

export function validPolicies(opts: PolicyOptions = {}) {
  return policiesFromSources([{ file: 'policy.yaml', text: readFileSync(VALID_POLICY, 'utf8') }], {
    pseudonymKey: 'test-pseudonym-key',
    ...opts,
  });
}

export const NOW = new Date('2026-11-24T12:00:00Z');

export function user(roles: string[], extra: Record<string, unknown> = {}) {
  return { sub: 'u1', roles, team: 'ward-7', training: '2026-06-01', ...extra };
}

/** A full Patient record with a value in every declared field and some the policy never declares. */
export function patient(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'p1',
    nhsNumber: '9990000018',
    name: [{ family: 'Doe', given: ['Jan'] }],
    address: [{ line: ['1 High St'], postcode: 'LS1 4AP', geo: { lat: 53.8 } }],
    telecom: [{ system: 'phone', value: '0113 496 0000' }],
    dateOfBirth: '1980-05-02',
    diagnoses: [{ code: 'E11', display: 'Type 2 diabetes' }],
    ward: 'W7',
    careTeam: 'ward-7',
    internalNotes: 'never disclosed',
    ...extra,
  };
}

/** The AccessError that `fn` throws; fails the test when it throws anything else or nothing. */
export function refusal(fn: () => unknown): AccessError {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(AccessError);
    return e as AccessError;
  }
  throw new Error('expected a refusal');
}

/** The ids a ward-7 nurse sees among the fixture patients (fixtures/records/Patient.json): every ward-7 patient but the sealed pat-004. */
export const NURSE_ROWS = [
  'pat-001',
  'pat-002',
  'pat-007',
  'pat-009',
  'pat-011',
  'pat-013',
  'pat-015',
  'pat-018',
  'pat-021',
  'pat-022',
  'pat-024',
];
