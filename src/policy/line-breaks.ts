/**
 * A character that one reader of a YAML text takes as a line break and
 * another does not, and where it is in the text (1-based, as editors count).
 */
export interface LineBreakHazard {
  line: number;
  col: number;
  message: string;
}

/**
 * The first character of a text that may hide a line: a carriage return
 * not followed by a line feed, a vertical tab, a form feed, a next line
 * (U+0085), a line separator (U+2028) or a paragraph separator (U+2029);
 * or that may rewrite or reorder what is shown: any other C0 or C1 control
 * character but tab, line feed and CRLF (ESC starts a terminal sequence that
 * can redraw a line over a `where`), DEL, and the bidirectional overrides
 * and isolates (U+202A–U+202E, U+2066–U+2069).
 *
 * Editors, terminals and diff views break the line at these, but the YAML
 * readers do not, and not alike: after a comment, `yaml` reads a lone CR as
 * part of the comment (so `# note⏎where: {…}` silently drops the `where`,
 * and a GP would read every patient), while js-yaml reads the same CR as a
 * line end; U+2028 after a comment hides the rest of the line from both.
 * What a reviewer sees must be what loads, so a policy or case file holding
 * one is refused, wherever it is (inside a quoted string too, where the
 * readers fold it differently). A character that a string must hold is
 * written as its escape in a double-quoted string (`"\u2028"`). A CR of a
 * CRLF line end is a line end to everyone, and allowed.
 *
 * Policy files (policy/parse.ts) and case files (testing/cases.ts) both ask
 * this, before either YAML reader sees the text. The text before the first
 * such character holds only LF and CRLF line ends, so its line and column
 * mean the same in every editor.
 *
 * @example
 * lineBreakHazard('a: 1 # note\rb: 2\n');
 * // { line: 1, col: 12, message: 'a carriage return without a line feed: save the file with LF or CRLF line ends' }
 * lineBreakHazard('a: 1\r\nb: 2\r\n'); // undefined
 */
export function lineBreakHazard(text: string): LineBreakHazard | undefined {
  const found = HAZARD.exec(text);
  if (found === null) return undefined;
  const at = found.index;
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < at; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, col: at - lineStart + 1, message: messageFor(found[0]) };
}

/** Not global: `exec` always starts at the beginning, so it has no state to leak between calls. */
const HAZARD = /\r(?!\n)|[\v\f\u0085\u2028\u2029]|[\u0000-\u0008\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

function messageFor(ch: string): string {
  if (ch === '\r') return 'a carriage return without a line feed: save the file with LF or CRLF line ends';
  const code = `U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
  const name = NAMES[ch];
  if (name === undefined)
    return `a control character (${code}): a terminal, editor or diff view may move, hide or reorder text at it (an escape sequence can redraw a line), so what a reviewer reads may not be what loads; remove it, or write it as an escape ("\\u${code.slice(2)}") inside a double-quoted string`;
  return `${name} (${code}): editors show a line break here that YAML does not read as one, so a line may be hidden; remove it, or write it as an escape ("\\u${code.slice(2)}") inside a double-quoted string`;
}

const NAMES: Readonly<Record<string, string>> = {
  '\v': 'a vertical tab',
  '\f': 'a form feed',
  '\u0085': 'a next-line character',
  '\u2028': 'a line separator',
  '\u2029': 'a paragraph separator',
};
