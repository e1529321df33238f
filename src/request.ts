import { createMongoAbility, type RawRuleOf, type MongoAbility } from '@casl/ability';
import type { CompiledGrant, CompiledPolicies, CompiledPurpose, CompiledResource, CompiledRestriction, CompiledView } from './compile.js';
import { grantKey } from './compile.js';
import type { Decision } from './decision.js';
import { AccessError, FieldmeshError, type AccessCode } from './errors.js';
import { conditionsMatcher } from './policy/conditions.js';
import { didYouMean } from './policy/suggest.js';

/** Claims of the user on whose behalf records are disclosed (a verified token's payload). */
export type UserClaims = Readonly<Record<string, unknown>>;

/**
 * Who asks, for what, about which resource (SPEC "Library API").
 *
 * @example
 * const ctx: RequestContext = { resource: 'Patient', purpose: 'direct-care', user: { sub: 'u1', roles: ['gp'], training: '2026-06-01' } };
 */
export interface RequestContext {
  resource: string;
  purpose: string;
  user: UserClaims;
  /** The break-glass reason, for `breakGlass: true` purposes only. */
  breakGlass?: string | undefined;
  /** The clock for review dates, training age and age bands (default: now). */
  now?: Date | undefined;
}

export type Action = 'read' | 'create' | 'update';

export interface PlanOptions {
  trainingMaxAgeDays: number;
}

/** A rule of the request's CASL ability, with what it stands for. */
export interface PlannedGrant { grant: CompiledGrant; matches: (record: object) => boolean }
export interface PlannedRestriction { restriction: CompiledRestriction; matches: (record: object) => boolean }

/** Everything about a request that does not depend on the record: built once per request. */
export interface Plan {
  action: Action;
  ctx: RequestContext;
  now: Date;
  roles: string[];
  purpose: CompiledPurpose;
  view: CompiledView;
  resource: CompiledResource;
  grants: PlannedGrant[];
  restrictions: PlannedRestriction[];
  ability: MongoAbility;
  policyVersion: string;
}

export const BREAK_GLASS_MIN_REASON = 10;
const DAY_MS = 86_400_000;

/**
 * Check a request against the policy set and build its CASL ability: grants
 * become rules with their conditions filled from the user's claims,
 * restrictions become inverted rules. Throws an `AccessError` carrying a
 * refused decision when the request may see nothing at all.
 *
 * @example
 * const plan = planRequest(compiled, ctx, 'read', { trainingMaxAgeDays: 365 });
 */
