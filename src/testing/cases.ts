import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { FieldmeshError } from '../lib/errors.js';
import { lineBreakHazard } from '../policy/line-breaks.js';
import { formatPath } from '../policy/parse.js';
import { type CaseFile, caseFileSchema } from './case-schema.js';
import type { RecordStore } from './run-case.js';

/**
 * Fixture cases: a record, a user, a purpose, and the output (or the
 * refusal) expected; write cases and filter cases beside them. Developers
 * prove their redaction with them, from the CLI (`fieldmesh test`) or from
 * their own test suites. This file reads case files and records; the format
 * is in case-schema.ts, running a case in run-case.ts.
 */
export { caseSchema, caseFileSchema, kindOf, type CaseFile, type CaseKind, type FixtureCase } from './case-schema.js';
export { evaluateCase, runCase, type CaseResult, type Observed, type RecordStore } from './run-case.js';
export { lineDiff } from './diff.js';

/**
 * Read every `<Resource>.json` file of a directory into a store.
 *
 * @example
 * const records = await loadRecords('fixtures/records'); records.get('Patient/pat-001');
 */
export async function loadRecords(dir: string): Promise<RecordStore> {
  const store: RecordStore = new Map();
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json')).sort();
  for (const name of names) {
    let rows: unknown;
    try {
      rows = JSON.parse(await readFile(join(dir, name), 'utf8'));
    } catch {
      // The parser's message quotes the text around the fault: a record's values. Say where, not what.
      throw new FieldmeshError('records_invalid', `${join(dir, name)} is not valid JSON`);
    }
    if (!Array.isArray(rows)) throw new FieldmeshError('records_invalid', `${join(dir, name)}: expected a JSON array of records`);
    const resource = name.replace(/\.json$/, '');
    for (const row of rows) {
      const id = (row as Record<string, unknown> | null)?.['id'];
      if (typeof id === 'string' || typeof id === 'number') store.set(`${resource}/${id}`, row);
    }
  }
  return store;
}

/**
 * Parse a case file's text; throws a `FieldmeshError('cases_invalid')` naming the path of every problem.
 */
export function parseCaseFile(text: string, file: string): CaseFile {
  // The rule policy files follow: a character one reader takes as a line break and another not could hide a line
  // (an `expectDecision` after a comment, silently not checked).
  const hazard = lineBreakHazard(text);
  if (hazard) throw new FieldmeshError('cases_invalid', `${file}:${hazard.line}:${hazard.col} › ${hazard.message}`);
  // Errors and warnings alike are said by their place only: the library's own text quotes the source
  // line (a record's values) and would reach the terminal raw.
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, logLevel: 'silent' });
  const problems = [...doc.errors.map((p) => ['syntax error', p] as const), ...doc.warnings.map((p) => ['warning', p] as const)];
  if (problems.length > 0) {
    const where = problems.map(([kind, p]) => `${file} › line ${lineCounter.linePos(p.pos[0]).line}: YAML ${kind} (${p.code})`);
    throw new FieldmeshError('cases_invalid', where.join('\n'));
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch {
    throw new FieldmeshError('cases_invalid', `${file}: the YAML cannot be read (too many aliases)`);
  }
  const merge = mergeKeyAt(raw, []);
  if (merge !== undefined)
    throw new FieldmeshError(
      'cases_invalid',
      `${file} › ${formatPath(merge) || '(top level)'}: a "<<" merge key: YAML 1.2 reads it as an ordinary key and merges nothing, so the record or user would lack every key it meant to copy; write the keys out`,
    );
  const parsed = caseFileSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${file} › ${formatPath(i.path) || '(top level)'}: ${i.message}`);
    throw new FieldmeshError('cases_invalid', lines.join('\n'));
  }
  return parsed.data;
}

/**
 * Where a `<<` key is, if anywhere: in a case file it would be read as an
 * ordinary key (YAML 1.2 has no merge keys), and inside `record:` or
 * `user:`, which take any key, it would pass unnoticed while the case runs
 * on a record or user missing what the author meant to merge.
 */
function mergeKeyAt(value: unknown, at: (string | number)[]): (string | number)[] | undefined {
  // A stack, not recursion: a fixture may nest deeper than the call stack allows.
  const stack: [unknown, (string | number)[]][] = [[value, at]];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (Array.isArray(v)) for (const [i, item] of v.entries()) stack.push([item, [...path, i]]);
    else if (v !== null && typeof v === 'object' && !(v instanceof Date))
      for (const [k, item] of Object.entries(v)) {
        if (k === '<<') return path;
        stack.push([item, [...path, k]]);
      }
  }
  return undefined;
}
