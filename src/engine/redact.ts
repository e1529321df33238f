import { MAX_RECORD_DEPTH, nestedDeeperThan, refuseTooDeep } from '../lib/depth.js';
import { pathsOf, type CompiledView } from './compile.js';
import type { Decision } from './decision.js';
import { FieldmeshError } from '../lib/errors.js';
import { AccessError } from './access-error.js';
import { HOSTILE_KEYS, isPlainObject, splitPath, valuesAt } from '../lib/paths.js';
import { compileProjector, withProjections, type Projector } from './project.js';
import { isExempt, planDecision, type GateObserver, type Plan, type PlannedGrant, type PlannedRestriction } from './plan.js';
import { makeTransform, type Transform } from './transforms.js';

/** The projection for one permitted mask: the copy function and its names for the decision. */
interface Projection {
  project: Projector;
  disclosed: string[];
  withheld: string[];
  transforms: [string, string][];
}

/**
 * Projections compiled on first use and kept: there are only as many as there
 * are distinct combinations of matching grants and firing restrictions.
 * Keyed by day as well, because age bands depend on the date.
 */
export class ProjectionCache {
  private readonly cache = new Map<CompiledView, Map<string, Projection>>();
  constructor(private readonly pseudonymKey: string | Buffer | undefined) {}

  get(view: CompiledView, mask: bigint, purpose: string, now: Date): Projection {
    let byMask = this.cache.get(view);
    if (!byMask) this.cache.set(view, (byMask = new Map()));
    const day = now.toISOString().slice(0, 10);
    const key = `${mask}:${day}`;
    let p = byMask.get(key);
    if (!p) {
      if (byMask.size > 4096) byMask.clear();
      p = this.build(view, mask, purpose, new Date(`${day}T00:00:00Z`));
      byMask.set(key, p);
    }
    return p;
  }

  /**
   * Why no record of this view can be copied: it pseudonymises a field and
   * no key is configured (then every read that would disclose something is
   * refused, and the front-end ability says so: ability.ts). Nothing otherwise.
   */
  keyMissing(view: CompiledView, purpose: string): FieldmeshError | undefined {
    if (this.pseudonymKey !== undefined && this.pseudonymKey.length > 0) return undefined;
    for (const [path, name] of view.transforms) {
      if (name === 'pseudonym')
        return new FieldmeshError(
          'pseudonym_key_missing',
          `purpose "${purpose}" pseudonymises ${path} but no pseudonym key is configured (FIELDMESH_PSEUDONYM_KEY)`,
        );
    }
    return undefined;
  }

  private build(view: CompiledView, mask: bigint, purpose: string, now: Date): Projection {
    const { resource } = view;
    const missing = this.keyMissing(view, purpose);
    if (missing) throw missing;
    const leaf = new Map<string, Transform>();
    for (const [path, name] of view.transforms) leaf.set(path, makeTransform(name, { purpose, pseudonymKey: this.pseudonymKey, now }));
    const disclosed = pathsOf(resource, mask);
    return {
      project: compileProjector(resource, mask, (path) => leaf.get(path), view.declaredOnly),
      disclosed,
      withheld: resource.paths.filter((p) => !disclosed.includes(p)),
      transforms: disclosed.flatMap((p) => (view.transforms.has(p) ? [[p, view.transforms.get(p)!] as [string, string]] : [])),
    };
  }
}

/**
 * Apply a request plan to one record or a list. Per row, only the row
 * conditions are evaluated: which grants match, which restrictions fire,
 * opt-out and consent. The fields follow from precompiled masks.
 *
 * A single record that the user may not see is a refusal (`record_withheld`,
 * 404 over HTTP); a list never refuses, it drops rows.
 */
export function redactWithPlan(plan: Plan, projections: ProjectionCache, input: unknown): { data: unknown; decision: Decision } {
  return withProjections(() => redactRows(plan, projections, input));
}

