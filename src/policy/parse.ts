import { isAlias, LineCounter, parseDocument, visit, type Document } from 'yaml';
import type { z } from 'zod';
import type { PolicyIssue } from '../lib/errors.js';
import { HOSTILE_KEYS } from '../lib/paths.js';
import { KNOWN_KEYS, policyFileSchema, type PolicyDocument, type PolicyFile } from './schema.js';
import { didYouMean } from '../lib/suggest.js';
import { fastYaml } from './yaml.js';
import { placesIn, suffixOf, type PlaceOf, type Target } from './locate.js';
import { lineBreakHazard } from './line-breaks.js';

/**
 * Parse one policy file's text. Pure: no file system. YAML syntax errors are
 * reported with their line; schema problems with their path in the file,
 * and every problem with its line and column (found only when there is one).
 */
export function parsePolicyText(text: string, file: string): { policy?: PolicyFile; issues: PolicyIssue[] } {
  const place = placesIn(text);
  const at = (issue: PolicyIssue, target: Target): PolicyIssue => {
    const p = place(issue.path, target);
    return p ? { ...issue, line: p.line, col: p.col } : issue;
  };
  // Before either reader: a character one of them reads as a line break and the other not could hide a line.
  const hazard = lineBreakHazard(text);
  if (hazard) {
    const { line, col, message } = hazard;
    return { issues: [{ file, path: `line ${line}`, message, severity: 'error', line, col }] };
  }
  const read = readYaml(text, file);
  if ('issues' in read) return { issues: read.issues };
  // An empty file is a deploy caught halfway (truncated, then written) far more often than a
  // wish: read as nothing, it would drop every rule it held, restrictions included.
  if (read.value == null) {
    return {
      issues: [
        {
          file,
          path: '(file)',
          message: 'the file is empty: give it content or remove it (an empty file would silently drop the rules it held)',
          severity: 'error',
        },
      ],
    };
  }
  const issues: PolicyIssue[] = [];
  const raw = toPlain(read.value, [], (path, key, message) =>
    issues.push(at({ file, path: formatPath([...path, key]), message, severity: 'error' }, 'key')),
  );
  if (issues.length > 0) return { issues };
  const parsed = policyFileSchema.safeParse(raw);
  if (!parsed.success) return { issues: parsed.error.issues.flatMap((i) => zodIssue(i, file).map((x) => at(x, targetOf(i)))) };
  return { policy: parsed.data, issues: [] };
}

/**
 * The data of a YAML text, read once: by the fast reader when it is sure to
 * agree with `yaml` (policy/yaml.ts), else by `yaml` itself, which also
 * places every syntax error on its line. Mappings come back from `yaml` as
 * Maps, so that a key such as `__proto__` is seen by `toPlain`, never
 * assigned to an object (where it would set the prototype and vanish).
 */
function readYaml(text: string, file: string): { value: unknown } | { issues: PolicyIssue[] } {
  const fast = fastYaml(text);
  if (fast) return fast;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  if (doc.errors.length > 0) {
    return {
      issues: doc.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        return {
          file,
          path: `line ${line}`,
          message: `YAML syntax error: ${e.message.split('\n')[0]}`,
          severity: 'error' as const,
          line,
          col,
        };
      }),
    };
  }
  if (doc.contents === null) return { value: null };
  try {
    return { value: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT, mapAsMap: true }) };
  } catch {
    // `yaml` refuses an alias bomb (aliases of aliases, each doubling the data) with a bare error: said here
    // as an issue of the file, at its first alias, so `check` and a reload name the file like any other problem.
    const at = firstAlias(doc);
    const place = at === undefined ? {} : lineCounter.linePos(at);
    return {
      issues: [
        {
          file,
          path: 'line' in place ? `line ${place.line}` : '(file)',
          message: `the YAML expands its aliases (*name) more than ${MAX_ALIAS_COUNT} times, which is refused as a resource exhaustion attack: write the repeated parts out, or use fewer aliases`,
          severity: 'error',
          ...place,
        },
      ],
    };
  }
}

/** How many alias expansions `yaml` allows in one file (its default, said once): more is refused as an alias bomb. */
const MAX_ALIAS_COUNT = 100;

/** The offset of the first alias of a document, if it has one. */
function firstAlias(doc: Document): number | undefined {
  let offset: number | undefined;
  visit(doc, (_key, node) => {
    if (isAlias(node)) {
      offset = node.range?.[0];
      return visit.BREAK;
    }
    return undefined;
  });
  return offset;
}

type Refuse = (path: readonly PropertyKey[], key: string, message: string) => void;

