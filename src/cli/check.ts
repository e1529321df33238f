import type { Command } from 'commander';
import { compilePolicies } from '../engine/compile.js';
import { analysePolicies, readPolicyDirectory } from '../policy/load.js';
import { PolicyError } from '../lib/errors.js';
import { CliExit, EXIT, paint, parseNow, printIssue, withPolicies } from './common.js';

/**
 * `fieldmesh check`: validate and lint a policy set. Exit 0 clean, 1 on
 * errors (or on warnings with --strict).
 *
 * @example
 * registerCheck(program); // fieldmesh check --policies ./policies --strict
 */
export function registerCheck(program: Command): void {
  withPolicies(program.command('check'))
    .description('validate and lint a policy set (exit 1 on errors)')
    .option('--strict', 'warnings fail the check too')
    .option('--json', 'print the problems as JSON')
    .option('--now <date>', 'the date to check review dates against (default: today)')
    .action(async (opts: { policies: string; strict?: boolean; json?: boolean; now?: string }) => {
      const sources = await readPolicyDirectory(opts.policies).catch((e: unknown) => {
        if (e instanceof PolicyError) return e;
        throw e;
      });
      const { document, issues } =
        sources instanceof PolicyError
          ? { document: undefined, issues: sources.issues }
          : analysePolicies(sources, parseNow(opts.now) ?? new Date());
      const errors = issues.filter((i) => i.severity === 'error').length;
      const warnings = issues.length - errors;
      const failed = errors > 0 || (opts.strict === true && warnings > 0);
      if (opts.json) {
        const version = document ? compilePolicies(document).version : undefined;
        process.stdout.write(`${JSON.stringify({ ok: !failed, version, errors, warnings, issues }, null, 2)}\n`);
      } else {
        for (const issue of issues) process.stdout.write(`${printIssue(issue)}\n`);
        if (document) {
          const c = compilePolicies(document);
          const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
          const summary = [
            count(c.resources.size, 'resource'),
            count(c.purposes.size, 'purpose'),
            count(Object.keys(document.roles).length, 'role'),
            count(document.restrictions.length, 'restriction'),
          ].join(', ');
          process.stdout.write(
            `${failed ? paint('red', 'FAIL') : paint('green', 'OK')} ${opts.policies}: ${summary}; version ${c.version}; ${count(warnings, 'warning')}\n`,
          );
        } else {
          process.stdout.write(`${paint('red', 'FAIL')} ${opts.policies}: ${errors} error${errors === 1 ? '' : 's'}\n`);
        }
      }
      if (failed) throw new CliExit(EXIT.failed);
    });
}
