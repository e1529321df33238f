import { expect } from 'chai';
import fc from 'fast-check';
import jsyaml from 'js-yaml';
import { parse } from 'yaml';
import { lineBreakHazard } from '../../src/policy/line-breaks.js';
import { parsePolicyText } from '../../src/policy/parse.js';

const HAZARDS = ['\r', '\v', '\f', '\u0085', '\u2028', '\u2029'];

/** Text of one line: anything but a line end or a hazard. */
const lineText = fc.string({ unit: fc.constantFrom('a', ' ', '#', ':', '-', '"', "'", 'é', '\t', '\u200b'), maxLength: 12 });

describe('policy/line-breaks', () => {
  describe('lineBreakHazard', () => {
    it('finds a carriage return without a line feed, and allows CRLF', () => {
      expect(lineBreakHazard('a: 1 # note\rb: 2\n')).to.deep.equal({
        line: 1,
        col: 12,
        message: 'a carriage return without a line feed: save the file with LF or CRLF line ends',
      });
      expect(lineBreakHazard('a: 1\r\nb: 2\r\n')).to.equal(undefined);
      expect(lineBreakHazard('a: 1\r\nb: 2\r')).to.deep.include({ line: 2, col: 5 });
      expect(lineBreakHazard('a: 1\r\r\nb: 2\n')).to.deep.include({ line: 1, col: 5 });
    });

    it('names each other character by its code point and says how to write it instead', () => {
      expect(lineBreakHazard('a: "x\u2028y"\n')!.message).to.equal(
        'a line separator (U+2028): editors show a line break here that YAML does not read as one, so a line may be hidden; remove it, or write it as an escape ("\\u2028") inside a double-quoted string',
      );
      expect(lineBreakHazard('a: 1\n\u0085')!.message).to.match(/^a next-line character \(U\+0085\)/);
      expect(lineBreakHazard('\u2029')!.message).to.match(/^a paragraph separator \(U\+2029\)/);
      expect(lineBreakHazard('a\vb')!.message).to.match(/^a vertical tab \(U\+000B\)/);
      expect(lineBreakHazard('a\fb')!.message).to.match(/^a form feed \(U\+000C\)/);
    });

    it('places the first hazard of any text on the line and column that hold it, counting LF and CRLF line ends', () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(lineText, fc.constantFrom('\n', '\r\n')), { maxLength: 8 }),
          lineText,
          fc.constantFrom(...HAZARDS),
          fc.string({ maxLength: 20 }),
          (before, prefix, hazard, after) => {
            const head = before.map(([t, end]) => t + end).join('') + prefix;
            // A CR followed by a LF is a line end, not a hazard.
            const tail = hazard === '\r' && after.startsWith('\n') ? `x${after}` : after;
            const found = lineBreakHazard(head + hazard + tail);
            expect(found).to.not.equal(undefined);
            expect(found!.line).to.equal(before.length + 1);
            expect(found!.col).to.equal(prefix.length + 1);
            const lines = (head + hazard).split('\n');
            expect(lines[found!.line - 1]![found!.col - 1]).to.equal(hazard);
          },
        ),
      );
    });

    it('finds nothing in a text whose only line ends are LF and CRLF', () => {
      fc.assert(
        fc.property(fc.array(fc.tuple(lineText, fc.constantFrom('\n', '\r\n'))), (lines) => {
          expect(lineBreakHazard(lines.map(([t, end]) => t + end).join(''))).to.equal(undefined);
        }),
      );
    });
  });

  describe('parsePolicyText', () => {
    it('refuses a line hidden after a comment by any of them, where the two readers disagree or both drop it', () => {
      for (const hazard of HAZARDS) {
        const text = `roles:\n  gp:\n    grants: [] # note${hazard}    description: hidden\n`;
        const { policy, issues } = parsePolicyText(text, 'roles.yaml');
        expect(policy, JSON.stringify(hazard)).to.equal(undefined);
        expect(issues).to.have.length(1);
        expect(issues[0]).to.include({ file: 'roles.yaml', path: 'line 3', severity: 'error', line: 3, col: 22 });
      }
      // Why: with a lone CR, `yaml` reads the rest of the line as part of the comment, and js-yaml as a key.
      const cr = 'a: 1 # note\rb: 2\n';
      expect(parse(cr)).to.deep.equal({ a: 1 });
      expect(jsyaml.load(cr)).to.deep.equal({ a: 1, b: 2 });
    });
  });
});
