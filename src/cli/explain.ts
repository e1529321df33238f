import type { Command } from 'commander';
import { FieldmeshError } from '../lib/errors.js';
import type { Explanation, ExplainQuery } from '../engine/explain.js';
import type { PolicySet } from '../engine/policy-set.js';
import { CliExit, EXIT, loadForCli, paint, withPolicies } from './common.js';

/**
 * `fieldmesh explain`: for every declared field, disclosed, transformed (how)
 * or withheld, and the view, grant or restriction that decided.
 *
 * @example
 * registerExplain(program); // fieldmesh explain --role receptionist --purpose administration --resource Patient
 */
export function registerExplain(program: Command): void {
  withPolicies(program.command('explain'))
    .description('show, for every field, whether a role sees it for a purpose, and why')
    .requiredOption('--role <roles>', 'role (several: comma-separated)')
    .requiredOption('--purpose <purpose>', 'the purpose')
    .requiredOption('--resource <resource>', 'the resource type')
    .option('--json', 'print JSON')
    .action(async (opts: { policies: string; role: string; purpose: string; resource: string; json?: boolean }) => {
      const policies = await loadForCli(opts.policies);
      const explanation = explainForCli(policies, {
        roles: opts.role
          .split(',')
          .map((r) => r.trim())
          .filter(Boolean),
        purpose: opts.purpose,
        resource: opts.resource,
      });
      process.stdout.write(opts.json ? `${JSON.stringify(explanation, null, 2)}\n` : formatExplanation(explanation));
    });
}

/**
 * Explain, or stop with exit 2 when a resource, purpose or role typed on the
 * command line is not in the policy set (with a suggestion): a typo is the
 * user's mistake to fix, not a refusal by the policy. `redact` makes the same
 * check through this function, so both commands name the same typo the same way.
 *
 * @example
 * explainForCli(policies, { roles: ['nurce'], purpose: 'direct-care', resource: 'Patient' });
 * // throws CliExit(2, 'unknown role "nurce" (did you mean "nurse"?)')
 */
export function explainForCli(policies: PolicySet, query: ExplainQuery): Explanation {
  try {
    return policies.explain(query);
  } catch (e) {
    if (e instanceof FieldmeshError) throw new CliExit(EXIT.usage, e.message);
    throw e;
  }
}

/** A readable table: FIELD, CLASS, OUTCOME, RULE, with conditions beneath. */
export function formatExplanation(e: Explanation): string {
  const rows = e.fields.map((f) => [f.field, f.class, f.status === 'transformed' ? `transformed (${f.transform})` : f.status, f.rule]);
  const header = ['FIELD', 'CLASS', 'OUTCOME', 'RULE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  const colour = (status: string, text: string) => paint(status === 'withheld' ? 'red' : status === 'disclosed' ? 'green' : 'yellow', text);
  const out = [`${e.roles.join(', ')} › ${e.purpose} › ${e.resource} (${e.notes.join('; ')})`, '', paint('bold', line(header))];
  e.fields.forEach((f, i) => {
    const cells = rows[i]!;
    out.push(line([cells[0]!, cells[1]!, colour(f.status, cells[2]!.padEnd(widths[2]!)), cells[3]!]).replace(/\s+$/, ''));
    for (const c of f.conditions) out.push(`${' '.repeat(widths[0]! + 2)}↳ ${c}`);
  });
  return `${out.join('\n')}\n`;
}
