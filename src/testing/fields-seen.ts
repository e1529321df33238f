import { keyPaths } from './field-expectations.js';

/**
 * Which declared field paths a read case showed disclosed and withheld, by
 * what its output and input held (names, never values). Coverage
 * (coverage.ts) counts fields from it: a decision lists every field the
 * grant allows, whether or not the record held it, so a case reading
 * `{ id, gp }` would otherwise "disclose" an NHS number it never had.
 */
export interface FieldsSeen {
  /** Declared paths present (arrays transparent) in some row of the output. */
  disclosed: string[];
  /** Declared paths that some row returned held in the input and lost in the output. */
  withheld: string[];
}

/**
 * The declared paths a read showed disclosed and withheld. A path counts
 * withheld only when a row that was returned held it: when rows were
 * withheld whole, the rows returned cannot be told apart, so it counts only
 * when more input rows held it than were withheld and shown together (the
 * rows returned must have held it, and one lost it).
 *
 * @example
 * fieldsSeen(['id', 'nhsNumber', 'gp'], { id: 'p1', gp: 'B86001' }, { id: 'p1' }, 0);
 * // { disclosed: ['id'], withheld: ['gp'] }
 */
export function fieldsSeen(declared: readonly string[], input: unknown, output: unknown, rowsWithheld: number): FieldsSeen {
  const held = rowsOf(input).map((row) => new Set(keyPaths(row)));
  const shown = rowsOf(output).map((row) => new Set(keyPaths(row)));
  const count = (rows: Set<string>[], path: string) => rows.filter((paths) => paths.has(path)).length;
  return {
    disclosed: declared.filter((path) => count(shown, path) > 0),
    withheld: declared.filter((path) => count(held, path) - rowsWithheld > count(shown, path)),
  };
}

function rowsOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : value === undefined ? [] : [value];
}
