import { createMongoAbility, type RawRuleOf, type MongoAbility } from '@casl/ability';
import { z } from 'zod';
import type { CompiledGrant, CompiledPolicies, CompiledPurpose, CompiledResource, CompiledRestriction, CompiledView } from './compile.js';
import { grantKey } from './compile.js';
import { asRefusal, emptyDecision, type Decision } from './decision.js';
import { FieldmeshError, type AccessCode, type ErrorCode } from '../lib/errors.js';
import { AccessError } from './access-error.js';
import { conditionsMatcher } from '../policy/conditions.js';
import { didYouMean } from '../lib/suggest.js';
import { withoutControls } from '../lib/text.js';
import { planCacheFor, type CachedCore } from './plan-cache.js';

/** Claims of the user on whose behalf records are disclosed (a verified token's payload). */
export type UserClaims = Readonly<Record<string, unknown>>;

/**
 * Who asks, for what, about which resource (README.md, "The engine on its own").
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
export interface PlannedGrant {
  grant: CompiledGrant;
  matches: (record: object) => boolean;
}
export interface PlannedRestriction {
  restriction: CompiledRestriction;
  matches: (record: object) => boolean;
}

/**
 * Everything about a request that does not depend on the record. The
 * request's own part (`ctx`, `now`, `roles`) is new per request; the rest is
 * shared by requests alike in everything it depends on (plan-cache.ts), and
 * its `grants` and `restrictions` are frozen.
 */
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
  /**
   * The CASL ability of these grants and restrictions (rule origins and
   * reasons). Shared by every request with the same plan core: read it
   * (`can`, `relevantRuleFor`, `rulesFor`); its `update` throws.
   */
  ability: MongoAbility;
  policyVersion: string;
  /**
   * Whether some rows may be withheld whole (conditional grants only,
   * whole-record restrictions, consent or opt-out): then a page the record
   * API cut before fieldmesh removed hidden rows could show that they matched.
   */
  mayHideRows: boolean;
  /**
   * Whether the purpose discloses de-identified rows: then a row's position
   * in the record API's order (often by id) could name it, so no page of
   * them may be passed on.
   */
  deidentified: boolean;
}

/** Fewest characters of a break-glass reason, after trimming: enough to say why. */
export const BREAK_GLASS_MIN_REASON = 10;
/** Most characters of a break-glass reason: it is stored in every audit event of the request. */
export const BREAK_GLASS_MAX_REASON = 1000;
const DAY_MS = 86_400_000;

/**
 * Why a request is refused, as data: the stable code and the message the
 * user sees. The rule functions below return one; each shell throws it its own way.
 */
export interface Refusal {
  code: AccessCode;
  message: string;
}

/**
 * Check a request against the policy set and build its CASL ability: grants
 * become rules with their conditions filled from the user's claims,
 * restrictions become inverted rules. Throws an `AccessError` carrying a
 * refused decision when the request may see nothing at all. `observe`, when
 * given, is told each gate's outcome (the decision trace, trace.ts).
 */
export function planRequest(
  compiled: CompiledPolicies,
  ctx: RequestContext,
  action: Action,
  opts: PlanOptions,
  observe?: GateObserver,
): Plan {
  const now = ctx.now ?? new Date();
  // An invalid clock would make every date rule (training, review, age bands) answer at random: refused, never guessed.
  if (!isValidDate(now)) throw new TypeError('RequestContext.now must be a valid Date');
  const declaredRoles = rolesFrom(ctx.user['roles']);
  const roles = declaredRoles ?? [];
  const refuse = (code: AccessCode, message: string): never => {
    throw new AccessError(code, message, refusedDecision(compiled, ctx, action, roles, code));
  };
  const resource = compiled.resources.get(ctx.resource);
  if (!resource)
    throw new FieldmeshError(
      'resource_unknown',
      `unknown resource "${ctx.resource}"${didYouMean(ctx.resource, compiled.resources.keys())}`,
    );
  const gated = requestGates(compiled, ctx, now, declaredRoles, opts, observe);
  if ('code' in gated) return refuse(gated.code, gated.message);
  const { purpose, view } = gated;

  // Everything below depends only on the policy set, the action, what is asked, the roles and the
  // claims the conditions read: built once per key (plan-cache.ts), shared by every request that has it.
  const cache = planCacheFor<PlanCore>(compiled);
  const key = cache.keyOf(ctx.resource, ctx.purpose, action, roles, ctx.user);
  let cached = key === undefined ? undefined : cache.get(key);
  if (cached === undefined) {
    cached = planCore(compiled, ctx, action, roles, purpose, view, resource);
    if (key !== undefined) cache.set(key, cached);
  }
  if (cached.refusal) {
    observe?.('role-granted', 'refused', cached.refusal);
    refuse(cached.refusal.code, cached.refusal.message);
  }
  observe?.('role-granted', 'passed');
  const core = cached.core!;
  return {
    action,
    ctx,
    now,
    roles,
    purpose: core.purpose,
    view: core.view,
    resource: core.resource,
    grants: core.grants,
    restrictions: core.restrictions,
    ability: core.ability,
    policyVersion: core.policyVersion,
    mayHideRows: core.mayHideRows,
    deidentified: core.deidentified,
  };
}

