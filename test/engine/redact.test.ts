import { expect } from 'chai';
import { FieldmeshError } from '../../src/lib/errors.js';
import { AccessError } from '../../src/engine/access-error.js';
import type { Decision } from '../../src/engine/decision.js';
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { loadPolicies, policiesFromSources } from '../../src/engine/policy-set.js';
import { NOW, patient, refusal, user, VALID_POLICY, validPolicies } from '../helpers.js';

/** The test policy as data, to change one thing per test. */
interface Doc {
  resources: { Patient: { id?: string; consent?: string; optOut?: string; fields: Record<string, string> } };
  purposes: Record<string, { identifiable?: boolean; views: { Patient: { fields: string[]; transform?: Record<string, string> } } }>;
  roles: Record<string, { grants: { purpose: string; read?: unknown; update?: string[] }[] }>;
  restrictions: { name: string; withhold: unknown }[];
}

/** The test policy with one change, loaded through the real engine. */
function changed(change: (doc: Doc) => void) {
  const doc = parse(readFileSync(VALID_POLICY, 'utf8')) as Doc;
  change(doc);
  const policies = policiesFromSources([{ file: 'policy.yaml', text: stringify(doc) }], { pseudonymKey: 'test-pseudonym-key', now: NOW });
  const read = (input: unknown, roles: string[], purpose: string) =>
    policies.redact(input, { resource: 'Patient', purpose, user: user(roles), now: NOW });
  return { policies, read };
}

function setup() {
  const policies = validPolicies();
  const read = (
    input: unknown,
    roles: string[],
    purpose: string,
    extra: { user?: Record<string, unknown>; breakGlass?: string; now?: Date } = {},
  ) =>
    policies.redact(input, {
      resource: 'Patient',
      purpose,
      user: user(roles, extra.user),
      breakGlass: extra.breakGlass,
      now: extra.now ?? NOW,
    });
  return { policies, read, refusal };
}

