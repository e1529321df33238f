import { expect } from 'chai';
import { FieldmeshError } from '../../src/lib/errors.js';
import { AccessError } from '../../src/engine/access-error.js';
import { parseListKey, redactBody } from '../../src/engine/body-shape.js';
import { examplePolicies, NOW, PATIENTS, patient, USERS } from '../express/harness.js';
import { NURSE_ROWS } from '../helpers.js';

async function setup(user: Record<string, unknown> = USERS.nurse, purpose = 'direct-care') {
  const policies = await examplePolicies();
  const plan = policies.plan({ resource: 'Patient', purpose, user, now: NOW }, 'read');
  return { policies, plan, redact: (body: unknown, list?: string) => redactBody(policies, plan, body, list) };
}

const ids = (rows: { id: string }[]) => rows.map((r) => r.id);

function unredactable(fn: () => unknown): FieldmeshError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(FieldmeshError);
    expect((err as FieldmeshError).code).to.equal('unredactable_body');
    expect((err as FieldmeshError).status).to.equal(500);
    return err as FieldmeshError;
  }
  return expect.fail('the body was redacted');
}

describe('parseListKey', () => {
  it('splits a dotted key, and reads "" as the body itself', () => {
    expect(parseListKey('')).to.deep.equal([]);
    expect(parseListKey('entry.resource')).to.deep.equal(['entry', 'resource']);
  });
  it('refuses empty steps and prototype keys with a TypeError', () => {
    expect(() => parseListKey('a..b')).to.throw(TypeError);
    expect(() => parseListKey('items.__proto__')).to.throw(TypeError);
    expect(() => parseListKey('constructor')).to.throw(TypeError);
  });
});

