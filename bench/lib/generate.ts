/**
 * A generated policy set of any size, for the benchmarks: `resources`
 * resources of 12 fields, `purposes` purposes that each carry every resource,
 * and `roles` roles that each grant every purpose × resource with a row
 * condition on a claim (`team: ${user.team}`), plus one restriction per
 * resource. 20 × 10 × 100 gives 20,000 grants in about 2 MB of YAML.
 *
 * @example
 * writePolicySet('/tmp/p', { resources: 20, purposes: 10, roles: 100 });
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PolicySetSize {
  resources: number;
  purposes: number;
  roles: number;
}

const FIELDS = ['id', 'code', 'status', 'team', 'site', 'kind', 'note', 'owner', 'opened', 'closed', 'score', 'level'];

export const resourceName = (r: number) => `Resource${r}`;
export const purposeName = (p: number) => `purpose-${p}`;
export const roleName = (r: number) => `role-${r}`;

/** Writes resources.yaml, purposes.yaml, roles.yaml and restrictions.yaml into `dir`; returns the bytes written. */
export function writePolicySet(dir: string, size: PolicySetSize): number {
  mkdirSync(dir, { recursive: true });
  const resources = ['resources:'];
  for (let r = 0; r < size.resources; r++) {
    resources.push(`  ${resourceName(r)}:`, '    id: id', '    fields:');
    for (const f of FIELDS) resources.push(`      ${f}: ${f === 'id' ? 'identifier' : 'operational'}`);
  }
  const purposes = ['purposes:'];
  for (let p = 0; p < size.purposes; p++) {
    purposes.push(
      `  ${purposeName(p)}:`,
      `    description: Generated purpose ${p}`,
      '    lawfulBasis: { article6: "6(1)(e)" }',
      '    owner: Caldicott Guardian',
      '    reviewBy: 2099-12-31',
      '    identifiable: true',
      '    views:',
    );
    for (let r = 0; r < size.resources; r++) purposes.push(`      ${resourceName(r)}:`, `        fields: [${FIELDS.join(', ')}]`);
  }
  const roles = ['roles:'];
  for (let i = 0; i < size.roles; i++) {
    roles.push(`  ${roleName(i)}:`, `    description: Generated role ${i}`, '    grants:');
    for (let p = 0; p < size.purposes; p++) {
      for (let r = 0; r < size.resources; r++) {
        // Roles differ in the fields they read, so grants are not all alike.
        const read = FIELDS.filter((_, k) => k === 0 || (k + i + p + r) % 3 !== 0);
        roles.push(
          `      - purpose: ${purposeName(p)}`,
          `        resource: ${resourceName(r)}`,
          `        read: [${read.join(', ')}]`,
          '        where: { team: "${user.team}" }',
        );
      }
    }
  }
  const restrictions = ['restrictions:'];
  for (let r = 0; r < size.resources; r++) {
    restrictions.push(
      `  - name: sealed-${r}`,
      `    resource: ${resourceName(r)}`,
      '    when: { level: sealed }',
      '    withhold: [note, owner]',
      '    because: Sealed records keep their notes and owner to the court',
    );
  }
  let bytes = 0;
  for (const [file, lines] of [
    ['resources.yaml', resources],
    ['purposes.yaml', purposes],
    ['roles.yaml', roles],
    ['restrictions.yaml', restrictions],
  ] as const) {
    const text = `${lines.join('\n')}\n`;
    writeFileSync(join(dir, file), text);
    bytes += Buffer.byteLength(text);
  }
  return bytes;
}
