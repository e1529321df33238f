import { lstat, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Command } from 'commander';
import type { PolicySet } from '../engine/policy-set.js';
import { FieldmeshError } from '../lib/errors.js';
import { printable } from '../lib/text.js';
import { type CaseFile, evaluateCase, loadRecords, parseCaseFile, type RecordStore } from '../testing/cases.js';
import { jsonReport, junitReport, REPORTERS, type ReportedCase, type ReporterName, summaryOf } from '../testing/reporters.js';
import { caseFilter } from '../testing/select.js';
import { applyUpdates, type PairEdit, planUpdate } from '../testing/update.js';
import { CliExit, EXIT, loadForCli, paint, secretEnv, withPolicies } from './common.js';
import { coverageReport, withCoverageOptions, type CoverageOptions } from './test-coverage.js';

interface TestOptions {
  policies: string;
  records: string;
  quiet?: boolean;
  filter?: string;
  reporter: string;
  reporterOutput?: string;
  update?: boolean;
}

/** A failing case's edits, and where its result stands in the run's results. */
interface CaseUpdate {
  name: string;
  edits: PairEdit[];
  at: number;
}

/** A case file as read: its text, and the parsed cases or why it cannot be read. */
interface ReadFile {
  path: string;
  text: string;
  parsed?: CaseFile;
}

/**
 * `fieldmesh test [CASES...]`: run fixture cases and end with `N passed, N failed`
 * (docs/testing.md).
 *
 * @example
 * registerTest(program); // fieldmesh test fixtures/cases --records fixtures/records --reporter junit
 */
