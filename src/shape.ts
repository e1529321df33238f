import type { Decision } from './decision.js';
import { FieldmeshError } from './errors.js';
import { getPath, HOSTILE_KEYS, isPlainObject } from './paths.js';
import type { PolicySet } from './policy-set.js';
import type { Plan } from './request.js';

/**
 * Where the rows are in a response body (SPEC "Gateway routes file"):
 * - `undefined`: the body is one record;
 * - `""`: the body is the array of rows;
 * - `"items"`, `"data.items"`: the array at that dotted key of the body;
 * - `"entry.resource"`: a key that passes through an array names where each
 *   element holds its row: the `resource` of each element of `body.entry` (a FHIR Bundle).
 *
 * @example
 * const list: ListKey = 'entry.resource';
 */
export type ListKey = string | undefined;

/**
 * Envelope fields that count rows. Left as the record API sent them they
 * would say how many rows were hidden (and so that they exist), which is
 * itself a disclosure: they are removed from every object on the way to the rows.
 *
 * @example
 * COUNT_KEYS.includes('totalCount'); // true
 */
export const COUNT_KEYS: readonly string[] = ['total', 'count', 'totalCount'];

/**
 * Check a list key once, where it is configured. A bad key is a programming
 * error (TypeError), never a per-request failure.
 *
 * @example
 * parseListKey('entry.resource'); // ['entry', 'resource']
 * parseListKey('');               // []: the body is the array
 */
export function parseListKey(list: string): string[] {
  if (typeof list !== 'string') throw new TypeError(`list must be a string (a dotted key), got ${typeof list}`);
  if (list === '') return [];
  const steps = list.split('.');
  for (const step of steps) {
    if (step === '' || HOSTILE_KEYS.has(step)) throw new TypeError(`list "${list}" is not a dotted key of plain names`);
  }
  return steps;
}

/**
 * Redact the rows of a response body with a request's plan, wherever the
 * rows are. The input is never mutated: objects on the way to the rows are
 * copied, the rest of the envelope is kept as the record API sent it, except:
 * - count fields (`total`, `count`, `totalCount`) on the way to the rows are
 *   removed, so hidden rows cannot be counted;
 * - wrapped rows (`entry.resource`): an element whose row is withheld is
 *   removed whole; an element whose row id is not disclosed as is keeps only
 *   its row and `search` (`fullUrl`, `request`, `response` name the id);
 * - a FHIR Bundle keeps `total` when it had one, set to the number of entries
 *   returned; its `link`s (the caller's own query) are kept.
 *
 * A single record withheld throws `record_withheld` (404); a body that does
 * not have the expected shape throws `unredactable_body` (500): fail closed.
 *
 * @example
 * const { body, decision } = redactBody(policies, plan, bundle, 'entry.resource');
 */
export function redactBody(policies: PolicySet, plan: Plan, body: unknown, list?: ListKey): { body: unknown; decision: Decision } {
  if (list === undefined) {
    if (!isPlainObject(body)) throw unredactable('one record (a JSON object) was expected');
    const { data, decision } = policies.redactWith(plan, body);
    return { body: data, decision };
  }
  const steps = parseListKey(list);
  const state: Walk = { policies, plan, steps, list, decision: undefined, returned: 0 };
  const out = rebuild(body, 0, state);
  if (isPlainObject(out) && out['resourceType'] === 'Bundle' && Object.hasOwn(out, 'total')) out['total'] = state.returned;
  return { body: out, decision: state.decision! };
}

interface Walk {
  policies: PolicySet;
  plan: Plan;
  steps: string[];
  list: string;
  decision: Decision | undefined;
  returned: number;
}

function rebuild(node: unknown, at: number, w: Walk): unknown {
  // The body itself is an array only for `""`: `items` over a bare array is a body of another shape.
  if (Array.isArray(node) && (at > 0 || w.steps.length === 0)) return at === w.steps.length ? plainRows(node, w) : wrappedRows(node, w.steps.slice(at), w);
  if (at === w.steps.length) throw unredactable(`a list was expected at "${w.list || '(the body)'}"`);
  const key = w.steps[at]!;
  const bundle = at === 0 && isPlainObject(node) && node['resourceType'] === 'Bundle';
  if (!isPlainObject(node) || !Object.hasOwn(node, key)) {
    // A FHIR search that matched nothing has no `entry` at all: no rows, not another shape.
    if (!bundle) throw unredactable(`a list was expected at "${w.list}"`);
    w.decision = w.policies.redactWith(w.plan, []).decision;
    return { ...node };
  }
  const copy: Record<string, unknown> = { ...node };
  copy[key] = rebuild(node[key], at + 1, w);
  for (const count of COUNT_KEYS) if (!(bundle && count === 'total')) delete copy[count];
  return copy;
}

function plainRows(rows: unknown[], w: Walk): unknown[] {
  const { data, decision } = w.policies.redactWith(w.plan, rows);
  w.decision = decision;
  w.returned = decision.rowsReturned;
  return data as unknown[];
}

/** Each element holds its row at `rest`: rows are redacted one by one so each element keeps or loses its own row. */
function wrappedRows(elements: unknown[], rest: string[], w: Walk): unknown[] {
  const idPath = w.plan.resource.def.id;
  const merged = w.policies.redactWith(w.plan, []).decision;
  const out: unknown[] = [];
  for (const element of elements) {
    const row = isPlainObject(element) ? getPath(element, rest.join('.')) : undefined;
    const { data, decision } = w.policies.redactWith(w.plan, [row]);
    mergeInto(merged, decision);
    const [kept] = data as unknown[];
    if (kept === undefined) continue;
    const source = element as Record<string, unknown>;
    const idShown = getPath(kept, idPath) !== undefined && getPath(kept, idPath) === getPath(row, idPath);
    const head = rest[0]!;
    const base: Record<string, unknown> = idShown ? { ...source } : pick(source, [head, 'search']);
    out.push(setAt(base, rest, kept));
  }
  w.decision = merged;
  w.returned = merged.rowsReturned;
  return out;
}

function pick(obj: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (Object.hasOwn(obj, k)) out[k] = obj[k];
  return out;
}

/** A copy of `obj` with `value` at `path` (objects on the way copied, never mutated). */
function setAt(obj: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  const [key, ...rest] = path as [string, ...string[]];
  const child = obj[key];
  return { ...obj, [key]: rest.length === 0 ? value : setAt(isPlainObject(child) ? child : {}, rest, value) };
}

/** Fold one row's decision into the list's: unions of names, sums of counts. */
function mergeInto(into: Decision, d: Decision): void {
  const union = (a: string[], b: string[]) => { for (const x of b) if (!a.includes(x)) a.push(x); };
  union(into.disclosed, d.disclosed);
  union(into.withheld, d.withheld);
  union(into.restrictions, d.restrictions);
  union(into.grants, d.grants);
  Object.assign(into.transforms, d.transforms);
  into.recordIds.push(...d.recordIds);
  into.withheldRecordIds.push(...d.withheldRecordIds);
  into.rowsReturned += d.rowsReturned;
  into.rowsWithheld += d.rowsWithheld;
  for (const [reason, n] of Object.entries(d.rowReasons)) into.rowReasons[reason] = (into.rowReasons[reason] ?? 0) + n;
}

function unredactable(why: string): FieldmeshError {
  return new FieldmeshError('unredactable_body', 500, `The response body cannot be redacted: ${why}`);
}
