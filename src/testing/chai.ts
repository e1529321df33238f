import type { Decision } from '../engine/decision.js';
import { isPseudonym, pseudonymWith, purposeKey } from '../engine/transforms.js';
import { isPlainObject, splitPath, valuesAt } from '../lib/paths.js';

/** How `pseudonymise` checks a value: the pseudonym of `of`, under `purpose` and `key`, instead of any pseudonym. */
export interface PseudonymOptions {
  /** The original value (`pat-001`): the value must be exactly its pseudonym. */
  of?: string | number;
  /** The purpose it was pseudonymised for; default: the decision's, when the target is a redact result. */
  purpose?: string;
  /** The pseudonym key the policies were loaded with. */
  key?: string | Buffer;
}

declare global {
  // chai's assertions are typed in its global namespace: a plugin adds its own there.
  namespace Chai {
    interface Assertion {
      /** Every path is present in the record (in every row of a list); arrays are transparent. */
      disclose(paths: readonly string[]): Assertion;
      /** No path is present in the record (in any row of a list). */
      withhold(paths: readonly string[]): Assertion;
      /** Every value at the path is a pseudonym as the engine writes it (or, with `of`, exactly that value's). */
      pseudonymise(path: string, options?: PseudonymOptions): Assertion;
    }
  }
}

/** What the plugin needs of chai: typed here, so that fieldmesh never depends on chai. */
interface AssertionLike {
  _obj: unknown;
  assert(expression: boolean, message: string, negatedMessage: string, expected?: unknown, actual?: unknown, showDiff?: boolean): void;
}
// biome-ignore lint/suspicious/noExplicitAny: chai's own signature for assertion methods
type AssertionMethod = (this: AssertionLike, ...args: any[]) => void;
interface ChaiLike {
  Assertion: { addMethod(name: string, method: AssertionMethod): void };
}

/**
 * Chai assertions about redacted output, for your own tests
 * (docs/testing.md, "In your own test suite"). The target is a redacted
 * record, a list of them, or what `policies.redact` returns (`{ data, decision }`).
 *
 * @example
 * import * as chai from 'chai';
 * import { fieldmeshChai } from 'fieldmesh/testing';
 * chai.use(fieldmeshChai);
 * const result = policies.redact(record, { resource: 'Patient', purpose: 'administration', user });
 * chai.expect(result).to.disclose(['name', 'address.postcode']).and.to.withhold(['diagnoses']);
 * chai.expect(planning.data).to.pseudonymise('id', { of: 'pat-001', purpose: 'service-planning', key });
 */
export function fieldmeshChai(chai: ChaiLike, _utils: unknown): void {
  chai.Assertion.addMethod('disclose', function disclose(this: AssertionLike, paths: readonly string[]) {
    const list = pathList('disclose', paths);
    const { rows, what, isList } = targetOf(this._obj);
    const absent = list
      .map((p) => ({ path: p, rows: rows.flatMap((row, i) => (present(row, p) ? [] : [i])) }))
      .filter((a) => a.rows.length > 0);
    const why = rows.length === 0 ? 'there are no rows' : absent.map((a) => `${a.path} is absent${rowsSaid(a.rows, isList)}`).join('; ');
    this.assert(
      rows.length > 0 && absent.length === 0,
      `expected ${what} to disclose ${said(list)}, but ${why}`,
      `expected ${what} not to disclose all of ${said(list)}, but every one is present`,
      list,
      list.filter((p) => !absent.some((a) => a.path === p)),
      true,
    );
  });

  chai.Assertion.addMethod('withhold', function withhold(this: AssertionLike, paths: readonly string[]) {
    const list = pathList('withhold', paths);
    const { rows, what, isList } = targetOf(this._obj);
    const shown = list
      .map((p) => ({ path: p, rows: rows.flatMap((row, i) => (present(row, p) ? [i] : [])) }))
      .filter((s) => s.rows.length > 0);
    this.assert(
      shown.length === 0,
      `expected ${what} to withhold ${said(list)}, but ${shown.map((s) => `${s.path} is present${rowsSaid(s.rows, isList)}`).join('; ')}`,
      `expected ${what} not to withhold all of ${said(list)}, but none is present`,
      [],
      shown.map((s) => s.path),
      true,
    );
  });

  chai.Assertion.addMethod('pseudonymise', function pseudonymise(this: AssertionLike, path: string, options: PseudonymOptions = {}) {
    pathList('pseudonymise', [path]);
    const { rows, what, isList, decision } = targetOf(this._obj);
    const expected = expectedPseudonym(options, decision);
    const wanted = expected === undefined ? 'a pseudonym' : `the pseudonym of ${String(options.of)}`;
    const found = rows.map((row) => valuesAt(row, path).values);
    const bad = found.flatMap((values, i) => (values.length === 0 ? [i] : []));
    const wrong = found.flat().filter((v) => (expected === undefined ? !isPseudonym(v) : v !== expected));
    const why =
      rows.length === 0
        ? 'there are no rows'
        : bad.length > 0
          ? `${path} has no value${rowsSaid(bad, isList)}`
          : `${path} holds ${wrong.map((v) => JSON.stringify(v)).join(', ')}`;
    this.assert(
      rows.length > 0 && bad.length === 0 && wrong.length === 0,
      `expected ${path} of ${what} to be ${wanted}, but ${why}`,
      `expected ${path} of ${what} not to be ${wanted}, but it is`,
      expected ?? 'a pseudonym (32 lowercase hex characters)',
      wrong.length === 1 ? wrong[0] : wrong,
      expected !== undefined,
    );
  });
}

