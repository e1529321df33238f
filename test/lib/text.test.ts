import { expect } from 'chai';
import fc from 'fast-check';
import { printable, printableJson } from '../../src/lib/text.js';

/** Everything a terminal may act on rather than show. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** Strings rich in the characters that matter: controls of every kind mixed with ordinary and non-Latin text. */
const hostile = fc
  .array(
    fc.oneof(
      fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)),
      fc.integer({ min: 0x7f, max: 0x9f }).map((c) => String.fromCharCode(c)),
      fc.constantFrom('\u061c', '\u200e', '\u200f', '\u2028', '\u2029', '\u202e', '\u2066', '\u2069', '\\', '\\u0085'),
      fc.string(),
      fc.constantFrom('é', 'Ω', '日本', 'مرحبا', '🙂'),
    ),
  )
  .map((parts) => parts.join(''));

describe('audit/text', () => {
  describe('printable', () => {
    it('escapes tab, CR, LF, ESC, DEL and C1 controls as \\uXXXX', () => {
      expect(printable('a\tb\r\nc\u001b[2Jd\u007fe\u0085f\u009b31m')).to.equal(
        'a\\u0009b\\u000d\\u000ac\\u001b[2Jd\\u007fe\\u0085f\\u009b31m',
      );
    });

    it('escapes the bidirectional controls that reorder what a terminal shows', () => {
      expect(printable('ok\u202egnp.exe\u2066x\u2069')).to.equal('ok\\u202egnp.exe\\u2066x\\u2069');
    });

    it('leaves ordinary text, accents, other scripts and emoji alone', () => {
      expect(printable('Dr Zoë Ødegård, 日本, مرحبا 🙂 (ward 7: "bed 3")')).to.equal('Dr Zoë Ødegård, 日本, مرحبا 🙂 (ward 7: "bed 3")');
    });

    it('never leaves a control character, and is idempotent', () => {
      fc.assert(
        fc.property(hostile, (s) => {
          const p = printable(s);
          expect(p).to.not.match(CONTROL);
          expect(printable(p)).to.equal(p);
        }),
      );
    });
  });

  describe('printableJson', () => {
    it('escapes C1 controls that JSON.stringify leaves raw', () => {
      expect(JSON.stringify({ r: 'a\u0085b' })).to.include('\u0085');
      expect(printableJson({ r: 'a\u0085b\tc' }, 0)).to.equal('{"r":"a\\u0085b\\tc"}');
    });

    it('parses back to the same value, with no raw control character in the text', () => {
      fc.assert(
        fc.property(fc.dictionary(hostile, fc.oneof(hostile, fc.array(hostile))), (value) => {
          const json = printableJson(value);
          expect(json.replaceAll('\n', '')).to.not.match(CONTROL);
          expect(JSON.parse(json)).to.deep.equal(value);
        }),
      );
    });
  });
});
