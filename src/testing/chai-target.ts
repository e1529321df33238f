import type { Decision } from '../engine/decision.js';
import { isPlainObject, isWithin, splitPath } from '../lib/paths.js';
import { didYouMean } from '../lib/suggest.js';

/**
 * What a fieldmesh chai assertion (chai.ts) looks at: the rows of its
 * target, and the decision when the target is a redact result, against
 * which the paths it names are checked. Anything it cannot read for sure is
 * a TypeError: an assertion that guessed could pass on the wrong object.
 */
export interface Target {
  rows: Record<string, unknown>[];
  /** How the failure message names the rows: `the record`, `every row`. */
  what: string;
  isList: boolean;
  /** The decision of a redact result (`{ data, decision }` or `{ body, decision }`); none for a bare record. */
  decision?: Decision;
}

const RESULT_SHAPES = ['data,decision', 'body,decision'];

/**
 * The rows of a target: a redacted record, a list of them, what
 * `policies.redact` returns (`{ data, decision }`) or what `redactBody`
 * returns (`{ body, decision }`). An object with a `decision` key that is
 * not exactly one of those, and a bare Decision, are refused: taken as a
 * record, every path would be absent from it and `withhold` would pass.
 */
export function targetOf(target: unknown): Target {
  if (isPlainObject(target) && Object.hasOwn(target, 'decision')) {
    const keys = Object.keys(target).sort().join();
    const decision = target['decision'];
    if (!RESULT_SHAPES.includes(keys) || !isDecision(decision)) {
      throw new TypeError(
        `fieldmesh assertions: an object with a decision key must be exactly a redact result { data, decision } or a redactBody result { body, decision }, with the engine's decision; got { ${keys} }`,
      );
    }
    const inner = rowsOf(keys === 'body,decision' ? target['body'] : target['data']);
    checkRowsAgainst(inner.rows, decision);
    return { ...inner, decision };
  }
  if (isPlainObject(target) && Object.hasOwn(target, 'outcome') && Object.hasOwn(target, 'policyVersion')) {
    throw new TypeError(
      'fieldmesh assertions: this is a decision, not redacted output: assert on the redact result { data, decision } (or its data)',
    );
  }
  return rowsOf(target);
}

function rowsOf(target: unknown): Target {
  if (isPlainObject(target)) return { rows: [target], what: 'the record', isList: false };
  if (Array.isArray(target)) {
    const odd = target.findIndex((row) => !isPlainObject(row));
    if (odd !== -1) throw new TypeError(`fieldmesh assertions: row ${odd} of the list is not a record (an object)`);
    // A list of redact results is not a list of records: taken as rows, each result's keys would be data and decision,
    // and withhold would pass for any field. Assert on each result.
    const result = target.findIndex((row) => isDecision(row) || isDecision((row as Record<string, unknown>)['decision']));
    if (result !== -1)
      throw new TypeError(
        `fieldmesh assertions: row ${result} of the list is a redact result or a decision, not a record: assert on each result, or on its data`,
      );
    return { rows: target as Record<string, unknown>[], what: 'every row', isList: true };
  }
  throw new TypeError(
    `fieldmesh assertions: expected a redacted record, a list of records or a redact result ({ data, decision }), got ${target === null ? 'null' : typeof target}`,
  );
}

function isDecision(value: unknown): value is Decision {
  return (
    isPlainObject(value) &&
    typeof value['outcome'] === 'string' &&
    typeof value['policyVersion'] === 'string' &&
    Array.isArray(value['disclosed']) &&
    Array.isArray(value['withheld']) &&
    isPlainObject(value['transforms']) &&
    typeof value['rowsReturned'] === 'number'
  );
}

/**
 * The rows must be the ones the decision returned: as many, each holding
 * only keys the decision names a field under. A body whose rows sit in an
 * envelope or a FHIR Bundle would otherwise be read as one record without
 * any of their fields.
 */