/**
 * The checks a request passes before any record is looked at, in the order
 * the engine applies them (`requestGates`, then `role-granted` in
 * `planRequest`), and those a row passes before any grant is tried
 * (`opt-out`, `consent`: redact.ts `gateReason`). `fieldmesh redact --trace`
 * lists them by these names (docs/cli.md).
 */
export type GateName =
  | 'roles-claim'
  | 'purpose-declared'
  | 'break-glass-reason'
  | 'training'
  | 'purpose-known'
  | 'purpose-view'
  | 'review-date'
  | 'break-glass'
  | 'role-granted'
  | 'opt-out'
  | 'consent';

export type GateOutcome = 'passed' | 'refused' | 'not-applicable';

/**
 * Told each gate's outcome as the engine decides it, with the refusal when it
 * refuses: how the decision trace (trace.ts) sees the gates without a second
 * copy of their rules. Gates after a refusal are not checked, so not told.
 */
export type GateObserver = (gate: GateName, outcome: GateOutcome, refusal?: Refusal) => void;

/** A gate's refusal, told to the observer if there is one. */
function refused(observe: GateObserver | undefined, gate: GateName, refusal: Refusal): Refusal {
  observe?.(gate, 'refused', refusal);
  return refusal;
}

/**
 * The request's gates, in order: who asks and how (roles claim, purpose
 * declared, break-glass reason, training) before what they ask for (purpose
 * known, carrying the resource, in date, break-glass or not), in the same
 * order as the HTTP shells (docs/identity.md), so every entry point gives the
 * same answer. The first refusal, or the purpose and its view.
 */