describe('redact', () => {
  it('discloses only the fields a ward nurse is granted for direct care, whole subtrees included', () => {
    const { read } = setup();
    const { data } = read(patient(), ['nurse'], 'direct-care');
    expect(data).to.deep.equal({
      id: 'p1',
      name: [{ family: 'Doe', given: ['Jan'] }],
      address: [{ line: ['1 High St'], postcode: 'LS1 4AP', geo: { lat: 53.8 } }],
      telecom: [{ value: '0113 496 0000' }],
      dateOfBirth: '1980-05-02',
      ward: 'W7',
    });
  });

  it('never discloses a field the resource does not declare, even one the upstream adds later', () => {
    const { read } = setup();
    const { data } = read(
      patient({ newUpstreamField: 'x', name: [{ family: 'Doe', extra: 'kept: inside a granted subtree' }] }),
      ['gp'],
      'direct-care',
    );
    expect(data).to.not.have.property('newUpstreamField');
    expect(data).to.not.have.property('internalNotes');
    expect((data as { name: unknown[] }).name).to.deep.equal([{ family: 'Doe', extra: 'kept: inside a granted subtree' }]);
  });

  it('keeps only value in every element of telecom: arrays are transparent', () => {
    const { read } = setup();
    const { data } = read(
      patient({ telecom: [{ system: 'phone', value: 'a' }, { system: 'email', value: 'b' }, { system: 'fax' }] }),
      ['nurse'],
      'direct-care',
    );
    expect((data as { telecom: unknown }).telecom).to.deep.equal([{ value: 'a' }, { value: 'b' }]);
  });

  it('withholds the address and telecom of a person flagged dv-risk from a ward nurse', () => {
    const { read } = setup();
    const { data, decision } = read(patient({ flags: ['dv-risk'] }), ['nurse'], 'direct-care');
    expect(data).to.not.have.any.keys('address', 'telecom', 'flags');
    expect(decision.restrictions).to.deep.equal(['dv-address']);
    expect(decision.withheld).to.include.members(['address', 'telecom.value']);
  });

  it('lets the safeguarding lead see the address of a person flagged dv-risk (unless)', () => {
    const { read } = setup();
    const { data, decision } = read(patient({ flags: ['dv-risk'] }), ['safeguarding-lead'], 'direct-care');
    expect(data).to.have.property('address');
    expect(decision.restrictions).to.deep.equal([]);
  });

  it('withholds a single record outside the nurse care team as record_withheld, with the reason in the decision', () => {
    const { read, refusal } = setup();
    const e = refusal(() => read(patient({ careTeam: 'ward-9' }), ['nurse'], 'direct-care'));
    expect(e.code).to.equal('record_withheld');
    expect(e.status).to.equal(404);
    expect(e.message).to.not.include('ward-9');
    expect((e.decision as Decision).rowReasons).to.deep.equal({ 'no-grant': 1 });
  });

  it('drops hidden rows from a list and keeps the order of the rest', () => {
    const { read } = setup();
    const rows = [patient({ id: 'a' }), patient({ id: 'b', careTeam: 'ward-9' }), patient({ id: 'c' })];
    const { data, decision } = read(rows, ['nurse'], 'direct-care');
    expect((data as { id: string }[]).map((r) => r.id)).to.deep.equal(['a', 'c']);
    expect(decision.rowsWithheld).to.equal(1);
    expect(decision.withheldRecordIds).to.deep.equal(['b']);
    expect(decision.recordIds).to.deep.equal(['a', 'c']);
  });

  it('returns an empty list, not a refusal, when every row is hidden', () => {
    const { read } = setup();
    expect(read([patient({ careTeam: 'x' })], ['nurse'], 'direct-care').data).to.deep.equal([]);
  });

  it('unites the grants of all the user roles per row', () => {
    const { read } = setup();
    const { data } = read(patient({ careTeam: 'ward-9' }), ['nurse', 'safeguarding-lead'], 'direct-care');
    expect(data).to.have.all.keys('id', 'name', 'address');
  });

  it('withholds a sealed record from everyone but the GP for direct care (unless roles and purposes together)', () => {
    const { read, refusal } = setup();
    expect(refusal(() => read(patient({ sealed: true }), ['nurse'], 'direct-care')).code).to.equal('record_withheld');
    expect(read(patient({ sealed: true }), ['gp'], 'direct-care').data).to.have.property('diagnoses');
    expect(
      refusal(() => read(patient({ sealed: true }), ['gp', 'nurse'], 'emergency', { breakGlass: 'cardiac arrest in A&E' })).code,
    ).to.equal('record_withheld');
  });

  it('withholds a record labelled restricted in meta.security (FHIR security labels)', () => {
    const { read, refusal } = setup();
    expect(refusal(() => read(patient({ meta: { security: [{ code: 'R' }] } }), ['nurse'], 'direct-care')).code).to.equal(
      'record_withheld',
    );
  });

  it('pseudonymises, generalises and respects opt-out for service planning', () => {
    const { read } = setup();
    const rows = [patient({ id: 'a', optOut: false }), patient({ id: 'b', optOut: true }), patient({ id: 'c' })];
    const { data, decision } = read(rows, ['analyst'], 'service-planning');
    const out = data as Record<string, unknown>[];
    expect(out).to.have.length(2);
    // A non-identifiable purpose copies declared paths only: code and display
    // are not declared under diagnoses, so no element of it has anything left.
    expect(out[0]).to.deep.equal({ id: out[0]!['id'], address: [{ postcode: 'LS1' }], dateOfBirth: 1980, diagnoses: [] });
    expect(out[0]!['id'])
      .to.match(/^[0-9a-f]{32}$/)
      .and.not.equal('a');
    expect(decision.rowReasons).to.deep.equal({ 'opt-out': 1 });
    expect(decision.transforms).to.deep.equal({ id: 'pseudonym', dateOfBirth: 'year', 'address.postcode': 'district' });
  });

  it('gives the same pseudonym within a purpose and unlinkable ones across purposes', () => {
    const { read } = setup();
    const planning = (read(patient({ consent: { research: 'granted' } }), ['analyst'], 'service-planning').data as { id: string }).id;
    const again = (read(patient({ consent: { research: 'granted' } }), ['analyst'], 'service-planning').data as { id: string }).id;
    const research = (read(patient({ consent: { research: 'granted' } }), ['analyst'], 'research').data as { id: string }).id;
    expect(planning).to.equal(again);
    expect(research).to.not.equal(planning);
  });

  it('requires granted consent for research: refused and absent consent withhold the row', () => {
    const { read } = setup();
    const rows = [
      patient({ id: 'yes', consent: { research: 'granted' } }),
      patient({ id: 'no', consent: { research: 'refused' } }),
      patient({ id: 'none' }),
    ];
    const { data, decision } = read(rows, ['analyst'], 'research');
    expect(data).to.have.length(1);
    expect((data as { dateOfBirth: string }[])[0]!.dateOfBirth).to.equal('45-49');
    expect(decision.rowReasons).to.deep.equal({ consent: 2 });
  });

  it('refuses an expired data flow (reviewBy past)', () => {
    const { read, refusal } = setup();
    expect(refusal(() => read(patient(), ['analyst'], 'old-flow')).code).to.equal('purpose_expired');
  });

  it('refuses unknown and ungranted purposes', () => {
    const { read, refusal } = setup();
    const unknown = refusal(() => read(patient(), ['nurse'], 'dirct-care'));
    expect(unknown.code).to.equal('purpose_unknown');
    expect(unknown.message).to.include('did you mean "direct-care"');
    expect(refusal(() => read(patient(), ['nurse'], 'research')).code).to.equal('purpose_not_granted');
    expect(refusal(() => read(patient(), [], 'direct-care')).code).to.equal('purpose_not_granted');
    expect(refusal(() => read(patient(), ['nurse'], '')).code).to.equal('purpose_required');
  });

  it('allows break-glass only with a reason of 10 characters or more and only for roles granted it', () => {
    const { read, refusal } = setup();
    expect(refusal(() => read(patient(), ['nurse'], 'emergency')).code).to.equal('break_glass_required');
    expect(refusal(() => read(patient(), ['nurse'], 'emergency', { breakGlass: 'too short' })).code).to.equal('break_glass_refused');
    expect(refusal(() => read(patient(), ['analyst'], 'emergency', { breakGlass: 'patient collapsed on ward' })).code).to.equal(
      'break_glass_refused',
    );
    const { data, decision } = read(patient({ careTeam: 'elsewhere' }), ['nurse'], 'emergency', {
      breakGlass: 'patient collapsed on ward',
    });
    expect(data).to.have.all.keys('id', 'name', 'dateOfBirth', 'diagnoses');
    expect(decision.breakGlass).to.equal('patient collapsed on ward');
    expect(refusal(() => read(patient(), ['nurse'], 'direct-care', { breakGlass: 'patient collapsed on ward' })).code).to.equal(
      'bad_request',
    );
  });

  it('gives no personal data to users whose confidentiality training is missing or too old', () => {
    const { read, refusal } = setup();
    expect(refusal(() => read(patient(), ['gp'], 'direct-care', { user: { training: undefined } })).code).to.equal('training_missing');
    expect(refusal(() => read(patient(), ['gp'], 'direct-care', { user: { training: 'yesterday' } })).code).to.equal('training_missing');
    expect(refusal(() => read(patient(), ['gp'], 'direct-care', { user: { training: '2025-11-01' } })).code).to.equal('training_expired');
    expect(read(patient(), ['gp'], 'direct-care', { user: { training: '2025-11-30' } }).data).to.have.property('id');
  });

  it('honours a configured training limit', () => {
    const policies = validPolicies({ trainingMaxAgeDays: 30 });
    expect(() => policies.redact(patient(), { resource: 'Patient', purpose: 'direct-care', user: user(['gp']), now: NOW }))
      .to.throw(AccessError)
      .with.property('code', 'training_expired');
  });

  it('never copies hostile keys and never pollutes prototypes', () => {
    const { read } = setup();
    const hostile = JSON.parse(
      '{"id":"p1","careTeam":"ward-7","__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"name":[{"family":"D","__proto__":{"polluted":true}}]}',
    );
    const { data } = read(hostile, ['gp'], 'direct-care');
    expect(JSON.stringify(data)).to.not.match(/polluted|__proto__|constructor/);
    expect(({} as Record<string, unknown>)['polluted']).to.equal(undefined);
    expect(Object.getPrototypeOf(data)).to.equal(Object.prototype);
  });

  it('never mutates its input and never shares objects with it', () => {
    const { read } = setup();
    const input = patient();
    const before = structuredClone(input);
    const { data } = read(input, ['gp'], 'direct-care');
    expect(input).to.deep.equal(before);
    (data as { name: { family: string }[] }).name[0]!.family = 'changed';
    expect((input['name'] as { family: string }[])[0]!.family).to.equal('Doe');
  });

  it('keeps null and empty values of a disclosed field, and drops undisclosed ones', () => {
    const { read } = setup();
    const { data } = read(patient({ name: null, telecom: [], address: undefined, diagnoses: null }), ['nurse'], 'direct-care');
    expect(data).to.include({ name: null });
    expect(data).to.have.property('telecom').that.deep.equals([]);
    expect(data).to.not.have.property('diagnoses');
  });

  it('refuses input that is not a record or a list of records', () => {
    const { read } = setup();
    for (const bad of ['text', 42, null, true])
      expect(() => read(bad, ['gp'], 'direct-care'))
        .to.throw()
        .with.property('code', 'unredactable_body');
    const { data, decision } = read([patient(), 'text', null], ['gp'], 'direct-care');
    expect(data).to.have.length(1);
    expect(decision.rowReasons).to.deep.equal({ 'not-a-record': 2 });
  });

  it('refuses to pseudonymise without a key rather than disclose the raw identifier', () => {
    const policies = validPolicies({ pseudonymKey: undefined });
    expect(() => policies.redact(patient(), { resource: 'Patient', purpose: 'service-planning', user: user(['analyst']), now: NOW }))
      .to.throw()
      .with.property('code', 'pseudonym_key_missing');
  });

  it('records in the decision the grants, version and disclosed field names, never values', () => {
    const { read, policies } = setup();
    const { decision } = read(patient(), ['nurse'], 'direct-care');
    expect(decision).to.include({
      outcome: 'disclosed',
      resource: 'Patient',
      purpose: 'direct-care',
      policyVersion: policies.version,
      rowsReturned: 1,
    });
    expect(decision.grants).to.deep.equal(['nurse#0']);
    expect(JSON.stringify(decision)).to.not.match(/Doe|LS1 4AP|0113|1980-05-02/);
  });

  it('computes the same version for the same rules whatever the key order or file layout, and a new one when a rule changes', () => {
    const a = validPolicies();
    expect(a.version).to.match(/^[0-9a-f]{16}$/);
    const doc = parse(readFileSync(VALID_POLICY, 'utf8')) as Record<string, Record<string, unknown>>;
    const reversed = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).reverse());
    const split = [
      { file: 'b.yaml', text: stringify({ roles: reversed(doc['roles']!), restrictions: doc['restrictions'] }) },
      { file: 'a.yaml', text: stringify({ purposes: reversed(doc['purposes']!), resources: doc['resources'] }) },
    ];
    expect(policiesFromSources(split).version).to.equal(a.version);
    (doc['roles']!['gp'] as { grants: { read: unknown }[] }).grants[0]!.read = ['id'];
    expect(policiesFromSources([{ file: 'c.yaml', text: stringify(doc) }]).version).to.not.equal(a.version);
  });
});

