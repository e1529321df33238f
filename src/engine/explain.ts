import type { CompiledGrant, CompiledPolicies, CompiledResource, CompiledView } from './compile.js';
import { FieldmeshError } from '../lib/errors.js';
import type { FieldClass, TransformName } from '../policy/schema.js';
import { didYouMean } from '../lib/suggest.js';
import { own } from '../lib/paths.js';
import { grantsFor, isExempt } from './plan.js';
import { formatChain } from '../policy/roles.js';

export interface ExplainQuery {
  roles: string[];
  purpose: string;
  resource: string;
}

/** How one declared field fares for a role, purpose and resource, and why. */
export interface FieldExplanation {
  field: string;
  class: FieldClass;
  status: 'disclosed' | 'transformed' | 'withheld';
  transform?: string;
  /** The view, grant or restriction that decided. */
  rule: string;
  /** Row conditions the outcome depends on: grants' `where`, restrictions' `when`. */
  conditions: string[];
  /** The deciding grants held through role inheritance, with the chain each came through (holding role first). */
  inherited?: { grant: string; via: string[] }[];
}

export interface Explanation {
  roles: string[];
  purpose: string;
  resource: string;
  /** Facts about the purpose that apply to every field: expiry, break-glass, consent, opt-out. */
  notes: string[];
  fields: FieldExplanation[];
}

/**
 * Explain the disclosure of every declared field of a resource for roles and
 * a purpose, without a record: what the Caldicott Guardian reviews.
 *
 * @example
 * explainView(compiled, { roles: ['receptionist'], purpose: 'administration', resource: 'Patient' }).fields[0];
 * // { field: 'address', class: 'direct', status: 'disclosed', rule: 'grant receptionist#0', conditions: ['withheld when {"flags":"dv-risk"} (restriction dv-address)'] }
 */
export function explainView(compiled: CompiledPolicies, q: ExplainQuery): Explanation {
  const resource = compiled.resources.get(q.resource);
  if (!resource)
    throw new FieldmeshError('resource_unknown', `unknown resource "${q.resource}"${didYouMean(q.resource, compiled.resources.keys())}`);
  const purpose = compiled.purposes.get(q.purpose);
  if (!purpose)
    throw new FieldmeshError('purpose_unknown', `unknown purpose "${q.purpose}"${didYouMean(q.purpose, compiled.purposes.keys())}`);
  for (const role of q.roles) {
    if (!Object.hasOwn(compiled.document.roles, role))
      throw new FieldmeshError('role_unknown', `unknown role "${role}"${didYouMean(role, Object.keys(compiled.document.roles))}`);
  }
  const def = purpose.def;
  const notes = [
    `review by ${def.reviewBy}`,
    def.identifiable
      ? 'identifiable'
      : 'not identifiable: direct identifiers never, identifiers only as pseudonyms, undeclared keys under a field dropped',
    ...(def.breakGlass ? ['break-glass only: needs a reason, flagged for review'] : []),
    ...(def.consent === 'required' ? ['consent required: rows without granted consent are withheld'] : []),
    ...(def.optOut === 'respect' ? ['national data opt-out respected: opted-out rows are withheld'] : []),
  ];
  const view = purpose.views.get(q.resource);
  // The grants the roles hold, inherited ones included (compile.ts), each once.
  const grants = grantsFor(compiled, q.roles, q.purpose, q.resource, 'read');
  const whereOf = (label: string) => {
    const [role, i] = label.split('#');
    return own(compiled.document.roles, role!)?.grants[Number(i)]?.where;
  };
  // A role exempts a record only through its own grant (engine/plan.ts isExempt), an inherited grant through
  // the role that wrote it. Without a record it is not known which grant will match, so a restriction is
  // shown as exempt only when every granting grant's role is.
  const restrictions = (compiled.restrictions.get(q.resource) ?? []).filter(
    (r) => !(grants.length > 0 && grants.every((g) => isExempt(r, [g.role], q.purpose))),
  );
  const whenOf = (name: string) => compiled.document.restrictions.find((r) => r.name === name)?.when;
  const recordRestrictions = restrictions
    .filter((r) => r.record)
    .map((r) => `whole record withheld ${when(whenOf(r.name))} (restriction ${r.name})`);

  const fields = resource.paths.map((field): FieldExplanation => {
    const bit = resource.bits.get(field)!;
    const cls = resource.classes.get(field)!;
    const verdict = fieldVerdict(resource, view, grants, field);
    if (verdict.status === 'withheld')
      return {
        field,
        class: cls,
        status: 'withheld',
        rule:
          verdict.by === 'view'
            ? `not in the view of purpose ${q.purpose}`
            : `not granted to ${q.roles.join(', ') || 'these roles'} for ${q.purpose}`,
        conditions: [],
      };
    const granting = verdict.grants;
    const conditions = [
      ...granting.flatMap((g) => (whereOf(g.label) ? [`disclosed only ${when(whereOf(g.label))} (grant ${grantName(g)})`] : [])),
      ...restrictions
        .filter((r) => (r.mask & bit) !== 0n)
        .map((r) => `withheld ${when(whenOf(r.name))} (restriction ${r.name}: ${r.because})`),
      ...recordRestrictions,
    ];
    const rule = `grant ${granting.map(grantName).join(', ')}`;
    const inherited = granting.flatMap((g) => (g.inheritedVia ? [{ grant: g.label, via: [...g.inheritedVia] }] : []));
    const explained: FieldExplanation =
      verdict.status === 'transformed'
        ? {
            field,
            class: cls,
            status: 'transformed',
            transform: verdict.transform,
            rule: `${rule}, view transform ${verdict.transform}`,
            conditions,
          }
        : { field, class: cls, status: 'disclosed', rule, conditions };
    if (inherited.length > 0) explained.inherited = inherited;
    return explained;
  });
  return { roles: q.roles, purpose: q.purpose, resource: q.resource, notes, fields };
}