function requestGates(
  compiled: CompiledPolicies,
  ctx: RequestContext,
  now: Date,
  declaredRoles: string[] | undefined,
  opts: PlanOptions,
  observe: GateObserver | undefined,
): Refusal | { purpose: CompiledPurpose; view: CompiledView } {
  if (declaredRoles === undefined)
    return refused(observe, 'roles-claim', { code: 'unauthenticated', message: 'claim "roles" must be a string or an array of strings' });
  observe?.('roles-claim', 'passed');
  if (typeof ctx.purpose !== 'string' || ctx.purpose === '')
    return refused(observe, 'purpose-declared', {
      code: 'purpose_required',
      message: 'Declare a purpose (X-Purpose): every disclosure needs one',
    });
  observe?.('purpose-declared', 'passed');
  if (ctx.breakGlass !== undefined) {
    if (typeof ctx.breakGlass !== 'string')
      return refused(observe, 'break-glass-reason', { code: 'bad_request', message: 'a break-glass reason must be text' });
    const badReason = breakGlassReasonRefusal(ctx.breakGlass);
    if (badReason) return refused(observe, 'break-glass-reason', badReason);
    observe?.('break-glass-reason', 'passed');
  } else observe?.('break-glass-reason', 'not-applicable');
  const reason = ctx.breakGlass?.trim();
  const badTraining = trainingRefusal(ctx.user['training'], now, opts.trainingMaxAgeDays);
  if (badTraining) return refused(observe, 'training', badTraining);
  observe?.('training', 'passed');
  const purpose = compiled.purposes.get(ctx.purpose);
  if (!purpose)
    return refused(observe, 'purpose-known', {
      code: 'purpose_unknown',
      message: `unknown purpose "${ctx.purpose}"${didYouMean(ctx.purpose, compiled.purposes.keys())}`,
    });
  observe?.('purpose-known', 'passed');
  const view = purpose.views.get(ctx.resource);
  if (!view)
    return refused(observe, 'purpose-view', {
      code: 'purpose_not_granted',
      message: `purpose "${ctx.purpose}" carries no ${ctx.resource} records`,
    });
  observe?.('purpose-view', 'passed');
  if (purpose.def.reviewBy < isoDay(now)) {
    return refused(observe, 'review-date', {
      code: 'purpose_expired',
      message: `purpose "${ctx.purpose}" passed its review date (${purpose.def.reviewBy}): the data flow is stopped until the Caldicott Guardian reviews it`,
    });
  }
  observe?.('review-date', 'passed');
  if (purpose.def.breakGlass) {
    const missing = breakGlassReasonMissing(reason, ctx.purpose);
    if (missing) return refused(observe, 'break-glass', missing);
    observe?.('break-glass', 'passed');
  } else if (reason !== undefined) {
    return refused(observe, 'break-glass', {
      code: 'bad_request',
      message: `purpose "${ctx.purpose}" is not a break-glass purpose: remove the break-glass declaration`,
    });
  } else observe?.('break-glass', 'not-applicable');
  return { purpose, view };
}

/** The part of a plan that no clock and no request-only value (break-glass reason, `now`) changes. */
type PlanCore = Omit<Plan, 'action' | 'ctx' | 'now' | 'roles'>;

/**
 * The grants of the roles, the restrictions that apply, and the CASL ability
 * made of them, for a request whose purpose, break-glass and training have
 * been checked; or the refusal when no role grants the action. Frozen: it is shared.
 */
function planCore(
  compiled: CompiledPolicies,
  ctx: RequestContext,
  action: Action,
  roles: readonly string[],
  purpose: CompiledPurpose,
  view: CompiledView,
  resource: CompiledResource,
): CachedCore<PlanCore> {
  const grants = grantsFor(compiled, roles, ctx.purpose, ctx.resource, action);
  if (grants.length === 0) {
    const verb = action === 'read' ? 'read' : action === 'update' ? 'update' : 'create';
    return {
      refusal: {
        code: purpose.def.breakGlass ? 'break_glass_refused' : 'purpose_not_granted',
        message: `none of your roles may ${verb} ${ctx.resource} records for purpose "${ctx.purpose}"`,
      },
    };
  }
  // Exempt for every row: an `unless` of purposes alone. An exemption by role depends on the row: only a
  // role whose grant let the caller see that row counts (redact.ts), never one merely held.
  const restrictions = (compiled.restrictions.get(ctx.resource) ?? []).filter(
    (r) => r.unlessRoles !== undefined || !isExempt(r, roles, ctx.purpose),
  );

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
  // Shared by every request with this core: changing its rules would change them for all of them.
  Object.defineProperty(ability, 'update', {
    value: () => {
      throw new TypeError("a plan's ability is shared by requests alike: build your own with createMongoAbility to change rules");
    },
  });
  const planned: PlannedGrant[] = [];
  const restricting: PlannedRestriction[] = [];
  for (const rule of ability.possibleRulesFor(action, ctx.resource)) {
    const origin = origins.get(rule.origin);
    const matches = (record: object) => rule.matchesConditions(record);
    if (rule.inverted) restricting.push(Object.freeze({ restriction: origin as CompiledRestriction, matches }));
    else planned.push(Object.freeze({ grant: origin as CompiledGrant, matches }));
  }
  const core: PlanCore = {
    purpose,
    view,
    resource,
    // Frozen, typed as the Plan's arrays: every request with this key shares them, so a push would throw rather than leak into another request.
    grants: Object.freeze(planned) as PlannedGrant[],
    restrictions: Object.freeze(restricting) as PlannedRestriction[],
    ability,
    policyVersion: compiled.version,
    mayHideRows: mayHideRows(purpose, planned, restricting),
    deidentified: purpose.def.identifiable === false,
  };
  return { core: Object.freeze(core) };
}

