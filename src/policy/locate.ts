import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { PolicyIssue } from '../lib/errors.js';

/** Where something is written in a file: 1-based, as editors count. */
export interface Place {
  line: number;
  col: number;
}

/**
 * What an issue is about: a `key` (an unknown or hostile key, a name defined
 * twice) or a `value` (a bad value; a missing key points at its parent's key).
 */
export type Target = 'key' | 'value';

/** Finds where a path (`roles.nurse.grants[0].purpose`) is written in a text. */
export type PlaceOf = (path: string, target?: Target) => Place | undefined;

/**
 * Where paths are written in one YAML text. The text is parsed by `yaml`
 * (with its line counter) on the first question only: a policy set that
 * loads cleanly, which the fast reader (policy/yaml.ts) reads without a
 * syntax tree, never pays for it.
 *
 * @example
 * placesIn('roles:\n  gp:\n    grants: 3\n')('roles.gp.grants'); // { line: 3, col: 13 }
 */
export function placesIn(text: string): PlaceOf {
  let parsed: { doc: Document; lines: LineCounter } | undefined;
  return (path, target = 'value') => {
    if (!parsed) {
      const lines = new LineCounter();
      parsed = { doc: parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false }), lines };
    }
    const offset = offsetOf(parsed.doc, segmentsOf(path), target);
    return offset === undefined ? undefined : parsed.lines.linePos(offset);
  };
}

/**
 * Places the issues of a policy set in their files, each file parsed once
 * and only when one of its issues is placed.
 */
export class IssueLocator {
  private readonly texts = new Map<string, string>();
  private readonly finders = new Map<string, PlaceOf>();

  constructor(sources: readonly { file: string; text: string }[]) {
    for (const { file, text } of sources) this.texts.set(file, text);
  }

  /** Where `path` is written in `file`; undefined for a file it was not given, or a path with no place. */
  place(file: string, path: string, target: Target = 'value'): Place | undefined {
    let find = this.finders.get(file);
    if (!find) {
      const text = this.texts.get(file);
      if (text === undefined) return undefined;
      this.finders.set(file, (find = placesIn(text)));
    }
    return find(path, target);
  }

  /** The issue with its line and column, when it has a place and none yet. */
  locate(issue: PolicyIssue, target: Target = 'value'): PolicyIssue {
    if (issue.line !== undefined) return issue;
    const place = this.place(issue.file, issue.path, target);
    return place ? { ...issue, line: place.line, col: place.col } : issue;
  }
}

/** `:12:9`, to name a second file's place in a message. */
export const suffixOf = (place: Place | undefined): string => (place ? `:${place.line}:${place.col}` : '');

/**
 * `roles.nurse.grants[0].purpose` → `['roles', 'nurse', 'grants', 0, 'purpose']`.
 * A dotted key (`address.postcode`) is split here and joined again while
 * walking, where the document says which keys exist. Pseudo-paths such as
 * `(top level)` name the document itself; `(file)`, `(directory)` and
 * `line N` have no path.
 */
function segmentsOf(path: string): (string | number)[] | undefined {
  if (path === '(top level)') return [];
  if (path.startsWith('(') || /^line \d+$/.test(path)) return undefined;
  const out: (string | number)[] = [];
  for (const part of path.split('.')) {
    const m = /^(.*?)((?:\[\d+\])+)$/.exec(part);
    if (!m) {
      out.push(part);
      continue;
    }
    if (m[1]) out.push(m[1]);
    for (const index of m[2]!.slice(1, -1).split('][')) out.push(Number(index));
  }
  return out;
}

/**
 * The offset of the deepest node on the path that exists: the key when the
 * issue is about a key, or when the path ends at a mapping or list (a whole
 * role, a missing key's parent), else the value.
 */
function offsetOf(doc: Document, segments: (string | number)[] | undefined, target: Target): number | undefined {
  if (segments === undefined || doc.contents === null) return undefined;
  let node: unknown = doc.contents;
  let key: Node | undefined;
  let i = 0;
  while (i < segments.length) {
    if (isAlias(node)) node = node.resolve(doc);
    const segment = segments[i]!;
    if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (item === undefined) break;
      node = item;
      key = undefined;
      i++;
      continue;
    }
    if (!isMap(node)) break;
    const found = longestKey(node.items, segments, i);
    if (!found) break;
    key = found.pair.key as Node;
    node = found.pair.value;
    i = found.end;
  }
  const complete = i === segments.length;
  const at = complete && target === 'value' && isScalar(node) ? node : (key ?? (node as Node | null));
  return at?.range?.[0];
}

/**
 * The pair whose key is the longest run of segments from `start` joined by
 * dots: `fields.address.postcode` finds the key `address.postcode` before
 * `address`.
 */
function longestKey(
  pairs: readonly { key: unknown; value: unknown }[],
  segments: (string | number)[],
  start: number,
): { pair: { key: unknown; value: unknown }; end: number } | undefined {
  for (let end = segments.length; end > start; end--) {
    const run = segments.slice(start, end);
    if (run.some((s) => typeof s === 'number')) continue;
    const name = run.join('.');
    // The last such key: where two forms name one key (`1` and `"1"`), the second is the one refused.
    for (let k = pairs.length - 1; k >= 0; k--) {
      const pair = pairs[k]!;
      if (isScalar(pair.key) && String(pair.key.value) === name) return { pair, end };
    }
  }
  return undefined;
}
