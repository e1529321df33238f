import { HOSTILE_KEYS, isPlainObject } from '../lib/paths.js';

/**
 * The grammar of a claim in a condition (docs/policy-language.md "Claims"):
 * `${user.team}`, `${user.org.team}` for a nested claim, or
 * `${user["https://idp.example/staff_id"]}` for one claim whose name has
 * other characters (a namespaced claim). Anything else holding `${` is
 * refused at load: a mistyped template would otherwise compare as plain text
 * and a restriction written with it would never fire.
 */
const NAME = '[A-Za-z0-9_-]+';
const QUOTED = '"([^"\\\\\\u0000-\\u001f\\u007f}]+)"';
const BODY = `\\$\\{user(?:\\.(${NAME}(?:\\.${NAME})*)|\\[${QUOTED}\\])\\}`;

/** Every template in a text (global: reset `lastIndex` or use `replace`). */
export const TEMPLATE = new RegExp(BODY, 'g');
/** A text that is one template and nothing else: it takes the claim's value, whatever its type. */
export const WHOLE_TEMPLATE = new RegExp(`^${BODY}$`);

/** The form a user is shown when a template is not well formed. */
export const TEMPLATE_FORM =
  '${user.claim} (letters, digits, "_" and "-"; dotted for a nested claim: ${user.org.team}), or ${user["https://idp.example/staff_id"]} for a claim whose name has other characters';

/**
 * Whether a text holds `${` outside a well-formed template.
 *
 * @example
 * isMalformedTemplate('${ user.staff }'); // true
 * isMalformedTemplate('ward-${user.team}'); // false
 */
export function isMalformedTemplate(text: string): boolean {
  return text.replace(TEMPLATE, '').includes('${');
}

/** Whether a value is a whole-string template. */
export function isWholeTemplate(value: unknown): value is string {
  return typeof value === 'string' && WHOLE_TEMPLATE.test(value);
}

/**
 * The claim a template match names: a dotted path (group 1) walked through
 * nested objects, or a quoted name (group 2) looked up whole. Hostile names never reach a prototype.
 *
 * @example
 * claimOf({ 'https://idp/staff': 'u1' }, [ '${user["https://idp/staff"]}', undefined, 'https://idp/staff' ]); // 'u1'
 */
export function claimOf(user: unknown, match: readonly (string | undefined)[]): unknown {
  const segments = match[1] !== undefined ? match[1].split('.') : [match[2]!];
  let value: unknown = user;
  for (const key of segments) {
    if (!isPlainObject(value) || HOSTILE_KEYS.has(key) || !Object.hasOwn(value, key)) return undefined;
    value = value[key];
  }
  return value;
}

/**
 * The top-level claim names the `${user…}` templates in a condition read,
 * added to `into`: what a user must carry for the condition to be usable.
 *
 * @example
 * const names = new Set<string>();
 * claimNames({ gp: '${user.practice}', team: '${user.org.team}' }, names); // names: practice, org
 */
export function claimNames(value: unknown, into: Set<string>): void {
  if (typeof value === 'string') {
    for (const m of value.matchAll(TEMPLATE)) into.add(m[1] !== undefined ? m[1].split('.')[0]! : m[2]!);
  } else if (Array.isArray(value)) {
    for (const v of value) claimNames(v, into);
  } else if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) claimNames(v, into);
  }
}
