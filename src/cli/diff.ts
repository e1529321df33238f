import { Option, type Command } from 'commander';
import { diffPolicies, type DiffSide } from '../engine/diff.js';
import { compilePolicies } from '../engine/compile.js';
import { PolicyError } from '../lib/errors.js';
import { analysePolicies, readPolicyDirectory, type PolicySource } from '../policy/load.js';
import { CliExit, EXIT, parseNow, printIssue, withPolicies } from './common.js';
import { diffJson, diffMarkdown, diffText, type DiffLabels } from './diff-format.js';
import { policySourcesAt } from './git-policies.js';

interface DiffOptions {
  policies: string;
  git?: string;
  format: 'text' | 'markdown' | 'json';
  allowWidening?: boolean;
  now?: string;
}

/**
 * `fieldmesh diff OLD NEW` or `fieldmesh diff --git REV [NEW]`: what a policy
 * change discloses, per resource × purpose × role. Exit 0 when access does
 * not widen, 1 when it does (unless --allow-widening), 2 for usage errors,
 * an invalid set on either side included (a review of a set that does not
 * load would review nothing).
 *
 * @example
 * registerDiff(program); // fieldmesh diff --git main --format markdown
 */
export function registerDiff(program: Command): void {
  withPolicies(program.command('diff'))
    .description('review a policy change: fields, rows, purposes and restrictions gained or lost (exit 1 when access widens)')
    .argument('[dirs...]', 'OLD NEW policy directories; with --git, at most NEW (default: --policies)')
    .option('--git <rev>', 'compare the --policies directory as it was at this git revision (OLD) with NEW')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'markdown', 'json']).default('text'))
    .option('--allow-widening', 'exit 0 even when access widens (the output still says so)')
    .option('--now <date>', 'the date review dates are checked against (default: today)')
    .addHelpText(
      'after',
      '\nExit codes: 0 access does not widen, 1 it widens (unless --allow-widening), 2 usage errors\n(a directory or revision that does not exist, a policy set with errors on either side).',
    )
    .action(async (dirs: string[], opts: DiffOptions) => {
      const now = parseNow(opts.now) ?? new Date();
      const { from, to } = await sidesOf(dirs, opts);
      const [before, after] = [await load(from, 'OLD', now), await load(to, 'NEW', now)];
      const diff = diffPolicies(before, after, { now });
      const labels: DiffLabels = { from: from.label, to: to.label };
      const print = opts.format === 'json' ? diffJson : opts.format === 'markdown' ? diffMarkdown : diffText;
      process.stdout.write(print(diff, labels));
      if (diff.widened && !opts.allowWidening) throw new CliExit(EXIT.failed);
    });
}

interface Side {
  label: string;
  read: () => Promise<PolicySource[]>;
}

async function sidesOf(dirs: string[], opts: DiffOptions): Promise<{ from: Side; to: Side }> {
  const directory = (dir: string): Side => ({ label: dir, read: () => readPolicyDirectory(dir) });
  if (opts.git !== undefined) {
    if (dirs.length > 1) throw new CliExit(EXIT.usage, `with --git, give at most one directory (NEW), not ${dirs.length}`);
    const rev = opts.git;
    return {
      from: { label: `${rev}:${opts.policies}`, read: () => policySourcesAt(opts.policies, rev) },
      to: directory(dirs[0] ?? opts.policies),
    };
  }
  if (dirs.length !== 2) throw new CliExit(EXIT.usage, `give two policy directories, OLD and NEW (or --git REV), not ${dirs.length}`);
  return { from: directory(dirs[0]!), to: directory(dirs[1]!) };
}

/** Read, check and compile one side; its problems are printed under its name and stop the command (exit 2). */
async function load(side: Side, name: 'OLD' | 'NEW', now: Date): Promise<DiffSide> {
  const sources = await side.read().catch((e: unknown) => {
    if (e instanceof PolicyError) return e;
    throw e;
  });
  const { document, issues } =
    sources instanceof PolicyError ? { document: undefined, issues: sources.issues } : analysePolicies(sources, now);
  if (!document) {
    const problems = issues.filter((i) => i.severity === 'error').map((i) => `  ${printIssue(i, process.stderr)}`);
    throw new CliExit(EXIT.usage, `${name} policy set ${side.label} cannot be loaded:\n${problems.join('\n')}`);
  }
  return { compiled: compilePolicies(document), warnings: issues.filter((i) => i.severity === 'warning') };
}
