import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { disclosureMatrix } from '../engine/matrix.js';
import { loadForCli, parseNow, withPolicies } from './common.js';

/**
 * `fieldmesh matrix --out FILE.html`: roles × fields per purpose and resource.
 *
 * @example
 * registerMatrix(program); // fieldmesh matrix --out matrix.html
 */
export function registerMatrix(program: Command): void {
  withPolicies(program.command('matrix'))
    .description('write the disclosure matrix (roles × fields per purpose and resource) as HTML')
    .requiredOption('--out <file>', 'HTML file to write')
    .option('--now <date>', 'the date for review-date marks (default: today)')
    .action(async (opts: { policies: string; out: string; now?: string }) => {
      const policies = await loadForCli(opts.policies);
      await writeFile(opts.out, disclosureMatrix(policies.compiled, parseNow(opts.now) ?? new Date()));
      process.stdout.write(`wrote ${opts.out} (policy version ${policies.version})\n`);
    });
}