describe('filters', () => {
  it('allows filtering only by fields readable untransformed in every visible row and never restricted', () => {
    const policies = validPolicies();
    const nurse = policies.plan({ resource: 'Patient', purpose: 'direct-care', user: user(['nurse']), now: NOW });
    expect(policies.mayFilterBy(nurse, 'name')).to.equal(true);
    expect(policies.mayFilterBy(nurse, 'name.family')).to.equal(true);
    expect(policies.mayFilterBy(nurse, 'nhsNumber')).to.equal(false);
    expect(policies.mayFilterBy(nurse, 'address')).to.equal(false);
    expect(policies.mayFilterBy(nurse, 'flags')).to.equal(false);
    const analyst = policies.plan({ resource: 'Patient', purpose: 'service-planning', user: user(['analyst']), now: NOW });
    expect(policies.mayFilterBy(analyst, 'dateOfBirth')).to.equal(false);
    expect(policies.mayFilterBy(analyst, 'diagnoses')).to.equal(true);
  });
});

describe('paths the engine reads walk arrays', () => {
  const prefs = () =>
    changed((d) => {
      d.resources.Patient.optOut = 'prefs.dataOptOut';
      d.resources.Patient.consent = 'consents';
    });

  it('withholds a row whose opt-out marker sits inside a list, wherever it is in the list', () => {
    const { read } = prefs();
    const rows = [
      patient({ id: 'one', prefs: [{ dataOptOut: true }] }),
      patient({ id: 'second', prefs: [{ dataOptOut: false }, { dataOptOut: true }] }),
      patient({ id: 'deep', prefs: [[{ dataOptOut: 'yes' }]] }),
      patient({ id: 'no', prefs: [{ dataOptOut: false }, {}, { dataOptOut: null }] }),
      patient({ id: 'none', prefs: [] }),
      patient({ id: 'absent' }),
    ];
    const { data, decision } = read(rows, ['analyst'], 'service-planning');
    expect(data).to.have.length(3);
    expect(decision.withheldRecordIds).to.deep.equal(['one', 'second', 'deep']);
    expect(decision.rowReasons).to.deep.equal({ 'opt-out': 3 });
  });

  it('fails closed when the opt-out path cannot be walked (a value where an object belongs)', () => {
    const { read } = prefs();
    const rows = [
      patient({ id: 'text', prefs: 'opted out' }),
      patient({ id: 'mixed', prefs: [{ dataOptOut: false }, 7] }),
      patient({ id: 'null', prefs: null }),
    ];
    const { decision } = read(rows, ['analyst'], 'service-planning');
    expect(decision.withheldRecordIds).to.deep.equal(['text', 'mixed']);
    expect(decision.recordIds).to.deep.equal(['null']);
  });

  it('needs an explicit grant wherever consent appears in a list, and at least one', () => {
    const { read } = prefs();
    const rows = [
      patient({ id: 'granted', consents: [{ research: 'granted' }, { planning: 'refused' }] }),
      patient({ id: 'refused-too', consents: [{ research: 'granted' }, { research: 'refused' }] }),
      patient({ id: 'empty', consents: [] }),
      patient({ id: 'other-purpose', consents: [{ planning: 'granted' }] }),
      patient({ id: 'malformed', consents: [{ research: 'granted' }, 'granted'] }),
      patient({ id: 'listed', consents: { research: ['granted', 'granted'] } }),
      patient({ id: 'half', consents: { research: ['granted', 'withdrawn'] } }),
    ];
    const { decision } = read(rows, ['analyst'], 'research');
    expect(decision.recordIds).to.deep.equal(['granted', 'listed']);
    expect(decision.rowReasons).to.deep.equal({ consent: 5 });
  });

  it('records every id a row holds when the id path walks a list, for returned and withheld rows alike', () => {
    const { read } = changed((d) => {
      d.resources.Patient.id = 'identifier.value';
    });
    const two = {
      identifier: [
        { system: 'nhs', value: '9990000018' },
        { system: 'local', value: 'L-1' },
        { system: 'dup', value: 'L-1' },
      ],
    };
    const { decision } = read(
      [patient(two), patient({ ...two, identifier: [{ value: 42 }], careTeam: 'ward-9' })],
      ['nurse'],
      'direct-care',
    );
    expect(decision.recordIds).to.deep.equal(['9990000018', 'L-1']);
    expect(decision.withheldRecordIds).to.deep.equal(['42']);
  });
});

