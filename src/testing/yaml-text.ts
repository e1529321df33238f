import { parse } from 'yaml';
import { isPlainObject } from '../lib/paths.js';

/**
 * A JSON value as YAML text in the style of the example case files: short
 * collections on one line (`{ use: official, given: [Ada] }`), longer ones
 * as blocks, strings plain where they read back as the same string and
 * double-quoted otherwise. `fieldmesh test --update` writes expectations
 * with it, splicing them into the file so the rest keeps its bytes.
 */

/** Collections longer than this, written on one line, become blocks. */
const FLOW_WIDTH = 100;

/**
 * `key: value` at a column: the first line has no indent (it replaces text
 * that already starts there), later lines are indented under the key.
 *
 * @example
 * yamlPair('expect', { id: 'p1' }, 4); // 'expect: { id: p1 }'
 */
export function yamlPair(key: string, value: unknown, column: number): string {
  const flow = flowText(value);
  if (flow !== undefined && column + key.length + 2 + flow.length <= FLOW_WIDTH) return `${scalarText(key, true)}: ${flow}`;
  return `${scalarText(key, true)}:\n${blockLines(value, column + 2).join('\n')}`;
}

/** The value on one line, or `undefined` when it is too long for one. */
function flowText(value: unknown): string | undefined {
  let text: string;
  if (Array.isArray(value)) {
    const items = value.map(flowText);
    if (items.some((i) => i === undefined)) return undefined;
    text = `[${items.join(', ')}]`;
  } else if (isPlainObject(value)) {
    const entries = Object.entries(value).map(([k, v]) => [k, flowText(v)] as const);
    if (entries.some(([, v]) => v === undefined)) return undefined;
    text = entries.length === 0 ? '{}' : `{ ${entries.map(([k, v]) => `${scalarText(k, true)}: ${v}`).join(', ')} }`;
  } else {
    text = scalarText(value, true);
  }
  return text.length <= FLOW_WIDTH ? text : undefined;
}

/** A collection as indented block lines (a scalar as one line). */
function blockLines(value: unknown, indent: number): string[] {
  const pad = ' '.repeat(indent);
  if (Array.isArray(value) && value.length > 0) {
    return value.flatMap((item) => {
      const flow = flowText(item);
      if (flow !== undefined && indent + 2 + flow.length <= FLOW_WIDTH) return [`${pad}- ${flow}`];
      // A block item: its first line follows the dash, the rest line up under it.
      const lines = blockLines(item, indent + 2);
      return [`${pad}- ${lines[0]!.trimStart()}`, ...lines.slice(1)];
    });
  }
  if (isPlainObject(value) && Object.keys(value).length > 0) {
    return Object.entries(value).flatMap(([k, v]) => {
      const pair = yamlPair(k, v, indent).split('\n');
      return [`${pad}${pair[0]}`, ...pair.slice(1)];
    });
  }
  return [`${pad}${flowText(value) ?? scalarText(value, false)}`];
}

/** A scalar as plain text when it reads back as itself, else double-quoted (JSON's escapes are YAML's). */
function scalarText(value: unknown, inFlow: boolean): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const text = String(value);
  const safe = inFlow ? /^[A-Za-z0-9_./@+-][A-Za-z0-9 _./@+()'-]*$/ : /^[A-Za-z0-9_./@+-][A-Za-z0-9 _./@+(),'-]*$/;
  if (safe.test(text) && !text.endsWith(' ') && readsBack(text)) return text;
  // JSON leaves these three raw; a case file holding one is refused (policy/line-breaks.ts), so they are escaped.
  return JSON.stringify(text).replace(/[\u0085\u2028\u2029]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function readsBack(text: string): boolean {
  try {
    return parse(text) === text;
  } catch {
    return false;
  }
}
