import type { CompiledResource, TrieNode } from './compile.js';
import { HOSTILE_KEYS, isPlainObject } from '../lib/paths.js';
import { MAX_RECORD_DEPTH, nestedDeeperThan, refuseTooDeep } from '../lib/depth.js';
import { DROP, type Transform } from './transforms.js';

/** Copies the permitted part of one record into a fresh object. `undefined` = nothing permitted. */
export type Projector = (record: unknown) => unknown;

/**
 * One step of a projection: copies `value`, which sits `level` levels deep
 * (the record is level 1). A list or object it would walk deeper than
 * `MAX_RECORD_DEPTH` refuses the whole body (`refuseTooDeep`): what a copy
 * reaches is checked as it is copied, never by a second walk.
 */
type Step = (value: unknown, level: number) => unknown;

interface Built {
  fn: Step;
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
 * A list or object the copy would reach deeper than `MAX_RECORD_DEPTH`
 * levels (the record is level 1) throws `unredactable_body` before anything
 * is returned; one under a key that is not copied is never walked.
 *
 * @example
 * const project = compileProjector(resource, mask, (path) => undefined);
 * project({ id: 'p1', secret: 'x' }); // { id: 'p1' }
 */
export function compileProjector(
  resource: CompiledResource,
  mask: bigint,
  transformOf: (path: string) => Transform | undefined,
  declaredOnly = false,
): Projector {
  const root = build(resource.trie, false, undefined);
  if (!root) return () => undefined;
  const fn = root.fn;
  return (record) => fn(record, 1);

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
    return { fn: partial(children, rest, !declaredOnly, whole ? rest : undefined, declaredOnly), full: false, transform, whole };
  }
}

const EXCLUDED: Built = { fn: () => undefined, full: false, transform: undefined, whole: false };

