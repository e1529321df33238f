import { expect } from 'chai';
import { FieldmeshError } from '../../src/lib/errors.js';
import { AccessError } from '../../src/engine/access-error.js';
import { checkQuery, DEFAULT_PAGING_KEYS, pagedAnswerAllowed } from '../../src/http/query.js';
import { examplePolicies, NOW, USERS } from '../express/harness.js';

async function setup() {
  const policies = await examplePolicies();
  const planFor = (user: Record<string, unknown>, purpose: string) =>
    policies.plan({ resource: 'Patient', purpose, user, now: NOW }, 'read');
  return { policies, planFor };
}

function refusedKeys(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(AccessError);
    expect((err as AccessError).code).to.equal('filter_forbidden');
    return (err as AccessError).message;
  }
  return expect.fail('the query was allowed');
}

describe('query checks', () => {
  describe('route parameters', () => {
    it('checks a parameter like a query filter: id by default, a named field, and refuses a parameter with no field', async () => {
      const { policies, planFor } = await setup();
      const analyst = planFor(USERS.analyst, 'service-planning');
      const receptionist = planFor(USERS.receptionist, 'administration');
      const gp = planFor(USERS.gp, 'direct-care');
      expect(refusedKeys(() => checkQuery(policies, analyst, '', DEFAULT_PAGING_KEYS, [{ name: 'id' }]))).to.include('":id"');
      expect(
        refusedKeys(() => checkQuery(policies, receptionist, '', DEFAULT_PAGING_KEYS, [{ name: 'nhs', field: 'nhsNumber' }])),
      ).to.include('":nhs (nhsNumber)"');
      expect(refusedKeys(() => checkQuery(policies, gp, '', DEFAULT_PAGING_KEYS, [{ name: 'nhs' }]))).to.include('":nhs"');
      expect(() => checkQuery(policies, gp, '', DEFAULT_PAGING_KEYS, [{ name: 'id' }, { name: 'nhs', field: 'nhsNumber' }])).not.to.throw();
    });
  });

  describe('checkQuery', () => {
    it('accepts paging keys and readable fields in every form a query comes in', async () => {
      const { policies, planFor } = await setup();
      const plan = planFor(USERS.receptionist, 'administration');
      // Sealed records may be withheld from a receptionist: filters pass, paging is refused (it would show where they sit).
      expect(plan.mayHideRows).to.equal(true);
      for (const query of [{ gp: 'B86001' }, new URLSearchParams('gp=B86001&gp=B86002'), 'name=x&_sort=gp'] as const) {
        expect(() => checkQuery(policies, plan, query, DEFAULT_PAGING_KEYS)).not.to.throw();
      }
      for (const query of [{ _page: '2' }, new URLSearchParams('limit=5'), '_limit=5'] as const) {
        expect(refusedKeys(() => checkQuery(policies, plan, query, DEFAULT_PAGING_KEYS))).to.include('Paging is not available');
      }
      // The safeguarding lead reads every concern (no row condition, no restriction withholding one): paging passes, with filters too.
      const lead = policies.plan({ resource: 'SafeguardingConcern', purpose: 'safeguarding', user: USERS.lead, now: NOW }, 'read');
      expect(lead.mayHideRows).to.equal(false);
      for (const query of [
        { _page: '2' },
        { riskLevel: 'high', _page: '2' },
        new URLSearchParams('limit=5'),
        new URLSearchParams('status=open&status=closed&_limit=5'),
        'riskLevel=high&_sort=raisedAt&_page=2',
      ] as const) {
        expect(() => checkQuery(policies, lead, query, DEFAULT_PAGING_KEYS)).not.to.throw();
      }
    });

    it('names every refused key once, and never a value', async () => {
      const { policies, planFor } = await setup();
      const plan = planFor(USERS.receptionist, 'administration');
      const message = refusedKeys(() =>
        checkQuery(policies, plan, 'nhsNumber=9990000018&nhsNumber_ne=1&diagnoses.code=J45&q=Testwood', DEFAULT_PAGING_KEYS),
      );
      expect(message).to.include('"nhsNumber"').and.include('"nhsNumber_ne"').and.include('"diagnoses.code"').and.include('"q"');
      expect(message).not.to.include('9990000018').and.not.include('J45').and.not.include('Testwood');
    });

    it("refuses a raw query of more than 1,000 pieces with 414 query_too_long, and reads ';' as a separator too", async () => {
      const { policies, planFor } = await setup();
      const gp = planFor(USERS.gp, 'direct-care');
      const long = Array.from({ length: 1001 }, () => 'gp=B86001').join('&');
      expect(() => checkQuery(policies, gp, long, DEFAULT_PAGING_KEYS))
        .to.throw(FieldmeshError)
        .with.property('status', 414);
      expect(() => checkQuery(policies, gp, long.replaceAll('&', ';'), DEFAULT_PAGING_KEYS))
        .to.throw(FieldmeshError)
        .with.property('code', 'query_too_long');
      const receptionist = planFor(USERS.receptionist, 'administration');
      expect(refusedKeys(() => checkQuery(policies, receptionist, 'gp=B86001;nhsNumber=9990000018', DEFAULT_PAGING_KEYS))).to.include(
        '"nhsNumber"',
      );
    });

    it('reads every field of a sort: lists, +/- prefixes and :desc suffixes', async () => {
      const { policies, planFor } = await setup();
      const plan = planFor(USERS.analyst, 'service-planning');
      expect(() => checkQuery(policies, plan, { _sort: 'gender,-careTeam', _order: 'asc,desc' }, DEFAULT_PAGING_KEYS)).not.to.throw();
      expect(refusedKeys(() => checkQuery(policies, plan, { sort: 'gender:asc,dateOfBirth:desc' }, DEFAULT_PAGING_KEYS))).to.include(
        'sort=dateOfBirth',
      );
      expect(refusedKeys(() => checkQuery(policies, plan, { _order: 'id' }, DEFAULT_PAGING_KEYS))).to.include('_order=id');
    });
  });

  describe('pagedAnswerAllowed', () => {
    it('refuses a page the record API cut by itself for a de-identified purpose, or whenever rows may be hidden, filtered or not', async () => {
      const { planFor } = await setup();
      const analyst = planFor(USERS.analyst, 'service-planning');
      expect(analyst.deidentified).to.equal(true);
      expect(pagedAnswerAllowed(analyst)).to.equal(false);
      const nurse = planFor(USERS.nurse, 'direct-care');
      expect(nurse.deidentified).to.equal(false);
      expect(nurse.mayHideRows).to.equal(true);
      // An unfiltered page cut before hidden rows are removed shows where they sit: not passed on either.
      expect(pagedAnswerAllowed(nurse)).to.equal(false);
    });
  });
});

