import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { policiesFromSources } from '../../src/engine/policy-set.js';
import { NOW, patient, refusal, user, VALID_POLICY } from '../helpers.js';

/** The valid policy set plus two direct-care roles without row conditions: a clerk (contact details) and a registrar (everything). */
const EXTRA_ROLES = `roles:
  clerk:
    grants:
      - purpose: direct-care
        resource: Patient
        read: [id, name, address, telecom.value]
        update: [address, telecom.value]
  registrar:
    grants:
      - purpose: direct-care
        resource: Patient
        read: view
        update: [id, nhsNumber, name, address, telecom.value, dateOfBirth, diagnoses, ward, careTeam]
`;

function setup() {
  const text = readFileSync(VALID_POLICY, 'utf8').replace(/^roles:\n/m, EXTRA_ROLES);
  const policies = policiesFromSources([{ file: 'policy.yaml', text }], { pseudonymKey: 'test-pseudonym-key' });
  const write = (body: unknown, roles: string[], action: 'update' | 'create', existing?: unknown, replace = false) =>
    policies.checkWrite(body, { resource: 'Patient', purpose: 'direct-care', user: user(roles), now: NOW, action, existing, replace });
  return { write, code: refusal };
}

/** The stored record with only declared fields: what a PUT may replace. */
function declaredOnly(): Record<string, unknown> {
  const { internalNotes: _dropped, ...rest } = patient();
  return { ...rest, telecom: [{ value: '0113 496 0000' }] };
}

describe('checkWrite', () => {
  it('lets a ward nurse update the ward of a patient in her care team, naming the record', () => {
    const { write } = setup();
    const decision = write({ ward: 'W9' }, ['nurse'], 'update', patient());
    expect(decision.written).to.deep.equal(['ward']);
    expect(decision.grants).to.deep.equal(['nurse#0']);
    expect(decision.recordIds).to.deep.equal(['p1']);
  });

  it('refuses the whole body naming every field the user may not write', () => {
    const { write, code } = setup();
    const e = code(() => write({ ward: 'W9', name: [{ family: 'X' }], nhsNumber: '1' }, ['nurse'], 'update', patient()));
    expect(e.code).to.equal('write_forbidden');
    expect(e.status).to.equal(403);
    expect(e.message).to.include('"name"').and.include('"nhsNumber"').and.not.include('W9');
    // The same names as data, for tools that check which fields were refused (fixture write cases).
    expect([...e.fields].sort()).to.deep.equal(['name', 'nhsNumber']);
  });

  it('refuses an update of a record outside the care team as a record the nurse cannot see (404)', () => {
    const { write, code } = setup();
    const e = code(() => write({ ward: 'W9' }, ['nurse'], 'update', patient({ careTeam: 'ward-9' })));
    expect(e.code).to.equal('record_withheld');
    expect(e.status).to.equal(404);
    expect(e.toJSON()).to.deep.equal({ error: { code: 'not_found', message: 'No such record' } });
    // Recorded as the update it was, with the hidden record's id.
    expect(e.decision).to.deep.include({ action: 'update', outcome: 'refused', code: 'record_withheld', withheldRecordIds: ['p1'] });
  });

  it('refuses an update whose stored record is missing exactly as one it may not see', () => {
    const { write, code } = setup();
    const missing = code(() => write({ ward: 'W9' }, ['nurse'], 'update'));
    const hidden = code(() => write({ ward: 'W9' }, ['clerk'], 'update', patient({ sealed: true })));
    expect([missing.status, missing.toJSON()]).to.deep.equal([hidden.status, hidden.toJSON()]);
    expect(missing.toJSON()).to.deep.equal({ error: { code: 'not_found', message: 'No such record' } });
    expect(code(() => write({ ward: 'W9' }, ['nurse'], 'update', null)).code).to.equal('not_found');
  });

  it('refuses a write to a sealed record before looking at the body: an invalid or forbidden body answers 404 too', () => {
    const { write, code } = setup();
    const sealed = patient({ sealed: true });
    expect(code(() => write(['not', 'an', 'object'], ['clerk'], 'update', sealed)).code).to.equal('record_withheld');
    expect(code(() => write({ diagnoses: [] }, ['clerk'], 'update', sealed)).code).to.equal('record_withheld');
    expect(code(() => write({ address: [] }, ['registrar'], 'update', patient({ meta: { security: [{ code: 'R' }] } }))).code).to.equal(
      'record_withheld',
    );
  });

  it('withholds from writing the fields a restriction withholds on the stored record (dv-risk address)', () => {
    const { write, code } = setup();
    const e = code(() => write({ address: [{ line: ['9 Elsewhere'] }] }, ['clerk'], 'update', patient({ flags: ['dv-risk'] })));
    expect(e.code).to.equal('write_forbidden');
    expect(e.message).to.include('"address"').and.not.include('Elsewhere');
    // The same clerk may change the address when no restriction fires.
    expect(write({ address: [{ line: ['9 Elsewhere'] }] }, ['clerk'], 'update', patient()).written).to.deep.equal(['address']);
  });

  it('refuses an update for a purpose whose opt-out the record declared', () => {
    const text = readFileSync(VALID_POLICY, 'utf8').replace(
      /^roles:\n/m,
      `roles:
  planner:
    grants:
      - purpose: service-planning
        resource: Patient
        read: view
        update: [diagnoses]
`,
    );
    const policies = policiesFromSources([{ file: 'policy.yaml', text }], { pseudonymKey: 'test-pseudonym-key' });
    const write = (existing: unknown) =>
      policies.checkWrite(
        { diagnoses: [] },
        { resource: 'Patient', purpose: 'service-planning', user: user(['planner']), now: NOW, action: 'update', existing },
      );
    expect(refusal(() => write(patient({ optOut: true }))).code).to.equal('record_withheld');
    expect(write(patient({ optOut: false })).written).to.deep.equal(['diagnoses']);
  });

  it('refuses a PUT unless the user may update every declared field, naming the missing ones', () => {
    const { write, code } = setup();
    const e = code(() => write({ address: [], telecom: [{ value: '1' }] }, ['clerk'], 'update', declaredOnly(), true));
    expect(e.code).to.equal('write_forbidden');
    expect(e.message)
      .to.include('PUT')
      .and.include('"name"')
      .and.include('"nhsNumber"')
      .and.include('"diagnoses"')
      .and.not.include('"address"');
    expect((e.decision as { withheld: string[] }).withheld).to.have.members([
      'id',
      'nhsNumber',
      'name',
      'dateOfBirth',
      'diagnoses',
      'ward',
      'careTeam',
    ]);
    // The same body as a PATCH is fine: it erases nothing.
    expect(write({ address: [], telecom: [{ value: '1' }] }, ['clerk'], 'update', declaredOnly()).written).to.deep.equal([
      'address',
      'telecom.value',
    ]);
  });

  it('lets a PUT through with update rights on every declared field', () => {
    const { write } = setup();
    const decision = write({ id: 'p1', name: [{ family: 'Doe' }], ward: 'W9' }, ['registrar'], 'update', declaredOnly(), true);
    expect(decision.written).to.deep.equal(['id', 'name', 'ward']);
  });

  it('refuses a PUT that would erase data outside the declared fields (markers that steer decisions), without naming it', () => {
    const { write, code } = setup();
    for (const extra of [{ flags: [] }, { optOut: false }, { internalNotes: 'x' }, { telecom: [{ system: 'phone', value: '1' }] }]) {
      const e = code(() => write({ id: 'p1' }, ['registrar'], 'update', { ...declaredOnly(), ...extra }, true));
      expect(e.code, JSON.stringify(extra)).to.equal('write_forbidden');
      expect(e.message)
        .to.include('outside the declared fields')
        .and.not.include(`"${Object.keys(extra)[0]!}`);
    }
  });

  it('refuses a PUT when a restriction withholds a field on the stored record', () => {
    const { write, code } = setup();
    const e = code(() => write({ id: 'p1' }, ['registrar'], 'update', { ...declaredOnly(), flags: ['dv-risk'] }, true));
    expect(e.message).to.include('"address"').and.include('"telecom.value"');
  });

  it('refuses roles without write grants and hostile or malformed bodies', () => {
    const { write, code } = setup();
    expect(code(() => write({ ward: 'W9' }, ['gp'], 'update', patient())).code).to.equal('purpose_not_granted');
    expect(code(() => write(JSON.parse('{"ward":"W9","__proto__":{"x":1}}'), ['nurse'], 'update', patient())).code).to.equal(
      'write_forbidden',
    );
    expect(code(() => write(['ward'], ['nurse'], 'update', patient())).code).to.equal('invalid_body');
    expect(code(() => write({ ward: 'W9' }, ['nurse'], 'create')).code).to.equal('purpose_not_granted');
  });

  it('refuses a body nested deeper than records may be (invalid_body), without overflowing the stack', () => {
    const { write, code } = setup();
    let deep: unknown = 'W9';
    for (let i = 0; i < 6000; i++) deep = [deep];
    expect(code(() => write({ ward: deep }, ['nurse'], 'update', patient())).code).to.equal('invalid_body');
  });
});

