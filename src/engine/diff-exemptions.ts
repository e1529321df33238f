import { EVERY_ROW, provablyWithin } from '../policy/condition-order.js';
import type { Condition } from '../policy/schema.js';
import { carries, pathUnion } from './diff-paths.js';
import { grantKey, type CompiledGrant, type CompiledPolicies, type CompiledRestriction } from './compile.js';
import type { PolicyChange } from './diff-change.js';
import { describeRows, listFields } from './diff-access.js';
import { heldOnce, isExempt } from './plan.js';

/**
 * A restriction's exemptions compared as the engine applies them
 * (engine/plan.ts `isExempt`): a role is exempt on a record only through a
 * grant of its own that matches the record and whose writing role
 * (`CompiledGrant.role`) the `unless` covers. A grant held through
 * inheritance keeps the exemption of the role that wrote it, so a role that
 * gains `inherits: [safeguarding-lead]` gains the lead's exemptions through
 * the lead's grants, though its fields and rows stay the same. What is
 * compared, per restriction × purpose × role, is the exempt cover: each
 * field such a grant gives, with the rows (conditions) it is given on.
 */

/** One grant through which a role is exempt, as the JSON of a change lists it. */
export interface ExemptGrant {
  /** `role#index` of the role that wrote it. */
  grant: string;
  /** Set when it is held through inheritance: the chain from the holding role to the writer. */
  inheritedVia?: readonly string[];
  /** The rows it matches: `{}` is every row. */
  where: Condition;
  /** What it reads, updates or creates: on the rows it matches, the restriction does not fire. */
  fields: string[];
}

type Unscoped = Omit<PolicyChange, 'resource' | 'restriction'>;

/**
 * Exemptions a restriction gains and loses between two sets, per purpose and
 * role of either set. Gained (widening): a field given under an exemption on
 * rows not provably within those it was given on before, which covers a
 * grant newly exempt (by `unless`, or by a role gaining `inherits:`), a
 * grant's fields grown, and its rows changed. Lost (narrowing): the reverse.
 */
export function exemptionChanges(
  before: CompiledPolicies,
  after: CompiledPolicies,
  o: CompiledRestriction,
  n: CompiledRestriction,
  resource: string,
  roles: readonly string[],
  purposes: readonly string[],
): Unscoped[] {
  // By purpose alone, on both sides and alike: exempt for every row of those purposes whatever the grants
  // (plan.ts drops the restriction), so what changed is access, which diff-access.ts reports.
  if (!o.unlessRoles && !n.unlessRoles && sameSet(o.unlessPurposes, n.unlessPurposes)) return [];
  const out: Unscoped[] = [];
  for (const purpose of purposes)
    for (const role of roles) {
      const paths = pathUnion(before.resources.get(resource), after.resources.get(resource));
      const was = exemptGrants(before, o, role, purpose, resource, paths);
      const is = exemptGrants(after, n, role, purpose, resource, paths);
      const gained = beyond(is, was);
      const lost = beyond(was, is);
      if (gained.length > 0)
        out.push({
          kind: 'exemption-added',
          effect: 'widening',
          purpose,
          role,
          fields: fieldsOf(gained),
          before: was,
          after: is,
          message: `now exempt from restriction ${n.name} through ${gained.map(describe).join('; ')}`,
        });
      if (lost.length > 0)
        out.push({
          kind: 'exemption-removed',
          effect: 'narrowing',
          purpose,
          role,
          fields: fieldsOf(lost),
          before: was,
          after: is,
          message: `no longer exempt from restriction ${o.name} through ${lost.map(describe).join('; ')}`,
        });
    }
  return out;
}

/** The grants a role holds for a purpose and resource (each once, as a plan holds them) that `isExempt` exempts. */
function exemptGrants(
  compiled: CompiledPolicies,
  r: CompiledRestriction,
  role: string,
  purpose: string,
  resource: string,
  paths: readonly string[],
): ExemptGrant[] {
  const res = compiled.resources.get(resource);
  if (!res) return [];
  const out: ExemptGrant[] = [];
  for (const g of heldOnce(compiled.grants.get(grantKey(role, purpose, resource)) ?? [])) {
    if (!isExempt(r, [g.role], purpose)) continue;
    const fields = paths.filter((p) => carries(res, g.read | g.update | g.create, p));
    if (fields.length === 0) continue;
    out.push(exemptGrant(g, fields));
  }
  return out;
}

function exemptGrant(g: CompiledGrant, fields: string[]): ExemptGrant {
  const out: ExemptGrant = { grant: g.label, where: g.where?.source ?? EVERY_ROW, fields };
  if (g.inheritedVia) out.inheritedVia = g.inheritedVia;
  return out;
}

/**
 * The grants of `these` that give some field on rows not provably within
 * the rows `those` give it on, each with only those fields. Compared by
 * field and condition, not by label: a grant renumbered is the same cover,
 * and a condition moved from an exempt grant to another is not.
 */
function beyond(these: readonly ExemptGrant[], those: readonly ExemptGrant[]): ExemptGrant[] {
  const out: ExemptGrant[] = [];
  for (const g of these) {
    const fields = g.fields.filter((f) => !those.some((t) => t.fields.includes(f) && provablyWithin(g.where, t.where)));
    if (fields.length > 0) out.push({ ...g, fields });
  }
  return out;
}

function fieldsOf(grants: readonly ExemptGrant[]): string[] {
  return [...new Set(grants.flatMap((g) => g.fields))].sort();
}

/** `grant safeguarding-lead#1 (inherited via deputy-lead → safeguarding-lead) on every row: address, name`. */
function describe(g: ExemptGrant): string {
  const via = g.inheritedVia ? ` (inherited via ${g.inheritedVia.join(' → ')})` : '';
  return `grant ${g.grant}${via} ${describeRows([g.where])}: ${listFields(g.fields)}`;
}

function sameSet(a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): boolean {
  return (a?.size ?? 0) === (b?.size ?? 0) && [...(a ?? [])].every((x) => b?.has(x));
}
