import type { CompiledPolicies } from '../engine/compile.js';
import type { Decision } from '../engine/decision.js';
import type { PolicySet } from '../engine/policy-set.js';
import type { FieldClass } from '../policy/schema.js';
import type { FieldsSeen } from './fields-seen.js';

/**
 * How much of a policy set the fixture cases exercised, measured from the
 * engine's own decisions (docs/testing.md, "Coverage"). What counts as one
 * item, and when it is covered:
 *
 * - a grant (`role#i`): it matched a record in some case (its label is in a
 *   decision's `grants`: it let a row through, for reading or writing); a
 *   grant inherited by several roles is one item, covered through any of them;
 * - a purpose: some case asked for it (refused ones too: an expired purpose
 *   is proven by its refusal);
 * - a restriction, two items: it fired in some case, and it was seen not
 *   firing (or exempt) on a record otherwise disclosed: a read of its
 *   resource that returned rows without it among the restrictions fired;
 * - a declared field of class `identifier`, `direct` or `special`, two
 *   items: disclosed (transformed or not) when some read's output held it,
 *   and withheld when a record some read returned held it in its input and
 *   not in its output (the result's `fieldsSeen`, from run-case.ts: a
 *   decision lists what the grant allows, whether or not the record had
 *   it). A record withheld whole (a refusal, a row condition, a
 *   whole-record restriction) proves the row rule, which grants and
 *   restrictions measure, not the field rule. Paths a policy names under a
 *   declared field (`diagnoses.code` under `diagnoses`) are not items of
 *   their own.
 *
 * Coverage measures what the cases ran, as code coverage does, whether each
 * case passed or not: a failing case fails the run anyway.
 */
export type CoverageKind = 'grant' | 'restriction' | 'purpose' | 'field';

/** What was never seen, one per uncovered item. */
export interface CoverageGap {
  kind: CoverageKind;
  /** `gp#1`, `dv-address`, `research`, `Patient.nhsNumber`. */
  name: string;
  /** What the cases never showed it doing. */
  missing: 'matched' | 'fired' | 'not fired' | 'used' | 'disclosed' | 'withheld';
  /** The gap as printed: `field Patient.nhsNumber never withheld`. */
  message: string;
}

/** What coverage reads of a case's result: its decision, and for a read that returned rows, the fields it showed. */
export interface CoveredResult {
  readonly decision?: Decision | undefined;
  readonly fieldsSeen?: FieldsSeen | undefined;
}

/** Covered and total items, overall and per kind, with every gap. Plain data: it prints as JSON as it is. */
export interface Coverage {
  covered: number;
  total: number;
  /** covered / total × 100; 100 when there is nothing to cover. */
  percent: number;
  kinds: Record<CoverageKind, { covered: number; total: number }>;
  gaps: CoverageGap[];
}

/** The classes whose fields must be seen both disclosed and withheld: the ones that name a person or their health. */
export const COVERED_CLASSES: readonly FieldClass[] = ['identifier', 'direct', 'special'];

/**
 * The coverage of a policy set by the decisions of the cases run.
 * Throws a `TypeError` when a decision was made under another policy version.
 *
 * @example
 * const results = file.cases.map((c) => runCase(policies, records, file, c, name));
 * const coverage = coverageOf(policies, results);
 * coverage.gaps.map((g) => g.message); // ['grant gp#1 never matched (CaseNote, direct-care)', …]
 */
export function coverageOf(policies: PolicySet | CompiledPolicies, results: Iterable<CoveredResult>): Coverage {
  const compiled = 'compiled' in policies ? policies.compiled : policies;
  const seen = observe(compiled, results);
  const kinds: Coverage['kinds'] = { grant: zero(), restriction: zero(), purpose: zero(), field: zero() };
  const gaps: CoverageGap[] = [];
  const item = (kind: CoverageKind, name: string, missing: CoverageGap['missing'], covered: boolean, message: string) => {
    kinds[kind].total++;
    if (covered) kinds[kind].covered++;
    else gaps.push({ kind, name, missing, message });
  };

  for (const g of grantsInOrder(compiled)) {
    item('grant', g.label, 'matched', seen.grants.has(g.label), `grant ${g.label} never matched (${g.resource}, ${g.purpose})`);
  }
  for (const [resource, list] of compiled.restrictions) {
    for (const name of new Set(list.map((r) => r.name))) {
      const key = `${resource}\0${name}`;
      item('restriction', name, 'fired', seen.fired.has(key), `restriction ${name} never fired (${resource})`);
      item('restriction', name, 'not fired', seen.spared.has(key), `restriction ${name} never seen not firing or exempt (${resource})`);
    }
  }
  for (const name of compiled.purposes.keys()) item('purpose', name, 'used', seen.purposes.has(name), `purpose ${name} never used`);
  for (const [resource, r] of compiled.resources) {
    for (const path of Object.keys(r.def.fields)) {
      if (!COVERED_CLASSES.includes(r.classes.get(path)!)) continue;
      const key = `${resource}\0${path}`;
      item('field', `${resource}.${path}`, 'disclosed', seen.disclosed.has(key), `field ${resource}.${path} never disclosed`);
      item('field', `${resource}.${path}`, 'withheld', seen.withheld.has(key), `field ${resource}.${path} never withheld`);
    }
  }

  const covered = Object.values(kinds).reduce((n, k) => n + k.covered, 0);
  const total = Object.values(kinds).reduce((n, k) => n + k.total, 0);
  return { covered, total, percent: total === 0 ? 100 : (covered / total) * 100, kinds, gaps };
}

