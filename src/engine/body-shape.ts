import { mergeDecision, type Decision } from './decision.js';
import { FieldmeshError } from '../lib/errors.js';
import { AccessError } from './access-error.js';
import { deidentifiedOrder } from './redact.js';
import { getPath, HOSTILE_KEYS, isPlainObject } from '../lib/paths.js';
import type { PolicySet } from './policy-set.js';
import type { Plan } from './plan.js';

/**
 * Where the rows are in a response body (docs/gateway.md, "Routes file";
 * the `list` option in docs/middleware.md):
 * - `undefined`: the body is one record;
 * - `""`: the body is the array of rows;
 * - `"items"`, `"data.items"`: the array at that dotted key of the body;
 * - `"entry.resource"`: a key that passes through an array names where each
 *   element holds its row: the `resource` of each element of `body.entry` (a FHIR Bundle).
 */
export type ListKey = string | undefined;

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
 * rows are. Deny by default, for the envelope as for the rows: the record
 * API may put anything beside the rows (an `included` list of other
 * records, a count of all rows, debugging data), so the answer keeps only
 * the keys on the way to the rows. A FHIR Bundle also keeps `resourceType`,
 * `type` when it is one of FHIR's codes, its `self`/`first`/`next`/`previous`
 * links (not `last`, which counts pages), and `total` when it had one, set to
 * the entries returned. Wrapped rows (`entry.resource`) keep their row and
 * `search.mode` when it is one of FHIR's codes, never `fullUrl`; an element
 * whose row is withheld is removed whole.
 *
 * A row is redacted only as the resource it is: a row whose `resourceType`
 * is not the plan's resource (a `RelatedPerson` in a `Patient` search, an
 * `OperationOutcome`), and in a FHIR Bundle a row with no `resourceType` at
 * all, is removed (counted as withheld, reason `other-resource-type`): the
 * policy never declared its fields.
 *
 * A single record withheld throws `record_withheld` (404); a body that does
 * not have the expected shape, or a single record of another resourceType,
 * throws `unredactable_body` (500): fail closed. The input is never mutated.
 */
export function redactBody(
  policies: PolicySet,
  plan: Plan,
  body: unknown,
  list?: ListKey,
  opts: RedactBodyOptions = {},
): { body: unknown; decision: Decision } {
  if (opts.pagedAllowed === false && isBundle(body) && pagedByUpstream(body)) {
    throw new AccessError(
      'filter_forbidden',
      'The record API answered one page of this search: some rows are hidden from you (or de-identified), and a page cut before they are removed would show where they were or which matched. Answer the whole result: the gateway gathers every page itself; a handler behind the middleware must not page it.',
    );
  }
  if (list === undefined) {
    if (!isPlainObject(body)) throw unredactable('one record (a JSON object) was expected');
    // The type is not named: it is the upstream's data.
    if (otherType(body, plan.resource.name, false)) throw unredactable(`the record's resourceType is not ${plan.resource.name}`);
    const { data, decision } = policies.redactWith(plan, body);
    return { body: opts.mark === undefined ? data : opts.mark(body, data, plan), decision };
  }
  const steps = parseListKey(list);
  const state: Walk = { policies, plan, steps, list, decision: undefined, returned: 0, fhir: isBundle(body), mark: opts.mark };
  const out = rebuild(body, 0, state);
  if (isBundle(body) && Object.hasOwn(body, 'total')) (out as Record<string, unknown>)['total'] = state.returned;
  return { body: out, decision: state.decision! };
}

/**
 * How the caller's request may be answered.
 *
 * @example
 * const opts: RedactBodyOptions = { pagedAllowed: admitted.pagedAnswerAllowed };
 */
export interface RedactBodyOptions {
  /** false: a FHIR Bundle the record API paged by itself (a `next` or `previous` link) is refused (403 `filter_forbidden`). Default true. */
  pagedAllowed?: boolean | undefined;
  /**
   * Called with each row redacted one by one (a single record, the rows of
   * wrapped elements such as a Bundle's `entry.resource`) as the source had
   * it and as redacted, and returns the row to send. A shell uses it to say
   * what was withheld in its own format (src/fhir/withheld.ts); the engine
   * stays format-free. Rows of a plain array are redacted together and are
   * not passed to it. Never called for a row withheld whole.
   */
  mark?: RowMark | undefined;
}

/**
 * What `RedactBodyOptions.mark` is given: a row before and after redaction
 * (both the record's JSON, the second a fresh copy) and the plan that
 * redacted it (which fields it transforms), returning what is sent.
 *
 * @example
 * const mark: RowMark = (before, after) => after; // marks nothing
 */
export type RowMark = (before: unknown, after: unknown, plan: Plan) => unknown;

/** A Bundle that is one page of more: it links to the next or the previous page. */
function pagedByUpstream(bundle: Record<string, unknown>): boolean {
  const links = bundle['link'];
  return (
    Array.isArray(links) &&
    links.some((l) => isPlainObject(l) && (l['relation'] === 'next' || l['relation'] === 'previous' || l['relation'] === 'prev'))
  );
}

interface Walk {
  policies: PolicySet;
  plan: Plan;
  steps: string[];
  list: string;
  decision: Decision | undefined;
  returned: number;
  /** The body is a FHIR Bundle: every row must say it is the plan's resource. */
  fhir: boolean;
  mark: RowMark | undefined;
}