describe('checkQuery › paging', () => {
  it('refuses paging when rows may be hidden, filtered or not (a short or empty page would show where they are), and allows the filter alone', async () => {
    const { loadPolicies } = await import('../../src/engine/policy-set.js');
    const { checkQuery, DEFAULT_PAGING_KEYS } = await import('../../src/http/query.js');
    const policies = await loadPolicies('policies');
    const now = new Date('2026-11-24T12:00:00Z');
    const nurse = policies.plan({
      resource: 'Patient',
      purpose: 'direct-care',
      user: { sub: 'n', roles: ['ward-nurse'], team: 'ward-7', training: '2026-06-01' },
      now,
    });
    expect(() => checkQuery(policies, nurse, 'id=pat-001&_limit=1', DEFAULT_PAGING_KEYS))
      .to.throw()
      .with.property('code', 'filter_forbidden');
    expect(() => checkQuery(policies, nurse, '_sort=id&_page=2', DEFAULT_PAGING_KEYS))
      .to.throw()
      .with.property('code', 'filter_forbidden');
    expect(() => checkQuery(policies, nurse, 'id=pat-001', DEFAULT_PAGING_KEYS)).to.not.throw();
    expect(() => checkQuery(policies, nurse, '_page=2&_limit=10', DEFAULT_PAGING_KEYS))
      .to.throw()
      .with.property('code', 'filter_forbidden');
    const receptionist = policies.plan({
      resource: 'Patient',
      purpose: 'administration',
      user: { sub: 'r', roles: ['receptionist'], training: '2026-06-01' },
      now,
    });
    // Receptionists see every row (unconditional grant), unless a sealed record is withheld whole.
    const sealedWithheld = receptionist.restrictions.some((r) => r.restriction.record);
    const attempt = () => checkQuery(policies, receptionist, 'gp=B86001&_limit=5', DEFAULT_PAGING_KEYS);
    if (sealedWithheld) expect(attempt).to.throw().with.property('code', 'filter_forbidden');
    else expect(attempt).to.not.throw();
  });
});