/**
 * Whether coverage reaches a threshold (a percentage, 0 to 100), compared
 * exactly: 7 of 8 items (87.5%) meets 87.5 and misses 87.6.
 *
 * @example
 * meetsThreshold(coverage, 90); // false when 89 of 100 items are covered
 */
export function meetsThreshold(coverage: Coverage, threshold: number): boolean {
  if (!Number.isFinite(threshold) || threshold < 0 || threshold > 100) {
    throw new TypeError(`meetsThreshold: threshold must be a percentage from 0 to 100, not ${threshold}`);
  }
  return coverage.total === 0 || coverage.covered * 100 >= threshold * coverage.total;
}

/**
 * Coverage as the lines `fieldmesh test --coverage` prints: the total, each
 * kind, then every gap.
 *
 * @example
 * formatCoverage(coverage);
 * // coverage 92.1% (117 of 127 items)
 * //   grants        19 of 20
 * // …
 */
export function formatCoverage(coverage: Coverage): string {
  const label: Record<CoverageKind, string> = { grant: 'grants', restriction: 'restrictions', purpose: 'purposes', field: 'fields' };
  const lines = [`coverage ${formatPercent(coverage.percent)} (${coverage.covered} of ${coverage.total} items)`];
  for (const [kind, k] of Object.entries(coverage.kinds) as [CoverageKind, { covered: number; total: number }][]) {
    lines.push(`  ${label[kind].padEnd(13)} ${k.covered} of ${k.total}`);
  }
  if (coverage.gaps.length > 0) {
    lines.push(`gaps (${coverage.gaps.length}):`);
    for (const gap of coverage.gaps) lines.push(`  ${gap.message}`);
  }
  return lines.join('\n');
}

/** A percentage with at most one decimal, never rounded up to a whole 100 it did not reach. */
export function formatPercent(percent: number): string {
  const tenths = Math.floor(percent * 10 + 1e-9) / 10;
  return `${Number.isInteger(tenths) ? tenths.toFixed(0) : tenths.toFixed(1)}%`;
}

interface Observed {
  grants: Set<string>;
  purposes: Set<string>;
  /** `resource␀name` of restrictions fired, and of those seen not firing on a disclosed record. */
  fired: Set<string>;
  spared: Set<string>;
  /** `resource␀path` of declared fields disclosed, and withheld from a disclosed record. */
  disclosed: Set<string>;
  withheld: Set<string>;
}

function observe(compiled: CompiledPolicies, results: Iterable<CoveredResult>): Observed {
  const seen: Observed = {
    grants: new Set(),
    purposes: new Set(),
    fired: new Set(),
    spared: new Set(),
    disclosed: new Set(),
    withheld: new Set(),
  };
  for (const { decision: d, fieldsSeen } of results) {
    if (d === undefined) continue;
    if (d.policyVersion !== compiled.version) {
      throw new TypeError(`coverageOf: a decision was made under policy version ${d.policyVersion}, not ${compiled.version}`);
    }
    seen.purposes.add(d.purpose);
    for (const label of d.grants) seen.grants.add(label);
    for (const name of d.restrictions) seen.fired.add(`${d.resource}\0${name}`);
    // Only a read that returned rows shows what the rules did to a record that was disclosed.
    if (d.action !== 'read' || d.outcome !== 'disclosed' || d.rowsReturned === 0) continue;
    for (const r of compiled.restrictions.get(d.resource) ?? []) {
      if (!d.restrictions.includes(r.name)) seen.spared.add(`${d.resource}\0${r.name}`);
    }
    // What the record held decides, not what the grant allowed: a field the record never had was neither.
    for (const path of fieldsSeen?.disclosed ?? []) seen.disclosed.add(`${d.resource}\0${path}`);
    for (const path of fieldsSeen?.withheld ?? []) seen.withheld.add(`${d.resource}\0${path}`);
  }
  return seen;
}

/**
 * Every grant once, in the order the policy files list roles and their
 * grants. A grant inherited by other roles is held under each of them in
 * the compiled set, but it is one rule, with one label: one item.
 */
function grantsInOrder(compiled: CompiledPolicies): { label: string; purpose: string; resource: string }[] {
  const out: { label: string; purpose: string; resource: string; role: number; index: number }[] = [];
  const roleOrder = Object.keys(compiled.document.roles);
  const listed = new Set<string>();
  for (const [key, list] of compiled.grants) {
    const [, purpose, resource] = key.split('\0') as [string, string, string];
    for (const g of list) {
      if (listed.has(g.label)) continue;
      listed.add(g.label);
      out.push({
        label: g.label,
        purpose,
        resource,
        role: roleOrder.indexOf(g.role),
        index: Number(g.label.slice(g.label.lastIndexOf('#') + 1)),
      });
    }
  }
  out.sort((a, b) => a.role - b.role || a.index - b.index);
  return out.map(({ label, purpose, resource }) => ({ label, purpose, resource }));
}

function zero(): { covered: number; total: number } {
  return { covered: 0, total: 0 };
}
