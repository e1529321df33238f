import { styleText } from 'node:util';
import { CommanderError, type Command } from 'commander';
import { PolicyError, formatIssue, type PolicyIssue } from '../lib/errors.js';
import { printable } from '../lib/text.js';
import { loadPolicies, type PolicyOptions, type PolicySet } from '../engine/policy-set.js';
import { envOrFile, type FileVariable } from '../lib/env-file.js';

/** Exit codes shared by every command. */
export const EXIT = { ok: 0, failed: 1, usage: 2, refused: 3 } as const;

/** Thrown by a command to stop with an exit code; `main` prints the message and exits. */
export class CliExit extends Error {
  constructor(
    readonly exitCode: number,
    message = '',
  ) {
    super(message);
  }
}

/**
 * The exit code for what a command threw (docs/cli.md): a `CliExit` its own;
 * a usage error of commander, 2; a PolicyError, 1; anything else (a missing
 * file, an unreachable store, a bad configuration), 2.
 *
 * @example
 * exitCodeOf(new PolicyError(issues)); // 1
 */
export function exitCodeOf(e: unknown): number {
  if (e instanceof CliExit) return e.exitCode;
  if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (e instanceof PolicyError) return EXIT.failed;
  return EXIT.usage;
}

/** `--policies DIR`, on every command that reads policies. */
export function withPolicies(cmd: Command): Command {
  return cmd.option('--policies <dir>', 'policy directory', './policies');
}

/**
 * Load policies for a command; policy problems print the way people fix them and exit 1.
 */
export async function loadForCli(dir: string, opts: PolicyOptions = {}): Promise<PolicySet> {
  try {
    return await loadPolicies(dir, opts);
  } catch (e) {
    if (e instanceof PolicyError)
      throw new CliExit(
        EXIT.failed,
        e.issues
          .filter((i) => i.severity === 'error')
          .map((i) => printIssue(i, process.stderr))
          .join('\n'),
      );
    throw e;
  }
}

/**
 * Whether output to `stream` is coloured, the one rule every command uses:
 * never on stderr (main escapes every ESC written there); never when NO_COLOR
 * is set (not empty), which wins, since plain text is always safe to read
 * (commander's own rule, so help and output agree); when FORCE_COLOR is set
 * (not empty), colour unless it is `0` or `false`, for a CI log or a pager
 * that shows colour though it is no terminal; else only on a terminal.
 *
 * @example
 * colourOn(process.stdout); // false when piped, unless FORCE_COLOR=1
 */
export function colourOn(stream: { isTTY?: boolean }, env: Record<string, string | undefined> = process.env): boolean {
  if (stream === process.stderr) return false;
  if ((env['NO_COLOR'] ?? '') !== '') return false;
  const force = env['FORCE_COLOR'] ?? '';
  if (force !== '') return force !== '0' && force !== 'false';
  return stream.isTTY === true;
}

/** `text` in `style` when `colourOn(stream)`. */
export function paint(style: Parameters<typeof styleText>[0], text: string, stream: NodeJS.WriteStream = process.stdout): string {
  // styleText is told not to decide again: its own rule lets FORCE_COLOR win over NO_COLOR.
  return colourOn(stream) ? styleText(style, text, { validateStream: false }) : text;
}

export function printIssue(issue: PolicyIssue, stream: NodeJS.WriteStream = process.stdout): string {
  const label = issue.severity === 'error' ? paint('red', 'error', stream) : paint('yellow', 'warning', stream);
  // Messages quote keys and names from policy files: a control character in one must not reach the terminal raw.
  return `${label} ${printable(formatIssue(issue))}`;
}

/**
 * A secret from its variable or the file its `_FILE` form names (src/lib/env-file.ts);
 * undefined when neither is set. Both set, or a file that is empty or cannot
 * be read, stops the command (exit 2) naming the variables and the path,
 * never the value.
 *
 * @example
 * const pseudonymKey = secretEnv('FIELDMESH_PSEUDONYM_KEY');
 */
export function secretEnv(name: FileVariable): string | undefined {
  const got = envOrFile(process.env, name);
  if (got.problem !== undefined) throw new CliExit(EXIT.usage, got.problem);
  return got.value;
}

/** A date option (`--now 2026-11-24`), for reproducible runs. */
export function parseNow(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new CliExit(EXIT.usage, `--now: "${value}" is not a date (e.g. 2026-11-24)`);
  return d;
}
