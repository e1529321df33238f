import { isPlainObject, isWithin } from '../lib/paths.js';
import { didYouMean } from '../lib/suggest.js';

/**
 * Partial expectations (docs/testing.md, "Partial expectations"): which
 * field paths an output holds, without writing out its values.
 *
 * - `expectFields: [paths]`: the output holds exactly these paths. Each is
 *   present (in at least one row of a list), and every key path present in
 *   any row lies inside a listed path or on the way to one (`address` is
 *   fine beside `address.postcode`; `address.city` is not).
 * - `absent: [paths]`: no row holds any of these paths, nor anything inside them.
 *
 * Arrays are transparent, as in field paths. A listed path must be a
 * declared field path of the resource (its fields and the sub-paths its
 * policies name) or a key path of the case's input: a typo that names
 * neither would pass `absent` by being absent, so it fails the case instead.
 * A path under a declared field counts only when the input holds it
 * (`diagnoses.dispaly` is not a path anywhere); an index or an empty
 * segment (`address.0`) is never a field path.
 */
export interface FieldExpectations {
  expectFields?: string[] | undefined;
  absent?: string[] | undefined;
}

/**
 * The problems of an output against the case's partial expectations, one
 * line each, naming paths only (never values); empty when it meets them.
 *
 * @example
 * fieldProblems({ absent: ['address'] }, { id: 'p1', address: [{ city: 'Leeds' }] }, ['id', 'address'], record);
 * // ['absent: "address" is disclosed']
 */
export function fieldProblems(expectations: FieldExpectations, output: unknown, declared: readonly string[], input: unknown): string[] {
  const rows = Array.isArray(output) ? output : [output];
  const present = new Set(rows.flatMap((row) => keyPaths(row)));
  const inputPaths = new Set(keyPaths(input));
  const problems: string[] = [];
  const { expectFields, absent } = expectations;
  for (const [key, paths] of [
    ['expectFields', expectFields ?? []],
    ['absent', absent ?? []],
  ] as const) {
    for (const path of paths) {
      const segments = path.split('.');
      if (segments.some((s) => s === '' || /^\d+$/.test(s))) {
        const field = segments.filter((s) => s !== '' && !/^\d+$/.test(s)).join('.');
        problems.push(
          `${key}: "${path}" is not a field path: no index or empty segment (arrays are transparent${field ? `: write "${field}"` : ''})`,
        );
      } else if (!declared.includes(path) && !inputPaths.has(path)) {
        problems.push(
          `${key}: "${path}" is neither a declared field nor a key of the input record${didYouMean(path, [...declared, ...inputPaths])}`,
        );
      }
    }
  }
  if (problems.length > 0) return problems;
  if (expectFields !== undefined) {
    const missing = expectFields.filter((p) => !present.has(p));
    const extra = topmost([...present].filter((k) => !expectFields.some((p) => isWithin(k, p) || isWithin(p, k)))).sort();
    if (missing.length > 0) problems.push(`expectFields: not disclosed: ${missing.join(', ')}`);
    if (extra.length > 0) problems.push(`expectFields: disclosed but not listed: ${extra.join(', ')}`);
  }
  for (const path of absent ?? []) {
    const rowsWithIt = rows.flatMap((row, i) => (keyPaths(row).some((k) => isWithin(k, path)) ? [i] : []));
    if (rowsWithIt.length > 0)
      problems.push(`absent: "${path}" is disclosed${Array.isArray(output) ? ` (row ${rowsWithIt.map((i) => i + 1).join(', ')})` : ''}`);
  }
  return problems;
}

/**
 * Every key path of a value, arrays transparent: `{ address: [{ postcode }] }`
 * → `address`, `address.postcode`.
 */
export function keyPaths(value: unknown, at = '', out: string[] = []): string[] {
  if (Array.isArray(value)) {
    for (const v of value) keyPaths(v, at, out);
  } else if (isPlainObject(value)) {
    for (const [key, v] of Object.entries(value)) {
      const path = at ? `${at}.${key}` : key;
      if (!out.includes(path)) out.push(path);
      keyPaths(v, path, out);
    }
  }
  return out;
}

/** Paths without those inside another listed path. */
function topmost(paths: string[]): string[] {
  return paths.filter((p) => !paths.some((q) => q !== p && isWithin(p, q)));
}