describe('non-identifiable purposes copy declared paths only', () => {
  const planning = () =>
    changed((d) => {
      Object.assign(d.resources.Patient.fields, { 'diagnoses.code': 'special' });
      d.purposes['service-planning']!.views.Patient.fields = [
        'id',
        'dateOfBirth',
        'address.postcode',
        'diagnoses.code',
        'diagnoses.display',
      ];
    });

  it('drops free text that the record API nests inside a granted object (clinicianNotes)', () => {
    const { read } = planning();
    const record = patient({
      diagnoses: [{ code: 'E11', display: 'Type 2 diabetes', clinicianNotes: 'lives alone with her son', status: { text: 'worse' } }],
    });
    const { data } = read(record, ['analyst'], 'service-planning');
    expect((data as { diagnoses: unknown }).diagnoses).to.deep.equal([{ code: 'E11', display: 'Type 2 diabetes' }]);
    expect(JSON.stringify(data)).not.to.match(/lives alone|worse/);
  });

  it('passes the values of a declared path, lists of them included, and drops objects under it', () => {
    const { read } = planning();
    const record = patient({
      diagnoses: [{ code: ['E11', 'E11.9'], display: { text: 'Type 2 diabetes' } }],
      address: [{ postcode: 'LS1 4AP', line: ['1 High St'] }],
    });
    const { data } = read(record, ['analyst'], 'service-planning');
    expect(data).to.deep.include({ diagnoses: [{ code: ['E11', 'E11.9'] }], address: [{ postcode: 'LS1' }] });
  });

  it('never copies a path that only another purpose names, even under a field its view names', () => {
    const { read, policies } = changed((d) => {
      d.roles['gp']!.grants[0]!.read = ['id', 'diagnoses.clinicianNotes'];
      d.purposes['service-planning']!.views.Patient.fields.push('diagnoses.code');
    });
    const record = patient({ diagnoses: [{ code: 'E11', clinicianNotes: 'lives alone with her son' }] });
    expect((read(record, ['gp'], 'direct-care').data as { diagnoses: unknown }).diagnoses).to.deep.equal([
      { clinicianNotes: 'lives alone with her son' },
    ]);
    expect((read(record, ['analyst'], 'service-planning').data as { diagnoses: unknown }).diagnoses).to.deep.equal([{ code: 'E11' }]);
    // The subtree warning names what passes: diagnoses.code, which planning names, and not the note.
    expect(policies.warnings.map((w) => w.message).join('\n')).to.include('(diagnoses, diagnoses.code)');
  });

  it('still copies the whole subtree in an identifiable purpose', () => {
    const { read } = planning();
    const record = patient({ diagnoses: [{ code: 'E11', clinicianNotes: 'note for the care team' }] });
    expect((read(record, ['gp'], 'direct-care').data as { diagnoses: unknown }).diagnoses).to.deep.equal([
      { code: 'E11', clinicianNotes: 'note for the care team' },
    ]);
  });
});

