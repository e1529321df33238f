import { compilePolicies, maskOf, pathsOf, type CompiledPolicies } from './compile.js';
import type { Decision } from './decision.js';
import { PolicyError, type PolicyIssue } from '../lib/errors.js';
import { explainView, type Explanation, type ExplainQuery } from './explain.js';
import { analysePolicies, readPolicyDirectory, type PolicySource } from '../policy/load.js';
import { isWithin, longestPrefix } from '../lib/paths.js';
import { ProjectionCache, redactWithPlan } from './redact.js';
import { isValidDate, planRequest, trainingMaxAgeProblem, type Action, type Plan, type RequestContext, type UserClaims } from './plan.js';
import { checkWriteWithPlan } from './write.js';
import { abilityFor, type AbilityOptions, type PolicyAbility } from './ability.js';
import { traceDecision, type Trace } from './trace.js';
import { AccessError } from './access-error.js';
import { checkedKey } from '../lib/keys.js';
import { DROP, makeTransform } from './transforms.js';
import { FieldmeshError } from '../lib/errors.js';

export interface PolicyOptions {
  /** Key of the `pseudonym` transform (configuration, never policy files). */
  pseudonymKey?: string | Buffer | undefined;
  /** Caldicott 5: training older than this gets no personal data (default 365). */
  trainingMaxAgeDays?: number | undefined;
  /** The clock for load-time warnings such as a passed review date (default: now). */
  now?: Date | undefined;
}

/**
 * A loaded, checked and compiled policy set: the engine. Pure: it knows no
 * HTTP, files or audit; every shell calls it.
 *
 * @example
 * const policies = await loadPolicies('./policies', { pseudonymKey: process.env.FIELDMESH_PSEUDONYM_KEY });
 * const { data, decision } = policies.redact(record, { resource: 'Patient', purpose: 'direct-care', user });
 */
export class PolicySet {
  readonly version: string;
  readonly warnings: PolicyIssue[];
  readonly compiled: CompiledPolicies;
  private readonly projections: ProjectionCache;
  private readonly trainingMaxAgeDays: number;
  private readonly pseudonymKey: string | Buffer | undefined;

  constructor(compiled: CompiledPolicies, warnings: PolicyIssue[], opts: PolicyOptions = {}) {
    this.compiled = compiled;
    this.version = compiled.version;
    this.warnings = warnings;
    this.projections = new ProjectionCache(opts.pseudonymKey);
    this.pseudonymKey = opts.pseudonymKey;
    checkedPolicyOptions(opts);
    this.trainingMaxAgeDays = opts.trainingMaxAgeDays ?? 365;
  }

  /**
   * The same compiled policies with another pseudonym key (and the same
   * training limit), compiled nothing again: fixture cases name the key their
   * expected pseudonyms were made with (docs/testing.md).
   *
   * @example
   * const forCases = policies.withPseudonymKey('fixture-pseudonym-key');
   */
  withPseudonymKey(pseudonymKey: string | Buffer): PolicySet {
    checkedKey('withPseudonymKey: pseudonymKey', pseudonymKey);
    return new PolicySet(this.compiled, this.warnings, { pseudonymKey, trainingMaxAgeDays: this.trainingMaxAgeDays });
  }

  /** Whether some purpose pseudonymises a field: then a pseudonym key is required. */
  get usesPseudonyms(): boolean {
    return this.compiled.usesPseudonyms;
  }

  resourceNames(): string[] {
    return [...this.compiled.resources.keys()];
  }

  /**
   * Redact one record (an object) or a list (an array) for a request.
   * Throws an `AccessError` (with its refused `decision`) when nothing may be disclosed.
   */
  redact(input: unknown, ctx: RequestContext): { data: unknown; decision: Decision } {
    return this.redactWith(this.plan(ctx, 'read'), input);
  }

  /** Check a request once (purpose, training, break-glass, grants) and build its ability. */
  plan(ctx: RequestContext, action: Action = 'read'): Plan {
    return planRequest(this.compiled, ctx, action, { trainingMaxAgeDays: this.trainingMaxAgeDays });
  }

  /** Redact with a plan made by `plan()`: the middleware plans before the handler runs. */
  redactWith(plan: Plan, input: unknown): { data: unknown; decision: Decision } {
    return redactWithPlan(plan, this.projections, input);
  }

