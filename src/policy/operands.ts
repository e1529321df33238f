import { isPlainObject } from '../lib/paths.js';
import { isWholeTemplate } from './templates.js';

/**
 * What each condition operator may take, and the refusal, naming the form
 * that works, for what it may not (docs/policy-language.md "Conditions").
 * Everything refused here would otherwise compare in a way its author did not
 * mean, or fail when evaluated.
 */

/** A problem in a condition: its path relative to the condition, and how to fix it. */
export type ConditionProblem = [path: string, message: string];

/** A plain value a condition compares with. */
export type Scalar = string | number | boolean | null;

/**
 * The operand of an equality or a comparison: a plain value. A list or object
 * operand would compare whole (MongoDB) and almost never mean what its author
 * meant, so it is refused with the form that works.
 */
export function scalarOperand(
  arg: unknown,
  here: string,
  field: string,
  problems: ConditionProblem[],
  use: 'eq' | 'range' | 'list',
): { value: Scalar } | undefined {
  const say = (message: string) => {
    problems.push([here, message]);
    return undefined;
  };
  if (use === 'range') {
    if (typeof arg === 'string' || (typeof arg === 'number' && Number.isFinite(arg))) return { value: arg };
    if (typeof arg === 'number') return say(`${lastOp(here)} takes a finite number`);
    return say(
      `${lastOp(here)} compares numbers with numbers and strings with strings (dates as ISO strings): give it a number or a string; a missing, null or differently typed value never matches it`,
    );
  }
  if (typeof arg === 'string' || typeof arg === 'boolean' || arg === null) return { value: arg };
  if (typeof arg === 'number') return Number.isFinite(arg) ? { value: arg } : say('a condition compares with finite numbers only');
  if (Array.isArray(arg)) {
    const shown = arg.length > 0 && !isPlainObject(arg[0]) && !Array.isArray(arg[0]) ? String(arg[0]) : '';
    if (use === 'list')
      return say(
        `a list inside a list compares whole and matches only an identical list: list plain values (strings, numbers, true, false, null)`,
      );
    return say(
      `comparing ${field} with a whole list matches only a list exactly equal to it: use { ${field}: ${shown || '…'} } (matches when any element equals it), { ${field}: { $in: [...] } } (any of them) or { ${field}: { $all: [...] } } (all of them)`,
    );
  }
  if (isPlainObject(arg)) {
    const keys = Object.keys(arg).length > 0 ? Object.keys(arg) : ['code'];
    const elem = keys.map((k) => `${k}: …`).join(', ');
    const dotted = keys.map((k) => `"${field}.${k}": …`).join(', ');
    return say(
      `comparing ${field} with a whole object matches only an identical object (same keys in the same order): use $elemMatch to match an element of a list that holds all of them ({ ${field}: { $elemMatch: { ${elem} } } }), or dotted paths ({ ${dotted} })`,
    );
  }
  return say('a condition compares with strings, numbers, true, false or null');
}

function lastOp(here: string): string {
  return here.slice(here.lastIndexOf('.') + 1);
}

/**
 * The list of `$in`, `$nin` or `$all`: plain values. At load a whole claim
 * (`"${user.teams}"`) stands for it; `$all: []` is refused.
 *
 * @example
 * listOperand('$in', ['a', null], 'ward.$in', 'ward', { problems: [], templates: false }); // ['a', null]
 */
export function listOperand(
  op: string,
  arg: unknown,
  here: string,
  field: string,
  ctx: { problems: ConditionProblem[]; templates: boolean },
): Scalar[] | undefined {
  if (!Array.isArray(arg)) {
    // At load, a whole `${user.x}` claim stands for a list (a single value counts as a list of one).
    if (ctx.templates && isWholeTemplate(arg)) return [];
    ctx.problems.push([here, `${op} takes a list, such as { ${field}: { ${op}: [a, b] } }`]);
    return undefined;
  }
  if (op === '$all' && arg.length === 0) {
    ctx.problems.push([here, `$all takes a non-empty list (MongoDB's $all: [] matches nothing)`]);
    return undefined;
  }
  const before = ctx.problems.length;
  const list = arg.map((x, i) => scalarOperand(x, `${here}[${i}]`, field, ctx.problems, 'list')?.value ?? null);
  return ctx.problems.length === before ? list : undefined;
}

const REGEX_FLAGS = /^[ims]*$/;

/**
 * The compiled pattern of `$regex` with its `$options` (i, m, s): checked at
 * load, and never built from a claim.
 *
 * @example
 * regexOperand('^ward-', 'i', 'ward.$regex', 'ward', { problems: [], templates: true })?.test('WARD-7'); // true
 */
export function regexOperand(
  arg: unknown,
  options: unknown,
  here: string,
  field: string,
  ctx: { problems: ConditionProblem[]; templates: boolean },
): RegExp | undefined {
  const say = (message: string) => {
    ctx.problems.push([here, message]);
    return undefined;
  };
  if (typeof arg !== 'string') return say(`$regex takes a pattern string, such as { ${field}: { $regex: "^ward-" } }`);
  if (options !== undefined && (typeof options !== 'string' || !REGEX_FLAGS.test(options))) {
    return say('$options takes any of the letters i, m, s');
  }
  // A claim spliced into a pattern would let a token's contents become regular-expression syntax.
  if (ctx.templates && arg.includes('${'))
    return say(`a claim cannot be part of a pattern: compare with { ${field}: "\${user.x}" } or $in`);
  try {
    return new RegExp(arg, (options as string | undefined) ?? '');
  } catch (e) {
    return say(`$regex: not a valid JavaScript regular expression (${(e as Error).message})`);
  }
}