describe('checkWrite: subjects', () => {
  const POLICY = `resources:
  CaseNote:
    subject: subjectId
    fields: { id: identifier, subjectId: identifier, text: special }
purposes:
  direct-care:
    lawfulBasis: { article6: "6(1)(e)", article9: "9(2)(h)" }
    reviewBy: 2099-12-31
    views: { CaseNote: { fields: [id, subjectId, text] } }
roles:
  clerk:
    grants:
      - { purpose: direct-care, resource: CaseNote, read: view, update: [subjectId, text], create: [id, subjectId, text] }
`;
  const policies = policiesFromSources([{ file: 'policy.yaml', text: POLICY }], {});
  const ctx = { resource: 'CaseNote', purpose: 'direct-care', user: user(['clerk']), now: NOW };

  it('names the subject of a new record from its body', () => {
    const decision = policies.checkWrite({ id: 'n-1', subjectId: 'p-1', text: 'x' }, { ...ctx, action: 'create' });
    expect(decision).to.deep.include({ recordIds: ['n-1'], subjectIds: ['p-1'] });
  });

  it('names both people when an update moves a note from one to another, and one when it does not', () => {
    const existing = { id: 'n-1', subjectId: 'p-1', text: 'x' };
    const moved = policies.checkWrite({ subjectId: 'p-2' }, { ...ctx, action: 'update', existing });
    expect(moved).to.deep.include({ recordIds: ['n-1'], subjectIds: ['p-1', 'p-2'] });
    const edited = policies.checkWrite({ text: 'y' }, { ...ctx, action: 'update', existing });
    expect(edited.subjectIds).to.deep.equal(['p-1']);
  });

  it('names the subject in a refused write, and nothing for a subject that is not an id', () => {
    const e = refusal(() => policies.checkWrite({ subjectId: 'p-1', author: 'me' }, { ...ctx, action: 'create' }));
    expect(e.code).to.equal('write_forbidden');
    expect(e.decision?.subjectIds).to.deep.equal(['p-1']);
    expect(policies.checkWrite({ subjectId: { id: 'p-1' }, text: 'x' }, { ...ctx, action: 'create' }).subjectIds).to.deep.equal([]);
  });
});
