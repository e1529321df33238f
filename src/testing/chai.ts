import type { Decision } from '../engine/decision.js';
import { isPseudonym, pseudonymWith, purposeKey } from '../engine/transforms.js';
import { isPlainObject, valuesAt } from '../lib/paths.js';
import { checkPaths, present, targetOf } from './chai-target.js';
import { pseudonymised } from './matchers.js';

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
    const target = targetOf(this._obj);
    const list = checkPaths('disclose', paths, target);
    const { rows, what, isList } = target;
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
    const target = targetOf(this._obj);
    const list = checkPaths('withhold', paths, target);
    const { rows, what, isList } = target;
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
    const target = targetOf(this._obj);
    checkPaths('pseudonymise', [path], target);
    const { rows, what, isList, decision } = target;
    const expected = expectedPseudonym(options, decision);
    const wanted = expected === undefined ? 'a pseudonym' : `the pseudonym of ${String(options.of)}`;
    const found = rows.map((row) => valuesAt(row, path).values);
    const bad = found.flatMap((values, i) => (values.length === 0 ? [i] : []));
    const wrong = found.flat().filter((v) => (expected === undefined ? !isPseudonym(v) : v !== expected));
    // With a decision, the shape is not enough: a raw id of 32 hex characters looks like one. The engine must have said so.
    const unsaid = decision !== undefined && !pseudonymised(path, decision);
    const why =
      rows.length === 0
        ? 'there are no rows'
        : bad.length > 0
          ? `${path} has no value${rowsSaid(bad, isList)}`
          : wrong.length > 0
            ? `${path} holds ${wrong.map((v) => JSON.stringify(v)).join(', ')}`
            : unsaid
              ? `the decision did not pseudonymise ${path} (its transforms: ${transformsSaid(decision)})`
              : '';
    this.assert(
      rows.length > 0 && bad.length === 0 && wrong.length === 0 && !unsaid,
      `expected ${path} of ${what} to be ${wanted}, but ${why}`,
      `expected ${path} of ${what} not to be ${wanted}, but it is`,
      expected ?? 'a pseudonym (32 lowercase hex characters)',
      wrong.length === 1 ? wrong[0] : wrong,
      expected !== undefined,
    );
  });
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

function said(paths: readonly string[]): string {
  return `[${paths.join(', ')}]`;
}

function transformsSaid(decision: Decision | undefined): string {
  if (decision === undefined) return 'none';
  const entries = Object.entries(decision.transforms);
  return entries.length === 0 ? 'none' : entries.map(([p, t]) => `${p}: ${t}`).join(', ');
}

/** ` in rows 0, 2` for a list; nothing for a single record. */
function rowsSaid(rows: number[], isList: boolean): string {
  if (!isList) return '';
  return rows.length === 1 ? ` in row ${rows[0]}` : ` in rows ${rows.join(', ')}`;
}