describe('paths under a declared field', () => {
  it('discloses only family inside each name when a grant names name.family', () => {
    const { read, policies } = changed((d) => {
      d.roles['nurse']!.grants[0]!.read = ['id', 'name.family'];
    });
    const { data, decision } = read(
      patient({ name: [{ family: 'Doe', given: ['Jan'], prefix: 'Ms' }, { given: ['J'] }] }),
      ['nurse'],
      'direct-care',
    );
    expect(data).to.deep.equal({ id: 'p1', name: [{ family: 'Doe' }] });
    expect(decision.disclosed).to.deep.equal(['id', 'name.family']);
    expect(decision.withheld).to.include('name');
    const field = policies
      .explain({ roles: ['nurse'], purpose: 'direct-care', resource: 'Patient' })
      .fields.find((f) => f.field === 'name.family');
    expect(field).to.include({ class: 'direct', status: 'disclosed' });
  });

  it('removes value from each element of telecom when a restriction withholds telecom.value', () => {
    const { read } = changed((d) => {
      d.resources.Patient.fields = { ...d.resources.Patient.fields, telecom: 'direct' };
      delete d.resources.Patient.fields['telecom.value'];
      d.purposes['direct-care']!.views.Patient.fields.push('telecom');
      d.restrictions[0]!.withhold = ['address', 'telecom.value'];
    });
    const record = patient({
      flags: ['dv-risk'],
      telecom: [
        { system: 'phone', value: '0113 496 0000' },
        { system: 'email', value: 'j@example.org', use: 'home' },
      ],
    });
    const { data, decision } = read(record, ['gp'], 'direct-care');
    expect((data as { telecom: unknown }).telecom).to.deep.equal([{ system: 'phone' }, { system: 'email', use: 'home' }]);
    expect(JSON.stringify(data)).not.to.match(/0113|example\.org/);
    expect(decision.withheld).to.include('telecom.value');
    const lead = read(record, ['safeguarding-lead'], 'direct-care');
    expect(JSON.stringify(lead.data)).not.to.include('0113');
  });

  it('transforms name.family and nothing else of name', () => {
    const { read } = changed((d) => {
      d.purposes['direct-care']!.views.Patient.transform = { 'name.family': 'mask' };
    });
    const { data, decision } = read(patient({ name: [{ family: 'Doelittle', given: ['Jan'] }] }), ['nurse'], 'direct-care');
    expect((data as { name: unknown }).name).to.deep.equal([{ family: '*****ttle', given: ['Jan'] }]);
    expect(decision.transforms).to.deep.equal({ 'name.family': 'mask' });
  });

  it('lets a request filter by a granted path under a declared field, and not by its untransformed siblings', () => {
    const { policies } = changed((d) => {
      d.roles['nurse']!.grants[0]!.read = ['id', 'name.family'];
    });
    const plan = policies.plan({ resource: 'Patient', purpose: 'direct-care', user: user(['nurse']), now: NOW });
    expect(policies.mayFilterBy(plan, 'name.family')).to.equal(true);
    expect(policies.mayFilterBy(plan, 'name')).to.equal(false);
    expect(policies.mayFilterBy(plan, 'name.given')).to.equal(false);
  });

  it('writes a path under a declared field when an update grant names it, and refuses its siblings', () => {
    const { policies } = changed((d) => {
      d.roles['nurse']!.grants[0]!.update = ['ward', 'name.given'];
    });
    const ctx = {
      resource: 'Patient',
      purpose: 'direct-care',
      user: user(['nurse']),
      now: NOW,
      action: 'update' as const,
      existing: patient(),
    };
    expect(policies.checkWrite({ name: [{ given: ['Janet'] }] }, ctx).written).to.deep.equal(['name.given']);
    expect(() => policies.checkWrite({ name: [{ family: 'Roe' }] }, ctx))
      .to.throw(AccessError)
      .with.property('code', 'write_forbidden');
  });
});

