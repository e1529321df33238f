/**
 * What differs between the two SQL dialects in the statements both stores
 * run (filters, the chain head, inserts, the verify walk). Everything else
 * about those statements is written once, in the shared audit files.
 *
 * @example
 * const sqlite: SqlDialect = { param: () => '?', arrayHas: (c, p) => `EXISTS (SELECT 1 FROM json_each(${c}) WHERE value = ${p})`, arrayValue: (id) => id, time: (p) => p };
 */
export interface SqlDialect {
  /** Placeholder for the n-th (1-based) parameter. */
  param(n: number): string;
  /** SQL true when the JSON array `column` contains the string at placeholder `p`. */
  arrayHas(column: string, p: string): string;
  /** The parameter value arrayHas compares with. */
  arrayValue(id: string): unknown;
  /** Placeholder cast for a timestamp parameter. */
  time(p: string): string;
}

/**
 * A statement's parameters, collected as its text is built: `p(value)`
 * returns the next placeholder in the dialect's form and remembers the value.
 *
 * @example
 * const { p, params } = parameters(dialect);
 * const sql = `SELECT seq FROM t WHERE chain = ${p('main')}`; // params: ['main']
 */
export function parameters(dialect: SqlDialect): { p: (value: unknown) => string; params: unknown[] } {
  const params: unknown[] = [];
  return {
    params,
    p: (value) => {
      params.push(value);
      return dialect.param(params.length);
    },
  };
}
