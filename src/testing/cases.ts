import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { diffLines } from 'diff';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { FieldmeshError } from '../lib/errors.js';
import { AccessError } from '../engine/access-error.js';
import type { Decision } from '../engine/decision.js';
import type { PolicySet } from '../engine/policy-set.js';
import { formatPath } from '../policy/parse.js';

/**
 * Fixture cases: a record, a user, a purpose, and the exact output (or the
 * refusal) expected. Developers prove their redaction with them, from the
 * CLI (`fieldmesh test`) or from their own test suites.
 */
const claims = z.record(z.string(), z.unknown());
// The clock of a case: an ISO date or timestamp. Anything else is a malformed case, never an Invalid Date run.
const when = z.union([z.iso.date(), z.iso.datetime({ offset: true }), z.date().transform((d) => d.toISOString())], {
  error: 'an ISO date or timestamp, such as 2026-11-24T12:00:00Z',
});

export const caseSchema = z
  .strictObject({
    name: z.string().min(1),
    resource: z.string().min(1),
    purpose: z.string(),
    user: claims.default({}),
    breakGlass: z.string().optional(),
    now: when.optional(),
    ref: z.string().optional(),
    refs: z.array(z.string()).optional(),
    record: z.unknown().optional(),
    records: z.array(z.unknown()).optional(),
    expect: z.unknown().optional(),
    expectRefusal: z.string().optional(),
    expectDecision: z.record(z.string(), z.unknown()).optional(),
  })
  .refine((c) => ['ref', 'refs', 'record', 'records'].filter((k) => k in c).length === 1, 'give exactly one of ref, refs, record, records')
  .refine((c) => 'expect' in c !== 'expectRefusal' in c, 'give exactly one of expect, expectRefusal');

export const caseFileSchema = z.strictObject({
  now: when.optional(),
  pseudonymKey: z.string().optional(),
  user: claims.optional(),
  cases: z.array(caseSchema).min(1),
});
export type FixtureCase = z.infer<typeof caseSchema>;
export type CaseFile = z.infer<typeof caseFileSchema>;

export interface CaseResult {
  file: string;
  name: string;
  passed: boolean;
  /** Why it failed: a refusal message, a missing ref, or a readable diff. */
  message?: string;
  /** What the engine decided (disclosed or refused), for coverage; absent when the engine was never asked (an unknown ref). */
  decision?: Decision;
}

/** Records by `Resource/id`, read from `<Resource>.json` arrays. */
export type RecordStore = Map<string, unknown>;

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
  const parsed = caseFileSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${file} › ${formatPath(i.path) || '(top level)'}: ${i.message}`);
    throw new FieldmeshError('cases_invalid', lines.join('\n'));
  }
  return parsed.data;
}

/**
 * Run one case against a policy set.
 */
export function runCase(policies: PolicySet, records: RecordStore, file: CaseFile, c: FixtureCase, fileName: string): CaseResult {
  let decided: Decision | undefined;
  const result = (passed: boolean, message?: string): CaseResult => ({
    file: fileName,
    name: c.name,
    passed,
    ...(message === undefined ? {} : { message }),
    ...(decided === undefined ? {} : { decision: decided }),
  });
  const input = inputOf(c, records);
  if (typeof input === 'string') return result(false, input);
  const now = c.now ?? file.now;
  const ctx = {
    resource: c.resource,
    purpose: c.purpose,
    user: { ...file.user, ...c.user },
    breakGlass: c.breakGlass,
    now: now === undefined ? undefined : new Date(now),
  };
  let data: unknown;
  let decision: Decision;
  try {
    ({ data, decision } = policies.redact(structuredClone(input), ctx));
    decided = decision;
  } catch (e) {
    if (!(e instanceof FieldmeshError)) throw e;
    if (e instanceof AccessError) decided = e.decision;
    if (c.expectRefusal === e.code) return checkDecision(c, e instanceof AccessError ? e.decision : undefined, result);
    return result(
      false,
      c.expectRefusal ? `refused with ${e.code}, expected ${c.expectRefusal}: ${e.message}` : `refused with ${e.code}: ${e.message}`,
    );
  }
  if (c.expectRefusal) return result(false, `expected refusal ${c.expectRefusal}, but data was disclosed:\n${lineDiff(undefined, data)}`);
  const plain = JSON.parse(JSON.stringify(data)) as unknown;
  if (!isDeepStrictEqual(plain, c.expect)) return result(false, lineDiff(c.expect, plain));
  return checkDecision(c, decision, result);
}

function inputOf(c: FixtureCase, records: RecordStore): unknown {
  const lookup = (ref: string) => (records.has(ref) ? records.get(ref) : undefined);
  if (c.ref !== undefined) return lookup(c.ref) ?? `unknown ref ${c.ref}`;
  if (c.refs !== undefined) {
    const missing = c.refs.filter((r) => !records.has(r));
    return missing.length > 0 ? `unknown refs ${missing.join(', ')}` : c.refs.map(lookup);
  }
  return c.record ?? c.records;
}

function checkDecision(
  c: FixtureCase,
  decision: Decision | undefined,
  result: (passed: boolean, message?: string) => CaseResult,
): CaseResult {
  if (!c.expectDecision) return result(true);
  if (!decision) return result(false, 'no decision to compare');
  const wrong: string[] = [];
  for (const [key, want] of Object.entries(c.expectDecision)) {
    const got = (decision as unknown as Record<string, unknown>)[key];
    const same =
      Array.isArray(want) && Array.isArray(got) ? isDeepStrictEqual([...want].sort(), [...got].sort()) : isDeepStrictEqual(want, got);
    if (!same) wrong.push(`decision.${key}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  }
  return wrong.length === 0 ? result(true) : result(false, wrong.join('\n'));
}

/** Expected against actual, as sorted pretty JSON with `-`/`+` lines. */
export function lineDiff(expected: unknown, actual: unknown): string {
  const parts = diffLines(pretty(expected), pretty(actual));
  return parts
    .flatMap((p) =>
      p.value
        .replace(/\n$/, '')
        .split('\n')
        .map((line) => `${p.added ? '+ ' : p.removed ? '- ' : '  '}${line}`),
    )
    .join('\n');
}

function pretty(value: unknown): string {
  if (value === undefined) return '(nothing)\n';
  return `${JSON.stringify(value, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v), 2)}\n`;
}
