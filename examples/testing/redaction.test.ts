/**
 * Redaction tested in a project's own mocha + chai suite, through the
 * package as a user installs it (`fieldmesh`, `fieldmesh/testing`): the
 * fixture cases as tests, their coverage held to a threshold, and chai
 * assertions about what one request discloses. Run from the repository root:
 * `npx mocha --no-config --node-option import=tsx examples/testing/redaction.test.ts`
 * (README.md beside this file).
 */
import { fileURLToPath } from 'node:url';
import * as chai from 'chai';
import { loadPolicies, type PolicySet } from 'fieldmesh';
import { fieldmeshChai, formatCoverage, loadRecords, meetsThreshold, runCases } from 'fieldmesh/testing';

chai.use(fieldmeshChai);
const { expect } = chai;

const at = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const POLICIES = at('../../policies');
const RECORDS = at('../../fixtures/records');
/** The key fixtures/cases name for their expected pseudonyms; yours comes from configuration. */
const KEY = 'fixture-pseudonym-key';

describe('fixture cases', () => {
  // One `describe` per case file and one `it` per case; a failing case prints the diff `fieldmesh test` prints.
  const run = runCases(at('../../fixtures/cases'), { policies: POLICIES, records: RECORDS });

  // Sibling suites run in order: this one after every case above.
  describe('coverage', () => {
    it('exercises at least 90% of the policy set', async () => {
      const coverage = await run.coverage();
      expect(meetsThreshold(coverage, 90), formatCoverage(coverage)).to.equal(true);
    });
  });
});

describe('what one request discloses', () => {
  const now = new Date('2026-11-24T12:00:00Z');
  const user = (roles: string[]) => ({ sub: 'u1', roles, training: '2026-06-01' });
  let policies: PolicySet;
  let patient: (id: string) => unknown;
  before(async () => {
    policies = await loadPolicies(POLICIES, { pseudonymKey: KEY });
    const records = await loadRecords(RECORDS);
    patient = (id) => records.get(`Patient/${id}`);
  });

  it('a receptionist sees how to reach a patient, never their diagnoses', () => {
    const result = policies.redact(patient('pat-001'), {
      resource: 'Patient',
      purpose: 'administration',
      user: user(['receptionist']),
      now,
    });
    expect(result).to.disclose(['name', 'telecom.value', 'address.postcode']).and.to.withhold(['diagnoses', 'medications']);
    expect(result).to.not.pseudonymise('id');
  });

  it('a receptionist does not see where a person at risk of domestic violence lives', () => {
    const result = policies.redact(patient('pat-002'), {
      resource: 'Patient',
      purpose: 'administration',
      user: user(['receptionist']),
      now,
    });
    expect(result).to.withhold(['address', 'telecom']);
  });

  it('a planner gets a pseudonym in every row, the same for the same person, and no name', () => {
    const ids = ['pat-001', 'pat-024'];
    const result = policies.redact(ids.map(patient), { resource: 'Patient', purpose: 'service-planning', user: user(['analyst']), now });
    expect(result).to.pseudonymise('id').and.to.withhold(['name', 'nhsNumber', 'address.line']);
    const one = policies.redact(patient('pat-001'), { resource: 'Patient', purpose: 'service-planning', user: user(['analyst']), now });
    expect(one).to.pseudonymise('id', { of: 'pat-001', key: KEY });
  });
});
