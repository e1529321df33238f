import { Command, CommanderError } from 'commander';
import { printable } from '../lib/text.js';
import { FieldmeshError, PolicyError } from '../lib/errors.js';
import { registerAudit } from './audit.js';
import { registerCheck } from './check.js';
import { registerDemo } from './demo.js';
import { registerDiff } from './diff.js';
import { CliExit, EXIT, exitCodeOf } from './common.js';
import { registerExplain } from './explain.js';
import { registerMatrix } from './matrix.js';
import { registerRedact } from './redact.js';
import { registerServe } from './serve.js';
import { registerTest } from './test.js';

/**
 * The `fieldmesh` command: thin shells over the engine, one file per command.
 * Returns the exit code; `bin.ts` is the only place that hands it to the
 * process. Commands signal failure one way, by throwing; this prints what
 * they throw and `exitCodeOf` (common.ts) turns it into a code (docs/cli.md
 * lists them): `CliExit` carries its own; a usage error of commander, 2; a
 * PolicyError, 1; anything else (a missing file, an unreachable store, a bad
 * configuration), 2.
 * Importing this module does nothing by itself.
 *
 * @example
 * const code = await main(['node', 'fieldmesh', 'check', '--policies', './policies']);
 */
export async function main(argv: string[]): Promise<number> {
  const program = new Command('fieldmesh')
    .description('need-to-know access control for record APIs holding personal confidential data')
    .version('0.1.0')
    .showHelpAfterError()
    .configureOutput({ writeErr: (text) => process.stderr.write(forStderr(text)) }) // commander's own errors; subcommands inherit it
    .exitOverride();
  registerCheck(program);
  registerDiff(program);
  registerRedact(program);
  registerExplain(program);
  registerTest(program);
  registerMatrix(program);
  registerAudit(program);
  registerServe(program);
  registerDemo(program);
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CliExit) {
      if (e.message) process.stderr.write(forStderr(`${e.message}\n`));
    } else if (e instanceof PolicyError) process.stderr.write(forStderr(`${e.format()}\n`));
    else if (e instanceof FieldmeshError) process.stderr.write(forStderr(`${e.code}: ${e.message}\n`));
    else if (!(e instanceof CommanderError)) process.stderr.write(forStderr(`fieldmesh: ${(e as Error).message}\n`));
    return exitCodeOf(e);
  }
}

/**
 * A message made safe for the terminal, the one place every error line the
 * CLI prints passes: messages quote what users and trails supplied (a chain
 * name, a path, an id, a database's own error text), and a control
 * character in it must not move the cursor, clear the screen, forge a line,
 * or recolour or hide text. Line breaks stay; every other control character,
 * ESC included, is escaped by `printable`. stderr is never coloured, so no
 * style needs to pass: the simple rule leaves nothing to smuggle one through.
 */
function forStderr(text: string): string {
  return text.split('\n').map(printable).join('\n');
}
