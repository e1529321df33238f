import { styleText } from 'node:util';
import type { Command } from 'commander';
import { PolicyError, formatIssue, type PolicyIssue } from '../lib/errors.js';
import { printable } from '../lib/text.js';
import { loadPolicies, type PolicyOptions, type PolicySet } from '../engine/policy-set.js';

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

/** Colour only on a terminal, never when NO_COLOR is set, and never on stderr (main escapes every ESC written there). */
export function paint(style: Parameters<typeof styleText>[0], text: string, stream: NodeJS.WriteStream = process.stdout): string {
  return stream !== process.stderr && stream.isTTY && !process.env['NO_COLOR'] ? styleText(style, text) : text;
}

export function printIssue(issue: PolicyIssue, stream: NodeJS.WriteStream = process.stdout): string {
  const label = issue.severity === 'error' ? paint('red', 'error', stream) : paint('yellow', 'warning', stream);
  // Messages quote keys and names from policy files: a control character in one must not reach the terminal raw.
  return `${label} ${printable(formatIssue(issue))}`;
}

/** A date option (`--now 2026-11-24`), for reproducible runs. */
export function parseNow(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new CliExit(EXIT.usage, `--now: "${value}" is not a date (e.g. 2026-11-24)`);
  return d;
}