describe('redact at the edges', () => {
  it('drops a scalar where a declared field below is withheld (telecom.value by a restriction)', () => {
    const { read } = changed((doc) => {
      doc.resources.Patient.fields['telecom'] = 'direct';
      doc.purposes['direct-care']!.views.Patient.fields.push('telecom');
      doc.roles['gp']!.grants[0]!.read = ['id', 'telecom'];
      doc.restrictions = [{ name: 'phone', withhold: ['telecom.value'], when: { flags: 'x' }, resource: 'Patient', because: 'x' } as never];
    });
    const data = read(patient({ flags: ['x'], telecom: '07700 900001' }), ['gp'], 'direct-care').data as Record<string, unknown>;
    expect(data).not.to.have.property('telecom');
    const list = read(
      patient({ flags: ['x'], telecom: ['07700 900001', { system: 'phone', value: '07700 900002' }] }),
      ['gp'],
      'direct-care',
    ).data as Record<string, unknown>;
    expect(list['telecom']).to.deep.equal([{ system: 'phone' }]);
    // Without the restriction nothing below telecom is withheld: the scalar is disclosed as granted.
    const plain = read(patient({ telecom: ['07700 900001'] }), ['gp'], 'direct-care').data as Record<string, unknown>;
    expect(plain['telecom']).to.deep.equal(['07700 900001']);
  });

  it('refuses an invalid now with a TypeError, never a RangeError or a disclosure', () => {
    const { read } = setup();
    for (const now of [new Date('nope'), new Date(Number.NaN)]) {
      expect(() => read(patient(), ['gp'], 'direct-care', { now })).to.throw(TypeError, /now must be a valid Date/);
    }
    expect(() => validPolicies({ now: new Date('nope') })).to.throw(TypeError, /now must be a valid Date/);
  });

  it('refuses a training age that is not a whole number of days from 1 to 3650 at load', () => {
    for (const days of [Number.NaN, Number.POSITIVE_INFINITY, -1, 0, 1.5, 3651]) {
      expect(() => validPolicies({ trainingMaxAgeDays: days }), String(days)).to.throw(
        TypeError,
        /trainingMaxAgeDays must be a whole number of days from 1 to 3650/,
      );
    }
    const policies = validPolicies({ trainingMaxAgeDays: 3650 });
    expect(() =>
      policies.redact(patient(), { resource: 'Patient', purpose: 'direct-care', user: user(['gp'], { training: '1990-01-01' }), now: NOW }),
    ).to.throw(AccessError, /older than 3650 days/);
  });

  it('drops a date of birth that is not a real calendar date rather than map it to a plausible year', () => {
    const { read } = setup();
    for (const dateOfBirth of ['0087-05-12', '0001-01-01', '1799-12-31', '1987-02-30', '1987-05-12Tnonsense']) {
      const planning = read(patient({ dateOfBirth }), ['analyst'], 'service-planning').data as Record<string, unknown>;
      expect(planning, dateOfBirth).not.to.have.property('dateOfBirth');
      const research = read(patient({ dateOfBirth, consent: { research: 'granted' } }), ['analyst'], 'research').data as Record<
        string,
        unknown
      >;
      expect(research, dateOfBirth).not.to.have.property('dateOfBirth');
    }
    expect(
      (read(patient({ dateOfBirth: '1987-05-12' }), ['analyst'], 'service-planning').data as Record<string, unknown>)['dateOfBirth'],
    ).to.equal(1987);
  });

  it('refuses a record nested deeper than 100 levels whole (unredactable_body), never a RangeError', () => {
    const { read } = setup();
    const deep = JSON.parse(`${'['.repeat(6000)}"x"${']'.repeat(6000)}`) as unknown;
    for (const input of [patient({ allergies: deep }), [patient(), patient({ flags: deep })], patient({ optOut: deep })]) {
      let thrown: unknown;
      try {
        read(input, ['gp'], 'direct-care');
      } catch (e) {
        thrown = e;
      }
      expect(thrown).to.be.instanceOf(FieldmeshError);
      expect((thrown as FieldmeshError).code).to.equal('unredactable_body');
      expect((thrown as FieldmeshError).message).to.include('deeper than 100 levels');
    }
    // 100 levels (the record and 99 below it) are still records.
    const nested = JSON.parse(`${'['.repeat(98)}"x"${']'.repeat(98)}`) as unknown;
    expect(() => read(patient({ allergies: nested }), ['gp'], 'direct-care')).not.to.throw();
  });
});

