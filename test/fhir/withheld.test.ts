import { expect } from 'chai';
import type { Plan } from '../../src/engine/plan.js';
import { DATA_ABSENT_REASON, markFor, markWithheld, REDACTED_SYSTEM, withheldMarker } from '../../src/fhir/withheld.js';

const LABEL = { system: REDACTED_SYSTEM, code: 'REDACTED' };
const MASKED = { extension: [{ url: DATA_ABSENT_REASON, valueCode: 'masked' }] };

/** An Observation as a FHIR server holds it. */
function observation(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resourceType: 'Observation',
    id: 'ob-01',
    meta: { versionId: '3', lastUpdated: '2026-01-02T03:04:05Z' },
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '55284-4', display: 'Blood pressure' }] },
    subject: { reference: 'Patient/pt-01' },
    ...extra,
  };
}

/** `record` without the named top-level keys: what redaction leaves when they are withheld. */
function without(record: Record<string, unknown>, ...keys: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([k]) => !keys.includes(k)));
}

describe('fhir › withheld', () => {
  describe('the REDACTED security label', () => {
    it('is the whole meta when meta itself was withheld (the common case)', () => {
      const before = observation();
      const out = markWithheld('Observation', before, without(before, 'meta')) as Record<string, unknown>;
      expect(out['meta']).to.deep.equal({ security: [LABEL] });
      expect(out['status']).to.equal('final');
    });

    it('is added to the meta that was disclosed, beside its own labels, once', () => {
      const restricted = { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' };
      const before = observation({ meta: { lastUpdated: '2026-01-02T03:04:05Z', security: [restricted] }, note: [{ text: 'x' }] });
      const out = markWithheld('Observation', before, without(before, 'note')) as Record<string, unknown>;
      expect(out['meta']).to.deep.equal({ lastUpdated: '2026-01-02T03:04:05Z', security: [restricted, LABEL] });
      // An upstream that labelled it already: not twice.
      const again = markWithheld('Observation', before, out) as Record<string, unknown>;
      expect((again['meta'] as { security: unknown[] }).security).to.have.length(2);
    });

    it('is added when a field deep inside was withheld, or an element of a list', () => {
      const before = observation({ subject: { reference: 'Patient/pt-01', display: 'Alex Smith' } });
      const lostDisplay = { ...before, subject: { reference: 'Patient/pt-01' } };
      expect((markWithheld('Observation', before, lostDisplay) as Record<string, unknown>)['meta']).to.deep.equal({
        ...(before['meta'] as object),
        security: [LABEL],
      });
      const twoNotes = observation({ note: [{ text: 'a' }, { text: 'b' }] });
      const oneNote = { ...twoNotes, note: [{ text: 'b' }] };
      expect(markWithheld('Observation', twoNotes, oneNote)).to.have.nested.property('meta.security[0].code', 'REDACTED');
    });

    it('is not added, and nothing is, when nothing was withheld: the same object comes back', () => {
      const before = observation();
      const after = structuredClone(before);
      expect(markWithheld('Observation', before, after)).to.equal(after);
    });

    it('is not added for a transformed value: it is still there', () => {
      const before = { resourceType: 'Patient', id: 'pt-01', birthDate: '1980-01-02', identifier: [{ value: '9990000001' }] };
      const after = { resourceType: 'Patient', id: 'c2f1e0', birthDate: '1980', identifier: [{ value: '******0001' }] };
      expect(markWithheld('Patient', before, after)).to.equal(after);
    });
  });

  describe('data-absent-reason masked on required elements', () => {
    it('marks a withheld primitive under _name and a withheld complex element under its name', () => {
      const before = observation();
      const out = markWithheld('Observation', before, without(before, 'meta', 'status', 'code'));
      expect(out).to.deep.equal({
        resourceType: 'Observation',
        id: 'ob-01',
        subject: { reference: 'Patient/pt-01' },
        _status: MASKED,
        code: MASKED,
        meta: { security: [LABEL] },
      });
    });

    it('leaves alone an element that was never there, and one that was not required', () => {
      const before = without(observation(), 'status');
      const out = markWithheld('Observation', before, without(before, 'meta', 'subject')) as Record<string, unknown>;
      expect(out).not.to.have.any.keys('status', '_status', 'subject', '_subject');
      expect(out['code']).to.deep.equal(before['code']);
    });

    it('reads a primitive present only by its extensions as present, before and after', () => {
      const before = without(observation({ _status: { extension: [{ url: 'https://example.org/x', valueString: 'y' }] } }), 'status');
      expect(markWithheld('Observation', before, without(before, '_status'))).to.have.deep.property('_status', MASKED);
      expect(markWithheld('Observation', before, without(before, 'meta'))).to.have.deep.property('_status', before['_status']);
    });

    it('marks a required choice element under its first JSON name, whichever was withheld', () => {
      const before = {
        resourceType: 'MedicationRequest',
        status: 'active',
        intent: 'order',
        medicationReference: { reference: 'Medication/hiv-arv' },
        subject: { reference: 'Patient/pt-01' },
      };
      const out = markWithheld('MedicationRequest', before, without(before, 'medicationReference')) as Record<string, unknown>;
      expect(out['medicationCodeableConcept']).to.deep.equal(MASKED);
      expect(out).not.to.have.property('medicationReference');
      // A primitive first name: `_occurrenceDateTime`, even when the withheld one was the string.
      const shot = {
        resourceType: 'Immunization',
        status: 'completed',
        vaccineCode: { text: 'x' },
        patient: { reference: 'Patient/1' },
        occurrenceString: 'spring',
      };
      expect(markWithheld('Immunization', shot, without(shot, 'occurrenceString'))).to.have.deep.property('_occurrenceDateTime', MASKED);
    });

    it('walks disclosed backbone elements of a list one by one: component.code withheld, valueQuantity disclosed', () => {
      const component = (code: string, value: number) => ({
        code: { coding: [{ system: 'http://loinc.org', code }] },
        valueQuantity: { value, unit: 'mm[Hg]' },
      });
      const before = observation({ component: [component('8480-6', 120), component('8462-4', 80)] });
      const after = {
        ...without(before, 'meta'),
        component: [{ valueQuantity: { value: 120, unit: 'mm[Hg]' } }, { valueQuantity: { value: 80, unit: 'mm[Hg]' } }],
      };
      const out = markWithheld('Observation', before, after) as { component: Record<string, unknown>[] };
      expect(out.component).to.deep.equal([
        { valueQuantity: { value: 120, unit: 'mm[Hg]' }, code: MASKED },
        { valueQuantity: { value: 80, unit: 'mm[Hg]' }, code: MASKED },
      ]);
    });

    it('matches each element kept to the one it came from when elements with nothing left were dropped', () => {
      const before = observation({
        component: [
          { code: { text: 'a' } },
          { code: { text: 'b' }, valueQuantity: { value: 1 } },
          { code: { text: 'c' }, valueString: 'n' },
        ],
      });
      const after = { ...without(before, 'meta'), component: [{ valueQuantity: { value: 1 } }, { valueString: 'n' }] };
      const out = markWithheld('Observation', before, after) as { component: Record<string, unknown>[] };
      expect(out.component).to.deep.equal([
        { valueQuantity: { value: 1 }, code: MASKED },
        { valueString: 'n', code: MASKED },
      ]);
    });

    it('gives a required element that repeats a list of one marker, whatever the count was', () => {
      const before = {
        resourceType: 'Composition',
        status: 'final',
        type: { text: 't' },
        date: '2026-01-01',
        title: 'x',
        author: [{ reference: 'Practitioner/1' }, { reference: 'Practitioner/2' }],
      };
      expect(markWithheld('Composition', before, without(before, 'author'))).to.have.deep.property('author', [MASKED]);
    });

    it('marks nothing inside an element that was withheld whole', () => {
      const before = observation({ component: [{ code: { text: 'a' }, valueQuantity: { value: 1 } }] });
      const out = markWithheld('Observation', before, without(before, 'component')) as Record<string, unknown>;
      expect(out).not.to.have.property('component');
    });
  });

  it('adds no record value, nor any hint of one: only the label and the extension', () => {
    const before = observation({
      status: 'preliminary',
      code: { coding: [{ system: 'http://loinc.org', code: '75622-1', display: 'HIV 1 and 2 tests' }], text: 'HIV' },
      component: [{ code: { text: 'viral load' }, valueQuantity: { value: 40 } }],
    });
    const after = { resourceType: 'Observation', id: 'ob-01', component: [{ valueQuantity: { value: 40 } }] };
    const text = JSON.stringify(markWithheld('Observation', before, after));
    for (const value of ['preliminary', 'HIV', '75622-1', 'loinc', 'viral load', 'Patient/pt-01', '2026-01-02', 'versionId']) {
      expect(text).not.to.include(value);
    }
    const stripped = text.replaceAll(JSON.stringify(MASKED), '{}').replaceAll(JSON.stringify(LABEL), '{}');
    expect(stripped).not.to.include('http');
  });

  it('never changes the redacted copy it is given', () => {
    const before = observation();
    const after = without(before, 'meta', 'status');
    const copy = structuredClone(after);
    markWithheld('Observation', before, after);
    expect(after).to.deep.equal(copy);
  });

  describe('transformed fields', () => {
    // A plan that transforms birthDate to its year and a postcode to its district (only what the marker reads of it).
    const plan = {
      view: {
        transforms: new Map([
          ['birthDate', 'year'],
          ['address.postalCode', 'district'],
        ]),
      },
    } as unknown as Plan;
    const mark = withheldMarker('Patient');

    it('never counts a transformed field as withheld, whether the transform could read the value or dropped it', () => {
      const readable = { resourceType: 'Patient', birthDate: '1980-01-01', address: [{ postalCode: 'LS1 4AP' }] };
      const malformed = { resourceType: 'Patient', birthDate: '1700-01-01', address: [{ postalCode: 'NOTAPOSTCODE' }] };
      // The transform wrote a year and a district for one, and dropped what it could not read for the other.
      const transformed = mark(readable, { resourceType: 'Patient', birthDate: '1980', address: [{ postalCode: 'LS1' }] }, plan);
      const dropped = mark(malformed, { resourceType: 'Patient', address: [{}] }, plan);
      // No label on either: a label only on the second would tell that its values were malformed.
      expect(transformed).not.to.have.property('meta');
      expect(dropped).not.to.have.property('meta');
    });

    it('still labels a resource that lost a field the plan does not transform', () => {
      const out = mark({ resourceType: 'Patient', birthDate: '1700-01-01', gender: 'female' }, { resourceType: 'Patient' }, plan);
      expect(out).to.have.nested.property('meta.security[0].code', 'REDACTED');
    });
  });

  describe('withheldMarker and markFor', () => {
    it('makes one mark per R4 type and refuses a type R4 does not have', () => {
      expect(withheldMarker('Observation')).to.equal(withheldMarker('Observation'));
      expect(() => withheldMarker('ObservationComponent')).to.throw(TypeError, /not an R4 resource type/);
      expect(() => withheldMarker('patients')).to.throw(TypeError);
    });

    it('marks only FHIR routes: the route decides when it says, the purpose when it does not', () => {
      expect(markFor(undefined, true, true)).to.equal(undefined);
      expect(markFor('Observation', undefined, undefined)).to.equal(undefined);
      expect(markFor('Observation', undefined, false)).to.equal(undefined);
      expect(markFor('Observation', true, false)).to.equal(withheldMarker('Observation'));
      expect(markFor('Observation', undefined, true)).to.equal(withheldMarker('Observation'));
      expect(markFor('Observation', false, true)).to.equal(undefined);
    });
  });
});