export function planRequest(compiled: CompiledPolicies, ctx: RequestContext, action: Action, opts: PlanOptions): Plan {
  const now = ctx.now ?? new Date();
  const roles = rolesOf(ctx.user);
  const refuse = (code: AccessCode, message: string): never => {
    throw new AccessError(code, message, refusedDecision(compiled, ctx, action, roles, code));
  };
  const resource = compiled.resources.get(ctx.resource);
  if (!resource) throw new FieldmeshError('resource_unknown', 500, `unknown resource "${ctx.resource}"${didYouMean(ctx.resource, compiled.resources.keys())}`);
  if (typeof ctx.purpose !== 'string' || ctx.purpose === '') refuse('purpose_required', 'Declare a purpose (X-Purpose): every disclosure needs one');
  const purpose = compiled.purposes.get(ctx.purpose);
  if (!purpose) return refuse('purpose_unknown', `unknown purpose "${ctx.purpose}"${didYouMean(ctx.purpose, compiled.purposes.keys())}`);
  const view = purpose.views.get(ctx.resource);
  if (!view) return refuse('purpose_not_granted', `purpose "${ctx.purpose}" carries no ${ctx.resource} records`);
  if (purpose.def.reviewBy < now.toISOString().slice(0, 10)) {
    refuse('purpose_expired', `purpose "${ctx.purpose}" passed its review date (${purpose.def.reviewBy}): the data flow is stopped until the Caldicott Guardian reviews it`);
  }
  const reason = ctx.breakGlass?.trim();
  if (purpose.def.breakGlass) {
    if (reason === undefined || reason === '') refuse('break_glass_required', `purpose "${ctx.purpose}" is break-glass only: declare a reason (X-Break-Glass)`);
    else if (reason.length < BREAK_GLASS_MIN_REASON) refuse('break_glass_refused', `a break-glass reason needs at least ${BREAK_GLASS_MIN_REASON} characters`);
  } else if (ctx.breakGlass !== undefined) {
    refuse('bad_request', `purpose "${ctx.purpose}" is not a break-glass purpose: remove the break-glass declaration`);
  }
  checkTraining(ctx.user, now, opts.trainingMaxAgeDays, refuse);

  const mask = (g: CompiledGrant) => (action === 'read' ? g.read : action === 'update' ? g.update : g.create);
  const grants = roles.flatMap((role) => compiled.grants.get(grantKey(role, ctx.purpose, ctx.resource)) ?? []).filter((g) => mask(g) !== 0n);
  if (grants.length === 0) {
    const verb = action === 'read' ? 'read' : action === 'update' ? 'update' : 'create';
    refuse(purpose.def.breakGlass ? 'break_glass_refused' : 'purpose_not_granted', `none of your roles may ${verb} ${ctx.resource} records for purpose "${ctx.purpose}"`);
  }
  const restrictions = (compiled.restrictions.get(ctx.resource) ?? []).filter((r) => !exempt(r, roles, ctx.purpose));

  // One CASL rule per grant and per restriction. A grant whose condition is
  // unusable for this user (a claim missing, or one it cannot compare with)
  // gets no rule: it never matches. A restriction whose condition is unusable
  // fires unconditionally: fail closed. CASL evaluates with our matcher.
  const rules: RawRuleOf<MongoAbility>[] = [];
  const origins = new Map<object, PlannedGrant['grant'] | CompiledRestriction>();
  for (const grant of grants) {
    const conditions = grant.where ? grant.where.resolve(ctx.user) : undefined;
    if (grant.where && !conditions) continue;
    const rule = conditions ? { action, subject: ctx.resource, conditions } : { action, subject: ctx.resource };
    origins.set(rule, grant);
    rules.push(rule);
  }
  for (const restriction of restrictions) {
    const conditions = restriction.when?.resolve(ctx.user);
    const rule: RawRuleOf<MongoAbility> = { action, subject: ctx.resource, inverted: true, reason: restriction.because };
    if (conditions) rule.conditions = conditions;
    if (!restriction.record) rule.fields = restriction.fields;
    origins.set(rule, restriction);
    rules.push(rule);
  }
  const ability = createMongoAbility(rules, { conditionsMatcher });
  const planned: Plan = { action, ctx, now, roles, purpose, view, resource, grants: [], restrictions: [], ability, policyVersion: compiled.version };
  for (const rule of ability.possibleRulesFor(action, ctx.resource)) {
    const origin = origins.get(rule.origin);
    const matches = (record: object) => rule.matchesConditions(record);
    if (rule.inverted) planned.restrictions.push({ restriction: origin as CompiledRestriction, matches });
    else planned.grants.push({ grant: origin as CompiledGrant, matches });
  }
  return planned;
}

/** The user's roles: a list of strings, or one string. Anything else counts as none. */
export function rolesOf(user: UserClaims): string[] {
  const roles = user['roles'];
  if (typeof roles === 'string') return [roles];
  return Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [];
}

/** `unless` covers the user when every key it gives is satisfied: roles and purposes together narrow it. */
function exempt(r: CompiledRestriction, roles: string[], purpose: string): boolean {
  if (!r.unlessRoles && !r.unlessPurposes) return false;
  const byRole = !r.unlessRoles || roles.some((role) => r.unlessRoles!.has(role));
  const byPurpose = !r.unlessPurposes || r.unlessPurposes.has(purpose);
  return byRole && byPurpose;
}

/** Caldicott 5: no personal data for a user whose confidentiality training is missing or too old. */
function checkTraining(user: UserClaims, now: Date, maxAgeDays: number, refuse: (code: AccessCode, message: string) => never): void {
  const claim = user['training'];
  const at = typeof claim === 'string' && /^\d{4}-\d{2}-\d{2}/.test(claim) ? Date.parse(claim) : NaN;
  if (Number.isNaN(at)) refuse('training_missing', 'No confidentiality training attestation (claim "training"): no personal data can be disclosed');
  if (now.getTime() - at > maxAgeDays * DAY_MS) refuse('training_expired', `Your confidentiality training is older than ${maxAgeDays} days: renew it to see personal data`);
}

/** The decision for a request refused before any record was looked at. */
export function refusedDecision(compiled: CompiledPolicies, ctx: RequestContext, action: Action, roles: string[], code: string): Decision {
  const decision: Decision = {
    outcome: 'refused', code, action, resource: String(ctx.resource), purpose: String(ctx.purpose), roles,
    disclosed: [], withheld: [], transforms: {}, restrictions: [], grants: [], recordIds: [], withheldRecordIds: [],
    rowsReturned: 0, rowsWithheld: 0, rowReasons: {}, policyVersion: compiled.version,
  };
  if (ctx.breakGlass !== undefined) decision.breakGlass = ctx.breakGlass;
  return decision;
}
