import { z } from 'zod';
import { ACCESS_CODES, isErrorCode, statusOf } from '../lib/error-codes.js';
import { isPlainObject } from '../lib/paths.js';
import { didYouMean } from '../lib/suggest.js';
import { matcherProblem } from './matchers.js';

/**
 * The case file format (docs/testing.md): a record, a user, a purpose, and
 * what is expected. One schema for every kind of case; which keys a case
 * may hold follows from its kind, and every misplaced key is refused with a
 * message saying where it belongs, so no expectation is silently ignored.
 */

const claims = z.record(z.string(), z.unknown());
// The clock of a case: an ISO date or timestamp. Anything else is a malformed case, never an Invalid Date run.
const when = z.union([z.iso.date(), z.iso.datetime({ offset: true }), z.date().transform((d) => d.toISOString())], {
  error: 'an ISO date or timestamp, such as 2026-11-24T12:00:00Z',
});
const fieldPath = z.string().regex(/^[^.\s]+(\.[^.\s]+)*$/, 'a field path such as address.postcode');
const queryScalar = z.union([z.string(), z.number(), z.boolean()]);

const RECORD_KEYS = ['ref', 'refs', 'record', 'records'] as const;

/**
 * The codes `expectRefusal` takes: those of a refusal the policies decide
 * (an `AccessError` with a 4xx status). The 5xx access codes report a
 * failure (no pseudonym key, a body that cannot be redacted, the record API
 * or the audit trail down): a case that meets one fails as an error, so
 * expecting one could only hide a broken setup.
 */
export const REFUSAL_CODES: readonly string[] = ACCESS_CODES.filter((code) => statusOf(code) < 500);

export const caseSchema = z
  .strictObject({
    name: z.string().min(1),
    resource: z.string().min(1),
    purpose: z.string(),
    user: claims.default({}),
    breakGlass: z.string().optional(),
    now: when.optional(),
    /** read (default), or a write: update (of the stored record in ref/record) or create. */
    action: z.enum(['read', 'update', 'create']).optional(),
    ref: z.string().optional(),
    refs: z.array(z.string()).optional(),
    record: z.unknown().optional(),
    records: z.array(z.unknown()).optional(),
    /** A write case's request body. */
    body: z.unknown().optional(),
    /** An update that replaces the whole record (PUT). */
    replace: z.boolean().optional(),
    /** A filter case's query: key → value or values, as a request's query string would carry them. */
    query: z.record(z.string(), z.union([queryScalar, z.array(queryScalar)])).optional(),
    /** A filter case's sort fields (`-name` descending), checked as `_sort=…`. */
    sort: z.array(z.string().min(1)).min(1).optional(),
    expect: z.unknown().optional(),
    expectFields: z.array(fieldPath).optional(),
    absent: z.array(fieldPath).min(1).optional(),
    expectRefusal: z.string().min(1).optional(),
    expectAllowed: z.literal(true, { error: 'expectAllowed takes true (for a refusal, give expectRefusal)' }).optional(),
    expectRefusedFields: z.array(z.string().min(1)).optional(),
    expectDecision: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((c, ctx) => {
    const problem = (message: string, key?: string) => ctx.addIssue({ code: 'custom', message, path: key === undefined ? [] : [key] });
    const has = (key: string) => key in c;
    const kind = kindOf(c);
    const onlyFor = (keys: string[], where: string) => {
      for (const key of keys) if (has(key)) problem(`only for ${where}`, key);
    };
    if (kind === 'read') {
      if (RECORD_KEYS.filter(has).length !== 1) problem('give exactly one of ref, refs, record, records');
      const expectations = [has('expect'), has('expectRefusal'), has('expectFields') || has('absent')].filter(Boolean).length;
      if (expectations !== 1) problem('give exactly one of expect, expectRefusal, or expectFields and/or absent');
      onlyFor(['body', 'replace'], 'write cases (action: update or create)');
      onlyFor(['expectAllowed', 'expectRefusedFields'], 'write cases (action: update or create) and filter cases (query, sort)');
    } else {
      if (kind === 'write') {
        if (!has('body')) problem(`a write case (action: ${c.action}) needs body: the request body to check`);
        if (c.action === 'update') {
          if (!has('ref') && !has('record')) problem('an update case needs the stored record: give exactly one of ref, record');
          if (has('ref') && has('record')) problem('give exactly one of ref, record');
          onlyFor(['refs', 'records'], 'read cases: a write checks one stored record (ref or record)');
        } else {
          onlyFor([...RECORD_KEYS], 'read and update cases: a create has no stored record (the body is the new record)');
          onlyFor(['replace'], 'update cases');
        }
        onlyFor(['query', 'sort'], 'filter cases (no action, or action: read)');
      } else {
        onlyFor([...RECORD_KEYS], 'read and write cases: a filter case checks a query, not records');
        onlyFor(['body', 'replace'], 'write cases (action: update or create)');
      }
      onlyFor(['expect', 'expectFields', 'absent'], 'read cases: a write or filter case expects expectAllowed: true or expectRefusal');
      if (has('expectAllowed') === has('expectRefusal')) problem('give exactly one of expectAllowed: true, expectRefusal');
      if (has('expectRefusedFields') && !has('expectRefusal')) problem('only with expectRefusal', 'expectRefusedFields');
    }
    if (c.expectRefusal !== undefined && !REFUSAL_CODES.includes(c.expectRefusal))
      problem(refusalProblem(c.expectRefusal), 'expectRefusal');
    if (has('expect')) for (const [path, message] of matcherProblems(c.expect, ['expect'])) ctx.addIssue({ code: 'custom', message, path });
  });

export const caseFileSchema = z.strictObject({
  now: when.optional(),
  pseudonymKey: z.string().optional(),
  user: claims.optional(),
  cases: z.array(caseSchema).min(1),
});
export type FixtureCase = z.infer<typeof caseSchema>;
export type CaseFile = z.infer<typeof caseFileSchema>;

/** What a case exercises: a read (redact), a write body (checkWrite) or a query (the filter check). */
export type CaseKind = 'read' | 'write' | 'filter';

/**
 * The kind of a case: `action: update | create` is a write, a `query` or
 * `sort` without a write action is a filter, anything else a read.
 *
 * @example
 * kindOf({ action: 'update' }); // 'write'
 */
export function kindOf(c: { action?: string | undefined; query?: unknown; sort?: unknown }): CaseKind {
  if (c.action === 'update' || c.action === 'create') return 'write';
  return 'query' in c || 'sort' in c ? 'filter' : 'read';
}

/** Why a code is not one `expectRefusal` takes. */
function refusalProblem(code: string): string {
  if (isErrorCode(code)) {
    return `"${code}" is not a refusal a case can expect: it is a configuration or system error, which fails the case (expectRefusal takes a refusal code such as record_withheld)`;
  }
  return `unknown refusal code "${code}"${didYouMean(code, REFUSAL_CODES)}`;
}

/** Every malformed matcher inside an expected output, with its path. */
function matcherProblems(value: unknown, at: (string | number)[]): [(string | number)[], string][] {
  const problem = matcherProblem(value);
  if (problem !== undefined) return [[at, problem]];
  if (Array.isArray(value)) return value.flatMap((v, i) => matcherProblems(v, [...at, i]));
  if (isPlainObject(value)) return Object.entries(value).flatMap(([k, v]) => matcherProblems(v, [...at, k]));
  return [];
}
