import { expect } from 'chai';
import { didYouMean } from '../../src/lib/suggest.js';

describe('lib/suggest', () => {
  describe('didYouMean', () => {
    it('names the closest candidate for a typo', () => {
      expect(didYouMean('dirct-care', ['direct-care', 'research'])).to.equal(' (did you mean "direct-care"?)');
      expect(didYouMean('resarch', ['direct-care', 'research'])).to.equal(' (did you mean "research"?)');
    });

    it('ignores case when measuring, and suggests the spelling as declared', () => {
      expect(didYouMean('PATIENT', ['Patient', 'Encounter'])).to.equal(' (did you mean "Patient"?)');
    });

    it('suggests nothing when every candidate is too far off', () => {
      expect(didYouMean('billing', ['direct-care', 'research'])).to.equal('');
      expect(didYouMean('anything', [])).to.equal('');
    });

    it('allows two edits for a short name and a third of the length for a long one', () => {
      expect(didYouMean('ab', ['abcd'])).to.equal(' (did you mean "abcd"?)');
      expect(didYouMean('ab', ['abcde'])).to.equal('');
      // 12 characters: up to 4 edits.
      expect(didYouMean('safeguardinx', ['safeguarding'])).to.equal(' (did you mean "safeguarding"?)');
      expect(didYouMean('safexxxxding', ['safeguarding'])).to.equal(' (did you mean "safeguarding"?)');
      expect(didYouMean('safexxxxxing', ['safeguarding'])).to.equal('');
    });

    it('takes the first of equally close candidates, from any iterable', () => {
      expect(didYouMean('nurse', new Set(['nurses', 'nursed']))).to.equal(' (did you mean "nurses"?)');
    });
  });
});