describe('redactBody', () => {
  it('redacts one record when there is no list key, without touching the input', async () => {
    const { redact } = await setup();
    const input = patient('pat-001');
    const before = structuredClone(input);
    const { body, decision } = redact(input);
    expect(body).not.to.have.any.keys('address', 'telecom', 'flags');
    expect(decision.recordIds).to.deep.equal(['pat-001']);
    expect(input).to.deep.equal(before);
  });

  it('refuses a single record the user may not see with record_withheld', async () => {
    const { redact } = await setup();
    expect(() => redact(patient('pat-003')))
      .to.throw(AccessError)
      .with.property('code', 'record_withheld');
  });

  it('reads "" as a body that is the array of rows', async () => {
    const { redact } = await setup();
    const { body, decision } = redact(PATIENTS, '');
    expect(ids(body as { id: string }[])).to.deep.equal(NURSE_ROWS);
    expect(decision.rowsWithheld).to.equal(PATIENTS.length - NURSE_ROWS.length);
  });

  it('fails closed on a body of another shape than the route says', async () => {
    const { redact } = await setup();
    unredactable(() => redact(PATIENTS)); // one record expected, a list came
    unredactable(() => redact(patient('pat-001'), '')); // a list expected, a record came
    unredactable(() => redact({ data: PATIENTS }, 'items')); // no items
    unredactable(() => redact({ items: { id: 'pat-001' } }, 'items')); // items is not a list
    unredactable(() => redact(PATIENTS, 'items')); // a bare array where an envelope was expected
    unredactable(() => redact('pat-001'));
  });

  it('redacts the rows of an envelope and keeps nothing else of it: deny by default, counts included', async () => {
    const { redact } = await setup();
    const input = {
      data: { items: PATIENTS, totalCount: 24, cursor: 'c2' },
      total: 24,
      count: 24,
      links: { next: '/p?cursor=c2' },
      included: [PATIENTS[2]],
    };
    const before = structuredClone(input);
    const { body } = redact(input, 'data.items');
    const out = body as { data: { items: { id: string }[] } };
    expect(ids(out.data.items)).to.deep.equal(NURSE_ROWS);
    expect(out).to.have.all.keys('data');
    expect(out.data).to.have.all.keys('items');
    expect(input).to.deep.equal(before);
  });

  describe('FHIR Bundle (entry.resource)', () => {
    const bundle = (extra: Record<string, unknown> = {}) => ({
      resourceType: 'Bundle',
      type: 'searchset',
      total: 24,
      link: [{ relation: 'next', url: 'https://fhir.example/Patient?_count=24&_page=2' }],
      // A FHIR Bundle's rows say what they are: a row without resourceType is not a Patient.
      entry: PATIENTS.map((p) => ({
        fullUrl: `https://fhir.example/Patient/${String(p['id'])}`,
        resource: { resourceType: 'Patient', ...p } as Record<string, unknown>,
        search: { mode: 'match' },
      })),
      ...extra,
    });

    it('removes withheld entries, sets total to the entries returned and keeps the links', async () => {
      const { redact } = await setup();
      const input = bundle();
      const { body, decision } = redact(input, 'entry.resource');
      const out = body as ReturnType<typeof bundle>;
      expect(out.entry.map((e) => e.resource['id'])).to.deep.equal(NURSE_ROWS);
      expect(out.entry[0]).to.deep.include({ search: { mode: 'match' } });
      expect(out.entry[0]).not.to.have.property('fullUrl');
      expect(out.total).to.equal(NURSE_ROWS.length);
      expect(out.link).to.deep.equal(input.link);
      expect(decision.rowsReturned).to.equal(NURSE_ROWS.length);
      expect(decision.withheldRecordIds).to.include('pat-003');
      expect(decision.disclosed).to.include('diagnoses');
      expect(input.entry).to.have.length(24);
    });

    it('drops the fullUrl of an entry whose id is pseudonymised (it would name the person)', async () => {
      const { redact } = await setup(USERS.analyst, 'service-planning');
      const { body } = redact(bundle(), 'entry.resource');
      const out = body as { entry: Record<string, unknown>[] };
      expect(out.entry.length).to.be.greaterThan(0);
      for (const entry of out.entry) expect(entry).to.have.all.keys('resource', 'search');
      expect(JSON.stringify(body)).not.to.include('fhir.example/Patient/pat-');
    });

    it('does not invent a total, and drops entries without a resource', async () => {
      const { redact } = await setup();
      const input = {
        resourceType: 'Bundle',
        type: 'searchset',
        entry: [{ resource: { resourceType: 'Patient', ...patient('pat-001') } }, { fullUrl: 'urn:x' }],
      };
      const { body, decision } = redact(input, 'entry.resource');
      expect(body).not.to.have.property('total');
      expect((body as { entry: unknown[] }).entry).to.have.length(1);
      expect(decision.rowReasons).to.deep.include({ 'not-a-record': 1 });
    });

    it('hands each kept row to the mark with its source, never a row withheld whole, and sends what the mark returns', async () => {
      const { policies, plan } = await setup();
      const seen: [unknown, unknown][] = [];
      const mark = (before: unknown, after: unknown) => {
        seen.push([before, after]);
        return { ...(after as object), marked: true };
      };
      const input = bundle();
      const { body } = redactBody(policies, plan, input, 'entry.resource', { mark });
      const rows = (body as { entry: { resource: Record<string, unknown> }[] }).entry.map((e) => e.resource);
      expect(rows.map((r) => r['id'])).to.deep.equal(NURSE_ROWS);
      expect(rows.every((r) => r['marked'] === true)).to.equal(true);
      // Each source is the entry's resource as the record API sent it; each redacted row a fresh copy.
      expect(seen.map(([b]) => b)).to.deep.equal(
        input.entry.filter((e) => NURSE_ROWS.includes(String(e.resource['id']))).map((e) => e.resource),
      );
      expect(seen.every(([b, a]) => b !== a && !Object.hasOwn(a as object, 'address'))).to.equal(true);
      const single = redactBody(policies, plan, patient('pat-001'), undefined, { mark }).body as Record<string, unknown>;
      expect(single['marked']).to.equal(true);
      expect(() => redactBody(policies, plan, patient('pat-003'), undefined, { mark })).to.throw(AccessError);
      expect(seen).to.have.length(NURSE_ROWS.length + 1);
    });

    it('reads a Bundle without entries (a search that matched nothing) as no rows', async () => {
      const { redact } = await setup();
      const { body, decision } = redact({ resourceType: 'Bundle', type: 'searchset', total: 0 }, 'entry.resource');
      expect(body).to.deep.equal({ resourceType: 'Bundle', type: 'searchset', total: 0 });
      expect(decision.rowsReturned).to.equal(0);
      unredactable(() => redact({ resourceType: 'Patient', total: 0 }, 'entry.resource'));
    });

    it('treats counts of a wrapped list that is not a Bundle like any envelope', async () => {
      const { redact } = await setup();
      const { body } = redact({ entry: [{ resource: patient('pat-001') }], total: 2 }, 'entry.resource');
      expect(body).not.to.have.property('total');
    });
  });
});