/** `ward-nurse#0`, or `ward-nurse#0 (inherited: senior-nurse → ward-nurse)` for a grant held through inheritance. */
function grantName(g: CompiledGrant): string {
  return g.inheritedVia ? `${g.label} (inherited: ${formatChain(g.inheritedVia)})` : g.label;
}

/** How one field fares under a view and some grants, before restrictions: withheld by the view or for want of a grant, or disclosed (perhaps transformed) by these grants. */
export type FieldVerdict =
  | { status: 'withheld'; by: 'view' | 'grants' }
  | { status: 'disclosed'; grants: CompiledGrant[] }
  | { status: 'transformed'; grants: CompiledGrant[]; transform: TransformName };

/**
 * The per-field rule `explain` shows and the decision trace applies to the
 * grants that matched a record: a field outside the purpose's view is
 * withheld by the view; inside it, by the grants when none reads it;
 * otherwise disclosed by the grants that read it, through the view's
 * transform if it has one. Restrictions come after (the trace; explain lists them as conditions).
 *
 * @example
 * fieldVerdict(resource, view, [gpGrant], 'nhsNumber'); // { status: 'disclosed', grants: [gpGrant] }
 */
export function fieldVerdict(
  resource: CompiledResource,
  view: CompiledView | undefined,
  grants: readonly CompiledGrant[],
  field: string,
): FieldVerdict {
  const bit = resource.bits.get(field)!;
  if (!view || (view.mask & bit) === 0n) return { status: 'withheld', by: 'view' };
  const granting = grants.filter((g) => (g.read & bit) !== 0n);
  if (granting.length === 0) return { status: 'withheld', by: 'grants' };
  const transform = view.transforms.get(field);
  return transform ? { status: 'transformed', grants: granting, transform } : { status: 'disclosed', grants: granting };
}

function when(condition: unknown): string {
  return condition === undefined ? 'always' : `when ${JSON.stringify(condition)}`;
}
