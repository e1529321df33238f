import type { RowMark } from '../engine/body-shape.js';
import { isPlainObject } from '../lib/paths.js';
import { r4 } from './definitions.js';

/** The DS4P security label of a resource some of whose data was withheld (HL7 v3 ObservationValue REDACTED). */
export const REDACTED_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue';
/** The extension a required element carries in place of a value it may not show. */
export const DATA_ABSENT_REASON = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason';

/** Fresh each time: a marker is never an object shared between rows or answers. */
const redactedLabel = () => ({ system: REDACTED_SYSTEM, code: 'REDACTED' });
const masked = () => ({ extension: [{ url: DATA_ABSENT_REASON, valueCode: 'masked' }] });

const markers = new Map<string, RowMark>();

/**
 * The row mark (see `RedactBodyOptions.mark`) of an R4 resource type, made
 * once per type: withheld data is told apart from data that was never there
 * (docs/fhir.md, "Withheld, not absent"). An unknown type is a programming
 * error (TypeError), said where the route is set up.
 *
 * @example
 * redactBody(policies, plan, bundle, 'entry.resource', { mark: withheldMarker('Observation') });
 */
export function withheldMarker(fhirType: string): RowMark {
  let mark = markers.get(fhirType);
  if (mark === undefined) {
    if (r4().types[fhirType] === undefined || !r4().resourceTypes.includes(fhirType))
      throw new TypeError(`markWithheld: "${fhirType}" is not an R4 resource type`);
    mark = (before, after, plan) => markWithheld(fhirType, withoutTransformed(before, plan.view.transforms.keys()), after);
    markers.set(fhirType, mark);
  }
  return mark;
}

/**
 * The mark a request's answer gets: only on a FHIR route, when the route
 * says so, or, when the route says nothing, when the purpose does. A
 * route's `markWithheld: false` keeps it off whatever the purpose says.
 *
 * @example
 * markFor(route.fhirType, route.markWithheld, plan.purpose.def.markWithheld); // a RowMark, or undefined
 */
export function markFor(fhirType: string | undefined, route: boolean | undefined, purpose: boolean | undefined): RowMark | undefined {
  if (fhirType === undefined || !(route ?? purpose ?? false)) return undefined;
  return withheldMarker(fhirType);
}

/**
 * A redacted resource marked for what it lost: when anything present in
 * `before` is absent from `after`, the REDACTED security label is added to
 * `meta.security` (kept with whatever of `meta` was disclosed), and every
 * element the base R4 definition requires that was present before and is
 * absent after gets the data-absent-reason extension `masked` in its place
 * (a primitive as `_status`, a required choice under its first JSON name),
 * in the resource and in every backbone element or datatype that was
 * disclosed, lists element by element. A transformed value is still there,
 * so it is not withheld. Nothing else is added: the markers say that
 * something was withheld, never what it was. Pure: `after` is not mutated.
 *
 * @example
 * markWithheld('Observation', { resourceType: 'Observation', status: 'final', code: { text: 'HIV' } }, { resourceType: 'Observation' });
 * // { resourceType: 'Observation', _status: { extension: [masked] }, code: { extension: [masked] },
 * //   meta: { security: [{ system: REDACTED_SYSTEM, code: 'REDACTED' }] } }
 */
export function markWithheld(fhirType: string, before: unknown, after: unknown): unknown {
  if (!isPlainObject(before) || !isPlainObject(after) || !lostAny(before, after)) return after;
  return labelled(markElement(fhirType, before, after));
}

/**
 * `before` without the fields the plan transforms. A transformed value is
 * still disclosed, in another form; one the transform could not read (a
 * postcode that is no postcode, a date that is no date) is dropped, and
 * marking it would tell which values were malformed. So a transformed field
 * never counts as withheld, whether it came through or not.
 */
function withoutTransformed(before: unknown, paths: Iterable<string>): unknown {
  let out = before;
  for (const path of paths) out = dropPath(out, path.split('.'));
  return out;
}

function dropPath(node: unknown, steps: string[]): unknown {
  if (Array.isArray(node)) return node.map((n) => dropPath(n, steps));
  if (!isPlainObject(node) || steps.length === 0 || !Object.hasOwn(node, steps[0]!)) return node;
  const [head, ...rest] = steps as [string, ...string[]];
  const copy = { ...node };
  if (rest.length === 0) delete copy[head];
  else copy[head] = dropPath(node[head], rest);
  return copy;
}