/**
 * Mappings as plain objects, refusing hostile keys at any depth. Maps (from
 * `yaml`) are copied into objects, refusing two keys that become one name
 * (`1` and `"1"`), which would otherwise keep only the last silently. Objects
 * and lists from the fast reader are only checked, in place: it refuses
 * duplicate keys itself, and copying a large set would double its garbage.
 * The path is one array, extended and restored on the way, so a clean file
 * allocates none for it. Equal strings become one (a set of 1,000 roles
 * repeats the same purposes, resources and fields 200,000 times): a quarter
 * less heap for such a set, at no cost in time.
 */
function toPlain(value: unknown, path: PropertyKey[], refuse: Refuse, strings = new Map<string, string>()): unknown {
  if (typeof value === 'string') {
    const known = strings.get(value);
    if (known !== undefined) return known;
    strings.set(value, value);
    return value;
  }
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      value[i] = toPlain(value[i], path, refuse, strings);
      path.pop();
    }
    return value;
  }
  if (!(value instanceof Map)) {
    const obj = value as Record<string, unknown>;
    for (const key of Object.keys(obj)) {
      if (HOSTILE_KEYS.has(key)) refuse(path, key, hostileKey(key));
      else {
        path.push(key);
        obj[key] = toPlain(obj[key], path, refuse, strings);
        path.pop();
      }
    }
    return obj;
  }
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of value) {
    const key = String(k);
    if (HOSTILE_KEYS.has(key)) refuse(path, key, hostileKey(key));
    else if (key in out) refuse(path, key, `"${key}" is written twice as a key (in two forms): keep one`);
    else {
      path.push(key);
      out[key] = toPlain(v, path, refuse, strings);
      path.pop();
    }
  }
  return { ...out };
}

/** An unknown key is about the key; anything else about the value (a missing key: its parent). */
const targetOf = (issue: z.core.$ZodIssue): Target => (issue.code === 'unrecognized_keys' ? 'key' : 'value');

const hostileKey = (key: string) => `"${key}" can never be a field or key: it would pollute objects`;

function zodIssue(issue: z.core.$ZodIssue, file: string): PolicyIssue[] {
  const at = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      file,
      path: at ? `${at}.${key}` : key,
      message: `unknown key "${key}"${didYouMean(
        key,
        KNOWN_KEYS.filter((k) => k !== key),
      )}`,
      severity: 'error' as const,
    }));
  }
  return [{ file, path: at || '(top level)', message: issue.message, severity: 'error' }];
}

/** `['roles', 'nurse', 'grants', 0, 'purpose']` → `roles.nurse.grants[0].purpose` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${String(part)}` : String(part);
  return out;
}

/**
 * Merge parsed files into one policy set. A name defined in two files is an
 * error naming both: the later file must not silently replace a definition.
 * Given `place` (where a path is written in a file), the issue carries its
 * place and its message the first definition's (`policies/a.yaml:3:3`).
 */
export function mergePolicyFiles(
  files: { file: string; policy: PolicyFile }[],
  place?: (file: string, path: string, target: Target) => ReturnType<PlaceOf>,
): { document: PolicyDocument; issues: PolicyIssue[] } {
  const where = (file: string, path: string) => suffixOf(place?.(file, path, 'value'));
  const placed = (issue: PolicyIssue): PolicyIssue => {
    const p = place?.(issue.file, issue.path, 'value');
    return p ? { ...issue, line: p.line, col: p.col } : issue;
  };
  const document: PolicyDocument = {
    resources: Object.create(null),
    purposes: Object.create(null),
    roles: Object.create(null),
    restrictions: [],
    sources: new Map(),
    restrictionOrigins: [],
  };
  const issues: PolicyIssue[] = [];
  const restrictionFiles = new Map<string, { file: string; index: number }>();
  for (const { file, policy } of files) {
    for (const section of ['resources', 'purposes', 'roles'] as const) {
      for (const [key, def] of Object.entries(policy[section] ?? {})) {
        const id = `${section}.${key}`;
        const first = document.sources.get(id);
        if (first !== undefined) {
          issues.push(
            placed({
              file,
              path: id,
              message: `"${key}" is already defined in ${first}${where(first, id)}: rename one or merge them`,
              severity: 'error',
            }),
          );
          continue;
        }
        document.sources.set(id, file);
        (document[section] as Record<string, unknown>)[key] = def;
      }
    }
    for (const [i, restriction] of (policy.restrictions ?? []).entries()) {
      const first = restrictionFiles.get(restriction.name);
      if (first !== undefined) {
        const firstPath = `restrictions[${first.index}].name`;
        issues.push(
          placed({
            file,
            path: `restrictions[${i}].name`,
            message: `restriction "${restriction.name}" is already defined in ${first.file}${where(first.file, firstPath)}: rename one`,
            severity: 'error',
          }),
        );
        continue;
      }
      restrictionFiles.set(restriction.name, { file, index: i });
      document.restrictionOrigins.push({ file, index: i });
      document.restrictions.push(restriction);
    }
  }
  return { document, issues };
}