/** A key as a JavaScript string literal: JSON-escaped, and U+2028/U+2029 escaped too. Never code. */
function literal(key: string): string {
  return JSON.stringify(key)
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** The names Object.prototype has when this module loads. */
const PROTOTYPE_NAMES: readonly string[] = Object.getOwnPropertyNames(Object.prototype);
const PROTOTYPE_NAME_SET: ReadonlySet<string> = new Set(PROTOTYPE_NAMES);

/**
 * Whether Object.prototype still has exactly the names it had at load, none
 * of them enumerable: then a plain object's key that is not one of them can
 * only be its own, for…in meets own keys only, and a projection may read
 * them without asking `Object.hasOwn` (a call per field, which costs more
 * than the copy). Polluted, every key is asked.
 */
function prototypeIntact(): boolean {
  const names = Object.getOwnPropertyNames(Object.prototype);
  // None enumerable either: then for…in over a plain object meets its own keys only.
  if (names.length !== PROTOTYPE_NAMES.length || Object.keys(Object.prototype).length > 0) return false;
  return names.every((n, i) => n === PROTOTYPE_NAMES[i]);
}

/** Set while `withProjections` runs, after Object.prototype was found intact. */
const guard = { intact: false };

/**
 * Run `fn` (synchronous: a redaction loop) with the projections' fast path
 * on, if Object.prototype is as it was at load; off again afterwards.
 * Outside it, projections read every key with `Object.hasOwn`.
 */
export function withProjections<T>(fn: () => T): T {
  const before = guard.intact;
  guard.intact = prototypeIntact();
  try {
    return fn();
  } finally {
    guard.intact = before;
  }
}

/**
 * Copies an object key by key, as straight-line code generated for this
 * mask: each declared child by its own projector (a plain value copied in
 * place when the child is copied whole without a transform), the other keys
 * only if included and `otherKeys`; a value that is not an object by
 * `scalar`, given only when nothing declared below is withheld. Keys enter
 * the code only as string literals (`literal`), every function and set
 * through the table `T`: no policy or record text is ever code.
 *
 * When every declared child is present and copies to something, the copy is
 * one object literal (what a hand-written projection does); otherwise it is
 * built key by key. Either way declared children come out in their declared
 * order, other keys after them; with `recordOrder` (declared keys only) in
 * the record's own order, as before projections were generated, since the
 * rows of non-identifiable purposes are sorted by their serialised content.
 */
function partial(
  children: Map<string, Built>,
  rest: Step | undefined,
  otherKeys: boolean,
  scalar: Step | undefined,
  recordOrder: boolean,
): Step {
  const table: unknown[] = [isPlainObject, projectArray, Object.hasOwn, scalar, rest, guard, HOSTILE_KEYS, refuseTooDeep];
  const at = (value: unknown) => table.push(value) - 1;
  const slow: string[] = [];
  const declared = new Set<string>();
  const fast: { k: string; copy: (c: string) => string; inline: boolean; ownCheck: boolean }[] = [];
  for (const [key, built] of children) {
    if (HOSTILE_KEYS.has(key)) continue;
    declared.add(key);
    if (built === EXCLUDED) continue;
    const k = literal(key);
    const fn = `T[${at(built.fn)}]`;
    const set = `{ out[${k}] = r; any = true; }`;
    const inline = built.full && built.transform === undefined;
    // In record order (the views of non-identifiable purposes, whose rows are then sorted by their
    // serialised content): a case per declared key of a switch over the record's own keys.
    slow.push(recordOrder ? `case ${k}:` : `if (hasOwn(value, ${k})) {`, `  v = value[${k}];`);
    if (inline) {
      // A plain value is its own copy.
      slow.push(
        `  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null) { out[${k}] = v; any = true; }`,
        `  else { r = ${fn}(v, level + 1); if (r !== undefined) ${set} }`,
      );
    } else {
      slow.push(`  r = ${fn}(v, level + 1); if (r !== undefined) ${set}`);
    }
    slow.push(recordOrder ? '  break;' : '}');
    fast.push({
      k,
      copy: (c) =>
        inline
          ? `(typeof ${c} === 'string' || typeof ${c} === 'number' || typeof ${c} === 'boolean' || ${c} === null ? ${c} : ${fn}(${c}, level + 1))`
          : `${fn}(${c}, level + 1)`,
      inline,
      ownCheck: PROTOTYPE_NAME_SET.has(key),
    });
  }
  const others: string[] = [];
  if (otherKeys && rest) {
    others.push(
      `for (const key of Object.keys(value)) {`,
      `  if (T[${at(declared)}].has(key) || hostile.has(key)) continue;`,
      '  r = rest(value[key], level + 1);',
      '  if (r !== undefined) { out[key] = r; any = true; }',
      '}',
    );
  }
  if (recordOrder) {
    if (otherKeys) throw new TypeError('compileProjector: record order is for declared keys only');
    slow.unshift('for (const key of Object.keys(value)) {', 'switch (key) {');
    slow.push('}', '}');
  }
  const literalPath: string[] = [];
  if (fast.length > 0 && !recordOrder) {
    literalPath.push(
      'if (guard.intact) {',
      ...fast.map((f, i) => `  const c${i} = value[${f.k}];`),
      `  if (${fast.map((f, i) => `c${i} !== undefined${f.ownCheck ? ` && hasOwn(value, ${f.k})` : ''}`).join(' && ')}) {`,
      ...fast.map((f, i) => `    const r${i} = ${f.copy(`c${i}`)};`),
      `    if (${fast.map((_, i) => `r${i} !== undefined`).join(' && ')}) {`,
      `      const out = { ${fast.map((f, i) => `${f.k}: r${i}`).join(', ')} };`,
      ...(others.length > 0 ? ['      let any = true, r;', ...others.map((l) => `      ${l}`)] : []),
      '      return out;',
      '    }',
      '  }',
      '}',
    );
  }
  const empty = rest !== undefined ? ' || Object.keys(value).length === 0' : '';
  const body = [
    "'use strict';",
    'const isPlainObject = T[0], projectArray = T[1], hasOwn = T[2], scalar = T[3], rest = T[4], guard = T[5], hostile = T[6], tooDeep = T[7];',
    'return function project(value, level) {',
    // A list or object past the deepest level a record may have: the whole body is refused, never walked further.
    `  if (level > ${MAX_RECORD_DEPTH} && typeof value === 'object' && value !== null) tooDeep();`,
    '  if (Array.isArray(value)) return projectArray(value, project, level);',
    '  if (!isPlainObject(value)) return scalar ? scalar(value, level) : undefined;',
    ...literalPath.map((l) => `  ${l}`),
    '  const out = {};',
    '  let any = false, v, r;',
    ...slow.map((l) => `  ${l}`),
    ...others.map((l) => `  ${l}`),
    `  return any${empty} ? out : undefined;`,
    '};',
  ].join('\n');
  return new Function('T', body)(table) as Step;
}

/** A deep copy, with the transform applied to every leaf; a list or object past `MAX_RECORD_DEPTH` refuses. */
function copier(transform: Transform | undefined): Step {
  const copy: Step = (value, level) => {
    if (value === null) return null;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      if (!transform) return value;
      const t = transform(value);
      return t === DROP ? undefined : t;
    }
    if (level > MAX_RECORD_DEPTH && typeof value === 'object') refuseTooDeep();
    if (Array.isArray(value)) return projectArray(value, copy, level);
    if (isPlainObject(value)) {
      // Under a transform only values are transformed, never keys: an object
      // such as { "9990000018": "verified" } would carry the raw value in a key.
      // Dropped, unless it nests too deep: a value under a disclosed field refuses as a copied one would.
      if (transform) {
        if (nestedDeeperThan(value, MAX_RECORD_DEPTH - level + 1)) refuseTooDeep();
        return undefined;
      }
      const out: Record<string, unknown> = {};
      // for…in meets inherited keys only if Object.prototype gained enumerable ones: asked then, not otherwise.
      const own = !guard.intact;
      for (const key in value) {
        if ((own && !Object.hasOwn(value, key)) || HOSTILE_KEYS.has(key)) continue;
        const r = copy(value[key], level + 1);
        if (r !== undefined) out[key] = r;
      }
      return out;
    }
    // Functions, symbols, class instances: not record data this engine can vouch for.
    return undefined;
  };
  return copy;
}

/** The projected elements of a list at `level`, in order, those that project to nothing left out. Sized once, not grown. */
function projectArray(values: unknown[], fn: Step, level: number): unknown[] {
  const n = values.length;
  const out: unknown[] = new Array(n);
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const r = fn(values[i], level + 1);
    if (r !== undefined) out[kept++] = r;
  }
  if (kept < n) out.length = kept;
  return out;
}
