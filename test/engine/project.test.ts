import { expect } from 'chai';
import { compileProjector } from '../../src/engine/project.js';
import { DROP, type Transform } from '../../src/engine/transforms.js';
import { patient, validPolicies } from '../helpers.js';

/** The Patient resource of the test policy and a projector for exactly these field paths (nothing below them). */
function setup() {
  const resource = validPolicies().compiled.resources.get('Patient')!;
  const projector = (fields: string[], transforms: Record<string, Transform> = {}, declaredOnly = false) => {
    const mask = fields.reduce((m, f) => m | resource.bits.get(f)!, 0n);
    return compileProjector(resource, mask, (path) => transforms[path], declaredOnly);
  };
  return { projector };
}

const upper: Transform = (v) => (typeof v === 'string' ? v.toUpperCase() : DROP);

describe('engine/project', () => {
  describe('compileProjector', () => {
    it('copies permitted fields only: deny by default', () => {
      const out = setup().projector(['id', 'ward'])(patient());
      expect(out).to.deep.equal({ id: 'p1', ward: 'W7' });
    });

    it('copies a permitted field whole, with keys the record API adds under it', () => {
      const out = setup().projector(['name'])(patient({ name: [{ family: 'Doe', given: ['Jan'], use: 'official' }] }));
      expect(out).to.deep.equal({ name: [{ family: 'Doe', given: ['Jan'], use: 'official' }] });
    });

    it('withholds a declared field below a permitted one, and every key under it', () => {
      const out = setup().projector(['address'])(patient()) as { address: Record<string, unknown>[] };
      expect(out.address).to.deep.equal([{ line: ['1 High St'], geo: { lat: 53.8 } }]);
    });

    it('keeps a permitted child of a withheld parent, walking lists', () => {
      const out = setup().projector(['telecom.value', 'address.postcode'])(patient());
      expect(out).to.deep.equal({ telecom: [{ value: '0113 496 0000' }], address: [{ postcode: 'LS1 4AP' }] });
    });

    it('never shares a value with the input: the output is a copy', () => {
      const record = patient();
      const out = setup().projector(['name'])(record) as { name: { given: string[] }[] };
      out.name[0]!.given.push('changed');
      expect((record['name'] as { given: string[] }[])[0]!.given).to.deep.equal(['Jan']);
    });

    it('never copies a hostile key, a function or a class instance', () => {
      const record = {
        ...patient(),
        name: JSON.parse('[{"family":"Doe","__proto__":{"admin":true}}]') as unknown,
        ward: () => 'W7',
        careTeam: new Date(),
      };
      const out = setup().projector(['name', 'ward', 'careTeam'])(record) as Record<string, unknown>;
      expect(out).to.deep.equal({ name: [{ family: 'Doe' }] });
      expect(Object.getPrototypeOf((out['name'] as object[])[0])).to.equal(Object.prototype);
    });

    it('never copies a hostile key where only part of an object is permitted', () => {
      const record = JSON.parse(
        '{"id":"p1","__proto__":{"admin":true},"address":[{"line":["1 High St"],"postcode":"LS1 4AP","__proto__":{"admin":true}}]}',
      ) as unknown;
      const out = setup().projector(['id', 'address'])(record) as { address: object[] };
      expect(out).to.deep.equal({ id: 'p1', address: [{ line: ['1 High St'] }] });
      expect(Object.getPrototypeOf(out)).to.equal(Object.prototype);
      expect(Object.getPrototypeOf(out.address[0])).to.equal(Object.prototype);
      expect((out as { admin?: unknown }).admin).to.equal(undefined);
    });

    it('applies a transform to every leaf value, drops what it drops, and never copies an object under it', () => {
      const project = setup().projector(['ward', 'careTeam', 'nhsNumber'], { ward: upper, careTeam: upper, nhsNumber: upper });
      expect(project(patient({ ward: 'w7', careTeam: 42, nhsNumber: { '9990000018': 'verified' } }))).to.deep.equal({ ward: 'W7' });
    });

    it('drops a scalar where a declared field below it is withheld: it cannot be told apart from it', () => {
      const out = setup().projector(['address'])(
        patient({ address: ['1 High St, LS1 4AP', { line: ['1 High St'], postcode: 'LS1 4AP' }] }),
      );
      expect(out).to.deep.equal({ address: [{ line: ['1 High St'] }] });
      const whole = setup().projector(['address', 'address.postcode'])(patient({ address: ['1 High St, LS1 4AP'] }));
      expect(whole).to.deep.equal({ address: ['1 High St, LS1 4AP'] });
    });

    it('with declaredOnly, passes declared field paths and never another key under a permitted field', () => {
      const project = setup().projector(['address', 'address.postcode'], {}, true);
      expect(project(patient())).to.deep.equal({ address: [{ postcode: 'LS1 4AP' }] });
      expect(setup().projector(['diagnoses'], {}, true)(patient())).to.deep.equal({ diagnoses: [] });
      expect(setup().projector(['diagnoses'], {}, true)(patient({ diagnoses: ['E11'] }))).to.deep.equal({ diagnoses: ['E11'] });
      expect(setup().projector(['ward'], {}, true)(patient())).to.deep.equal({ ward: 'W7' });
    });

    it('keeps an empty object a permitted field holds, and returns undefined when nothing is permitted', () => {
      expect(setup().projector(['id', 'diagnoses'])({ id: 'p1', diagnoses: {} })).to.deep.equal({ id: 'p1', diagnoses: {} });
      expect(setup().projector([])(patient())).to.equal(undefined);
    });
  });
});