/** Whether anything of `before` is absent from `after`: a key, or an element of a list. */
function lostAny(before: unknown, after: unknown): boolean {
  if (Array.isArray(before) && Array.isArray(after)) {
    if (after.length < before.length) return true;
    return before.some((b, i) => lostAny(b, after[i]));
  }
  if (!isPlainObject(before) || !isPlainObject(after)) return false;
  for (const key of Object.keys(before)) {
    if (!Object.hasOwn(after, key) || lostAny(before[key], after[key])) return true;
  }
  return false;
}

/** A primitive's extensions sit beside it under `_name`: either says the element is there. */
function present(element: Record<string, unknown>, name: string): boolean {
  return Object.hasOwn(element, name) || Object.hasOwn(element, `_${name}`);
}

/** One element of type `typeKey`: its withheld required elements masked, its disclosed complex elements walked. */
function markElement(typeKey: string, before: Record<string, unknown>, after: Record<string, unknown>): Record<string, unknown> {
  const def = r4().types[typeKey];
  if (def === undefined) return after;
  let out = after;
  const own = (): Record<string, unknown> => (out === after ? (out = { ...after }) : out);
  for (const { names, primitive } of def.required) {
    const was = names.find((n) => present(before, n));
    if (was === undefined || names.some((n) => present(after, n))) continue;
    // The first JSON name whatever the withheld one was: the name of a choice would say the value's type.
    const first = names[0]!;
    const many = Array.isArray(before[was]) || Array.isArray(before[`_${was}`]);
    own()[primitive ? `_${first}` : first] = many ? [masked()] : masked();
  }
  for (const [key, child] of Object.entries(def.complex)) {
    if (!Object.hasOwn(before, key) || !Object.hasOwn(after, key)) continue;
    const next = markValue(child, before[key], after[key]);
    if (next !== after[key]) own()[key] = next;
  }
  return out;
}

function markValue(typeKey: string, before: unknown, after: unknown): unknown {
  if (Array.isArray(before) && Array.isArray(after)) {
    const sources = sourcesOf(before, after);
    let changed = false;
    const out = after.map((a, i) => {
      const b = sources[i];
      const next = b === undefined ? a : markValue(typeKey, b, a);
      if (next !== a) changed = true;
      return next;
    });
    return changed ? out : after;
  }
  return isPlainObject(before) && isPlainObject(after) ? markElement(typeKey, before, after) : after;
}

/**
 * The element of `before` each element of `after` was redacted from. A
 * redacted list keeps its order and drops the elements with nothing left,
 * so each kept element is matched to the first element at or after the last
 * match it could have come from (its keys, all the way down, are the
 * source's). Unmatched (never expected): not walked, so not marked.
 */
function sourcesOf(before: unknown[], after: unknown[]): (unknown | undefined)[] {
  if (after.length === before.length) return before;
  let i = 0;
  return after.map((a) => {
    while (i < before.length && !couldBe(before[i], a)) i++;
    return i < before.length ? before[i++] : undefined;
  });
}

/** Whether `after` could be the redacted copy of `before`: a value may have been transformed, never a key added. */
function couldBe(before: unknown, after: unknown): boolean {
  if (Array.isArray(after)) {
    if (!Array.isArray(before)) return false;
    let i = 0;
    return after.every((a) => {
      while (i < before.length && !couldBe(before[i], a)) i++;
      return i++ < before.length;
    });
  }
  if (isPlainObject(after)) {
    return isPlainObject(before) && Object.keys(after).every((k) => Object.hasOwn(before, k) && couldBe(before[k], after[k]));
  }
  return true;
}

/** The REDACTED label added to `meta.security`, once, beside whatever of `meta` was disclosed. */
function labelled(resource: Record<string, unknown>): Record<string, unknown> {
  const meta = resource['meta'];
  if (!isPlainObject(meta)) return { ...resource, meta: { security: [redactedLabel()] } };
  const security = Array.isArray(meta['security']) ? meta['security'] : [];
  if (security.some((c) => isPlainObject(c) && c['system'] === REDACTED_SYSTEM && c['code'] === 'REDACTED')) return resource;
  return { ...resource, meta: { ...meta, security: [...security, redactedLabel()] } };
}
