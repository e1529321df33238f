import { InvalidArgumentError, type Command } from 'commander';
import type { PolicySet } from '../engine/policy-set.js';
import type { CaseResult } from '../testing/cases.js';
import { coverageOf, formatCoverage, formatPercent, meetsThreshold, type Coverage } from '../testing/coverage.js';

/** The coverage options of `fieldmesh test`, as commander parses them. */
export interface CoverageOptions {
  coverage?: boolean;
  coverageThreshold?: number;
}

/**
 * Add `--coverage` and `--coverage-threshold N` to `fieldmesh test`
 * (docs/testing.md, "Coverage"). A threshold implies `--coverage`.
 *
 * @example
 * withCoverageOptions(program.command('test')); // fieldmesh test --coverage-threshold 90
 */
export function withCoverageOptions(command: Command): Command {
  return command
    .option('--coverage', 'after the run, print how much of the policy set the cases exercised, and the gaps')
    .option('--coverage-threshold <percent>', 'exit 1 when coverage is below this percentage (0-100); implies --coverage', threshold);
}

/**
 * The coverage of a run when the options ask for it (the policies are loaded only then) (a json reporter embeds
 * it as it is), its text form, and the line that fails the run when it is
 * below the threshold.
 *
 * @example
 * const report = await coverageReport(opts, async () => policies, results);
 * if (report) process.stdout.write(`${report.text}\n`);
 */
export async function coverageReport(
  opts: CoverageOptions,
  policies: () => Promise<PolicySet>,
  results: readonly CaseResult[],
): Promise<{ coverage: Coverage; text: string; shortfall?: string } | undefined> {
  if (!opts.coverage && opts.coverageThreshold === undefined) return undefined;
  const coverage = coverageOf(await policies(), results);
  const text = formatCoverage(coverage);
  const n = opts.coverageThreshold;
  if (n === undefined || meetsThreshold(coverage, n)) return { coverage, text };
  return { coverage, text, shortfall: `coverage ${formatPercent(coverage.percent)} is below --coverage-threshold ${n}%` };
}

function threshold(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || n > 100) throw new InvalidArgumentError('expected a percentage from 0 to 100 (e.g. 90)');
  return n;
}
