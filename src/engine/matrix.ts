import { grantKey, type CompiledPolicies } from './compile.js';
import { explainView, type FieldExplanation } from './explain.js';

/**
 * The disclosure matrix: for every purpose and resource, roles × fields, so
 * the Caldicott Guardian sees at a glance who can see what, and why.
 * A self-contained HTML page (no scripts, no external assets).
 *
 * @example
 * writeFileSync('matrix.html', disclosureMatrix(policies.compiled, new Date()));
 */
export function disclosureMatrix(compiled: CompiledPolicies, now: Date): string {
  const today = now.toISOString().slice(0, 10);
  const sections: string[] = [];
  for (const [purposeName, purpose] of compiled.purposes) {
    for (const resourceName of purpose.views.keys()) {
      const roles = Object.keys(compiled.document.roles).filter((r) =>
        (compiled.grants.get(grantKey(r, purposeName, resourceName)) ?? []).some((g) => g.read !== 0n),
      );
      const columns = roles.map((role) => explainView(compiled, { roles: [role], purpose: purposeName, resource: resourceName }).fields);
      const def = purpose.def;
      const expired = def.reviewBy < today;
      const facts = [
        `lawful basis ${def.lawfulBasis.article6}${def.lawfulBasis.article9 ? ` / ${def.lawfulBasis.article9}` : ''}`,
        def.owner ? `owner ${def.owner}` : undefined,
        `review by ${def.reviewBy}${expired ? ' (EXPIRED: refused)' : ''}`,
        def.identifiable ? undefined : 'not identifiable',
        def.breakGlass ? 'break-glass' : undefined,
        def.consent === 'required' ? 'consent required' : undefined,
        def.optOut === 'respect' ? 'opt-out respected' : undefined,
      ].filter((f): f is string => f !== undefined);
      const resource = compiled.resources.get(resourceName)!;
      const header = `<tr><th>field</th><th>class</th>${roles.map((r) => `<th>${esc(r)}</th>`).join('')}</tr>`;
      const rows = resource.paths.map((field, i) => {
        const cells = columns.map((col) => cell(col[i]!)).join('');
        return `<tr><th scope="row">${esc(field)}</th><td class="class">${esc(resource.classes.get(field)!)}</td>${cells}</tr>`;
      });
      sections.push(
        `<section id="${esc(`${purposeName}--${resourceName}`)}" class="${expired ? 'expired' : ''}"><h2>${esc(purposeName)} › ${esc(resourceName)}</h2>` +
          `<p class="facts">${facts.map(esc).join(' · ')}</p>` +
          (roles.length === 0
            ? '<p>No role is granted this view.</p>'
            : `<table><thead>${header}</thead><tbody>${rows.join('')}</tbody></table>`) +
          '</section>',
      );
    }
  }
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>fieldmesh disclosure matrix</title><style>${STYLE}</style></head><body>` +
    `<h1>Disclosure matrix</h1><p>Policy version <code>${esc(compiled.version)}</code>, as of ${esc(today)}. ` +
    `<span class="disclosed">✓ disclosed</span> · <span class="transformed">≈ transformed</span> · <span class="withheld">✗ withheld</span> · * depends on the record (hover for the conditions)</p>` +
    `${sections.join('\n')}</body></html>\n`
  );
}

function cell(f: FieldExplanation): string {
  const mark = f.status === 'disclosed' ? '✓' : f.status === 'transformed' ? `≈ ${f.transform}` : '✗';
  const conditional = f.status !== 'withheld' && f.conditions.length > 0;
  const title = [f.rule, ...f.conditions].join('\n');
  return `<td class="${f.status}" title="${esc(title)}" data-status="${f.status}">${esc(mark)}${conditional ? '*' : ''}</td>`;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `body{font:14px system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse;margin-bottom:1rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:center}th[scope=row]{text-align:left;font-family:monospace}
td.class{color:#666;font-size:12px}.disclosed{background:#e6f4ea}.transformed{background:#fff4d6}.withheld{background:#fbe9e9;color:#a33}
.expired h2{text-decoration:line-through;color:#a33}.facts{color:#555}`;
