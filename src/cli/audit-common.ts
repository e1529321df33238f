import { existsSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { openAuditStore } from '../audit/open.js';
import { DEFAULT_SQLITE_FILE, resolveTarget } from '../audit/target.js';
import type { AuditStore } from '../audit/types.js';
import { CliExit, EXIT, secretEnv } from './common.js';

/**
 * `--audit`: the flag, else $FIELDMESH_AUDIT or the file $FIELDMESH_AUDIT_FILE
 * names (a postgres:// URL may hold a password), else the default file
 * (flags win over the environment). `withStore` resolves the last two.
 *
 * @example
 * cmd.addOption(auditOption());
 */
export function auditOption(): Option {
  return new Option(
    '--audit <path|url>',
    `the audit trail: a SQLite file or a postgres:// URL (env: FIELDMESH_AUDIT or FIELDMESH_AUDIT_FILE, default: ${DEFAULT_SQLITE_FILE})`,
  );
}

/**
 * Opens the trail for one command and always closes it. Reading never
 * creates a file or tables: a mistyped path is reported, not made. A writer
 * is given the chain the trail records (`chain`, from its verify result).
 *
 * @example
 * await withStore(opts.audit, 'read', async (store) => print(await store.query({})));
 */
export async function withStore(
  flag: string | undefined,
  mode: 'read' | 'write',
  fn: (store: AuditStore) => Promise<void>,
  chain?: string,
): Promise<void> {
  const target = flag ?? secretEnv('FIELDMESH_AUDIT') ?? DEFAULT_SQLITE_FILE;
  const resolved = resolveTarget(target);
  if (resolved.kind === 'sqlite' && !existsSync(resolved.path)) {
    throw new Error(`no audit trail at ${resolved.path} (pass --audit PATH|URL or set FIELDMESH_AUDIT)`);
  }
  // The keys only from the environment or files: on the command line they would show in `ps` and shell history.
  const store = await openAuditStore(target, {
    readonly: mode === 'read',
    recordIdKey: secretEnv('FIELDMESH_AUDIT_RECORD_KEY'),
    chainKey: secretEnv('FIELDMESH_AUDIT_CHAIN_KEY'),
    chain,
  });
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

/**
 * Any failure becomes one line on stderr and exit 2 (the command could not
 * run); stacks are for developers, not guardians. A `CliExit` (verify's
 * broken chain) passes through with its own code. Failure is thrown, never
 * set on the process, so `main` alone decides the exit code.
 *
 * @example
 * cmd.action(guard('query', async (opts) => { … }));
 */
export function guard<A extends unknown[]>(name: string, fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args) => {
    try {
      await fn(...args);
    } catch (err) {
      if (err instanceof CliExit) throw err;
      throw new CliExit(EXIT.usage, `fieldmesh audit ${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
}

/**
 * Usage errors are thrown to `main`, which exits 2, not commander's 1, which
 * `verify` uses to say the chain is broken.
 */
export function usageErrorsExit2(cmd: Command): Command {
  return cmd.exitOverride();
}

/**
 * One line to stdout.
 */
export function out(text: string): void {
  process.stdout.write(`${text}\n`);
}

/**
 * `s` unless there is exactly one.
 *
 * @example
 * `${n} event${plural(n)}`
 */
export function plural(n: number): string {
  return n === 1 ? '' : 's';
}
