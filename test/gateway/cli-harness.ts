/**
 * A minimal `fieldmesh` with only the gateway commands (`serve`, `demo`),
 * run as a child process by the tests so exit codes and output are the real ones.
 */
import { Command, CommanderError } from 'commander';
import { registerDemo } from '../../src/cli/demo.js';
import { registerServe } from '../../src/cli/serve.js';
import { CliExit } from '../../src/cli/common.js';
import { FieldmeshError, PolicyError } from '../../src/errors.js';

const program = new Command('fieldmesh').exitOverride();
registerServe(program);
registerDemo(program);
try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode);
  if (e instanceof CliExit) {
    process.stderr.write(e.message + '\n');
    process.exit(e.exitCode);
  }
  if (e instanceof PolicyError) process.stderr.write(e.format() + '\n');
  else if (e instanceof FieldmeshError) process.stderr.write(`${e.code}: ${e.message}\n`);
  else process.stderr.write(`fieldmesh: ${(e as Error).message}\n`);
  process.exit(2);
}
