import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FieldmeshError } from '../lib/errors.js';
import { loadPolicies, type PolicySet } from '../engine/policy-set.js';
import { loadRecords, parseCaseFile, runCase, type CaseFile, type CaseResult, type RecordStore } from './cases.js';
import { coverageOf, type Coverage } from './coverage.js';

/** A test runner's `describe`: mocha's, or any with the same shape. */
export type DescribeFunction = (title: string, fn: () => void) => unknown;
/** A test runner's `it`: mocha's, or any with the same shape. */
export type ItFunction = (title: string, fn: () => Promise<void>) => unknown;

export interface RunCasesOptions {
  /** The policy set, or its directory (loaded when the first case runs). */
  policies: PolicySet | string;
  /** Directory of `<Resource>.json` record files for `ref` / `refs`; none by default. */
  records?: string | undefined;
  /** The pseudonym key, for case files that name none (a case file's own `pseudonymKey` wins, as in `fieldmesh test`). */
  pseudonymKey?: string | undefined;
  /** Only the cases whose name contains this text, or matches this expression. */
  filter?: string | RegExp | undefined;
  /** The runner's functions; default: the global `describe` and `it` (mocha, and runners alike). */
  describe?: DescribeFunction | undefined;
  it?: ItFunction | undefined;
}

/** The cases registered by `runCases`, as they run. */
export interface CaseRun {
  /** The result of every case run so far, in the order they ran. */
  readonly results: CaseResult[];
  /** The coverage of the policy set by the cases run so far: call it in an `after` hook. */
  coverage(): Promise<Coverage>;
}

/** A case that failed: its message is what `fieldmesh test` prints, with no stack to read past. */
export class CaseFailure extends Error {
  override readonly name = 'CaseFailure';
  constructor(message: string) {
    super(message);
    this.stack = `${this.name}: ${message}`;
  }
}

/**
 * Register fixture cases as tests of your own suite: one `describe` per case
 * file, one `it` per case, failing with the message `fieldmesh test` prints
 * (docs/testing.md, "In your own test suite"). Case files are read now, so
 * the runner knows every test; the policies and records are loaded when the
 * first case runs. A case file that cannot be read becomes one failing test.
 * Throws at once for what cannot be a run: no case files, a filter that
 * matches nothing, a records directory that does not exist, no `describe`/`it`.
 *
 * @example
 * import { runCases } from 'fieldmesh/testing';
 * describe('redaction', () => {
 *   runCases('fixtures/cases', { policies: 'policies', records: 'fixtures/records' });
 * });
 */
export function runCases(cases: string | readonly string[], options: RunCasesOptions): CaseRun {
  const { describe, it } = runnerOf(options);
  checkOptions(options);
  const files = caseFilesOf(typeof cases === 'string' ? [cases] : cases);
  const load = loader(options);
  const results: CaseResult[] = [];
  let registered = 0;
  for (const file of files) {
    let parsed: CaseFile;
    try {
      parsed = parseCaseFile(readFileSync(file, 'utf8'), file);
    } catch (e) {
      if (!(e instanceof FieldmeshError)) throw e;
      describe(file, () => {
        it('(case file)', async () => {
          throw new CaseFailure(e.message);
        });
      });
      registered++;
      continue;
    }
    const chosen = parsed.cases.filter((c) => matches(options.filter, c.name));
    if (chosen.length === 0) continue;
    registered += chosen.length;
    describe(file, () => {
      for (const c of chosen) {
        it(c.name, async () => {
          const [policies, records] = await Promise.all([load.policies(parsed.pseudonymKey), load.records()]);
          const result = runCase(policies, records, parsed, c, file);
          results.push(result);
          if (!result.passed) throw new CaseFailure(result.message ?? 'failed');
        });
      }
    });
  }
  if (registered === 0) throw new Error(`runCases: no case matches the filter ${String(options.filter)} in ${files.join(', ')}`);
  return { results, coverage: async () => coverageOf(await load.policies(undefined), results) };
}

function runnerOf(options: RunCasesOptions): { describe: DescribeFunction; it: ItFunction } {
  const globals = globalThis as { describe?: unknown; it?: unknown };
  const describe = options.describe ?? globals.describe;
  const it = options.it ?? globals.it;
  if (typeof describe !== 'function' || typeof it !== 'function') {
    throw new TypeError('runCases: no describe/it: run it inside a test runner (mocha), or pass options.describe and options.it');
  }
  return { describe: describe as DescribeFunction, it: it as ItFunction };
}

function checkOptions(options: RunCasesOptions): void {
  const known = ['policies', 'records', 'pseudonymKey', 'filter', 'describe', 'it'];
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new TypeError(`runCases: unknown option ${unknown.join(', ')} (expected ${known.join(', ')})`);
  if (
    typeof options.policies !== 'string' &&
    !(options.policies && typeof options.policies === 'object' && 'compiled' in options.policies)
  ) {
    throw new TypeError('runCases: options.policies must be a PolicySet or a policy directory');
  }
  const { filter } = options;
  if (filter !== undefined && !(filter instanceof RegExp) && (typeof filter !== 'string' || filter === '')) {
    throw new TypeError('runCases: options.filter must be a non-empty string or a RegExp');
  }
  if (options.records !== undefined && !isDirectory(options.records)) {
    throw new Error(`runCases: cannot read the records directory ${options.records}`);
  }
}

/**
 * Case files: each path a file, or a directory whose `*.yaml` / `*.yml`
 * regular files are taken in name order (a subdirectory named `x.yaml` is
 * skipped; named itself, it is a directory and is descended into).
 */
function caseFilesOf(paths: readonly string[]): string[] {
  if (paths.length === 0) throw new TypeError('runCases: name at least one case file or directory');
  const files = paths.flatMap((path) => {
    if (isDirectory(path)) {
      return readdirSync(path)
        .filter((n) => /\.ya?ml$/i.test(n))
        .sort()
        .map((n) => join(path, n))
        .filter((n) => statSync(n, { throwIfNoEntry: false })?.isFile() === true);
    }
    if (!statSync(path, { throwIfNoEntry: false })?.isFile()) throw new Error(`runCases: no such case file or directory: ${path}`);
    return [path];
  });
  if (files.length === 0) throw new Error(`runCases: no case files (*.yaml) in ${paths.join(', ')}`);
  return files;
}

/** The policies per pseudonym key and the records, each loaded once, when first needed. */
function loader(options: RunCasesOptions): { policies(fileKey: string | undefined): Promise<PolicySet>; records(): Promise<RecordStore> } {
  const sets = new Map<string, Promise<PolicySet>>();
  let records: Promise<RecordStore> | undefined;
  return {
    policies(fileKey) {
      const key = fileKey ?? options.pseudonymKey ?? '';
      let set = sets.get(key);
      if (!set) {
        const { policies } = options;
        set =
          typeof policies === 'string'
            ? loadPolicies(policies, { pseudonymKey: key || undefined })
            : Promise.resolve(key ? policies.withPseudonymKey(key) : policies);
        sets.set(key, set);
      }
      return set;
    },
    records() {
      records ??= options.records === undefined ? Promise.resolve(new Map()) : loadRecords(options.records);
      return records;
    },
  };
}

function matches(filter: string | RegExp | undefined, name: string): boolean {
  if (filter === undefined) return true;
  // search, not test: a /g expression's test() would carry its last position from one name to the next.
  return typeof filter === 'string' ? name.includes(filter) : name.search(filter) !== -1;
}

function isDirectory(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
}