function redactRows(plan: Plan, projections: ProjectionCache, input: unknown): { data: unknown; decision: Decision } {
  const single = !Array.isArray(input);
  assertRedactable(input, single);
  const rows: unknown[] = single ? [input] : (input as unknown[]);
  const { purpose } = plan;
  const tally = new RowTally(plan);
  const shapes = new RowShapes(plan, projections);
  const gated = purpose.def.optOut === 'respect' || purpose.def.consent === 'required';
  const reads = readKeysOf(plan);
  const out: unknown[] = [];
  for (const row of rows) {
    // Each row is checked as it is met, while it is in cache; a refusal here discards everything: nothing was
    // returned yet. What the decision reads is checked here, what is copied by the projection as it copies.
    if (!single) assertReadShallow(row, reads);
    if (!isPlainObject(row)) {
      tally.withhold(row, 'not-a-record');
      continue;
    }
    const gate = gated ? gateReason(plan, row) : undefined;
    if (gate !== undefined) {
      tally.withhold(row, gate);
      continue;
    }
    const shape = shapes.of(row);
    if (shape.projection === undefined) {
      tally.withhold(row, shape.reason, shape);
      continue;
    }
    out.push(shape.projection.project(row) ?? {});
    tally.disclose(row, shape);
  }
  const decision = tally.close();
  if (single && out.length === 0) {
    decision.outcome = 'refused';
    decision.code = 'record_withheld';
    throw new AccessError('record_withheld', `No ${plan.resource.name} record you may see for purpose "${purpose.name}"`, decision);
  }
  if (!single && purpose.def.identifiable === false) deidentifiedOrder(out);
  return { data: single ? out[0] : out, decision };
}

/** Refuse, before any row is looked at, a body that is not a record or a list, or that nests too deep to walk. */
export function assertRedactable(input: unknown, single: boolean): void {
  if (single && !isPlainObject(input)) {
    throw new FieldmeshError('unredactable_body', 'the input is neither a record (object) nor a list of records');
  }
  // Every walk below recurses: a body nested deeper than any record is refused, never half-walked.
  // A single record (one per request, walked once as a copy of it would be) is checked whole, before anything.
  // A list's rows are checked as the loop meets them: what deciding on a row reads, before it is read (`assertReadShallow`);
  // what it copies, by the projection as it copies. A key nothing reads or copies is dropped unwalked.
  if (single) assertShallow(input, MAX_RECORD_DEPTH);
}

function assertShallow(value: unknown, limit: number): void {
  if (nestedDeeperThan(value, limit)) refuseTooDeep();
}

/** The whole row counts as read: a condition whose keys cannot be told exactly. */
const WHOLE_ROW = 'whole-row';

/** Per plan core (its frozen grants list is shared by every request alike), what a row's decision reads. */
const readKeysByPlan = new WeakMap<readonly PlannedGrant[], readonly string[] | typeof WHOLE_ROW>();

/**
 * The top-level keys of a row that deciding on it reads: the conditions of
 * the plan's grants and restrictions (the marker-shape guards read the same
 * paths), the id and subject paths, and the opt-out and consent paths when the purpose
 * reads them. `WHOLE_ROW` when a condition's keys cannot be told exactly.
 * Hostile keys are never read by any of them.
 */
function readKeysOf(plan: Plan): readonly string[] | typeof WHOLE_ROW {
  let reads = readKeysByPlan.get(plan.grants);
  if (reads === undefined) {
    reads = collectReadKeys(plan);
    readKeysByPlan.set(plan.grants, reads);
  }
  return reads;
}

function collectReadKeys(plan: Plan): readonly string[] | typeof WHOLE_ROW {
  const { resource, purpose } = plan;
  const keys = new Set<string>();
  const top = (path: string) => keys.add(splitPath(path)[0]!);
  top(resource.def.id);
  if (resource.def.subject !== undefined) top(resource.def.subject);
  if (purpose.def.optOut === 'respect') top(resource.def.optOut!);
  if (purpose.def.consent === 'required') top(resource.def.consent!);
  const conditions = [...plan.grants.map((g) => g.grant.where), ...plan.restrictions.map((r) => r.restriction.when)];
  for (const condition of conditions) {
    if (condition === undefined) continue;
    if (condition.reads === undefined) return WHOLE_ROW;
    for (const key of condition.reads) keys.add(key);
  }
  for (const key of HOSTILE_KEYS) keys.delete(key);
  return Object.freeze([...keys]);
}

/** Refuse a row of a list whose values that deciding on it reads nest too deep: as `redact` refuses it, before a condition reads it. */
export function assertRowReadable(plan: Plan, row: unknown): void {
  assertReadShallow(row, readKeysOf(plan));
}

/**
 * Refuse a row if a value that deciding on it reads nests deeper than a
 * record may (the row is level 1, so its values may nest one level less).
 * What is copied is checked by the projection as it copies; a key that is
 * neither read nor copied is dropped unwalked, as any undeclared key. A row
 * that is not a record is checked whole: its ids are read from it as it is.
 */
