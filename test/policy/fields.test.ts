import { expect } from 'chai';
import { parse } from 'yaml';
import { fieldIndex, fieldsOf, isHostile, ownFieldsOf } from '../../src/policy/fields.js';
import { mergePolicyFiles } from '../../src/policy/parse.js';
import { policyFileSchema } from '../../src/policy/schema.js';

/** A merged document from inline YAML, through the same schema the loader uses. */
function setup(yaml: string) {
  return mergePolicyFiles([{ file: 'policy.yaml', policy: policyFileSchema.parse(parse(yaml)) }]).document;
}

const DOC = `
resources:
  Patient:
    fields: { id: identifier, name: direct, address: direct, address.postcode: quasi, diagnoses: special }
purposes:
  direct-care:
    lawfulBasis: { article6: "6(1)(e)" }
    reviewBy: 2099-01-01
    views: { Patient: { fields: [id, name.family, address] } }
  planning:
    lawfulBasis: { article6: "6(1)(e)" }
    reviewBy: 2099-01-01
    identifiable: false
    views: { Patient: { fields: [id, diagnoses.code], transform: { id: pseudonym } } }
roles:
  gp:
    grants:
      - { purpose: direct-care, resource: Patient, read: [address.line], update: [name.given] }
      - { purpose: planning, resource: Patient, read: [diagnoses.display] }
restrictions:
  - { name: dv, resource: Patient, withhold: [address.geo, record], because: danger }
  - { name: other, resource: Encounter, withhold: [reason], because: elsewhere }
`;

describe('policy/fields', () => {
  describe('fieldsOf', () => {
    it('holds every declared field with its class', () => {
      const fields = fieldsOf(setup(DOC), 'Patient');
      expect(fields.get('id')).to.equal('identifier');
      expect(fields.get('address.postcode')).to.equal('quasi');
    });

    it('adds each path named under a declared field, with the class of its longest declared prefix', () => {
      const fields = fieldsOf(setup(DOC), 'Patient');
      expect(fields.get('name.family')).to.equal('direct'); // a view
      expect(fields.get('address.line')).to.equal('direct'); // a read grant
      expect(fields.get('name.given')).to.equal('direct'); // an update grant
      expect(fields.get('diagnoses.display')).to.equal('special'); // another purpose's grant
      expect(fields.get('address.geo')).to.equal('direct'); // a restriction's withhold
    });

    it('leaves out a named path under no declared field, a restriction of another resource and the word record', () => {
      const doc = setup(DOC.replace('read: [address.line]', 'read: [adress.line]'));
      const fields = fieldsOf(doc, 'Patient');
      expect(fields.has('adress.line')).to.equal(false);
      expect(fields.has('reason')).to.equal(false);
      expect(fields.has('record')).to.equal(false);
    });

    it('never admits a hostile path, even under a declared field', () => {
      const doc = setup(DOC.replace('read: [address.line]', 'read: [address.constructor]'));
      expect(fieldsOf(doc, 'Patient').has('address.constructor')).to.equal(false);
    });

    it('is empty for an unknown resource, or one named like a built-in property', () => {
      expect(fieldsOf(setup(DOC), 'Encounter').size).to.equal(0);
      expect(fieldsOf(setup(DOC), 'toString').size).to.equal(0);
    });
  });

  describe('ownFieldsOf', () => {
    it('holds the declared fields and the paths this purpose names, not those another purpose names', () => {
      const planning = ownFieldsOf(setup(DOC), 'Patient', 'planning');
      expect(planning.has('diagnoses.code')).to.equal(true);
      expect(planning.has('diagnoses.display')).to.equal(true);
      expect(planning.has('diagnoses')).to.equal(true);
      expect(planning.has('name.family')).to.equal(false);
      expect(planning.has('address.line')).to.equal(false);
      expect(planning.has('address.geo')).to.equal(false);
    });
  });

  describe('fieldIndex', () => {
    it('answers for every resource and purpose as fieldsOf and ownFieldsOf do, in the same order', () => {
      const doc = setup(DOC);
      const index = fieldIndex(doc);
      for (const resource of ['Patient', 'Encounter', 'toString']) {
        expect([...index.fieldsOf(resource)]).to.deep.equal([...fieldsOf(doc, resource)]);
        for (const purpose of ['direct-care', 'planning', 'constructor'])
          expect([...index.ownFieldsOf(resource, purpose)]).to.deep.equal([...ownFieldsOf(doc, resource, purpose)]);
      }
      expect([...index.fieldsOf('Patient').keys()]).to.include.members(['name.family', 'address.line', 'diagnoses.display', 'address.geo']);
    });

    it('hands out a copy, so a caller that changes its map changes no other answer', () => {
      const index = fieldIndex(setup(DOC));
      index.fieldsOf('Patient').set('invented', 'special');
      expect(index.fieldsOf('Patient').has('invented')).to.equal(false);
    });
  });

  describe('isHostile', () => {
    it('is true when any segment would reach a prototype', () => {
      expect(isHostile('__proto__')).to.equal(true);
      expect(isHostile('address.constructor.x')).to.equal(true);
      expect(isHostile('address.prototypes')).to.equal(false);
    });
  });
});
