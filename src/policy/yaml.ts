import jsyaml from 'js-yaml';

/**
 * A fast reader for the plain subset of YAML that policy files are written
 * in. The `yaml` package is the reference reader (YAML 1.2 core schema, with
 * line numbers for every error), but it builds a full syntax tree and is about
 * ten times slower than js-yaml on a large policy set. This reader gives the
 * data only when it is sure that `yaml` would give exactly the same; in every
 * other case it answers `undefined` and the caller reads the text with `yaml`,
 * so refusals and their messages come from one reader.
 *
 * "Sure" is decided three times, conservatively:
 * - before reading, the text is screened for every construct where two
 *   readers may part ways: tags (`!`), anchors and aliases (`&`, `*`), merge
 *   keys (`<<`), directives (`%`), document markers (`---`, `...`), block
 *   scalars (`|`, `>`), escapes (`\`), a `#` right after a quote, bracket,
 *   comma or colon (a comment without its space), a sequence opened on its
 *   parent entry's line (`- - a`), an empty sequence entry (a `-` with
 *   nothing but a comment after it: js-yaml may read a less indented entry
 *   that follows as its sibling), an explicit key (`? `), a document
 *   whose first content is indented, a quoted scalar or flow collection
 *   running over a line end, tabs, control and other invisible characters,
 *   and lines long enough to hold an implicit key over 1024 characters
 *   (js-yaml accepts some of these where `yaml` refuses them). A text with any of them (even inside a string, where it
 *   would be harmless) goes to `yaml`;
 * - js-yaml reads with a schema that resolves plain scalars exactly as the
 *   YAML 1.2 core schema of `yaml` does (`yes` and `2027-03-31` stay strings,
 *   `0o17` is 15, big integers lose precision alike), and any error it
 *   raises, a duplicate key included, sends the text to `yaml`;
 * - after reading, a result nested deeper than any policy is, or holding a
 *   key that was a mapping (which the two readers name differently), goes to
 *   `yaml` too.
 * test/policy/yaml.test.ts compares both readers on every policy file in the
 * repository and on generated and hostile texts.
 *
 * @example
 * fastYaml('roles:\n  gp: { grants: [] }\n'); // { value: { roles: { gp: { grants: [] } } } }
 * fastYaml('base: &b { a: 1 }\n'); // undefined: anchors are left to `yaml`
 */
export function fastYaml(text: string): { value: unknown } | undefined {
  if (UNSURE.test(text) || INDENTED_ROOT.test(text) || longestLine(text) >= MAX_LINE || flowSpansLines(text)) return undefined;
  let value: unknown;
  try {
    value = jsyaml.load(text, { schema: CORE_1_2 });
  } catch {
    return undefined;
  }
  if (oddShape(value, 0)) return undefined;
  // A text of only spaces or comments: js-yaml says undefined, `yaml` null.
  return { value: value === undefined ? null : value };
}

/** Deeper than any policy file nests (conditions included): left to `yaml`, as before. */
const MAX_POLICY_DEPTH = 64;

/**
 * Every construct the fast reader leaves to `yaml` (see `fastYaml`). The
 * character class holds C0 controls but tab, LF and CR; DEL and C1 controls;
 * the line and paragraph separators; the byte order mark; non-characters;
 * and surrogates. A CR is accepted only as part of CRLF.
 */