export function registerTest(program: Command): void {
  withCoverageOptions(withPolicies(program.command('test')))
    .description('run fixture cases (record + user + purpose → expected output or refusal; writes; filters)')
    .argument('[cases...]', 'case files or directories of *.yaml', ['./fixtures/cases'])
    .option('--records <dir>', 'directory of <Resource>.json record files for ref/refs', './fixtures/records')
    .option('--quiet', 'print failures and the summary only')
    .option('--filter <pattern>', 'run only cases whose "file › name" contains PATTERN (or matches /regex/flags)')
    .option('--reporter <name>', `how to report: ${REPORTERS.join(', ')}`, 'spec')
    .option('--reporter-output <file>', 'write the json or junit report to FILE and print the spec output')
    .option('--update', "rewrite each failing read case's expect (or expectRefusal) with the current answer, in place")
    .action(async (paths: string[], opts: TestOptions & CoverageOptions, command: Command) => {
      const reporter = reporterOf(opts);
      const selected = selectorOf(opts.filter);
      const files = (await Promise.all(paths.map(caseFiles))).flat();
      if (files.length === 0) throw new CliExit(EXIT.usage, `no case files found in ${paths.join(', ')}`);
      // A records directory the user names must exist: otherwise every ref case fails for a typo, not for the policies.
      if (command.getOptionValueSource('records') !== 'default') await readableDirectory(opts.records);
      const records = await loadRecords(opts.records);
      const policiesFor = policyLoader(opts.policies);
      // The spec lines go to stdout unless stdout carries a json or junit report.
      const spec = reporter === 'spec' || opts.reporterOutput !== undefined;
      const say = (line: string) => spec && process.stdout.write(`${line}\n`);

      let matched = 0;
      const updates = new Map<ReadFile, Map<number, CaseUpdate>>();
      const skipped: string[] = [];
      const results: ReportedCase[] = [];
      for (const path of files) {
        const text = await readFile(path, 'utf8');
        const file: ReadFile = { path, text };
        try {
          file.parsed = parseCaseFile(text, path);
        } catch (e) {
          if (!(e instanceof FieldmeshError)) throw e;
          // A file that cannot be read fails the run whatever --filter says: a broken file is never skipped silently.
          results.push({ file: path, name: '(case file)', kind: 'read', passed: false, message: e.message, durationMs: 0 });
          say(`${paint('red', '✗')} ${printable(path)}\n${indent(lines(e.message))}`);
          continue;
        }
        const policies = await policiesFor(file.parsed.pseudonymKey);
        for (const [index, c] of file.parsed.cases.entries()) {
          if (!selected(file.path, c.name)) continue;
          matched++;
          const started = performance.now();
          const { result, observed } = evaluateCase(policies, records, file.parsed, c, file.path);
          results.push({ ...result, durationMs: performance.now() - started });
          const at = results.length - 1;
          if (result.passed && !opts.quiet) say(`${paint('green', '✓')} ${title(file.path, c.name)}`);
          if (!result.passed) say(`${paint('red', '✗')} ${title(file.path, c.name)}\n${indent(lines(result.message ?? ''))}`);
          if (!opts.update || result.passed) continue;
          const plan = planUpdate(c, result, observed, policies);
          if ('skip' in plan) skipped.push(`${title(file.path, c.name)}: ${printable(plan.skip)}`);
          else updates.set(file, (updates.get(file) ?? new Map()).set(index, { name: c.name, edits: plan.edits, at }));
        }
      }
      if (matched === 0 && opts.filter !== undefined) throw new CliExit(EXIT.usage, `--filter: no case matches "${opts.filter}"`);

      if (opts.update) {
        // Said where a person reads it: stdout beside spec lines, stderr beside a report on stdout.
        const note = (text: string) => (spec ? process.stdout : process.stderr).write(`${text}\n`);
        // An updated case counts by its run against the rewritten file.
        for (const [at, r] of await writeUpdates(updates, skipped, note, records, policiesFor)) results[at] = r;
      }

      // Coverage before the summary: the last line stays `N passed, N failed`.
      const covered = await coverageReport(opts, () => policiesFor(undefined), results);
      // Beside a report on stdout it goes to stderr, with the summary line; the json report embeds it too.
      if (covered) (spec ? process.stdout : process.stderr).write(`${lines(covered.text)}\n`);
      const summary = summaryOf(results);
      const line = `${summary.passed} passed, ${summary.failed} failed\n`;
      if (reporter !== 'spec') {
        const report = reporter === 'json' ? jsonReport(results, covered ? { coverage: covered.coverage } : {}) : junitReport(results);
        if (opts.reporterOutput !== undefined) await writeReport(opts.reporterOutput, report);
        else process.stdout.write(report);
      }
      // SPEC: the spec output ends with this line; beside a report on stdout it goes to stderr.
      (spec ? process.stdout : process.stderr).write(line);
      if (summary.failed > 0 || covered?.shortfall !== undefined) throw new CliExit(EXIT.failed, covered?.shortfall);
    });
}

/**
 * Rewrite each file's failing cases, then run them again from the new text.
 * A file is written only when the whole rewrite reads back as intended, by
 * renaming a sibling temporary file over it; a symbolic link is never followed.
 */
