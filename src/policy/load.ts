import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PolicyError, type PolicyIssue } from '../lib/errors.js';
import { IssueLocator } from './locate.js';
import { mergePolicyFiles, parsePolicyText } from './parse.js';
import type { PolicyDocument, PolicyFile } from './schema.js';
import { validatePolicies } from './validate.js';

/** One policy file's text and the name it is reported under. */
export interface PolicySource {
  file: string;
  text: string;
}

/**
 * Read every `*.yaml` / `*.yml` file of a directory, sorted by name so the
 * merge order never depends on the file system.
 */
export async function readPolicyDirectory(dir: string): Promise<PolicySource[]> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new PolicyError([
      { file: dir, path: '(directory)', message: 'no such policy directory: pass --policies DIR or create it', severity: 'error' },
    ]);
  }
  const names = (await readdir(dir)).filter((n) => /\.ya?ml$/i.test(n)).sort();
  // Every *.yaml must be a file (or a link to one): a directory or a broken link of that name may be a deploy
  // caught halfway, and skipping it would drop the rules it should hold. Refused by name, never read as EISDIR.
  const notFiles = [];
  for (const n of names) if (!(await stat(join(dir, n)).catch(() => undefined))?.isFile()) notFiles.push(n);
  if (notFiles.length > 0)
    throw new PolicyError(
      notFiles.map((n) => ({
        file: join(dir, n),
        path: '(file)',
        message: 'not a policy file: a directory or a link to nothing is named like one; rename or remove it',
        severity: 'error' as const,
      })),
    );
  if (names.length === 0) {
    throw new PolicyError([{ file: dir, path: '(directory)', message: 'no *.yaml or *.yml policy files here', severity: 'error' }]);
  }
  return Promise.all(names.map(async (n) => ({ file: join(dir, n), text: await readFile(join(dir, n), 'utf8') })));
}

/**
 * Parse, merge and check policy sources. Pure. Returns the document only when
 * there is no error; warnings come back either way, every issue with its
 * line and column where it has a place (a file is parsed for that only when
 * it has an issue).
 */
export function analysePolicies(sources: PolicySource[], now: Date): { document?: PolicyDocument; issues: PolicyIssue[] } {
  const parsed: { file: string; policy: PolicyFile }[] = [];
  const issues: PolicyIssue[] = [];
  for (const { file, text } of sources) {
    const r = parsePolicyText(text, file);
    issues.push(...r.issues);
    if (r.policy) parsed.push({ file, policy: r.policy });
  }
  if (issues.length > 0) return { issues };
  const locator = new IssueLocator(sources);
  const merged = mergePolicyFiles(parsed, (file, path, target) => locator.place(file, path, target));
  issues.push(...merged.issues, ...validatePolicies(merged.document, now).map((i) => locator.locate(i)));
  return issues.some((i) => i.severity === 'error') ? { issues } : { document: merged.document, issues };
}