/**
 * Each grant once: a user holding a role and one it inherits holds the
 * parent's grants twice, alike in everything that decides (label, role,
 * masks, condition). The one held directly is kept, so a decision names it plainly.
 */
export function heldOnce(grants: readonly CompiledGrant[]): CompiledGrant[] {
  const byLabel = new Map<string, CompiledGrant>();
  for (const g of grants) {
    const kept = byLabel.get(g.label);
    if (kept === undefined || (kept.inheritedVia !== undefined && g.inheritedVia === undefined)) byLabel.set(g.label, g);
  }
  return [...byLabel.values()];
}

/**
 * The grants of these roles for the purpose and resource that give the
 * action some field, in role order: what a plan is built from, and what the
 * decision trace lists (matched or not, and why).
 *
 * @example
 * grantsFor(compiled, ['gp'], 'direct-care', 'Patient', 'read').map((g) => g.label); // ['gp#0']
 */
export function grantsFor(
  compiled: CompiledPolicies,
  roles: readonly string[],
  purpose: string,
  resource: string,
  action: Action,
): CompiledGrant[] {
  const mask = (g: CompiledGrant) => (action === 'read' ? g.read : action === 'update' ? g.update : g.create);
  return heldOnce(roles.flatMap((role) => compiled.grants.get(grantKey(role, purpose, resource)) ?? [])).filter((g) => mask(g) !== 0n);
}

function mayHideRows(purpose: CompiledPurpose, grants: readonly PlannedGrant[], restrictions: readonly PlannedRestriction[]): boolean {
  const { consent, optOut } = purpose.def;
  if (consent === 'required' || optOut === 'respect') return true;
  if (restrictions.some((r) => r.restriction.record)) return true;
  return !grants.some((g) => g.grant.where === undefined);
}

/**
 * The roles a roles claim grants: an array of strings or one string; none
 * when it is missing. Any other shape (a number, an empty name, a list with
 * a non-string) is `undefined`, refused by every entry point, because
 * guessing at a malformed roles claim could widen access.
 *
 * @example
 * rolesFrom('nurse'); // ['nurse']
 * rolesFrom(['nurse', 7]); // undefined
 */
export function rolesFrom(value: unknown): string[] | undefined {
  if (value === undefined) return [];
  const list: unknown[] = Array.isArray(value) ? value : [value];
  if (!list.every((r): r is string => typeof r === 'string' && r.length > 0)) return undefined;
  return [...new Set(list)];
}

/**
 * The user's roles as `rolesFrom` reads the `roles` claim; a malformed claim counts as none.
 *
 * @example
 * rolesOf({ sub: 'u1', roles: 'gp' }); // ['gp']
 */
export function rolesOf(user: UserClaims): string[] {
  return rolesFrom(user['roles']) ?? [];
}

/**
 * Whether a restriction's `unless` covers the roles and purpose: every key it
 * gives must be satisfied, so roles and purposes together narrow it. The
 * roles are those whose grants apply: for a record, the roles whose grants
 * matched it (a safeguarding lead's exemption does not follow a GP's grant
 * because the same person also holds the lead's role); for `explain`, the
 * roles with a grant for the purpose and resource. A grant held through
 * inheritance counts for the role that wrote it (`CompiledGrant.role`): a
 * role inheriting the lead's role is exempt where the lead's grants let it
 * see the row, and holding C that inherits P is holding C and P
 * (docs/policy-language.md, "Roles"). The engine and `explain`
 * both ask this, so what `explain` shows is what happens.
 *
 * @example
 * isExempt(dvAddress, ['safeguarding-lead'], 'safeguarding'); // true
 */
export function isExempt(r: CompiledRestriction, roles: readonly string[], purpose: string): boolean {
  if (!r.unlessRoles && !r.unlessPurposes) return false;
  const byRole = !r.unlessRoles || roles.some((role) => r.unlessRoles!.has(role));
  const byPurpose = !r.unlessPurposes || r.unlessPurposes.has(purpose);
  return byRole && byPurpose;
}

