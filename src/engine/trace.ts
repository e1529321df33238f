import type { CompiledGrant, CompiledPolicies, CompiledRestriction } from './compile.js';
import { fieldVerdict } from './explain.js';
import { AccessError } from './access-error.js';
import type { AccessCode } from '../lib/errors.js';
import type { FieldClass } from '../policy/schema.js';
import { isPlainObject } from '../lib/paths.js';
import {
  grantsFor,
  planRequest,
  type GateName,
  type GateOutcome,
  type Plan,
  type PlanOptions,
  type PlannedGrant,
  type PlannedRestriction,
  type RequestContext,
} from './plan.js';
import { assertRedactable, assertRowReadable, gateReason, visibleFields, type RowObserver } from './redact.js';
import { on, requestGateDetail, rowGateDetail, traceRoles, unusable } from './trace-detail.js';

/**
 * One decision, step by step (docs/cli.md, "redact --trace"): for this user,
 * purpose and record (or list), each gate in the order the engine applies
 * it, each grant of the user's roles (matched, or why not), each
 * restriction (fired, exempt and by what, not fired), each declared field
 * (in, out or transformed, and the rule that decided), and the outcome,
 * which is the one `redact` gives. Every step is told by the engine's own
 * functions as they decide (plan.ts `planRequest`, redact.ts `gateReason`
 * and `visibleFields`, explain.ts `fieldVerdict`); nothing here decides.
 *
 * It carries names only: fields, grants, restrictions, purposes, the roles
 * the policy set defines (others the roles claim holds are counted) and the
 * NAMES of claims, never a record value or a claim's value (a row is known
 * by its index in the input, not its id, which is a value).
 */
export interface Trace {
  action: 'read';
  resource: string;
  purpose: string;
  /** The roles of the user's `roles` claim that the policy set defines. */
  roles: string[];
  /** How many other names the `roles` claim holds: claim values, counted and never told. */
  rolesNotInPolicySet: number;
  policyVersion: string;
  /** A record (one object) or a list (an array, one trace per row). */
  input: 'record' | 'list';
  /** Whether a break-glass reason was declared (the reason itself is never traced). */
  breakGlass: boolean;
  /** The request's gates up to the first refusal: those after it are never checked, so not listed. */
  gates: TraceGate[];
  /** One per row, in input order (one for a record); none when a request gate refused. */
  rows: TraceRow[];
  /** As `redact` decides: a single record no grant lets through is `refused` with `record_withheld`; a list never is. */
  outcome: 'disclosed' | 'refused';
  code?: AccessCode;
  /** The refusal's message, as `redact` throws it. */
  message?: string;
  /** The first cause of a refusal, in words: `grant gp#0 did not match: missing claim user.practice`. */
  cause?: string;
}

export interface TraceGate {
  gate: GateName;
  outcome: GateOutcome;
  detail: string;
}

export interface TraceGrant {
  /** `role#index`, as decisions record it. */
  grant: string;
  role: string;
  matched: boolean;
  /** Why it did not match: `missing claim user.practice`, `condition false on careTeam`, or that it was not tried. */
  why?: string;
  /** For a grant held through inheritance: the chain of roles it came through, the holding role first. */
  inheritedVia?: string[];
}

export interface TraceRestriction {
  restriction: string;
  /** `record`, or the field paths it withholds. */
  withholds: 'record' | string[];
  outcome: 'fired' | 'exempt' | 'not-fired' | 'not-evaluated';
  detail: string;
}

export interface TraceField {
  field: string;
  class: FieldClass;
  status: 'in' | 'out' | 'transformed';
  /** The transform, when `transformed`. */
  transform?: string;
  /** What decided: `grant gp#0`, `restriction dv-address`, `not in the view of purpose …`, `no grant matched`… */
  rule: string;
}

export interface TraceRow {
  /** Position in the input (0 for a record). */
  index: number;
  outcome: 'disclosed' | 'withheld';
  /** Why a withheld row is withheld, as the decision's `rowReasons` count it: `no-grant`, `opt-out`, `consent`, `restriction:<name>`, `not-a-record`. */
  reason?: string;
  /** The row's own gates: national data opt-out, then consent. */
  gates: TraceGate[];
  grants: TraceGrant[];
  restrictions: TraceRestriction[];
  fields: TraceField[];
}

/**
 * Trace the decision `redact` makes for `input` (a record or a list) and a
 * request. Throws what `redact` throws before deciding anything (an unknown
 * resource, an input that is neither a record nor a list, one nested too
 * deep); a refusal is not thrown but traced, with its code and first cause.
 *
 * @example
 * const trace = traceDecision(policies.compiled, record, ctx, { trainingMaxAgeDays: 365 });
 * trace.rows[0]?.grants; // [{ grant: 'gp#0', role: 'gp', matched: false, why: 'missing claim user.practice' }]
 */
