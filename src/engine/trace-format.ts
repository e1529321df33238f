import { formatChain } from '../policy/roles.js';
import { printable } from '../lib/text.js';
import type { Trace, TraceGate } from './trace.js';
import { rolesPhrase } from './trace-detail.js';

/**
 * A decision trace as text a person reads top to bottom (`fieldmesh redact
 * --trace`, docs/cli.md): the request's gates, then per row its gates,
 * grants, restrictions and fields, then the outcome and its first cause.
 * Like the trace, it holds names only, never a record value; every control
 * character is shown escaped (`\u001b`), so a role or purpose name cannot
 * rewrite the terminal.
 *
 * @example
 * process.stdout.write(formatTrace(policies.trace(record, ctx)));
 */
export function formatTrace(trace: Trace): string {
  const lines: string[] = [];
  const roles = rolesPhrase(trace.roles, trace.rolesNotInPolicySet);
  lines.push(`read ${trace.resource} for purpose "${trace.purpose}" as ${roles} (policy version ${trace.policyVersion})`);
  lines.push('', 'gates');
  lines.push(...gateLines(trace.gates, '  '));
  for (const row of trace.rows) {
    const title = trace.input === 'record' ? 'record' : `row ${row.index}`;
    lines.push('', `${title}: ${row.outcome}${row.reason ? ` (${row.reason})` : ''}`);
    lines.push('  gates', ...gateLines(row.gates, '    '));
    lines.push('  grants');
    if (row.grants.length === 0) lines.push('    (none)');
    const gw = width(row.grants.map((g) => g.grant));
    for (const g of row.grants)
      lines.push(
        `    ${(g.matched ? 'matched' : 'no match').padEnd(8)}  ${g.grant.padEnd(gw)}${g.inheritedVia ? `  (inherited: ${formatChain(g.inheritedVia)})` : ''}${g.why ? `  ${g.why}` : ''}`,
      );
    lines.push('  restrictions');
    if (row.restrictions.length === 0) lines.push('    (none)');
    const rw = width(row.restrictions.map((r) => r.restriction));
    for (const r of row.restrictions) {
      const what = r.withholds === 'record' ? 'the record' : r.withholds.join(', ');
      lines.push(`    ${r.outcome.padEnd(13)}  ${r.restriction.padEnd(rw)}  ${r.detail} (withholds ${what})`);
    }
    lines.push('  fields');
    const fw = width(row.fields.map((f) => f.field));
    for (const f of row.fields) {
      const status = f.status === 'transformed' ? `transformed (${f.transform})` : f.status;
      lines.push(`    ${status.padEnd(3)}  ${f.field.padEnd(fw)}  ${f.rule}`);
    }
  }
  lines.push('');
  if (trace.outcome === 'refused') {
    lines.push(`refused: ${trace.code}: ${trace.message}`);
    if (trace.cause) lines.push(`cause: ${trace.cause}`);
  } else {
    const shown = trace.rows.filter((r) => r.outcome === 'disclosed').length;
    lines.push(trace.input === 'record' ? 'disclosed' : `disclosed: ${shown} of ${trace.rows.length} rows`);
  }
  return `${lines.map((l) => printable(l).replace(/\s+$/, '')).join('\n')}\n`;
}

function gateLines(gates: readonly TraceGate[], indent: string): string[] {
  const w = width(gates.map((g) => g.gate));
  return gates.map((g) => `${indent}${g.outcome.padEnd(14)}  ${g.gate.padEnd(w)}  ${g.detail}`);
}

function width(names: readonly string[]): number {
  return Math.max(0, ...names.map((n) => n.length));
}