describe('redact: depth of list rows, checked where a value is read or copied', () => {
  /** A value of `levels` nested lists around a string: `levels` levels of nesting. */
  const lists = (levels: number): unknown => JSON.parse(`${'['.repeat(levels)}"x"${']'.repeat(levels)}`);
  /** An object that holds itself: nested without end. */
  const cycle = (): Record<string, unknown> => {
    const c: Record<string, unknown> = { note: 'loops' };
    c['self'] = c;
    return c;
  };
  const refusedTooDeep = (fn: () => unknown) => {
    let thrown: unknown;
    try {
      fn();
    } catch (e) {
      thrown = e;
    }
    expect(thrown).to.be.instanceOf(FieldmeshError);
    expect((thrown as FieldmeshError).code).to.equal('unredactable_body');
    expect((thrown as FieldmeshError).message).to.include('deeper than 100 levels');
  };
  const deep = lists(6000);

  it('refuses a list whose row nests too deep under a transformed field (age band, year, pseudonym)', () => {
    const { read } = setup();
    const consented = { consent: { research: 'granted' } };
    refusedTooDeep(() => read([patient(consented), patient({ ...consented, dateOfBirth: deep })], ['analyst'], 'research'));
    refusedTooDeep(() => read([patient(), patient({ dateOfBirth: deep })], ['analyst'], 'service-planning'));
    refusedTooDeep(() => read([patient(), patient({ id: deep })], ['analyst'], 'service-planning'));
    // In an identifiable view an object under a transform is never disclosed, but one nested too deep still refuses.
    const transformed = changed((d) => {
      d.purposes['direct-care']!.views.Patient.transform = { dateOfBirth: 'year' };
    });
    expect((transformed.read([patient()], ['gp'], 'direct-care').data as { dateOfBirth: unknown }[])[0]!.dateOfBirth).to.equal(1980);
    refusedTooDeep(() => transformed.read([patient(), patient({ dateOfBirth: { y: [deep] } })], ['gp'], 'direct-care'));
    refusedTooDeep(() => transformed.read([patient(), patient({ dateOfBirth: deep })], ['gp'], 'direct-care'));
  });

  it('drops, unwalked, an object under a declared leaf of a de-identified view, as any undeclared key', () => {
    const { read } = setup();
    const without = patient({ id: 'b' });
    delete without['dateOfBirth'];
    const plain = read([patient({ id: 'a' }), without], ['analyst'], 'service-planning');
    const { data } = read([patient({ id: 'a' }), patient({ id: 'b', dateOfBirth: { y: [deep] } })], ['analyst'], 'service-planning');
    expect(data).to.deep.equal(plain.data);
  });

  it('drops a deep value under a key nothing reads or copies, and discloses the row without it', () => {
    const { read } = setup();
    const plain = read([patient({ id: 'a' }), patient({ id: 'b' })], ['gp'], 'direct-care');
    for (const extra of [{ allergies: deep }, { internalNotes: cycle() }, { telecom: [{ system: deep, value: '0113 496 0000' }] }]) {
      const { data, decision } = read([patient({ id: 'a' }), patient({ id: 'b', ...extra })], ['gp'], 'direct-care');
      expect(data).to.deep.equal(plain.data);
      expect(decision.recordIds).to.deep.equal(['a', 'b']);
    }
  });

  it('refuses a deep value at a nested condition path (meta.security.code reads meta)', () => {
    const { read } = setup();
    refusedTooDeep(() => read([patient(), patient({ meta: { security: deep } })], ['gp'], 'direct-care'));
    refusedTooDeep(() => read([patient(), patient({ meta: { security: [{ code: 'N' }], other: deep } })], ['gp'], 'direct-care'));
  });

  it('refuses a deep value at a grant condition path, an opt-out path and a consent path', () => {
    const { read } = setup();
    refusedTooDeep(() => read([patient(), patient({ careTeam: deep })], ['nurse'], 'direct-care'));
    refusedTooDeep(() => read([patient(), patient({ optOut: deep })], ['analyst'], 'service-planning'));
    refusedTooDeep(() => read([patient(), patient({ consent: { research: deep } })], ['analyst'], 'research'));
  });

  it('refuses a cyclic object in a copied key and in a read key, never hangs or overflows the stack', () => {
    const { read } = setup();
    refusedTooDeep(() => read([patient(), patient({ diagnoses: [cycle()] })], ['gp'], 'direct-care'));
    refusedTooDeep(() => read([patient(), patient({ name: cycle() })], ['gp'], 'direct-care'));
    refusedTooDeep(() => read([patient(), patient({ flags: cycle() })], ['gp'], 'direct-care'));
    refusedTooDeep(() => read([patient(), patient({ sealed: [cycle()] })], ['gp'], 'direct-care'));
  });

  it('passes exactly 100 levels (the row and 99 below it) in a copied or read key, refuses 101', () => {
    const { read } = setup();
    const { data } = read([patient({ diagnoses: lists(99) })], ['gp'], 'direct-care');
    expect((data as { diagnoses: unknown }[])[0]!.diagnoses).to.deep.equal(lists(99));
    refusedTooDeep(() => read([patient({ diagnoses: lists(100) })], ['gp'], 'direct-care'));
    expect(() => read([patient({ flags: lists(99) })], ['gp'], 'direct-care')).not.to.throw();
    refusedTooDeep(() => read([patient({ flags: lists(100) })], ['gp'], 'direct-care'));
  });

  it('still checks a single record whole, keys nothing reads included', () => {
    const { read } = setup();
    refusedTooDeep(() => read(patient({ internalNotes: cycle() }), ['gp'], 'direct-care'));
  });
});