export function traceDecision(compiled: CompiledPolicies, input: unknown, ctx: RequestContext, opts: PlanOptions): Trace {
  const single = !Array.isArray(input);
  const { roles, notInPolicySet } = traceRoles(compiled, ctx.user);
  const trace: Trace = {
    action: 'read',
    resource: String(ctx.resource),
    purpose: typeof ctx.purpose === 'string' ? ctx.purpose : '',
    roles,
    rolesNotInPolicySet: notInPolicySet,
    policyVersion: compiled.version,
    input: single ? 'record' : 'list',
    breakGlass: ctx.breakGlass !== undefined,
    gates: [],
    rows: [],
    outcome: 'disclosed',
  };
  let plan: Plan;
  try {
    plan = planRequest(compiled, ctx, 'read', opts, (gate, outcome, refusal) => {
      trace.gates.push({ gate, outcome, detail: requestGateDetail(compiled, ctx, opts, gate, outcome, refusal) });
    });
  } catch (e) {
    if (!(e instanceof AccessError)) throw e;
    const refusedGate = trace.gates.find((g) => g.outcome === 'refused');
    return refused(trace, e, refusedGate ? `gate ${refusedGate.gate} refused` : e.message);
  }
  // The same input checks as redact, in the same order: what redact refuses unread, the trace does not read either.
  assertRedactable(input, single);
  const rows: unknown[] = single ? [input] : (input as unknown[]);
  const candidates = grantsFor(compiled, plan.roles, plan.purpose.name, plan.resource.name, 'read');
  rows.forEach((row, index) => {
    if (!single) assertRowReadable(plan, row);
    trace.rows.push(traceRow(compiled, plan, candidates, row, index));
  });
  const first = trace.rows[0];
  if (single && first?.outcome === 'withheld') {
    const message = `No ${plan.resource.name} record you may see for purpose "${plan.purpose.name}"`;
    return refused(trace, new AccessError('record_withheld', message), rowCause(first));
  }
  return trace;
}

function refused(trace: Trace, e: AccessError, cause: string): Trace {
  trace.outcome = 'refused';
  trace.code = e.code;
  trace.message = e.message;
  trace.cause = cause;
  return trace;
}