function assertReadShallow(row: unknown, reads: readonly string[] | typeof WHOLE_ROW): void {
  if (reads === WHOLE_ROW || !isPlainObject(row)) {
    assertShallow(row, MAX_RECORD_DEPTH);
    return;
  }
  for (let i = 0; i < reads.length; i++) {
    const value = row[reads[i]!];
    if (value !== null && typeof value === 'object' && nestedDeeperThan(value, MAX_RECORD_DEPTH - 1)) refuseTooDeep();
  }
}

/**
 * Why a row is withheld before any grant is tried (opted out, no consent), or
 * nothing. `observe` is told each of the two gates' outcome (the decision trace).
 */
export function gateReason(plan: Plan, row: Record<string, unknown>, observe?: GateObserver): string | undefined {
  const { purpose, resource } = plan;
  if (purpose.def.optOut === 'respect') {
    if (optedOut(row, resource.def.optOut!)) {
      observe?.('opt-out', 'refused');
      return 'opt-out';
    }
    observe?.('opt-out', 'passed');
  } else observe?.('opt-out', 'not-applicable');
  if (purpose.def.consent === 'required') {
    if (!consented(row, resource.def.consent!, purpose.name)) {
      observe?.('consent', 'refused');
      return 'consent';
    }
    observe?.('consent', 'passed');
  } else observe?.('consent', 'not-applicable');
  return undefined;
}

/**
 * What one combination of matching grants and firing restrictions means for
 * a row: the fields it may show (its projection) or why it is withheld
 * (`no-grant`, `restriction:<name>`), with the grant labels and restriction
 * names the decision records.
 */
interface RowShape {
  projection: Projection | undefined;
  reason: string;
  grants: string[];
  fired: string[];
  /** Whether the tally has taken this shape's names already (once per call is enough). */
  tallied: boolean;
}

/**
 * The row shapes of one call. Per row only the conditions run: which grants
 * match and which restrictions fire make a small key; what that combination
 * discloses (the mask, the projection, the names) is worked out once per
 * call for each key met, by `visibleFields`.
 */
class RowShapes {
  private readonly shapes = new Map<number | string, RowShape>();
  private readonly exemptions = new Map<number | string, boolean[]>();
  private readonly exemptable: boolean;
  private readonly numeric: boolean;

  constructor(
    private readonly plan: Plan,
    private readonly projections: ProjectionCache,
  ) {
    this.exemptable = plan.restrictions.some((r) => r.restriction.unlessRoles !== undefined);
    this.numeric = plan.grants.length + plan.restrictions.length <= 30;
  }

  of(row: Record<string, unknown>): RowShape {
    const { grants, restrictions } = this.plan;
    const matched = this.numeric ? numericKey(grants, row) : stringKey(grants, row);
    let key: number | string = matched;
    if (matched !== 0 && matched !== '') {
      const exempt = this.exemptable ? this.exemptFor(matched) : undefined;
      let fired = this.numeric ? 0 : '';
      for (let j = 0; j < restrictions.length; j++) {
        const r = restrictions[j]!;
        const hit = exempt?.[j] !== true && (r.matches(row) || r.restriction.oddShape?.(row) === true);
        if (this.numeric) {
          if (hit) (fired as number) |= 1 << j;
        } else fired += hit ? '1' : '0';
      }
      key = this.numeric ? (matched as number) | ((fired as number) << grants.length) : `${matched}:${fired}`;
    }
    let shape = this.shapes.get(key);
    if (!shape) this.shapes.set(key, (shape = this.shapeOf(row)));
    return shape;
  }

  /** Per restriction, whether the roles of these matching grants exempt the caller from it. */
  private exemptFor(matched: number | string): boolean[] {
    let exempt = this.exemptions.get(matched);
    if (!exempt) {
      const roles = this.plan.grants.filter((_, i) => isSet(matched, i)).map((g) => g.grant.role);
      exempt = this.plan.restrictions.map(
        (r) => r.restriction.unlessRoles !== undefined && isExempt(r.restriction, roles, this.plan.purpose.name),
      );
      this.exemptions.set(matched, exempt);
    }
    return exempt;
  }

  /** The shape of the first row met with a key: conditions evaluated once more, by the one rule. */
  private shapeOf(row: Record<string, unknown>): RowShape {
    const fired: string[] = [];
    const seen = visibleFields(this.plan, row, fired);
    if (typeof seen === 'string') return { projection: undefined, reason: seen, grants: [], fired, tallied: false };
    const { view, purpose, now } = this.plan;
    const projection = this.projections.get(view, seen.mask, purpose.name, now);
    return { projection, reason: '', grants: seen.grants, fired, tallied: false };
  }
}

