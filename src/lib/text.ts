/**
 * Characters a terminal acts on instead of showing: C1 controls (U+0080 to
 * U+009F; U+009B is a one-byte CSI in many terminals), DEL, the line and
 * paragraph separators, and the bidirectional controls that reorder what is
 * shown (the "Trojan Source" trick). C0 controls (tab, CR, LF, ESC…) come on
 * top in `printable`; JSON.stringify already escapes those, but not these.
 */
const WIDE = '\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069';
const UNSAFE = new RegExp(`[\\u0000-\\u001f${WIDE}]`, 'g');
const UNSAFE_IN_JSON = new RegExp(`[${WIDE}]`, 'g');

const escapeControl = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * Text made safe to store and to print: every control character becomes a
 * visible `\uXXXX`, so a break-glass reason or a review note can neither
 * forge a line of output, move the cursor nor recolour a guardian's
 * terminal. The audit trail applies it to every text of an entry before it
 * is hashed, and the CLI to everything it prints from the trail (events
 * written before it existed may still hold raw controls). Idempotent.
 *
 * @example
 * printable('Cardiac\tarrest\u009b2J'); // 'Cardiac\\u0009arrest\\u009b2J'
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, escapeControl);
}

/**
 * JSON whose strings carry no raw control character: JSON.stringify escapes
 * C0 controls but leaves C1, DEL and the bidirectional controls raw; they
 * are written as `\uXXXX` here, which parses back to the same value.
 *
 * @example
 * printableJson({ reason: 'a\u0085b' }, 0); // '{"reason":"a\\u0085b"}'
 */
export function printableJson(value: unknown, space = 2): string {
  return JSON.stringify(value, null, space).replace(UNSAFE_IN_JSON, escapeControl);
}

/**
 * A text with every control character (the same set as `printable`) removed:
 * what may be kept of a declared reason whatever else happens to the request.
 *
 * @example
 * withoutControls('Unconscious\tpatient\u0085'); // 'Unconsciouspatient'
 */
export function withoutControls(text: string): string {
  return text.replace(UNSAFE, '');
}

/**
 * Whether a configured value begins or ends with whitespace (a space, a tab,
 * a line break): the one test behind every refusal of such a value, since
 * trimming in one entry point and not another would make the same text two
 * different secrets, paths or URLs.
 *
 * @example
 * hasEdgeWhitespace('secret \n'); // true
 */
export function hasEdgeWhitespace(text: string): boolean {
  return text.trim() !== text;
}
