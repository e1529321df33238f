import { parseDocument } from 'yaml';
import type { z } from 'zod';
import type { PolicyIssue } from '../errors.js';
import { KNOWN_KEYS, policyFileSchema, type PolicyDocument, type PolicyFile } from './schema.js';
import { didYouMean } from './suggest.js';

/**
 * Parse one policy file's text. Pure: no file system. YAML syntax errors are
 * reported with their line; schema problems with their path in the file.
 *
 * @example
 * const { policy, issues } = parsePolicyText('roles: {}', 'policies/roles.yaml');
 */
export function parsePolicyText(text: string, file: string): { policy?: PolicyFile; issues: PolicyIssue[] } {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      issues: doc.errors.map((e) => ({
        file,
        path: `line ${e.linePos?.[0]?.line ?? '?'}`,
        message: `YAML syntax error: ${e.message.split('\n')[0]}`,
        severity: 'error' as const,
      })),
    };
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 }) ?? {};
  const parsed = policyFileSchema.safeParse(raw);
  if (!parsed.success) return { issues: parsed.error.issues.flatMap((i) => zodIssue(i, file)) };
  return { policy: parsed.data, issues: [] };
}

function zodIssue(issue: z.core.$ZodIssue, file: string): PolicyIssue[] {
  const at = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      file,
      path: at ? `${at}.${key}` : key,
      message: `unknown key "${key}"${didYouMean(key, KNOWN_KEYS)}`,
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
 *
 * @example
 * const { document, issues } = mergePolicyFiles([{ file: 'a.yaml', policy }]);
 */
export function mergePolicyFiles(files: { file: string; policy: PolicyFile }[]): { document: PolicyDocument; issues: PolicyIssue[] } {
  const document: PolicyDocument = { resources: {}, purposes: {}, roles: {}, restrictions: [], sources: new Map(), restrictionOrigins: [] };
  const issues: PolicyIssue[] = [];
  const restrictionFiles = new Map<string, string>();
  for (const { file, policy } of files) {
    for (const section of ['resources', 'purposes', 'roles'] as const) {
      for (const [key, def] of Object.entries(policy[section] ?? {})) {
        const id = `${section}.${key}`;
        const first = document.sources.get(id);
        if (first !== undefined) {
          issues.push({ file, path: id, message: `"${key}" is already defined in ${first}: rename one or merge them`, severity: 'error' });
          continue;
        }
        document.sources.set(id, file);
        (document[section] as Record<string, unknown>)[key] = def;
      }
    }
    for (const [i, restriction] of (policy.restrictions ?? []).entries()) {
      const first = restrictionFiles.get(restriction.name);
      if (first !== undefined) {
        issues.push({ file, path: `restrictions[${i}].name`, message: `restriction "${restriction.name}" is already defined in ${first}: rename one`, severity: 'error' });
        continue;
      }
      restrictionFiles.set(restriction.name, file);
      document.restrictionOrigins.push({ file, index: i });
      document.restrictions.push(restriction);
    }
  }
  return { document, issues };
}