function numericKey(grants: readonly { matches: (record: object) => boolean }[], row: object): number {
  let key = 0;
  for (let i = 0; i < grants.length; i++) if (grants[i]!.matches(row)) key |= 1 << i;
  return key;
}

function stringKey(grants: readonly { matches: (record: object) => boolean }[], row: object): string {
  let key = '';
  let any = false;
  for (const g of grants) {
    const m = g.matches(row);
    any ||= m;
    key += m ? '1' : '0';
  }
  return any ? key : '';
}

function isSet(key: number | string, i: number): boolean {
  return typeof key === 'number' ? (key & (1 << i)) !== 0 : key[i] === '1';
}

/**
 * Told, for one row, what `visibleFields` decides as it decides it: each
 * grant matched or not, each restriction exempt (through the roles of the
 * grants that matched), not fired, fired by its condition, or fired because
 * a marker has a shape the condition does not expect (fail closed). Only the
 * decision trace (trace.ts) listens.
 */
export interface RowObserver {
  grant(g: PlannedGrant, matched: boolean): void;
  restriction(r: PlannedRestriction, outcome: 'exempt' | 'not-fired' | 'fired' | 'odd-shape', grantRoles: readonly string[]): void;
}

/**
 * The fields of one row the caller may see: the union of the masks of the
 * grants that match it, within the view, less what the restrictions that
 * fire withhold. Or why the whole row is withheld (`no-grant`,
 * `restriction:<name>`). Each restriction that fires is added to `fired`,
 * also when it withholds the whole row.
 */
export function visibleFields(
  plan: Plan,
  row: Record<string, unknown>,
  fired: string[],
  observe?: RowObserver,
): { mask: bigint; grants: string[] } | string {
  let mask = 0n;
  const grants: string[] = [];
  const grantRoles: string[] = [];
  for (const g of plan.grants) {
    const matched = g.matches(row);
    observe?.grant(g, matched);
    if (matched) {
      mask |= g.grant.read;
      grants.push(g.grant.label);
      grantRoles.push(g.grant.role);
    }
  }
  if (grants.length === 0) return 'no-grant';
  mask &= plan.view.mask;
  let wholeRecord: string | undefined;
  for (const r of plan.restrictions) {
    // Exempt only through a role whose grant let the caller see this row.
    if (r.restriction.unlessRoles !== undefined && isExempt(r.restriction, grantRoles, plan.purpose.name)) {
      observe?.restriction(r, 'exempt', grantRoles);
      continue;
    }
    if (!r.matches(row)) {
      if (!r.restriction.oddShape?.(row)) {
        observe?.restriction(r, 'not-fired', grantRoles);
        continue;
      }
      observe?.restriction(r, 'odd-shape', grantRoles);
    } else observe?.restriction(r, 'fired', grantRoles);
    fired.push(r.restriction.name);
    if (r.restriction.record) wholeRecord ??= r.restriction.name;
    else mask &= ~r.restriction.mask;
  }
  return wholeRecord === undefined ? { mask, grants } : `restriction:${wholeRecord}`;
}

/** The decision of one call, row by row: what was disclosed and withheld, and why, never a value. */
class RowTally {
  private readonly fired = new Set<string>();
  private readonly disclosed = new Set<string>();
  private readonly withheld = new Set<string>();
  private readonly grantsUsed = new Set<string>();
  private readonly decision: Decision;
  /** The id path split once; a one-segment path is read directly. */
  private readonly idSegments: string[];
  /** The subject path split once; undefined when the resource declares none. */
  private readonly subjectSegments: string[] | undefined;
  /** Subjects of rows returned and withheld, each once: a list of one person's notes names them once. */
  private readonly subjects = new Set<string>();
  private readonly withheldSubjects = new Set<string>();

  constructor(plan: Plan) {
    this.idSegments = splitPath(plan.resource.def.id);
    const subject = plan.resource.def.subject;
    this.subjectSegments = subject === undefined ? undefined : splitPath(subject);
    this.decision = planDecision(plan);
  }

  withhold(row: unknown, reason: string, shape?: RowShape): void {
    const d = this.decision;
    if (shape && !shape.tallied) {
      shape.tallied = true;
      for (const name of shape.fired) this.fired.add(name);
    }
    d.rowsWithheld++;
    d.rowReasons[reason] = (d.rowReasons[reason] ?? 0) + 1;
    idsAt(row, this.idSegments, d.withheldRecordIds);
    if (this.subjectSegments !== undefined) idsAt(row, this.subjectSegments, this.withheldSubjects);
  }