  /**
   * Check a write body; throws `write_forbidden` naming the fields the user
   * may not write. An update needs `existing`, the stored record: a missing
   * or hidden one refuses as "No such record" (see checkWriteWith).
   */
  checkWrite(body: unknown, ctx: RequestContext & { action: 'create' | 'update'; existing?: unknown; replace?: boolean }): Decision {
    const readPlan = ctx.action === 'update' ? this.plan(ctx, 'read') : undefined;
    return this.checkWriteWith(this.plan(ctx, ctx.action), body, { existing: ctx.existing, readPlan, replace: ctx.replace });
  }

  /**
   * Check a write with plans made by `plan()` (docs/middleware.md, "Writes"): both shells
   * call this. An update reads the stored record with the request's read
   * plan exactly as a read would, so a record the caller may not see
   * answers as a missing one and fields a restriction withholds on it cannot
   * be written; a replace (PUT) needs update rights on every declared field.
   *
   * @example
   * const decision = policies.checkWriteWith(admitted.writePlan, body, { existing, readPlan: admitted.plan, replace: method === 'PUT' });
   */
  checkWriteWith(
    plan: Plan,
    body: unknown,
    opts: { existing?: unknown; readPlan?: Plan | undefined; replace?: boolean | undefined } = {},
  ): Decision {
    const { readPlan } = opts;
    const read = readPlan === undefined ? undefined : (record: unknown) => this.redactWith(readPlan, record).decision;
    return checkWriteWithPlan(plan, body, { existing: opts.existing, read, replace: opts.replace });
  }

  /**
   * Field paths a request may filter or sort by: readable in every row it can
   * see, untransformed, and never withheld by a restriction. Filtering by any
   * other field would let the caller infer a hidden value from which rows come back.
   */
  filterableFields(plan: Plan): string[] {
    let mask = plan.view.mask;
    for (const g of plan.grants) mask &= g.grant.read;
    for (const r of plan.restrictions) if (!r.restriction.record) mask &= ~r.restriction.mask;
    for (const path of plan.view.transforms.keys()) mask &= ~plan.resource.bits.get(path)!;
    return pathsOf(plan.resource, mask);
  }

  /**
   * Whether a query key (a field path) may be used to filter this request's
   * rows: only when the value at exactly that key is disclosed untransformed
   * in every row the request can see. For an identifiable purpose that
   * includes keys a record holds under a granted field (`name.text` under
   * `name`); a non-identifiable purpose's projection copies only declared
   * field paths (`careTeam.lead` under `careTeam` is dropped), so only those
   * may filter. Both shells ask this for query keys and route parameters.
   *
   * @example
   * policies.mayFilterBy(analystPlan, 'careTeam.lead'); // false: the output never shows it
   */
  mayFilterBy(plan: Plan, key: string): boolean {
    const allowed = this.filterableFields(plan);
    const unit = longestPrefix(plan.resource.paths, key);
    if (unit === undefined || !allowed.includes(unit)) return false;
    if (unit !== key && plan.view.declaredOnly) return false;
    return plan.resource.paths.filter((p) => isWithin(p, key)).every((p) => allowed.includes(p));
  }

  /**
   * Why every read with this plan is refused before any row is copied (a view
   * that pseudonymises, and no pseudonym key), or nothing: the refusal the
   * front-end ability carries (docs/front-end.md).
   */
  readRefusal(plan: Plan): FieldmeshError | undefined {
    return this.projections.keyMissing(plan.view, plan.purpose.name);
  }

  /**
   * The CASL ability of what this user may read of a resource for a purpose,
   * for a front end to hide what the server withholds (docs/front-end.md).
   *
   * @example
   * const ability = policies.abilityFor(user, 'direct-care', 'Patient');
   * ability.can('read', subject('Patient', record), 'address');
   */
  abilityFor(user: UserClaims, purpose: string, resource: string, opts: AbilityOptions = {}): PolicyAbility {
    return abilityFor(this, user, purpose, resource, opts);
  }

