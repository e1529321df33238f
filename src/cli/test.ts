import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadRecords, parseCaseFile, runCase, type CaseResult } from '../testing/cases.js';
import { FieldmeshError } from '../lib/errors.js';
import type { PolicySet } from '../engine/policy-set.js';
import { CliExit, EXIT, loadForCli, paint, withPolicies } from './common.js';
import { coverageReport, withCoverageOptions, type CoverageOptions } from './test-coverage.js';

/**
 * `fieldmesh test [CASES...]`: run fixture cases and end with `N passed, N failed`.
 *
 * @example
 * registerTest(program); // fieldmesh test fixtures/cases --records fixtures/records
 */
export function registerTest(program: Command): void {
  withCoverageOptions(withPolicies(program.command('test')))
    .description('run fixture cases (record + user + purpose → expected output or refusal)')
    .argument('[cases...]', 'case files or directories of *.yaml', ['./fixtures/cases'])
    .option('--records <dir>', 'directory of <Resource>.json record files for ref/refs', './fixtures/records')
    .option('--quiet', 'print failures and the summary only')
    .action(async (paths: string[], opts: { policies: string; records: string; quiet?: boolean } & CoverageOptions, command: Command) => {
      const files = (await Promise.all(paths.map(caseFiles))).flat();
      if (files.length === 0) throw new CliExit(EXIT.usage, `no case files found in ${paths.join(', ')}`);
      // A records directory the user names must exist: otherwise every ref case fails for a typo, not for the policies.
      if (command.getOptionValueSource('records') !== 'default') await readableDirectory(opts.records);
      const records = await loadRecords(opts.records);
      const sets = new Map<string, PolicySet>();
      const policiesFor = async (key: string | undefined) => {
        const k = key ?? process.env['FIELDMESH_PSEUDONYM_KEY'] ?? '';
        if (!sets.has(k)) sets.set(k, await loadForCli(opts.policies, { pseudonymKey: k || undefined }));
        return sets.get(k)!;
      };
      const results: CaseResult[] = [];
      for (const file of files) {
        let parsed: ReturnType<typeof parseCaseFile>;
        try {
          parsed = parseCaseFile(await readFile(file, 'utf8'), file);
        } catch (e) {
          if (!(e instanceof FieldmeshError)) throw e;
          results.push({ file, name: '(case file)', passed: false, message: e.message });
          process.stdout.write(`${paint('red', '✗')} ${file}\n${indent(e.message)}\n`);
          continue;
        }
        const policies = await policiesFor(parsed.pseudonymKey);
        for (const c of parsed.cases) {
          const r = runCase(policies, records, parsed, c, file);
          results.push(r);
          if (r.passed && !opts.quiet) process.stdout.write(`${paint('green', '✓')} ${file} › ${r.name}\n`);
          if (!r.passed) process.stdout.write(`${paint('red', '✗')} ${file} › ${r.name}\n${indent(r.message ?? '')}\n`);
        }
      }
      const failed = results.filter((r) => !r.passed).length;
      // Coverage before the summary: the last line stays `N passed, N failed`.
      const report = await coverageReport(opts, async () => [...sets.values()][0] ?? (await policiesFor(undefined)), results);
      if (report) process.stdout.write(`${report.text}\n`);
      process.stdout.write(`${results.length - failed} passed, ${failed} failed\n`);
      if (failed > 0 || report?.shortfall !== undefined) throw new CliExit(EXIT.failed, report?.shortfall);
    });
}

async function caseFiles(path: string): Promise<string[]> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new CliExit(EXIT.usage, `no such case file or directory: ${path}`);
  if (!info.isDirectory()) return [path];
  return (await readdir(path))
    .filter((n) => /\.ya?ml$/i.test(n))
    .sort()
    .map((n) => join(path, n));
}

async function readableDirectory(dir: string): Promise<void> {
  const info = await stat(dir).catch((e: NodeJS.ErrnoException) => e);
  if (info instanceof Error) throw new CliExit(EXIT.usage, `cannot read --records directory ${dir}: ${info.code ?? info.message}`);
  if (!info.isDirectory()) throw new CliExit(EXIT.usage, `cannot read --records directory ${dir}: not a directory`);
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}