/** The rows an assertion looks at, how to name them, and the decision when the target is a redact result. */
function targetOf(target: unknown): { rows: Record<string, unknown>[]; what: string; isList: boolean; decision?: Decision } {
  if (isRedactResult(target)) return { ...targetOf(target.data), decision: target.decision };
  if (isPlainObject(target)) return { rows: [target], what: 'the record', isList: false };
  if (Array.isArray(target)) {
    const odd = target.findIndex((row) => !isPlainObject(row));
    if (odd !== -1) throw new TypeError(`fieldmesh assertions: row ${odd} of the list is not a record (an object)`);
    return { rows: target as Record<string, unknown>[], what: 'every row', isList: true };
  }
  throw new TypeError(
    `fieldmesh assertions: expected a redacted record, a list of records or a redact result ({ data, decision }), got ${target === null ? 'null' : typeof target}`,
  );
}

function isRedactResult(value: unknown): value is { data: unknown; decision: Decision } {
  if (!isPlainObject(value) || Object.keys(value).sort().join() !== 'data,decision') return false;
  const d = value['decision'];
  return isPlainObject(d) && typeof d['outcome'] === 'string' && Array.isArray(d['disclosed']);
}

/** Whether the path reaches a key in the row, walking into every element of an array on the way; a key holding null or [] is present. */
function present(value: unknown, path: string): boolean {
  const walk = (v: unknown, segments: string[]): boolean => {
    if (segments.length === 0) return true;
    if (Array.isArray(v)) return v.some((element) => walk(element, segments));
    const [key, ...rest] = segments as [string, ...string[]];
    return isPlainObject(v) && Object.hasOwn(v, key) && walk(v[key], rest);
  };
  return walk(value, splitPath(path));
}

function expectedPseudonym(options: PseudonymOptions, decision: Decision | undefined): string | undefined {
  if (!isPlainObject(options as unknown)) throw new TypeError('pseudonymise: options must be an object { of, purpose, key }');
  const unknown = Object.keys(options).filter((k) => !['of', 'purpose', 'key'].includes(k));
  if (unknown.length > 0) throw new TypeError(`pseudonymise: unknown option ${unknown.join(', ')} (expected of, purpose, key)`);
  if (options.of === undefined) return undefined;
  if (typeof options.of !== 'string' && typeof options.of !== 'number')
    throw new TypeError('pseudonymise: `of` must be a string or a number');
  const purpose = options.purpose ?? decision?.purpose;
  if (typeof purpose !== 'string' || purpose === '') {
    throw new TypeError("pseudonymise: `of` needs the purpose (options.purpose, or a redact result's decision)");
  }
  if (options.key === undefined || options.key.length === 0)
    throw new TypeError('pseudonymise: `of` needs the pseudonym key (options.key)');
  return pseudonymWith(purposeKey(options.key, purpose), String(options.of));
}

function pathList(assertion: string, paths: unknown): string[] {
  const ok = Array.isArray(paths) && paths.length > 0 && paths.every((p) => typeof p === 'string' && p !== '');
  if (!ok) throw new TypeError(`${assertion}: expected a non-empty list of field paths, such as ['name', 'address.postcode']`);
  return paths as string[];
}

function said(paths: readonly string[]): string {
  return `[${paths.join(', ')}]`;
}

/** ` in rows 0, 2` for a list; nothing for a single record. */
function rowsSaid(rows: number[], isList: boolean): string {
  if (!isList) return '';
  return rows.length === 1 ? ` in row ${rows[0]}` : ` in rows ${rows.join(', ')}`;
}