/** One row, told by the engine's row functions as they decide it. */
function traceRow(compiled: CompiledPolicies, plan: Plan, candidates: readonly CompiledGrant[], row: unknown, index: number): TraceRow {
  const out: TraceRow = { index, outcome: 'withheld', gates: [], grants: [], restrictions: [], fields: [] };
  const allRestrictions = compiled.restrictions.get(plan.resource.name) ?? [];
  const withheldWhole = (reason: string, why: string): TraceRow => {
    out.reason = reason;
    out.grants = candidates.map((g) => ({ grant: g.label, role: g.role, matched: false, why: `not tried: ${why}` }));
    out.restrictions = allRestrictions.map((r) => restrictionTrace(r, 'not-evaluated', `not evaluated: ${why}`));
    out.fields = fieldsOut(plan, why);
    return out;
  };
  if (!isPlainObject(row)) return withheldWhole('not-a-record', 'the row is not a record');
  // redact asks gateReason only when the purpose has a row gate; asked always, it tells each gate as not applicable.
  const gate = gateReason(plan, row, (name, outcome) =>
    out.gates.push({ gate: name, outcome, detail: rowGateDetail(plan, name, outcome) }),
  );
  if (gate !== undefined) return withheldWhole(gate, `withheld by gate ${gate}`);

  const matched = new Map<CompiledGrant, boolean>();
  const seen = new Map<CompiledRestriction, { outcome: 'exempt' | 'not-fired' | 'fired' | 'odd-shape'; roles: readonly string[] }>();
  const observer: RowObserver = {
    grant: (g: PlannedGrant, m: boolean) => matched.set(g.grant, m),
    restriction: (r: PlannedRestriction, outcome, roles) => seen.set(r.restriction, { outcome, roles }),
  };
  const decided = visibleFields(plan, row, [], observer);

  out.grants = candidates.map((g): TraceGrant => {
    const m = matched.get(g);
    const via = g.inheritedVia ? { inheritedVia: [...g.inheritedVia] } : {};
    if (m === true) return { grant: g.label, role: g.role, ...via, matched: true };
    // A grant the plan holds no rule for: its condition could not be filled from this user's claims.
    const why = m === false ? `condition false${on(g.where?.reads)}` : unusable(g.where, plan.ctx.user);
    return { grant: g.label, role: g.role, ...via, matched: false, why };
  });
  const planned = new Set(plan.restrictions.map((r) => r.restriction));
  out.restrictions = allRestrictions.map((r) => {
    // The plan drops a restriction that exempts every row of this purpose (an `unless` of purposes alone).
    if (!planned.has(r)) return restrictionTrace(r, 'exempt', `exempt by purpose ${plan.purpose.name}`);
    const s = seen.get(r);
    if (s === undefined) return restrictionTrace(r, 'not-evaluated', 'not evaluated: no grant matched');
    if (s.outcome === 'exempt') {
      const byRoles = s.roles.filter((role) => r.unlessRoles?.has(role));
      const byPurpose = r.unlessPurposes ? ` and purpose ${plan.purpose.name}` : '';
      return restrictionTrace(r, 'exempt', `exempt by role ${[...new Set(byRoles)].join(', ')}${byPurpose}`);
    }
    if (s.outcome === 'not-fired') return restrictionTrace(r, 'not-fired', `condition false${on(r.when?.reads)}`);
    if (s.outcome === 'odd-shape')
      return restrictionTrace(r, 'fired', `a marker${on(r.when?.reads)} has a shape the condition does not expect: fired, failing closed`);
    if (r.when === undefined) return restrictionTrace(r, 'fired', 'fires on every record');
    if (r.when.resolve(plan.ctx.user) === undefined)
      return restrictionTrace(r, 'fired', `${unusable(r.when, plan.ctx.user)}: fired, failing closed`);
    return restrictionTrace(r, 'fired', `condition true${on(r.when.reads)}`);
  });

  if (typeof decided === 'string') {
    out.reason = decided;
    const why = decided === 'no-grant' ? 'no grant matched' : `restriction ${decided.slice('restriction:'.length)} withholds the record`;
    out.fields = fieldsOut(plan, why);
    return out;
  }
  out.outcome = 'disclosed';
  const grants = candidates.filter((g) => matched.get(g) === true);
  const firedFields = allRestrictions.filter(
    (r) => !r.record && (seen.get(r)?.outcome === 'fired' || seen.get(r)?.outcome === 'odd-shape'),
  );
  out.fields = plan.resource.paths.map((field): TraceField => {
    const bit = plan.resource.bits.get(field)!;
    const cls = plan.resource.classes.get(field)!;
    const verdict = fieldVerdict(plan.resource, plan.view, grants, field);
    if ((decided.mask & bit) !== 0n) {
      // In the mask visibleFields made: the grants that read it say why (explain's rule, for the grants that matched).
      const by = verdict.status === 'withheld' ? [] : verdict.grants.map((g) => g.label);
      const rule = `grant ${by.join(', ')}`;
      return verdict.status === 'transformed'
        ? { field, class: cls, status: 'transformed', transform: verdict.transform, rule: `${rule}, view transform ${verdict.transform}` }
        : { field, class: cls, status: 'in', rule };
    }
    const restriction = firedFields.find((r) => (r.mask & bit) !== 0n);
    const rule =
      verdict.status !== 'withheld' && restriction
        ? `restriction ${restriction.name}`
        : verdict.status === 'withheld' && verdict.by === 'view'
          ? `not in the view of purpose ${plan.purpose.name}`
          : `not granted by the grants that matched (${grants.map((g) => g.label).join(', ')})`;
    return { field, class: cls, status: 'out', rule };
  });
  return out;
}

function fieldsOut(plan: Plan, rule: string): TraceField[] {
  return plan.resource.paths.map((field) => ({ field, class: plan.resource.classes.get(field)!, status: 'out', rule }));
}

function restrictionTrace(r: CompiledRestriction, outcome: TraceRestriction['outcome'], detail: string): TraceRestriction {
  return { restriction: r.name, withholds: r.record ? 'record' : [...r.fields], outcome, detail };
}

/** The first cause of a single record's refusal, from its row. */
function rowCause(row: TraceRow): string {
  const reason = row.reason ?? '';
  if (reason === 'opt-out' || reason === 'consent') {
    const gate = row.gates.find((g) => g.gate === reason);
    return `gate ${reason} refused: ${gate?.detail ?? reason}`;
  }
  if (reason.startsWith('restriction:')) {
    const name = reason.slice('restriction:'.length);
    const r = row.restrictions.find((x) => x.restriction === name);
    return `restriction ${name} withholds the whole record: ${r?.detail ?? 'fired'}`;
  }
  const first = row.grants.find((g) => !g.matched);
  return first ? `grant ${first.grant} did not match: ${first.why}` : 'no grant matched';
}
