import type { ErrorCode } from '../lib/error-codes.js';

/**
 * What the engine decided for one request, with its reasoning, and never a
 * record value. The audit trail stores it; `explain` and `test` print it.
 *
 * @example
 * const { decision } = policies.redact(record, ctx);
 * decision.withheld; // ['address', 'telecom']
 */
export interface Decision {
  outcome: 'disclosed' | 'refused';
  /** The refusal's error code, when refused. */
  code?: ErrorCode;
  action: 'read' | 'create' | 'update';
  resource: string;
  purpose: string;
  /** The user's roles that took part (all held roles, or the acting role). */
  roles: string[];
  /** Declared field paths disclosed in at least one row. */
  disclosed: string[];
  /** Declared field paths withheld from at least one row. */
  withheld: string[];
  /** For writes: the body's field paths, all of them permitted. */
  written?: string[];
  /** Field path → transform applied. */
  transforms: Record<string, string>;
  /** Names of the restrictions that fired. */
  restrictions: string[];
  /** Grants that matched, as `role#index`. */
  grants: string[];
  /**
   * Ids of the rows returned, as found at the resource's id path (arrays
   * walked: a row whose id path holds several ids contributes each of them).
   */
  recordIds: string[];
  /** Ids of the rows withheld whole. */
  withheldRecordIds: string[];
  /**
   * Ids of the people the rows returned are about, as found at the
   * resource's `subject` path (arrays walked; only strings and numbers;
   * none when the resource declares no subject path).
   */
  subjectIds: string[];
  /** Ids of the people the rows withheld whole are about. */
  withheldSubjectIds: string[];
  rowsReturned: number;
  rowsWithheld: number;
  /** Why rows were withheld: reason → count (no-grant, opt-out, consent, restriction:<name>). */
  rowReasons: Record<string, number>;
  breakGlass?: string;
  policyVersion: string;
}

/** What a decision is about, before anything is decided. */
export interface DecisionStart {
  action: Decision['action'];
  resource: string;
  purpose: string;
  roles: string[];
  policyVersion: string;
  /** The declared break-glass reason, if any: kept trimmed, ignored unless text. */
  breakGlass?: unknown;
}

/**
 * What every decision starts from before a row is looked at: nothing
 * disclosed, nothing withheld. The engine's reads and writes and the HTTP
 * shells' refusals all build on it, so a decision has one shape wherever it
 * was made. A break-glass reason is kept trimmed, as declared. It is
 * disclosed until something refuses it (`asRefusal`).
 */
export function emptyDecision(d: DecisionStart): Decision {
  const decision: Decision = {
    outcome: 'disclosed',
    action: d.action,
    resource: d.resource,
    purpose: d.purpose,
    roles: d.roles,
    disclosed: [],
    withheld: [],
    transforms: {},
    restrictions: [],
    grants: [],
    recordIds: [],
    withheldRecordIds: [],
    subjectIds: [],
    withheldSubjectIds: [],
    rowsReturned: 0,
    rowsWithheld: 0,
    rowReasons: {},
    policyVersion: d.policyVersion,
  };
  if (typeof d.breakGlass === 'string') decision.breakGlass = d.breakGlass.trim();
  return decision;
}

/**
 * A refusal with `code`: from a start (refused before any record was looked
 * at) or from a decision made so far (what the write named, the hidden
 * record's ids), which keeps its reasoning and takes the refusal's outcome.
 *
 * @example
 * asRefusal({ action: 'read', resource: 'Patient', purpose: 'x', roles: ['gp'], policyVersion: 'a1b2' }, 'purpose_unknown');
 * asRefusal({ ...writeSoFar, withheld: ['nhsNumber'] }, 'write_forbidden');
 */
export function asRefusal(from: DecisionStart | Decision, code: ErrorCode): Decision {
  const { outcome: _outcome, code: _code, ...rest } = isDecision(from) ? from : emptyDecision(from);
  return { outcome: 'refused', code, ...rest };
}

/**
 * Fold one row's decision into a list's (`into`, returned): unions of names
 * and subjects, sums of counts, record ids in row order. A list redacted row by row is recorded
 * as one decision.
 *
 * @example
 * const list = rows.reduce((into, row) => mergeDecision(into, redactWith(plan, [row]).decision), redactWith(plan, []).decision);
 */
export function mergeDecision(into: Decision, d: Decision): Decision {
  const union = (a: string[], b: string[]) => {
    for (const x of b) if (!a.includes(x)) a.push(x);
  };
  union(into.disclosed, d.disclosed);
  union(into.withheld, d.withheld);
  union(into.restrictions, d.restrictions);
  union(into.grants, d.grants);
  Object.assign(into.transforms, d.transforms);
  into.recordIds.push(...d.recordIds);
  into.withheldRecordIds.push(...d.withheldRecordIds);
  union(into.subjectIds, d.subjectIds);
  union(into.withheldSubjectIds, d.withheldSubjectIds);
  into.rowsReturned += d.rowsReturned;
  into.rowsWithheld += d.rowsWithheld;
  for (const [reason, n] of Object.entries(d.rowReasons)) into.rowReasons[reason] = (into.rowReasons[reason] ?? 0) + n;
  return into;
}

function isDecision(d: DecisionStart | Decision): d is Decision {
  return 'outcome' in d && 'disclosed' in d;
}