/** FHIR's Bundle.entry.search.mode codes; anything else is free text and is not passed on. */
const SEARCH_MODES = new Set(['match', 'include', 'outcome']);
const OTHER_TYPE = 'other-resource-type';

/**
 * Whether a row is of another resource than the one being redacted: its
 * `resourceType` names another, or it is in a FHIR Bundle (`fhir`) and names
 * none. A row without the key outside a Bundle is a plain JSON record.
 */
function otherType(row: unknown, resource: string, fhir: boolean): boolean {
  if (!isPlainObject(row)) return false;
  return Object.hasOwn(row, 'resourceType') ? row['resourceType'] !== resource : fhir;
}

/** Count rows removed for their type as withheld, without ids: an id of another resource names nothing here. */
function countOtherType(decision: Decision, n: number): void {
  if (n === 0) return;
  decision.rowsWithheld += n;
  decision.rowReasons[OTHER_TYPE] = (decision.rowReasons[OTHER_TYPE] ?? 0) + n;
}

function rebuild(node: unknown, at: number, w: Walk): unknown {
  // The body itself is an array only for `""`: `items` over a bare array is a body of another shape.
  if (Array.isArray(node) && (at > 0 || w.steps.length === 0))
    return at === w.steps.length ? plainRows(node, w) : wrappedRows(node, w.steps.slice(at), w);
  if (at === w.steps.length) throw unredactable(`a list was expected at "${w.list || '(the body)'}"`);
  const key = w.steps[at]!;
  const bundle = at === 0 && isBundle(node);
  if (!isPlainObject(node) || !Object.hasOwn(node, key)) {
    // A FHIR search that matched nothing has no `entry` at all: no rows, not another shape.
    if (!bundle) throw unredactable(`a list was expected at "${w.list}"`);
    w.decision = w.policies.redactWith(w.plan, []).decision;
    return bundleEnvelope(node);
  }
  const out: Record<string, unknown> = bundle ? bundleEnvelope(node) : {};
  out[key] = rebuild(node[key], at + 1, w);
  return out;
}

const BUNDLE_LINKS = new Set(['self', 'first', 'next', 'previous', 'prev']);

/** What a FHIR Bundle keeps besides its entries. */
function bundleEnvelope(node: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { resourceType: 'Bundle' };
  if (typeof node['type'] === 'string' && BUNDLE_TYPES.has(node['type'])) out['type'] = node['type'];
  const links = Array.isArray(node['link'])
    ? node['link'].filter(
        (l): l is Record<string, unknown> =>
          isPlainObject(l) && typeof l['relation'] === 'string' && BUNDLE_LINKS.has(l['relation']) && typeof l['url'] === 'string',
      )
    : [];
  if (links.length > 0) out['link'] = links.map((l) => ({ relation: l['relation'], url: l['url'] }));
  return out;
}

function isBundle(node: unknown): node is Record<string, unknown> {
  return isPlainObject(node) && node['resourceType'] === 'Bundle';
}

function plainRows(rows: unknown[], w: Walk): unknown[] {
  const own = rows.filter((row) => !otherType(row, w.plan.resource.name, w.fhir));
  const { data, decision } = w.policies.redactWith(w.plan, own);
  countOtherType(decision, rows.length - own.length);
  w.decision = decision;
  w.returned = decision.rowsReturned;
  return data as unknown[];
}

/** Each element holds its row at `rest`: rows are redacted one by one so each element keeps or loses its own row. */
function wrappedRows(elements: unknown[], rest: string[], w: Walk): unknown[] {
  const merged = w.policies.redactWith(w.plan, []).decision;
  const out: unknown[] = [];
  for (const element of elements) {
    const row = isPlainObject(element) ? getPath(element, rest.join('.')) : undefined;
    if (otherType(row, w.plan.resource.name, w.fhir)) {
      countOtherType(merged, 1);
      continue;
    }
    const { data, decision } = w.policies.redactWith(w.plan, [row]);
    mergeDecision(merged, decision);
    const [redacted] = data as unknown[];
    if (redacted === undefined) continue;
    const kept = w.mark === undefined ? redacted : w.mark(row, redacted, w.plan);
    const source = element as Record<string, unknown>;
    const base: Record<string, unknown> = {};
    // fullUrl is dropped: the record API's text, and any text fits in a URL (`https://host/nhs-9990000026/Patient/pat-002`).
    const search = source['search'];
    if (isPlainObject(search) && typeof search['mode'] === 'string' && SEARCH_MODES.has(search['mode']))
      base['search'] = { mode: search['mode'] };
    out.push(setAt(base, rest, kept));
  }
  w.decision = merged;
  w.returned = merged.rowsReturned;
  return w.plan.purpose.def.identifiable === false ? deidentifiedOrder(out) : out;
}

/** FHIR R4's Bundle.type codes: anything else is free text and is not passed on. */
const BUNDLE_TYPES = new Set([
  'document',
  'message',
  'transaction',
  'transaction-response',
  'batch',
  'batch-response',
  'history',
  'searchset',
  'collection',
]);

/** `obj` with `value` at `path`, through fresh objects: nothing else of the element is carried along. */
function setAt(obj: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  const [key, ...rest] = path as [string, ...string[]];
  return { ...obj, [key]: rest.length === 0 ? value : setAt({}, rest, value) };
}

function unredactable(why: string): FieldmeshError {
  return new FieldmeshError('unredactable_body', `The response body cannot be redacted: ${why}`);
}
