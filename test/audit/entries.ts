import type { AuditEntry } from '../../src/audit/event.js';

/**
 * A nurse reading one patient for direct care, with what the engine would
 * have recorded; tests override what their rule is about.
 */
export function sampleEntry(overrides: Partial<AuditEntry> = {}): AuditEntry {
  return {
    requestId: 'req-1',
    user: 'u-4411',
    roles: ['nurse'],
    purpose: 'direct-care',
    resource: 'Patient',
    action: 'read',
    decision: 'disclosed',
    status: 200,
    recordIds: ['p-1002'],
    withheldRecordIds: [],
    fieldsDisclosed: ['id', 'name', 'dateOfBirth', 'ward'],
    fieldsWithheld: ['address', 'diagnoses'],
    transforms: {},
    restrictions: [],
    grants: ['nurse#0'],
    policyVersion: 'sha256:policy-v1',
    ...overrides,
  };
}

/** A break-glass disclosure in the emergency department. */
export function breakGlassEntry(overrides: Partial<AuditEntry> = {}): AuditEntry {
  return sampleEntry({
    requestId: 'req-bg',
    user: 'u-9001',
    roles: ['ed-consultant'],
    purpose: 'emergency',
    fieldsDisclosed: ['id', 'name', 'diagnoses'],
    breakGlass: 'Unconscious on arrival, no consent possible',
    ...overrides,
  });
}
