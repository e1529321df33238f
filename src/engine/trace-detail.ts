import type { CompiledPolicies } from './compile.js';
import type { ConditionTemplate } from '../policy/conditions.js';
import { isPlainObject } from '../lib/paths.js';
import {
  grantsFor,
  rolesFrom,
  type GateName,
  type GateOutcome,
  type Plan,
  type PlanOptions,
  type Refusal,
  type RequestContext,
} from './plan.js';

/*
 * The words of a decision trace (trace.ts): what each gate, grant and
 * restriction outcome means, said with policy names and claim names only,
 * never a value of the record or of a claim.
 */

/** ` on careTeam, flags`: the record keys a condition reads, when they can be told. */
export function on(reads: readonly string[] | undefined): string {
  return reads === undefined || reads.length === 0 ? '' : ` on ${reads.join(', ')}`;
}

/** Why a condition could not be filled from the user's claims: which claim is missing, or unusable. Names only. */
export function unusable(where: ConditionTemplate | undefined, user: Readonly<Record<string, unknown>>): string {
  const claims = where?.claims ?? [];
  const missing = claims.filter((name) => !isPlainObject(user) || !Object.hasOwn(user, name) || user[name] === undefined);
  if (missing.length > 0) return `missing claim${missing.length > 1 ? 's' : ''} ${missing.map(claimLabel).join(', ')}`;
  return `claim${claims.length > 1 ? 's' : ''} ${claims.map(claimLabel).join(', ')} cannot fill the condition (a part missing, or not a plain value or a list of them)`;
}

/** How a policy writes the claim: `user.practice`, or `user["https://idp.example/staff_id"]`. */
export function claimLabel(name: string): string {
  return /^[A-Za-z0-9_-]+$/.test(name) ? `user.${name}` : `user[${JSON.stringify(name)}]`;
}

/**
 * The roles of the user's `roles` claim that the policy set defines, and how
 * many others it names. A name the policy set does not define is the claim's
 * value, not a policy name (an identity provider may put anything there, a
 * person's name included): it is counted, never told.
 *
 * @example
 * traceRoles(compiled, { roles: ['gp', 'Amelia Testwood'] }); // { roles: ['gp'], notInPolicySet: 1 }
 */
export function traceRoles(
  compiled: CompiledPolicies,
  user: Readonly<Record<string, unknown>>,
): { roles: string[]; notInPolicySet: number } {
  const claimed = rolesFrom(user['roles']) ?? [];
  const roles = claimed.filter((role) => Object.hasOwn(compiled.document.roles, role));
  return { roles, notInPolicySet: claimed.length - roles.length };
}

/** `gp, nurse`, `gp and 2 roles not in the policy set`, `1 role not in the policy set`, or `no roles`. */
export function rolesPhrase(roles: readonly string[], notInPolicySet: number): string {
  const others = notInPolicySet === 0 ? '' : `${notInPolicySet} role${notInPolicySet === 1 ? '' : 's'} not in the policy set`;
  if (roles.length === 0) return others || 'no roles';
  return others ? `${roles.join(', ')} and ${others}` : roles.join(', ');
}

/** A request gate's outcome in words: policy names and claim names only. */
export function requestGateDetail(
  compiled: CompiledPolicies,
  ctx: RequestContext,
  opts: PlanOptions,
  gate: GateName,
  outcome: GateOutcome,
  refusal: Refusal | undefined,
): string {
  if (refusal) return refusal.message;
  const purpose = compiled.purposes.get(ctx.purpose);
  switch (gate) {
    case 'roles-claim': {
      const { roles, notInPolicySet } = traceRoles(compiled, ctx.user);
      return `${roles.length > 0 ? 'roles ' : ''}${rolesPhrase(roles, notInPolicySet)}`;
    }
    case 'purpose-declared':
      return `purpose "${ctx.purpose}" declared`;
    case 'break-glass-reason':
      return outcome === 'passed' ? 'a break-glass reason is declared' : 'no break-glass declared';
    case 'training':
      return `claim user.training is a date within ${opts.trainingMaxAgeDays} days`;
    case 'purpose-known':
      return `purpose "${ctx.purpose}" is declared in the policy set`;
    case 'purpose-view':
      return `purpose "${ctx.purpose}" carries ${ctx.resource} records`;
    case 'review-date':
      return `review by ${purpose?.def.reviewBy ?? '?'}`;
    case 'break-glass':
      return outcome === 'passed'
        ? `purpose "${ctx.purpose}" is break-glass only, and a reason is declared (flagged for review)`
        : `purpose "${ctx.purpose}" is not break-glass`;
    case 'role-granted': {
      const roles = rolesFrom(ctx.user['roles']) ?? [];
      const labels = grantsFor(compiled, roles, ctx.purpose, ctx.resource, 'read').map((g) => g.label);
      return `grants for ${ctx.purpose} × ${ctx.resource}: ${labels.join(', ')}`;
    }
    default:
      return outcome;
  }
}

/** A row gate's outcome in words: the marker's path, never its value. */
export function rowGateDetail(plan: Plan, gate: GateName, outcome: GateOutcome): string {
  const { purpose, resource } = plan;
  if (gate === 'opt-out') {
    if (outcome === 'not-applicable') return `purpose "${purpose.name}" does not apply the national data opt-out`;
    return outcome === 'passed'
      ? `no opt-out marker at ${resource.def.optOut}`
      : `the record is opted out (a marker at ${resource.def.optOut})`;
  }
  if (outcome === 'not-applicable') return `purpose "${purpose.name}" needs no explicit consent`;
  const at = `${resource.def.consent}.${purpose.name}`;
  return outcome === 'passed' ? `consent granted at ${at}` : `no granted consent at ${at}, or a refusal beside it`;
}