describe('subjects: whom the rows are about (resources.<R>.subject)', () => {
  const policies = async () => loadPolicies('policies', { pseudonymKey: 'test-pseudonym-key', now: NOW });
  const nurse = { sub: 'n1', roles: ['ward-nurse'], team: 'ward-7', training: '2026-06-01' };
  const note = (id: string, subjectId: unknown, extra: Record<string, unknown> = {}) => ({
    id,
    subjectId,
    author: 'u-1',
    authoredAt: '2026-11-20',
    kind: 'clinical',
    text: 'Reviewed today',
    careTeam: 'ward-7',
    ...extra,
  });
  const readNotes = async (input: unknown) =>
    (await policies()).redact(input, { resource: 'CaseNote', purpose: 'direct-care', user: nurse, now: NOW });

  it('names the subject of one record, and of a Patient (subject: id) its own id', async () => {
    const { decision } = await readNotes(note('n-1', 'p-1'));
    expect(decision).to.deep.include({ recordIds: ['n-1'], subjectIds: ['p-1'], withheldSubjectIds: [] });
    const set = await policies();
    const patient = { id: 'p-1', name: [{ family: 'Doe' }], careTeam: 'ward-7', ward: 'W7' };
    const read = set.redact(patient, { resource: 'Patient', purpose: 'direct-care', user: nurse, now: NOW });
    expect(read.decision).to.deep.include({ recordIds: ['p-1'], subjectIds: ['p-1'] });
  });

  it('names each subject of a list once, and the subjects of rows withheld whole apart', async () => {
    const rows = [
      note('n-1', 'p-1'),
      note('n-2', 'p-2'),
      note('n-3', 'p-1'),
      note('n-4', 'p-3', { careTeam: 'ward-9' }),
      note('n-5', 42),
      note('n-6', 'p-1', { careTeam: 'ward-9' }),
    ];
    const { data, decision } = await readNotes(rows);
    expect(data).to.have.length(4);
    expect(decision.subjectIds).to.deep.equal(['p-1', 'p-2', '42']);
    expect(decision.withheldSubjectIds).to.deep.equal(['p-3', 'p-1']);
    expect(decision.withheldRecordIds).to.deep.equal(['n-4', 'n-6']);
  });

  it('records nothing for a subject that is missing, an object, a boolean or null, and still discloses the row', async () => {
    const rows = [note('n-1', undefined), note('n-2', { id: 'p-1' }), note('n-3', true), note('n-4', null), note('n-5', ['p-7', { x: 1 }])];
    const { data, decision } = await readNotes(rows);
    expect(data).to.have.length(5);
    expect(decision.recordIds).to.deep.equal(['n-1', 'n-2', 'n-3', 'n-4', 'n-5']);
    // A list at the path is walked, as for ids: only its strings and numbers are subjects.
    expect(decision.subjectIds).to.deep.equal(['p-7']);
    // A single record whose subject is not an id is disclosed too.
    const one = await readNotes(note('n-9', { nested: 'p-1' }));
    expect(one.decision).to.deep.include({ recordIds: ['n-9'], subjectIds: [] });
  });

  it('names the subject of a single record refused as withheld', async () => {
    const set = await policies();
    const e = refusal(() =>
      set.redact(note('n-1', 'p-1', { careTeam: 'ward-9' }), { resource: 'CaseNote', purpose: 'direct-care', user: nurse, now: NOW }),
    );
    expect(e.code).to.equal('record_withheld');
    expect(e.decision).to.deep.include({ subjectIds: [], withheldSubjectIds: ['p-1'], withheldRecordIds: ['n-1'] });
  });

  it('names no subject on a resource that declares no subject path', () => {
    const { read } = setup();
    const { decision } = read([patient({ id: 'a' }), patient({ id: 'b', careTeam: 'ward-9' })], ['nurse'], 'direct-care');
    expect(decision).to.deep.include({ recordIds: ['a'], subjectIds: [], withheldSubjectIds: [] });
  });

  it('refuses a list row whose subject nests too deep, as it refuses one whose id does (the decision reads it)', async () => {
    const deep = JSON.parse(`${'['.repeat(6000)}"p-1"${']'.repeat(6000)}`) as unknown;
    let thrown: unknown;
    try {
      await readNotes([note('n-1', 'p-1'), note('n-2', deep)]);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).to.be.instanceOf(FieldmeshError);
    expect((thrown as FieldmeshError).code).to.equal('unredactable_body');
  });
});