  /** A disclosed row: its names are taken once per shape (the same as per row: sets, in first-seen order). */
  disclose(row: unknown, shape: RowShape): void {
    const d = this.decision;
    if (!shape.tallied) {
      shape.tallied = true;
      const projection = shape.projection!;
      for (const name of shape.fired) this.fired.add(name);
      for (const label of shape.grants) this.grantsUsed.add(label);
      for (const p of projection.disclosed) this.disclosed.add(p);
      for (const p of projection.withheld) this.withheld.add(p);
      for (const [p, t] of projection.transforms) d.transforms[p] = t;
    }
    idsAt(row, this.idSegments, d.recordIds);
    if (this.subjectSegments !== undefined) idsAt(row, this.subjectSegments, this.subjects);
    d.rowsReturned++;
  }

  /** The decision, with the names gathered over every row. */
  close(): Decision {
    const d = this.decision;
    d.disclosed = [...this.disclosed];
    d.withheld = [...this.withheld];
    d.restrictions = [...this.fired];
    d.grants = [...this.grantsUsed];
    d.subjectIds = [...this.subjects];
    d.withheldSubjectIds = [...this.withheldSubjects];
    return d;
  }
}

/**
 * `recordIdsOf` for the id or subject path, split once, added to a list or
 * a set: a plain string or number at a one-segment path is the common case.
 * Anything else there (missing, an object, a boolean) adds nothing.
 */
function idsAt(row: unknown, segments: readonly string[], into: string[] | Set<string>): void {
  const add = (id: string): void => {
    if (Array.isArray(into)) into.push(id);
    else into.add(id);
  };
  if (segments.length === 1 && isPlainObject(row)) {
    const key = segments[0]!;
    const v = Object.hasOwn(row, key) && !HOSTILE_KEYS.has(key) ? row[key] : undefined;
    if (typeof v === 'string') return add(v);
    if (typeof v === 'number') return add(String(v));
    if (!Array.isArray(v)) return;
  }
  for (const id of recordIdsOf(row, segments)) add(id);
}

/**
 * National data opt-out (Caldicott 6), failing closed: the path walks arrays,
 * and one marker anywhere on it that is not `false` or `null` opts the row
 * out (`prefs: [{ dataOptOut: false }, { dataOptOut: true }]` is opted out),
 * as does a record whose shape the path cannot walk. No marker at all lets it through.
 */
function optedOut(row: unknown, path: string): boolean {
  const { values, malformed } = valuesAt(row, path);
  return malformed || values.some((v) => v !== false && v !== null);
}

/**
 * Consent-based purposes need an explicit grant for this purpose, and no
 * other answer anywhere: every `<consent path>.<purpose>` found (arrays
 * walked) must be exactly `granted`, and at least one must be. Absent means
 * no; a refusal beside a grant means no.
 */
function consented(row: unknown, path: string, purpose: string): boolean {
  // The purpose name is one segment, even if it holds a dot.
  const { values, malformed } = valuesAt(row, [...splitPath(path), purpose]);
  return !malformed && values.length > 0 && values.every((v) => v === 'granted');
}

/**
 * The ids of a row for the audit trail: every string or number at the id
 * path, arrays walked, each once. A row whose id path yields several values
 * (`identifier: [{ value: a }, { value: b }]`) is recorded under all of them,
 * so a search of the trail by any of them finds the disclosure.
 *
 * @example
 * recordIdsOf({ identifier: [{ value: 'a' }, { value: 'b' }] }, 'identifier.value'); // ['a', 'b']
 */
export function recordIdsOf(row: unknown, idPath: string | readonly string[]): string[] {
  const ids: string[] = [];
  for (const v of valuesAt(row, idPath).values) {
    if (typeof v !== 'string' && typeof v !== 'number') continue;
    const id = String(v);
    if (!ids.includes(id)) ids.push(id);
  }
  return ids;
}

/**
 * De-identified rows in an order that says nothing about who they are: by
 * their own content (their pseudonyms included), not the record API's order,
 * which is often by id and would let a caller pair the n-th pseudonym with the
 * n-th id (Caldicott 2). Sorts in place and returns the rows.
 *
 * @example
 * deidentifiedOrder([{ id: 'f3…' }, { id: '0a…' }]); // [{ id: '0a…' }, { id: 'f3…' }]
 */
export function deidentifiedOrder<T>(rows: T[]): T[] {
  const keyed = rows.map((row) => [JSON.stringify(row) ?? '', row] as const);
  keyed.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  keyed.forEach(([, row], i) => (rows[i] = row));
  return rows;
}
