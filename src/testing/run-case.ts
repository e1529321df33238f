import { isDeepStrictEqual } from 'node:util';
import { AccessError } from '../engine/access-error.js';
import type { Decision } from '../engine/decision.js';
import { planDecision, type RequestContext } from '../engine/plan.js';
import type { PolicySet } from '../engine/policy-set.js';
import { checkEntries, DEFAULT_PAGING_KEYS, type QueryEntries } from '../engine/query-check.js';
import { FieldmeshError } from '../lib/errors.js';
import { type CaseFile, type CaseKind, type FixtureCase, kindOf } from './case-schema.js';
import { lineDiff } from './diff.js';
import { fieldProblems } from './field-expectations.js';
import { type FieldsSeen, fieldsSeen } from './fields-seen.js';
import { compareOutput } from './matchers.js';

/** Records by `Resource/id`, read from `<Resource>.json` arrays. */
export type RecordStore = Map<string, unknown>;

export interface CaseResult {
  file: string;
  name: string;
  kind: CaseKind;
  passed: boolean;
  /** Why it failed: a refusal message, a missing ref, or a readable diff. */
  message?: string;
  /** The decision the case produced, disclosed or refused, when the engine made one (names, never values). */
  decision?: Decision;
  /** For a read that returned rows: the declared paths its output held, and those a returned row lost (coverage counts these). */
  fieldsSeen?: FieldsSeen;
}

/**
 * What a read case observed, beside its result: the plain output or the
 * refusal code. Only `fieldmesh test --update` reads it, to write it back
 * into the case file; it never reaches a report.
 */
export interface Observed {
  output?: unknown;
  refusal?: string;
  /** The case's input rows (ref, refs, record, records): where `--update` finds a pseudonym's input value. */
  input?: unknown;
}

/**
 * Run one case against a policy set: a read through `redact`, a write
 * through `checkWrite`, a filter through the engine's query check, each the
 * function the HTTP shells call.
 *
 * @example
 * const file = parseCaseFile(text, 'cases/nurse.yaml');
 * for (const c of file.cases) console.log(runCase(policies, records, file, c, 'cases/nurse.yaml'));
 */
export function runCase(policies: PolicySet, records: RecordStore, file: CaseFile, c: FixtureCase, fileName: string): CaseResult {
  return evaluateCase(policies, records, file, c, fileName).result;
}

