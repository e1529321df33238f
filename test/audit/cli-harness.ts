/**
 * A minimal `fieldmesh` with only the audit commands, run as a child process
 * by cli.test.ts so exit codes, stdout and stderr are the real ones.
 */
import { Command } from 'commander';
import { registerAudit } from '../../src/cli/audit.js';

const program = new Command('fieldmesh');
registerAudit(program);
await program.parseAsync(process.argv);
