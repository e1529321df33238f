import type { CompiledResource, TrieNode } from '../../src/engine/compile.js';
import { HOSTILE_KEYS, isPlainObject } from '../../src/lib/paths.js';
import { DROP, type Transform } from '../../src/engine/transforms.js';

// The closure projector as it was before projections were generated per mask:
// kept as the reference the generated projector is tested against (project.property.test.ts).

/** Copies the permitted part of one record into a fresh object. `undefined` = nothing permitted. */
export type Projector = (record: unknown) => unknown;

interface Built {
  fn: Projector;
  /** The whole subtree is disclosed under one transform: copy it as it is. */
  full: boolean;
  transform: Transform | undefined;
  /** Every declared path in the subtree is included, under the node's own transform. */
  whole: boolean;
}

/**
 * Compile the projection for one set of permitted field paths. Built once
 * per distinct mask and cached by the caller, so per record there is only the
 * copy itself. Deny by default: a key is copied only when it lies under a
 * permitted field path; hostile keys are never copied; values are copied,
 * never shared, so the input is never mutated through the output.
 *
 * `declaredOnly` (the views of non-identifiable purposes, Caldicott 2): a
 * permitted path passes its values (lists walked) and the field paths below
 * it, never any other key under it, so free text that a record API nests
 * inside a granted object (`diagnoses[].clinicianNotes`) is dropped.
 *
 * @example
 * const project = compileProjector(resource, mask, (path) => undefined);
 * project({ id: 'p1', secret: 'x' }); // { id: 'p1' }
 */
export function compileReferenceProjector(
  resource: CompiledResource,
  mask: bigint,
  transformOf: (path: string) => Transform | undefined,
  declaredOnly = false,
): Projector {
  const root = build(resource.trie, false, undefined);
  return root ? root.fn : () => undefined;

  function build(node: TrieNode, inheritedInclude: boolean, inheritedTransform: Transform | undefined): Built | undefined {
    const include = node.path !== undefined ? (mask & resource.bits.get(node.path)!) !== 0n : inheritedInclude;
    const transform = node.path !== undefined ? transformOf(node.path) : inheritedTransform;
    // Every declared child is kept, the excluded ones as EXCLUDED: an excluded
    // child must never fall back to its parent's copy.
    const children = new Map<string, Built>();
    let childrenFull = true;
    let childrenWhole = true;
    let anyChild = false;
    for (const [segment, child] of node.children) {
      const built = build(child, include, transform);
      children.set(segment, built ?? EXCLUDED);
      if (built) anyChild = true;
      if (!built?.full || built.transform !== transform) childrenFull = false;
      if (!built?.whole || built.transform !== transform) childrenWhole = false;
    }
    // declaredOnly: a key on the way to a field path (telecom.code above a
    // declared telecom.code.postcode) is not a field, so it copies nothing itself.
    const copiesOwn = include && (!declaredOnly || node.path !== undefined);
    // A key on the way to field paths (declaredOnly) withholds nothing itself: only excluded paths break wholeness.
    const whole = include && childrenWhole;
    if (copiesOwn && childrenFull && !declaredOnly) return { fn: copier(transform), full: true, transform, whole };
    if (!copiesOwn && !anyChild) return undefined;
    const rest = copiesOwn ? copier(transform) : undefined;
    // A scalar where declared fields below are withheld or transformed otherwise
    // (telecom: ["07700 900001"] with telecom.value withheld) cannot be told
    // apart from them: dropped, never copied under the parent's rule.
    return { fn: partial(children, rest, !declaredOnly, whole ? rest : undefined), full: false, transform, whole };
  }
}

const EXCLUDED: Built = { fn: () => undefined, full: false, transform: undefined, whole: false };

/**
 * Copies an object key by key: field children by their own projector, the
 * other keys only if included and `otherKeys`; a value that is not an object
 * by `scalar`, given only when nothing declared below is withheld.
 */
function partial(children: Map<string, Built>, rest: Projector | undefined, otherKeys: boolean, scalar: Projector | undefined): Projector {
  const project: Projector = (value) => {
    if (Array.isArray(value)) return projectArray(value, project);
    if (isPlainObject(value)) {
      const out: Record<string, unknown> = {};
      let any = false;
      for (const key of Object.keys(value)) {
        if (HOSTILE_KEYS.has(key)) continue;
        const fn = children.get(key)?.fn ?? (otherKeys ? rest : undefined);
        if (!fn) continue;
        const r = fn(value[key]);
        if (r !== undefined) {
          out[key] = r;
          any = true;
        }
      }
      return any || (rest !== undefined && Object.keys(value).length === 0) ? out : undefined;
    }
    return scalar ? scalar(value) : undefined;
  };
  return project;
}

/** A deep copy, with the transform applied to every leaf. */
function copier(transform: Transform | undefined): Projector {
  const copy: Projector = (value) => {
    if (value === null) return null;
    if (Array.isArray(value)) return projectArray(value, copy);
    if (isPlainObject(value)) {
      // Under a transform only values are transformed, never keys: an object
      // such as { "9990000018": "verified" } would carry the raw value in a key.
      if (transform) return undefined;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        if (HOSTILE_KEYS.has(key)) continue;
        const r = copy(value[key]);
        if (r !== undefined) out[key] = r;
      }
      return out;
    }
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      if (!transform) return value;
      const t = transform(value);
      return t === DROP ? undefined : t;
    }
    // Functions, symbols, class instances: not record data this engine can vouch for.
    return undefined;
  };
  return copy;
}

function projectArray(values: unknown[], fn: Projector): unknown[] {
  const out: unknown[] = [];
  for (const v of values) {
    const r = fn(v);
    if (r !== undefined) out.push(r);
  }
  return out;
}