const trainingDate = z.union([z.iso.date(), z.iso.datetime({ offset: true })]);

/**
 * Caldicott 5: only people aware of their responsibilities see personal
 * data. The `training` claim must be an ISO date or timestamp, not older than
 * `maxAgeDays` and not in the future: a date still to come attests nothing
 * (one day of grace for time zones). Age is counted in whole UTC days, so
 * training on 2025-06-01 with a limit of 365 days holds through 2026-06-01
 * and has expired on 2026-06-02. See docs/identity.md.
 *
 * @example
 * trainingRefusal('2020-01-01', new Date('2026-06-01'), 365); // { code: 'training_expired', … }
 * trainingRefusal('2026-01-15', new Date('2026-06-01'), 365); // undefined
 */
export function trainingRefusal(claim: unknown, now: Date, maxAgeDays: number): Refusal | undefined {
  const trained = trainingDay(claim);
  if (trained === undefined) {
    return {
      code: 'training_missing',
      message: 'Your token carries no valid confidentiality training date (claim "training", an ISO date)',
    };
  }
  const days = utcDay(now) - trained;
  if (days < -1) {
    return {
      code: 'training_missing',
      message: 'Your confidentiality training date lies in the future; ask your identity provider to correct it',
    };
  }
  if (days > maxAgeDays) {
    return {
      code: 'training_expired',
      message: `Your confidentiality training is older than ${maxAgeDays} days: renew it to see personal data`,
    };
  }
  return undefined;
}

/**
 * Whether a value is a Date holding a real instant (`new Date('nope')` does not).
 *
 * @example
 * isValidDate(new Date('nope')); // false
 */
export function isValidDate(d: unknown): d is Date {
  return d instanceof Date && !Number.isNaN(d.getTime());
}

/** Longest confidentiality-training age any entry point accepts: ten years. */
export const TRAINING_MAX_AGE_DAYS_LIMIT = 3650;

/**
 * What is wrong with a training-age limit, or `undefined`: a whole number of
 * days from 1 to 3650. NaN or Infinity would let training from any year pass
 * (Caldicott 5). The engine, the middleware and the gateway configuration all ask this.
 *
 * @example
 * trainingMaxAgeProblem(Number.NaN); // 'must be a whole number of days from 1 to 3650'
 */
export function trainingMaxAgeProblem(days: unknown): string | undefined {
  return typeof days === 'number' && Number.isInteger(days) && days >= 1 && days <= TRAINING_MAX_AGE_DAYS_LIMIT
    ? undefined
    : `must be a whole number of days from 1 to ${TRAINING_MAX_AGE_DAYS_LIMIT}`;
}

/** Training claims already read → their UTC day (`undefined`: not an ISO date); bounded, cleared when full. */
const trainingDays = new Map<string, number | undefined>();

/** The UTC day of a training claim, or `undefined` when it is not an ISO date or timestamp. The same claim recurs on every request of a token: read once. */
function trainingDay(claim: unknown): number | undefined {
  if (typeof claim !== 'string') return undefined;
  if (trainingDays.has(claim)) return trainingDays.get(claim);
  const parsed = trainingDate.safeParse(claim);
  const day = parsed.success ? utcDay(new Date(parsed.data)) : undefined;
  if (trainingDays.size >= 1024) trainingDays.clear();
  trainingDays.set(claim, day);
  return day;
}

/** The last day `isoDay` wrote: requests of one day share it. */
let lastDay = { day: Number.NaN, text: '' };

/** The UTC date of an instant as `YYYY-MM-DD`, as `toISOString().slice(0, 10)` writes it, worked out once a day. */
function isoDay(now: Date): string {
  const day = utcDay(now);
  if (day !== lastDay.day) lastDay = { day, text: now.toISOString().slice(0, 10) };
  return lastDay.text;
}

function utcDay(d: Date): number {
  return Math.floor(d.getTime() / DAY_MS);
}

/**
 * Characters a reader does not see: format and control characters, spaces,
 * combining marks (accents and variation selectors over nothing), and the
 * blank letters and symbols (Hangul fillers, the blank braille pattern).
 */
