import { isDeepStrictEqual } from 'node:util';
import { isMap, isScalar, parseDocument } from 'yaml';
import type { Decision } from '../engine/decision.js';
import type { PolicySet } from '../engine/policy-set.js';
import { isPseudonym } from '../engine/transforms.js';
import { isPlainObject, valuesAt } from '../lib/paths.js';
import type { CaseFile, FixtureCase } from './case-schema.js';
import { parseCaseFile } from './cases.js';
import { compareOutput, matcherOf, matcherProblem, pseudonymised } from './matchers.js';
import type { CaseResult, Observed } from './run-case.js';
import { yamlPair } from './yaml-text.js';

/**
 * `fieldmesh test --update` (docs/testing.md, "Updating expectations"): the
 * current answer of a failing read case written into its case file, in
 * place. Only the pairs that change are spliced into the text, so comments
 * and formatting elsewhere keep their bytes. Pseudonyms whose input value
 * the case holds are written as `pseudonymOf` matchers.
 */

/** One pair of a case to write: the pair `replaces` (or, when absent, a new one after it) becomes `key: value`. */
export interface PairEdit {
  replaces: string;
  key: string;
  value: unknown;
}

/** What `--update` will do with one failing case: edits to write, or why it leaves the case alone. */
export type UpdatePlan = { edits: PairEdit[] } | { skip: string };

/**
 * The edits that make a failing read case expect what it observed, or why
 * it is not updated: write and filter cases state a rule, as do
 * `expectFields` / `absent`; a case that did not run has nothing to write.
 *
 * @example
 * const plan = planUpdate(c, result, observed, policies);
 */
export function planUpdate(c: FixtureCase, result: CaseResult, observed: Observed, policies: PolicySet): UpdatePlan {
  if (result.kind !== 'read') return { skip: `${result.kind} cases state a rule; fix by hand` };
  if ('expectFields' in c || 'absent' in c) return { skip: 'expectFields and absent state a rule; fix by hand' };
  const current = 'expect' in c ? 'expect' : 'expectRefusal';
  const edits: PairEdit[] = [];
  if (observed.refusal !== undefined) {
    edits.push({ replaces: current, key: 'expectRefusal', value: observed.refusal });
  } else if (observed.output !== undefined && result.decision !== undefined) {
    if (holdsMatcherShape(observed.output))
      return { skip: 'the output holds an object shaped like a matcher (pseudonymOf / pseudonym), which expect cannot state' };
    // A case that failed on its decision alone keeps its expect as written.
    const matched =
      'expect' in c && compareOutput(c.expect, observed.output, { policies, purpose: c.purpose, decision: result.decision }).ok;
    const value = withPseudonymMatchers(observed.output, observed.input, c.purpose, result.decision, policies);
    if (!matched) edits.push({ replaces: current, key: 'expect', value });
  } else {
    return { skip: `it did not run: ${result.message ?? 'no answer'}` };
  }
  if (c.expectDecision !== undefined) {
    if (result.decision === undefined) return { skip: 'expectDecision, and the case made no decision' };
    const decision = result.decision as unknown as Record<string, unknown>;
    const unknown = Object.keys(c.expectDecision).filter((k) => !Object.hasOwn(decision, k));
    if (unknown.length > 0) return { skip: `expectDecision names ${unknown.join(', ')}, which the decision does not hold` };
    edits.push({
      replaces: 'expectDecision',
      key: 'expectDecision',
      value: Object.fromEntries(Object.keys(c.expectDecision).map((k) => [k, decision[k]])),
    });
  }
  return { edits };
}

/**
 * The text of a case file with the pairs of case `index` rewritten. Throws
 * a TypeError when the text is not shaped as expected (no such case or pair):
 * the caller then leaves the file alone.
 */
export function rewriteCase(text: string, index: number, edits: PairEdit[]): string {
  let out = text;
  for (const edit of edits) {
    const doc = parseDocument(out);
    const item = doc.getIn(['cases', index], true);
    if (!isMap(item)) throw new TypeError(`cases[${index}] is not a mapping`);
    const pair = item.items.find((p) => isScalar(p.key) && p.key.value === edit.replaces);
    const keyRange = isScalar(pair?.key) ? pair.key.range : undefined;
    const valueRange = (pair?.value as { range?: [number, number, number] } | null | undefined)?.range;
    if (!keyRange || !valueRange) throw new TypeError(`cases[${index}].${edit.replaces} cannot be located`);
    const [start, end] = [keyRange[0], Math.max(valueRange[1], keyRange[1])];
    const column = start - (out.lastIndexOf('\n', start - 1) + 1);
    const replaced = out.slice(start, end);
    const pairText = yamlPair(edit.key, edit.value, column);
    out = `${out.slice(0, start)}${pairText}${replaced.endsWith('\n') ? '\n' : ''}${out.slice(end)}`;
  }
  return out;
}

/**
 * The output with each pseudonym written as `{ pseudonymOf: VALUE }` when one
 * of the case's input values at the same path gives it (the engine's own
 * transform decides), so an updated case reads as what it means.
 */
export function withPseudonymMatchers(output: unknown, input: unknown, purpose: string, decision: Decision, policies: PolicySet): unknown {
  const walk = (value: unknown, at: string): unknown => {
    if (Array.isArray(value)) return value.map((v) => walk(v, at));
    if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, at ? `${at}.${k}` : k)]));
    if (!isPseudonym(value) || !pseudonymised(at, decision)) return value;
    const source = valuesAt(input, at).values.find((v) => policies.pseudonymOf(purpose, v) === value);
    return source === undefined || (typeof source === 'object' && source !== null) ? value : { pseudonymOf: source };
  };
  return walk(output, '');
}

/** Whether a value holds an object `expect` would read as a matcher (or refuse as a malformed one). */
function holdsMatcherShape(value: unknown): boolean {
  if (matcherOf(value) !== undefined || matcherProblem(value) !== undefined) return true;
  if (Array.isArray(value)) return value.some(holdsMatcherShape);
  return isPlainObject(value) && Object.values(value).some(holdsMatcherShape);
}

/**
 * A case file's text with the edits of each case (by index) applied, checked
 * before it is returned: the new text parses, holds exactly what the edits
 * say, and every other case and default is unchanged. Throws otherwise
 * (a `FieldmeshError` or a TypeError), and the caller writes nothing.
 *
 * @example
 * const text = applyUpdates(original, 'cases/nurse.yaml', parsed, new Map([[2, plan.edits]]));
 */
export function applyUpdates(text: string, file: string, before: CaseFile, edits: ReadonlyMap<number, PairEdit[]>): string {
  let out = text;
  for (const [index, pairs] of edits) out = rewriteCase(out, index, pairs);
  const after = parseCaseFile(out, file);
  const { cases: casesBefore, ...defaultsBefore } = before;
  const { cases: casesAfter, ...defaultsAfter } = after;
  const sameElsewhere =
    isDeepStrictEqual(defaultsBefore, defaultsAfter) &&
    casesBefore.length === casesAfter.length &&
    casesBefore.every((c, i) => edits.has(i) || isDeepStrictEqual(c, casesAfter[i]));
  const written = [...edits].every(([i, pairs]) => {
    const c = casesAfter[i] as Record<string, unknown> | undefined;
    return pairs.every((p) => c !== undefined && isDeepStrictEqual(c[p.key], p.value) && (p.replaces === p.key || !(p.replaces in c)));
  });
  if (!sameElsewhere || !written) throw new TypeError(`${file}: the rewritten file would not read back as intended`);
  return out;
}