/** `runCase`, with what the case observed (see `Observed`). */
export function evaluateCase(
  policies: PolicySet,
  records: RecordStore,
  file: CaseFile,
  c: FixtureCase,
  fileName: string,
): { result: CaseResult; observed: Observed } {
  const kind = kindOf(c);
  const observed: Observed = {};
  let made: Decision | undefined;
  let seen: FieldsSeen | undefined;
  const result = (passed: boolean, message?: string): CaseResult => {
    const r: CaseResult = { file: fileName, name: c.name, kind, passed };
    if (message !== undefined) r.message = message;
    if (made !== undefined) r.decision = made;
    if (seen !== undefined) r.fieldsSeen = seen;
    return r;
  };
  const ctx = caseContext(file, c);
  // What the engine answered: a decision, a refusal (with its decision and the fields it names), or an error.
  let answer: { decision: Decision; data?: unknown } | { refusal: AccessError } | { error: FieldmeshError };
  const attempt = (fn: () => { decision: Decision; data?: unknown }) => {
    try {
      answer = fn();
      made = answer.decision;
    } catch (e) {
      // Only an AccessError is a refusal the policies decided. Any other error (a missing pseudonym key,
      // an input that cannot be redacted) says the case could not be run: it can never be expected.
      if (e instanceof AccessError) {
        answer = { refusal: e };
        made = e.decision;
      } else if (e instanceof FieldmeshError) answer = { error: e };
      else throw e;
    }
  };

  if (kind === 'filter') {
    attempt(() => {
      const plan = policies.plan(ctx, 'read');
      checkEntries(policies, plan, queryOf(c), DEFAULT_PAGING_KEYS, []);
      return { decision: planDecision(plan) };
    });
  } else {
    const input = kind === 'write' && c.action === 'create' ? undefined : inputOf(c, records);
    if (typeof input === 'string') return { result: result(false, input), observed };
    observed.input = input;
    if (kind === 'write') {
      const action = c.action === 'create' ? 'create' : 'update';
      const target = action === 'update' ? { existing: structuredClone(input), replace: c.replace ?? false } : {};
      attempt(() => ({ decision: policies.checkWrite(structuredClone(c.body), { ...ctx, action, ...target }) }));
    } else {
      attempt(() => policies.redact(structuredClone(input), ctx));
    }
  }
  answer = answer!;

  if ('error' in answer) return { result: result(false, `error ${answer.error.code}: ${answer.error.message}`), observed };
  if ('refusal' in answer) {
    const e = answer.refusal;
    observed.refusal = e.code;
    if (c.expectRefusal !== e.code) {
      const why = c.expectRefusal
        ? `refused with ${e.code}, expected ${c.expectRefusal}: ${e.message}`
        : `refused with ${e.code}: ${e.message}`;
      return { result: result(false, why), observed };
    }
    const named = [...e.fields];
    if (c.expectRefusedFields !== undefined && !sameSet(c.expectRefusedFields, named)) {
      const list = (xs: string[]) => `[${[...xs].sort().join(', ')}]`;
      return { result: result(false, `refused fields: expected ${list(c.expectRefusedFields)}, got ${list(named)}`), observed };
    }
    return { result: checkDecision(c, made, result), observed };
  }

  const { decision } = answer;
  if (kind !== 'read') {
    if (c.expectRefusal !== undefined) {
      const what =
        kind === 'write' ? `the write was allowed (writes: ${decision.written?.join(', ') || 'nothing'})` : 'the query was allowed';
      return { result: result(false, `expected refusal ${c.expectRefusal}, but ${what}`), observed };
    }
    return { result: checkDecision(c, decision, result), observed };
  }

  const plain = JSON.parse(JSON.stringify(answer.data)) as unknown;
  observed.output = plain;
  const declared = policies.compiled.resources.get(c.resource)?.paths ?? [];
  if (decision.rowsReturned > 0) seen = fieldsSeen(declared, observed.input, plain, decision.rowsWithheld);
  if (c.expectRefusal)
    return {
      result: result(false, `expected refusal ${c.expectRefusal}, but data was disclosed:\n${lineDiff(undefined, plain)}`),
      observed,
    };
  if ('expect' in c) {
    const compared = compareOutput(c.expect, plain, { policies, purpose: c.purpose, decision });
    if (!compared.ok) return { result: result(false, lineDiff(compared.expected, compared.actual)), observed };
  } else {
    const problems = fieldProblems(c, plain, declared, observed.input);
    if (problems.length > 0) return { result: result(false, problems.join('\n')), observed };
  }
  return { result: checkDecision(c, decision, result), observed };
}

/** A filter case's query as a request would carry it: every value a string, `sort` as `_sort`. */
function queryOf(c: FixtureCase): QueryEntries {
  const entries: QueryEntries = Object.entries(c.query ?? {}).map(([k, v]) => [k, (Array.isArray(v) ? v : [v]).map(String)]);
  if (c.sort !== undefined) entries.push(['_sort', [c.sort.join(',')]]);
  return entries;
}

/**
 * The request a case makes: its resource and purpose, the file's user under
 * the case's own claims, its break-glass reason, and its clock (the case's,
 * else the file's).
 */
export function caseContext(file: CaseFile, c: FixtureCase): RequestContext {
  const now = c.now ?? file.now;
  return {
    resource: c.resource,
    purpose: c.purpose,
    user: { ...file.user, ...c.user },
    breakGlass: c.breakGlass,
    now: now === undefined ? undefined : new Date(now),
  };
}

/** The record or records a case reads: its inline ones, or those its refs name; a string says which ref is unknown. */
export function inputOf(c: FixtureCase, records: RecordStore): unknown {
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
    const same = Array.isArray(want) && Array.isArray(got) ? sameSet(want, got) : isDeepStrictEqual(want, got);
    if (!same) wrong.push(`decision.${key}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  }
  return wrong.length === 0 ? result(true) : result(false, wrong.join('\n'));
}

function sameSet(a: readonly unknown[], b: readonly unknown[]): boolean {
  const sorted = (xs: readonly unknown[]) => [...xs].map((x) => JSON.stringify(x)).sort();
  return isDeepStrictEqual(sorted(a), sorted(b));
}