const INVISIBLE = /[\p{Cf}\p{Cc}\p{Z}\p{M}\u115F\u1160\u3164\uFFA0\u2800]/gu;

/**
 * Caldicott 7: a break-glass declaration must say why, in at least 10
 * visible characters (invisible format characters and spaces do not count)
 * and at most 1000 after trimming, as plain text on one line. A declaration
 * present but empty is refused too: the caller tried to break glass without
 * a reason. A reason with a control character (a tab, a newline, U+0085,
 * U+2028, a bidirectional override: the set of `withoutControls`) is refused,
 * not cleaned: it is the user's own account for the guardian, kept as
 * written or not at all. Every entry point (engine, CLI, middleware, gateway)
 * asks this one function.
 *
 * @example
 * breakGlassReasonRefusal('urgent'); // { code: 'break_glass_refused', … }
 * breakGlassReasonRefusal('Unconscious\npatient in A&E'); // { code: 'break_glass_malformed', … }
 */
export function breakGlassReasonRefusal(reason: string): Refusal | undefined {
  if (withoutControls(reason) !== reason) {
    return {
      code: 'break_glass_malformed',
      message: 'A break-glass reason (X-Break-Glass) must be plain text on one line: no tabs or control characters',
    };
  }
  const trimmedReason = reason.trim();
  // Only what a reader sees counts: twelve soft hyphens (U+00AD) or zero-width spaces say nothing.
  if (trimmedReason.replace(INVISIBLE, '').length < BREAK_GLASS_MIN_REASON) {
    return {
      code: 'break_glass_refused',
      message: `A break-glass declaration (X-Break-Glass) needs a reason of at least ${BREAK_GLASS_MIN_REASON} characters saying why emergency access is needed`,
    };
  }
  if (trimmedReason.length > BREAK_GLASS_MAX_REASON) {
    return {
      code: 'break_glass_refused',
      message: `A break-glass reason (X-Break-Glass) must be at most ${BREAK_GLASS_MAX_REASON} characters`,
    };
  }
  return undefined;
}

/**
 * Caldicott 7: a break-glass purpose asked for with no reason at all is
 * refused (`break_glass_required`), in the same words whatever named the
 * purpose: `X-Purpose`, or a token whose purpose of use selected it
 * (src/http/purpose-of-use.ts). The message names the policy's purpose,
 * never the caller's text. A reason given is judged by `breakGlassReasonRefusal`.
 *
 * @example
 * breakGlassReasonMissing(undefined, 'emergency-care'); // { code: 'break_glass_required', message: 'purpose "emergency-care" is break-glass only: …' }
 * breakGlassReasonMissing('Unconscious patient in A&E', 'emergency-care'); // undefined
 */
export function breakGlassReasonMissing(reason: string | undefined, purpose: string): Refusal | undefined {
  if (reason !== undefined) return undefined;
  return { code: 'break_glass_required', message: `purpose "${purpose}" is break-glass only: declare a reason (X-Break-Glass)` };
}

/**
 * The decision a plan starts from, before any record is looked at: who asked,
 * for what, under which policy version. Redaction and the write check fill it.
 */
export function planDecision(plan: Plan): Decision {
  return emptyDecision({
    action: plan.action,
    resource: plan.resource.name,
    purpose: plan.purpose.name,
    roles: plan.roles,
    policyVersion: plan.policyVersion,
    breakGlass: plan.ctx.breakGlass,
  });
}

/**
 * The decision for a request refused before any record was looked at.
 *
 * @example
 * throw new AccessError('filter_forbidden', message, refusedDecision(compiled, plan.ctx, plan.action, plan.roles, 'filter_forbidden'));
 */
export function refusedDecision(
  compiled: CompiledPolicies,
  ctx: RequestContext,
  action: Action,
  roles: string[],
  code: ErrorCode,
): Decision {
  return asRefusal(
    {
      action,
      resource: String(ctx.resource),
      purpose: String(ctx.purpose),
      roles,
      policyVersion: compiled.version,
      breakGlass: ctx.breakGlass,
    },
    code,
  );
}