const UNSURE =
  /[!&*|>%\\\t]|<<|["'\]},:[{]#|^[ ]*-[ ]*(?:#[^\n]*)?\r?$|[-?][ ]+-(?=[ \r\n]|$)|\?(?=[ \r\n]|$)|^(?:---|\.\.\.)|\r(?!\n)|[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u2028\u2029\uFEFF\uFFFE\uFFFF\uD800-\uDFFF]/m;

/** A document whose first line of content is indented (js-yaml is lenient with what follows it). */
const INDENTED_ROOT = /^(?:[ ]*(?:#[^\n]*)?\r?\n)*[ ]+[^ \r\n#]/;

/**
 * Whether a quoted scalar or a flow collection (`[…]`, `{…}`) runs over a
 * line end, or is never closed. js-yaml accepts continuation lines that
 * `yaml` refuses as under-indented, so such texts are left to `yaml`. A
 * quote or bracket counts where a scalar may start (a line's first content,
 * after `- `, `? `, `: `, and in a flow after `[`, `{`, `,` or `:`); where it
 * is only text (`it's`), reading it as an opening errs towards `yaml`.
 */
function flowSpansLines(text: string): boolean {
  let flow = 0;
  let quote = 0;
  let start = true;
  let prev = LF;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (quote !== 0) {
      if (c === LF) return true;
      if (c === quote) {
        if (quote === SQUOTE && text.charCodeAt(i + 1) === SQUOTE) i++;
        else {
          quote = 0;
          start = false;
        }
      }
    } else if (c === LF) {
      if (flow > 0) return true;
      start = true;
    } else if (c === HASH && (prev === SPACE || prev === LF || prev === CR)) {
      const end = text.indexOf('\n', i);
      if (end === -1) break;
      i = end - 1;
    } else if (c === SPACE || c === CR) {
      // Spaces keep the position: a scalar may still start after them.
    } else if (start && (c === SQUOTE || c === DQUOTE)) {
      quote = c;
    } else if (start && (c === LBRACKET || c === LBRACE)) {
      flow++;
    } else if (flow > 0 && (c === RBRACKET || c === RBRACE)) {
      flow--;
      start = false;
    } else if (flow > 0 && (c === COMMA || c === COLON)) {
      start = true;
    } else if ((c === DASH || c === QUESTION || c === COLON) && isBlank(text.charCodeAt(i + 1))) {
      start = true;
    } else {
      start = false;
    }
    prev = c;
  }
  return quote !== 0 || flow > 0;
}

const [LF, CR, SPACE, HASH, SQUOTE, DQUOTE, LBRACKET, RBRACKET, LBRACE, RBRACE, COMMA, COLON, DASH, QUESTION] = [
  ...'\n\r #\'"[]{},:-?',
].map((ch) => ch.charCodeAt(0));

/** A space, a line end, or the end of the text (NaN). */
const isBlank = (c: number) => c === SPACE || c === LF || c === CR || Number.isNaN(c);

/** A line this long may hold an implicit key over 1024 characters, which `yaml` refuses. */
const MAX_LINE = 1000;

function longestLine(text: string): number {
  let longest = 0;
  for (let start = 0; start <= text.length; ) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    if (end - start > longest) longest = end - start;
    start = end + 1;
  }
  return longest;
}

/** A mapping used as a key: `yaml` names it `[object Map]`, js-yaml `[object Object]`. */
const MAPPING_KEY = '[object Object]';

/** Nested deeper than `MAX_POLICY_DEPTH`, or holding a key that was a mapping: one walk, bounded by the depth. */
function oddShape(value: unknown, depth: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (depth >= MAX_POLICY_DEPTH) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (oddShape(item, depth + 1)) return true;
    return false;
  }
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) if (key === MAPPING_KEY || oddShape(obj[key], depth + 1)) return true;
  return false;
}

/**
 * The plain scalars of the YAML 1.2 core schema, tested in the order the
 * `yaml` package tests them (null, bool, octal, decimal and hex integers,
 * NaN and infinities, exponent floats, floats) and built the same way.
 * js-yaml keeps one type per tag, so each tag tries its forms in turn.
 */
type Form = [test: RegExp, construct: (text: string) => unknown];

const scalar = (tag: string, firsts: string, forms: Form[]) => {
  // Most plain scalars are words: a look at the first character settles them
  // without a pattern (`firsts` holds every character a form may start with).
  const may = (text: string) => text === '' || firsts.includes(text[0]!);
  // js-yaml calls construct right after a resolve that said yes, with the same text.
  let found: Form | undefined;
  return new jsyaml.Type(`tag:yaml.org,2002:${tag}`, {
    kind: 'scalar',
    resolve: (text: string | null) => {
      found = undefined;
      const t = text ?? '';
      if (!may(t)) return false;
      for (const form of forms) {
        if (form[0].test(t)) {
          found = form;
          return true;
        }
      }
      return false;
    },
    construct: (text: string | null) => {
      const t = text ?? '';
      const form = found?.[0].test(t) ? found : forms.find(([test]) => test.test(t));
      return form![1](t);
    },
  });
};

const DIGITS = '0123456789';

const CORE_1_2 = jsyaml.FAILSAFE_SCHEMA.extend({
  implicit: [
    scalar('null', '~nN', [[/^(?:~|[Nn]ull|NULL)?$/, () => null]]),
    scalar('bool', 'tTfF', [[/^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/, (s) => s[0] === 't' || s[0] === 'T']]),
    scalar('int', `+-${DIGITS}`, [
      [/^0o[0-7]+$/, (s) => Number.parseInt(s.substring(2), 8)],
      [/^[-+]?[0-9]+$/, (s) => Number.parseInt(s, 10)],
      [/^0x[0-9a-fA-F]+$/, (s) => Number.parseInt(s.substring(2), 16)],
    ]),
    scalar('float', `+-.${DIGITS}`, [
      [
        /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/,
        (s) => (s.slice(-3).toLowerCase() === 'nan' ? Number.NaN : s[0] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY),
      ],
      [/^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/, (s) => Number.parseFloat(s)],
      [/^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/, (s) => Number.parseFloat(s)],
    ]),
  ],
});
