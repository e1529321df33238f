import { expect } from 'chai';
import { AccessError } from '../../src/engine/access-error.js';
import { checkEntries, DEFAULT_PAGING_KEYS } from '../../src/engine/query-check.js';
import { examplePolicies, NOW, USERS } from '../express/harness.js';

async function setup() {
  const policies = await examplePolicies();
  const planFor = (user: Record<string, unknown>, purpose: string) =>
    policies.plan({ resource: 'Patient', purpose, user, now: NOW }, 'read');
  const refused = (fn: () => unknown): AccessError => {
    try {
      fn();
    } catch (e) {
      expect(e).to.be.instanceOf(AccessError);
      return e as AccessError;
    }
    return expect.fail('the query was allowed');
  };
  return { policies, planFor, refused };
}

describe('engine/query-check', () => {
  it('names the field each refused key filters by, sort and operators included, never a value', async () => {
    const { policies, planFor, refused } = await setup();
    const plan = planFor(USERS.receptionist, 'administration');
    const e = refused(() =>
      checkEntries(
        policies,
        plan,
        [
          ['diagnoses', ['J45']],
          ['nhsNumber_gte', ['9990000018']],
          ['_sort', ['-careTeam,gp']],
          ['q', ['Testwood']],
        ],
        DEFAULT_PAGING_KEYS,
        [{ name: 'nhs', field: 'nhsNumber' }, { name: 'x' }],
      ),
    );
    expect(e.code).to.equal('filter_forbidden');
    expect(e.fields).to.deep.equal(['diagnoses', 'nhsNumber', 'careTeam', 'q', ':x']);
    expect(e.message).to.include('"nhsNumber_gte"').and.include('"_sort=careTeam"').and.not.include('J45').and.not.include('Testwood');
  });

  it('allows a readable field, and refuses paging of de-identified rows naming no field', async () => {
    const { policies, planFor, refused } = await setup();
    expect(
      checkEntries(policies, planFor(USERS.receptionist, 'administration'), [['gp', ['B86001']]], DEFAULT_PAGING_KEYS, []),
    ).to.deep.equal({
      filtered: true,
    });
    const e = refused(() =>
      checkEntries(policies, planFor(USERS.analyst, 'service-planning'), [['_page', ['2']]], DEFAULT_PAGING_KEYS, []),
    );
    expect(e.code).to.equal('filter_forbidden');
    expect(e.fields).to.deep.equal([]);
  });
});
