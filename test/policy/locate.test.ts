import { expect } from 'chai';
import { IssueLocator, placesIn } from '../../src/policy/locate.js';

describe('policy/locate', () => {
  describe('placesIn', () => {
    const text = [
      'resources:', // 1
      '  Patient:', // 2
      '    fields:', // 3
      '      address.postcode: quasi', // 4
      '      address: direct', // 5
      'roles:', // 6
      '  nurse:', // 7
      '    grants:', // 8
      '      - purpose: dirct-care', // 9
      '        read: [id, nmae]', // 10
    ].join('\n');

    it('points at the value of a bad value, and at the key when asked', () => {
      const place = placesIn(text);
      expect(place('roles.nurse.grants[0].purpose')).to.deep.equal({ line: 9, col: 18 });
      expect(place('roles.nurse.grants[0].purpose', 'key')).to.deep.equal({ line: 9, col: 9 });
      expect(place('roles.nurse.grants[0].read[1]')).to.deep.equal({ line: 10, col: 20 });
    });

    it('finds a dotted key whole, before the shorter key it begins with', () => {
      expect(placesIn(text)('resources.Patient.fields.address.postcode')).to.deep.equal({ line: 4, col: 25 });
      expect(placesIn(text)('resources.Patient.fields.address')).to.deep.equal({ line: 5, col: 16 });
    });

    it('points at the key of a mapping or list, and at the deepest key that exists for a missing one', () => {
      expect(placesIn(text)('roles.nurse')).to.deep.equal({ line: 7, col: 3 });
      expect(placesIn(text)('roles.nurse.description')).to.deep.equal({ line: 7, col: 3 });
      expect(placesIn(text)('roles.nurse.grants[3].purpose')).to.deep.equal({ line: 8, col: 5 });
    });

    it('places the top level at the start of the document, and pseudo-paths nowhere', () => {
      expect(placesIn(text)('(top level)')).to.deep.equal({ line: 1, col: 1 });
      expect(placesIn(text)('(file)')).to.equal(undefined);
      expect(placesIn(text)('line 3')).to.equal(undefined);
      expect(placesIn('')('(top level)')).to.equal(undefined);
    });
  });

  describe('IssueLocator', () => {
    it('adds line and col to an issue of a file it was given, and leaves others and placed ones as they are', () => {
      const locator = new IssueLocator([{ file: 'r.yaml', text: 'roles:\n  gp: {}\n' }]);
      const issue = { file: 'r.yaml', path: 'roles.gp', message: 'no grants', severity: 'warning' as const };
      expect(locator.locate(issue)).to.deep.equal({ ...issue, line: 2, col: 3 });
      expect(locator.locate({ ...issue, file: 'other.yaml' })).to.deep.equal({ ...issue, file: 'other.yaml' });
      expect(locator.locate({ ...issue, line: 9, col: 9 })).to.deep.equal({ ...issue, line: 9, col: 9 });
    });
  });
});
