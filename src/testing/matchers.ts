import { isDeepStrictEqual } from 'node:util';
import type { Decision } from '../engine/decision.js';
import type { PolicySet } from '../engine/policy-set.js';
import { isPseudonym } from '../engine/transforms.js';
import { isPlainObject, isWithin } from '../lib/paths.js';

/**
 * Matchers inside an expected output (docs/testing.md, "Matchers"), so
 * nobody computes an HMAC by hand: `{ pseudonymOf: pat-001 }` is the
 * pseudonym the engine gives `pat-001` under the case's purpose and key, and
 * `{ pseudonym: any }` is any pseudonym. Either matches only a value the
 * engine pseudonymised at that path (the decision says so): a raw value that
 * happens to look like hex never passes for one.
 */
export type Matcher = { kind: 'pseudonymOf'; of: string | number | boolean } | { kind: 'anyPseudonym' };

/** What a matcher is checked against: the case's engine, purpose and the decision it produced. */
export interface MatchContext {
  policies: PolicySet;
  purpose: string;
  decision: Decision;
}

/**
 * The matcher an expected value is, if it is one: an object whose only key
 * is `pseudonymOf` (with a scalar) or `pseudonym` (with `any`).
 *
 * @example
 * matcherOf({ pseudonymOf: 'pat-001' }); // { kind: 'pseudonymOf', of: 'pat-001' }
 */
export function matcherOf(value: unknown): Matcher | undefined {
  if (!isPlainObject(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length !== 1) return undefined;
  const v = value[keys[0]!];
  if (keys[0] === 'pseudonymOf' && isScalar(v)) return { kind: 'pseudonymOf', of: v };
  if (keys[0] === 'pseudonym' && v === 'any') return { kind: 'anyPseudonym' };
  return undefined;
}

/**
 * What is wrong with a value shaped like a matcher, or `undefined`: the
 * shapes are reserved in `expect`, so a malformed one is a case error, never
 * a literal object that quietly fails.
 */
export function matcherProblem(value: unknown): string | undefined {
  if (!isPlainObject(value) || Object.keys(value).length !== 1 || matcherOf(value) !== undefined) return undefined;
  if ('pseudonymOf' in value) return 'pseudonymOf takes the input value (a string, number or boolean), such as pseudonymOf: pat-001';
  if ('pseudonym' in value) return 'pseudonym takes any (pseudonym: any); for a given input value use pseudonymOf: VALUE';
  return undefined;
}

/** How a matcher shows in a diff: one short line, never a hex string. */
export function renderMatcher(m: Matcher): string {
  return m.kind === 'pseudonymOf' ? `<pseudonymOf ${JSON.stringify(m.of)}>` : '<any pseudonym>';
}

/** The outcome of comparing an expected output with the actual one, and both as a diff should show them. */
export interface Compared {
  ok: boolean;
  /** The expected output with each matcher rendered as text. */
  expected: unknown;
  /** The actual output, with every value a matcher accepted shown as that matcher (so it is no diff line). */
  actual: unknown;
}

/**
 * Compare an expected output (which may hold matchers) with the actual one:
 * deep equality everywhere else, as JSON values.
 *
 * @example
 * compareOutput({ id: { pseudonymOf: 'pat-001' } }, data, { policies, purpose: 'research', decision }).ok;
 */
export function compareOutput(expected: unknown, actual: unknown, m: MatchContext): Compared {
  return compare(expected, actual, '', m);
}

function compare(expected: unknown, actual: unknown, at: string, m: MatchContext): Compared {
  const matcher = matcherOf(expected);
  if (matcher !== undefined) {
    const shown = renderMatcher(matcher);
    const ok = matches(matcher, actual, at, m);
    return { ok, expected: shown, actual: ok ? shown : actual };
  }
  if (Array.isArray(expected) && Array.isArray(actual)) {
    const out: Compared = { ok: expected.length === actual.length, expected: [], actual: [] };
    for (let i = 0; i < Math.max(expected.length, actual.length); i++) {
      if (i >= actual.length) (out.expected as unknown[]).push(rendered(expected[i]));
      else if (i >= expected.length) (out.actual as unknown[]).push(actual[i]);
      else push(out, compare(expected[i], actual[i], at, m));
    }
    return out;
  }
  if (isPlainObject(expected) && isPlainObject(actual)) {
    const out = { ok: true, expected: {} as Record<string, unknown>, actual: {} as Record<string, unknown> };
    for (const key of new Set([...Object.keys(expected), ...Object.keys(actual)])) {
      const path = at ? `${at}.${key}` : key;
      if (!Object.hasOwn(actual, key)) {
        out.ok = false;
        out.expected[key] = rendered(expected[key]);
      } else if (!Object.hasOwn(expected, key)) {
        out.ok = false;
        out.actual[key] = actual[key];
      } else {
        const c = compare(expected[key], actual[key], path, m);
        out.ok &&= c.ok;
        out.expected[key] = c.expected;
        out.actual[key] = c.actual;
      }
    }
    return out;
  }
  return { ok: isDeepStrictEqual(expected, actual), expected: rendered(expected), actual };
}

function push(into: Compared, c: Compared): void {
  into.ok &&= c.ok;
  (into.expected as unknown[]).push(c.expected);
  (into.actual as unknown[]).push(c.actual);
}

/** An expected value with its matchers as text, for a side that has nothing to compare with. */
function rendered(value: unknown): unknown {
  const matcher = matcherOf(value);
  if (matcher !== undefined) return renderMatcher(matcher);
  if (Array.isArray(value)) return value.map(rendered);
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rendered(v)]));
  return value;
}

/**
 * Whether `actual`, found at field path `at`, is what the matcher stands
 * for. Only a value of a path the decision says was pseudonymised can match.
 */
function matches(matcher: Matcher, actual: unknown, at: string, m: MatchContext): boolean {
  if (!isPseudonym(actual) || !pseudonymised(at, m.decision)) return false;
  return matcher.kind === 'anyPseudonym' || m.policies.pseudonymOf(m.purpose, matcher.of) === actual;
}

/** Whether the decision pseudonymised the field at `path` (or the field it lies under). */
export function pseudonymised(path: string, decision: Decision): boolean {
  return Object.entries(decision.transforms).some(([field, transform]) => transform === 'pseudonym' && isWithin(path, field));
}

function isScalar(v: unknown): v is string | number | boolean {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}