function checkRowsAgainst(rows: Record<string, unknown>[], decision: Decision): void {
  const where = 'assert on the rows themselves (for a body whose rows sit in an envelope or a Bundle, the list of rows)';
  if (rows.length !== decision.rowsReturned) {
    throw new TypeError(
      `fieldmesh assertions: the result holds ${rows.length} row${rows.length === 1 ? '' : 's'} but its decision returned ${decision.rowsReturned}: ${where}`,
    );
  }
  const tops = new Set(namedBy(decision).map((p) => splitPath(p)[0]!));
  for (const [i, row] of rows.entries()) {
    const stray = Object.keys(row).find((k) => !tops.has(k));
    if (stray !== undefined) {
      throw new TypeError(`fieldmesh assertions: row ${i} holds ${JSON.stringify(stray)}, which the decision names no field for: ${where}`);
    }
  }
}

/** The field paths a decision names: disclosed, withheld or transformed. */
function namedBy(decision: Decision): string[] {
  return [...new Set([...decision.disclosed, ...decision.withheld, ...Object.keys(decision.transforms)])];
}

/** A field path as policies write it: dotted names, arrays transparent (no index, no brackets, no blanks). */
const FIELD_PATH = /^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/;

/**
 * Check the paths an assertion names, throwing a TypeError for one it
 * cannot be about. Every path must be a field path (`address.postcode`; an
 * index such as `address.0` is not one). With a redact result's decision, a
 * path must also be one the decision names, above one (`address` above
 * `address.postcode`), present in the rows, or under a named one without
 * being a near miss of a named sibling (`diagnoses.dispaly` beside
 * `diagnoses.display`): a typo would otherwise pass `withhold` by being
 * absent. A bare record has no decision to check against: only the form is
 * checked there.
 */
export function checkPaths(assertion: string, paths: unknown, target: Target): string[] {
  const ok = Array.isArray(paths) && paths.length > 0 && paths.every((p) => typeof p === 'string' && p !== '');
  if (!ok) throw new TypeError(`${assertion}: expected a non-empty list of field paths, such as ['name', 'address.postcode']`);
  for (const path of paths as string[]) {
    if (!FIELD_PATH.test(path) || splitPath(path).some((s) => /^\d+$/.test(s))) {
      throw new TypeError(
        `${assertion}: ${JSON.stringify(path)} is not a field path: dotted names such as address.postcode, with no index (arrays are transparent)`,
      );
    }
    const problem = target.decision === undefined ? undefined : pathProblem(path, namedBy(target.decision), target.rows);
    if (problem !== undefined) throw new TypeError(`${assertion}: ${problem}`);
  }
  return paths as string[];
}

function pathProblem(path: string, named: string[], rows: Record<string, unknown>[]): string | undefined {
  // A decision that returned no row names no field: there is nothing to check against, and nothing is present.
  if (named.length === 0) return undefined;
  if (named.some((n) => isWithin(n, path)) || rows.some((row) => present(row, path))) return undefined;
  // A near miss of a named path beside it is a typo, even under a named field; anything else under one may be real.
  const sibling = named.find((n) => parentOf(n) === parentOf(path) && didYouMean(lastOf(path), [lastOf(n)]) !== '');
  if (sibling === undefined && named.some((n) => isWithin(path, n))) return undefined;
  const hint = sibling === undefined ? didYouMean(path, named) : ` (did you mean "${sibling}"?)`;
  return `"${path}" is not a field path the decision names, nor present in the result${hint}`;
}

const parentOf = (path: string): string => path.slice(0, Math.max(0, path.lastIndexOf('.')));
const lastOf = (path: string): string => path.slice(path.lastIndexOf('.') + 1);

/** Whether the path reaches a key in the row, walking into every element of an array on the way; a key holding null or [] is present. */
export function present(value: unknown, path: string): boolean {
  const walk = (v: unknown, segments: string[]): boolean => {
    if (segments.length === 0) return true;
    if (Array.isArray(v)) return v.some((element) => walk(element, segments));
    const [key, ...rest] = segments as [string, ...string[]];
    return isPlainObject(v) && Object.hasOwn(v, key) && walk(v[key], rest);
  };
  return walk(value, splitPath(path));
}