  /**
   * The decision `redact` makes for this input and request, step by step and
   * as JSON (docs/cli.md, "redact --trace"): each gate, each grant matched or
   * why not, each restriction fired, exempt or not, each field in, out or
   * transformed and what decided. Never a record value. A refusal is traced,
   * not thrown; whatever else `redact` throws is thrown alike: an unknown
   * resource, an input that is not a record or a list, no pseudonym key for a
   * purpose that pseudonymises (`pseudonym_key_missing`), a row nested too
   * deep to copy (`unredactable_body`).
   *
   * @example
   * const trace = policies.trace(record, { resource: 'Patient', purpose: 'direct-care', user: { sub: 'u1', roles: ['gp'], training: '2026-06-01' } });
   * trace.cause; // 'grant gp#0 did not match: missing claim user.practice'
   */
  trace(input: unknown, ctx: RequestContext): Trace {
    // A trace that says "disclosed" where redact throws would tell a person their set works when it cannot
    // answer. What redact throws besides a refusal is raised deep in its run (a projection built, a value
    // copied): asked of redact itself, not foreseen here, so no rule of when it throws is written twice.
    try {
      this.redact(input, ctx);
    } catch (e) {
      if (!(e instanceof AccessError)) throw e;
    }
    return traceDecision(this.compiled, input, ctx, { trainingMaxAgeDays: this.trainingMaxAgeDays });
  }

  /** For every declared field: disclosed, transformed or withheld, and the rule that decided. */
  explain(query: ExplainQuery): Explanation {
    return explainView(this.compiled, query);
  }

  /**
   * The pseudonym `redact` gives `value` under `purpose` with this set's key:
   * the same transform function, so a fixture can expect "the pseudonym of
   * pat-001" instead of a hex string. `undefined` for a value the transform
   * drops (an object, a list, null). Throws `pseudonym_key_missing` without a key.
   *
   * @example
   * policies.pseudonymOf('research', 'pat-001'); // '50e1e859…' (32 hex characters)
   */
  pseudonymOf(purpose: string, value: unknown): string | undefined {
    if (this.pseudonymKey === undefined || this.pseudonymKey.length === 0)
      throw new FieldmeshError('pseudonym_key_missing', `no pseudonym key is configured to compute pseudonyms for purpose "${purpose}"`);
    const out = makeTransform('pseudonym', { purpose, pseudonymKey: this.pseudonymKey, now: new Date(0) })(value);
    return out === DROP ? undefined : (out as string);
  }

  /** The bit mask of named fields of a resource (for tests and tools). */
  maskOf(resource: string, fields: string[]): bigint {
    return maskOf(this.compiled.resources.get(resource)!, fields);
  }
}

/**
 * Load a policy directory (README.md, "The engine on its own"). Throws a `PolicyError` that
 * lists every problem at once.
 */
export async function loadPolicies(dir: string, opts: PolicyOptions = {}): Promise<PolicySet> {
  return policiesFromSources(await readPolicyDirectory(dir), opts);
}

/**
 * Build a policy set from texts already read. Pure.
 */
export function policiesFromSources(sources: PolicySource[], opts: PolicyOptions = {}): PolicySet {
  // A key that is given is checked by the rule every entry point shares, before anything is pseudonymised with it.
  checkedKey('loadPolicies: pseudonymKey', opts.pseudonymKey === '' ? undefined : opts.pseudonymKey);
  checkedPolicyOptions(opts);
  const { document, issues } = analysePolicies(sources, opts.now ?? new Date());
  if (!document) throw new PolicyError(issues);
  return new PolicySet(compilePolicies(document), issues, opts);
}

/**
 * Refuse options that would make a rule answer at random: a training age that
 * is not a whole number of days from 1 to 3650 (NaN or Infinity would pass
 * training from any year) or a clock that is not a valid Date. The same rule
 * as the middleware's and the gateway's configuration (`trainingMaxAgeProblem`).
 *
 * @example
 * checkedPolicyOptions({ trainingMaxAgeDays: Number.NaN }); // throws TypeError
 */
function checkedPolicyOptions(opts: PolicyOptions): void {
  if (opts.trainingMaxAgeDays !== undefined) {
    const problem = trainingMaxAgeProblem(opts.trainingMaxAgeDays);
    if (problem !== undefined) throw new TypeError(`loadPolicies: trainingMaxAgeDays ${problem}`);
  }
  if (opts.now !== undefined && !isValidDate(opts.now)) throw new TypeError('loadPolicies: now must be a valid Date');
}
