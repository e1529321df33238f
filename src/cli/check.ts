import { type Command, Option } from 'commander';
import { compilePolicies } from '../engine/compile.js';
import { analysePolicies, readPolicyDirectory } from '../policy/load.js';
import { PolicyError } from '../lib/errors.js';
import { printableJson } from '../lib/text.js';
import { githubAnnotation } from './annotations.js';
import { CliExit, EXIT, paint, parseNow, printIssue, withPolicies } from './common.js';

const FORMATS = ['text', 'json', 'github'] as const;
type Format = (typeof FORMATS)[number];

/**
 * `fieldmesh check`: validate and lint a policy set. Exit 0 clean, 1 on
 * errors (or on warnings with --strict). Every problem is printed with its
 * `file:line:col`: as text for people, as JSON for tools, or as GitHub
 * Actions annotations (docs/cli.md, "check").
 *
 * @example
 * registerCheck(program); // fieldmesh check --policies ./policies --strict --format github
 */
export function registerCheck(program: Command): void {
  withPolicies(program.command('check'))
    .description('validate and lint a policy set (exit 1 on errors)')
    .option('--strict', 'warnings fail the check too')
    .addOption(new Option('--format <format>', 'how to print the problems').choices(FORMATS))
    .option('--json', 'print the problems as JSON (the same as --format json)')
    .option('--now <date>', 'the date to check review dates against (default: today)')
    .action(async (opts: { policies: string; strict?: boolean; json?: boolean; format?: Format; now?: string }) => {
      const format = formatOf(opts);
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
      if (format === 'json') {
        const version = document ? compilePolicies(document).version : undefined;
        process.stdout.write(`${printableJson({ ok: !failed, version, errors, warnings, issues })}\n`);
      } else {
        for (const issue of issues) process.stdout.write(`${format === 'github' ? githubAnnotation(issue) : printIssue(issue)}\n`);
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

/** `--json` is `--format json`; given with another format, which one was meant is unclear: refused. */
function formatOf(opts: { json?: boolean; format?: Format }): Format {
  if (opts.json && opts.format !== undefined && opts.format !== 'json')
    throw new CliExit(
      EXIT.usage,
      `check: --json and --format ${opts.format} ask for two formats: give one (--format ${FORMATS.join('|')})`,
    );
  return opts.json ? 'json' : (opts.format ?? 'text');
}
