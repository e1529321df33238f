import type { PolicyIssue } from '../lib/errors.js';
import type { CompiledPolicies } from './compile.js';
import { accessChanges } from './diff-access.js';
import { purposeChanges, resourceChanges } from './diff-purposes.js';
import { restrictionChanges } from './diff-restrictions.js';
import type { ChangeEffect, DiffAction, PolicyChange } from './diff-change.js';

export type { ChangeEffect, ChangeKind, DiffAction, PolicyChange } from './diff-change.js';

/**
 * What a policy change does to disclosure, field by field (docs/cli.md,
 * "diff"): the review an admin or the Caldicott Guardian reads before a
 * change is merged. Worked out from the compiled sets, so what is compared is
 * what the engine enforces: grants as masks within their views, inherited
 * grants included, conditions as written (by canonical JSON, never by text).
 */

/** The review of a change from one policy set to another. */
export interface PolicyDiff {
  /** True when any change widens access: `fieldmesh diff` then exits 1 unless `--allow-widening`. */
  widened: boolean;
  summary: Record<ChangeEffect, number>;
  /** Sorted by resource, purpose, role, action and kind, new warnings last: the same sets always give the same list. */
  changes: PolicyChange[];
}

/** A policy set as `diffPolicies` compares it: a `PolicySet` from `loadPolicies` is one. */
export interface DiffSide {
  readonly compiled: CompiledPolicies;
  /** The warnings `check` gives for this set, to list those only the newer set has. */
  readonly warnings: readonly PolicyIssue[];
}

export interface DiffOptions {
  /** The clock for review dates: a purpose past it is expired (default: now). */
  now?: Date;
}

/**
 * Compare two policy sets and list, per resource × purpose × role, what the
 * newer one discloses that the older did not and the other way round.
 *
 * @example
 * const before = await loadPolicies('./old-policies');
 * const after = await loadPolicies('./policies');
 * const diff = diffPolicies(before, after);
 * if (diff.widened) console.log(diff.changes.filter((c) => c.effect === 'widening').map((c) => c.message));
 */
export function diffPolicies(before: DiffSide, after: DiffSide, opts: DiffOptions = {}): PolicyDiff {
  const now = opts.now ?? new Date();
  if (Number.isNaN(now.getTime())) throw new TypeError('diffPolicies: now must be a valid Date');
  const changes = [
    ...resourceChanges(before.compiled, after.compiled),
    ...purposeChanges(before.compiled, after.compiled, now.toISOString().slice(0, 10)),
    ...accessChanges(before.compiled, after.compiled),
    ...restrictionChanges(before.compiled, after.compiled),
    ...lintChanges(before.warnings, after.warnings),
  ]
    .map(inOrder)
    .sort(byScope);
  const summary: Record<ChangeEffect, number> = { widening: 0, narrowing: 0, neutral: 0 };
  for (const c of changes) summary[c.effect]++;
  return { widened: summary.widening > 0, summary, changes };
}

/**
 * Warnings only the newer set has. They are matched by path and message, not
 * file: the two sets usually live in different directories.
 */
function lintChanges(before: readonly PolicyIssue[], after: readonly PolicyIssue[]): PolicyChange[] {
  const key = (i: PolicyIssue) => `${i.severity}\0${i.path}\0${i.message}`;
  const known = new Set(before.map(key));
  return after
    .filter((i) => !known.has(key(i)))
    .map((i) => ({ kind: 'lint-worse', effect: 'neutral', after: i, message: `new ${i.severity}: ${i.path}: ${i.message}` }));
}

const KEYS = [
  'kind',
  'effect',
  'reviewNeeded',
  'resource',
  'purpose',
  'role',
  'action',
  'restriction',
  'fields',
  'before',
  'after',
  'message',
] as const;
// Fails to compile when PolicyChange gains a key KEYS does not list: inOrder would drop it.
const everyKey: Exclude<keyof PolicyChange, (typeof KEYS)[number]> extends never ? true : never = true;
void everyKey;

/** The same keys in the same order in every change, so the JSON reads alike from one change to the next. */
function inOrder(change: PolicyChange): PolicyChange {
  const out: Record<string, unknown> = {};
  for (const key of KEYS) if (change[key] !== undefined) out[key] = change[key];
  return out as unknown as PolicyChange;
}

const ACTIONS: readonly (DiffAction | undefined)[] = [undefined, 'read', 'update', 'create'];

function byScope(a: PolicyChange, b: PolicyChange): number {
  return (
    Number(a.kind === 'lint-worse') - Number(b.kind === 'lint-worse') ||
    cmp(a.resource, b.resource) ||
    cmp(a.purpose, b.purpose) ||
    cmp(a.role, b.role) ||
    ACTIONS.indexOf(a.action) - ACTIONS.indexOf(b.action) ||
    cmp(a.restriction, b.restriction) ||
    cmp(a.kind, b.kind) ||
    cmp(a.message, b.message)
  );
}

/** Absent scopes first (a purpose as a whole before its views, a resource as a whole before its purposes), then by name. */
function cmp(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  return a < b ? -1 : 1;
}