async function writeUpdates(
  updates: Map<ReadFile, Map<number, CaseUpdate>>,
  skipped: string[],
  say: (line: string) => void,
  records: RecordStore,
  policiesFor: (key: string | undefined) => Promise<PolicySet>,
): Promise<Map<number, ReportedCase>> {
  const rerun = new Map<number, ReportedCase>();
  let count = 0;
  for (const [file, cases] of updates) {
    const names = [...cases.values()].map((c) => c.name);
    const info = await lstat(file.path);
    if (info.isSymbolicLink()) {
      for (const n of names) skipped.push(`${title(file.path, n)}: the case file is a symbolic link; update its target`);
      continue;
    }
    let text: string;
    try {
      text = applyUpdates(file.text, file.path, file.parsed!, new Map([...cases].map(([i, c]) => [i, c.edits])));
    } catch (e) {
      const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
      for (const n of names) skipped.push(`${title(file.path, n)}: the file could not be rewritten safely (${printable(why ?? '')})`);
      continue;
    }
    // Written beside the file and renamed over it: a crash leaves the old file or the new one, never half of one.
    const temporary = join(dirname(file.path), `.${basename(file.path)}.${process.pid}.tmp`);
    try {
      await writeFile(temporary, text, { mode: info.mode & 0o777, flag: 'wx' });
      await rename(temporary, file.path);
    } catch (e) {
      await rm(temporary, { force: true });
      throw new CliExit(EXIT.usage, `cannot write ${file.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const parsed = parseCaseFile(text, file.path);
    const policies = await policiesFor(parsed.pseudonymKey);
    for (const [index, { at }] of cases) {
      const c = parsed.cases[index]!;
      const started = performance.now();
      const { result } = evaluateCase(policies, records, parsed, c, file.path);
      rerun.set(at, { ...result, durationMs: performance.now() - started });
      count++;
      say(`${paint('yellow', '↻')} updated ${title(file.path, c.name)}${result.passed ? '' : ' (still failing)'}`);
    }
  }
  for (const s of skipped) say(`${paint('yellow', '!')} not updated: ${s}`);
  say(`${count} case${count === 1 ? '' : 's'} updated`);
  return rerun;
}

function reporterOf(opts: TestOptions): ReporterName {
  const name = opts.reporter;
  if (!(REPORTERS as readonly string[]).includes(name))
    throw new CliExit(EXIT.usage, `--reporter: unknown reporter "${name}" (choose one of ${REPORTERS.join(', ')})`);
  if (opts.reporterOutput !== undefined && name === 'spec')
    throw new CliExit(EXIT.usage, '--reporter-output: give --reporter json or junit (spec is printed on stdout)');
  return name as ReporterName;
}

function selectorOf(pattern: string | undefined): (file: string, name: string) => boolean {
  if (pattern === undefined) return () => true;
  try {
    return caseFilter(pattern);
  } catch (e) {
    throw new CliExit(EXIT.usage, (e as Error).message);
  }
}

/** One policy set per pseudonym key: case files may name their own key. */
function policyLoader(dir: string): (key: string | undefined) => Promise<PolicySet> {
  const sets = new Map<string, PolicySet>();
  const fromEnv = secretEnv('FIELDMESH_PSEUDONYM_KEY');
  return async (key) => {
    const k = key ?? fromEnv ?? '';
    if (!sets.has(k)) sets.set(k, await loadForCli(dir, { pseudonymKey: k || undefined }));
    return sets.get(k)!;
  };
}

async function writeReport(path: string, report: string): Promise<void> {
  try {
    await writeFile(path, report);
  } catch (e) {
    throw new CliExit(EXIT.usage, `--reporter-output: cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * The case files a path names: itself, or a directory's `*.yaml` / `*.yml`
 * files in name order. A directory is descended into when named, even one
 * named `x.yaml`; inside one, only regular files (or links to them) are
 * case files, so a subdirectory named `old.yaml` is skipped, never read.
 */
async function caseFiles(path: string): Promise<string[]> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new CliExit(EXIT.usage, `no such case file or directory: ${path}`);
  if (!info.isDirectory()) return [path];
  const named = (await readdir(path))
    .filter((n) => /\.ya?ml$/i.test(n))
    .sort()
    .map((n) => join(path, n));
  const isFile = await Promise.all(
    named.map((n) =>
      stat(n).then(
        (s) => s.isFile(),
        () => false,
      ),
    ),
  );
  return named.filter((_, i) => isFile[i]);
}

async function readableDirectory(dir: string): Promise<void> {
  const info = await stat(dir).catch((e: NodeJS.ErrnoException) => e);
  if (info instanceof Error) throw new CliExit(EXIT.usage, `cannot read --records directory ${dir}: ${info.code ?? info.message}`);
  if (!info.isDirectory()) throw new CliExit(EXIT.usage, `cannot read --records directory ${dir}: not a directory`);
}

/**
 * A case as the spec output names it, on one line: a case name (or a file
 * name) is the author's text, and a control character in it could forge a
 * line or recolour the terminal, so each becomes a visible `\uXXXX`.
 */
function title(file: string, name: string): string {
  return printable(`${file} › ${name}`);
}

/** A message's own lines, each made printable (a diff quotes record values, which may hold controls JSON leaves raw). */
function lines(text: string): string {
  return text.split('\n').map(printable).join('\n');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}
