import { readFileSync } from 'node:fs';
import { hasEdgeWhitespace } from './text.js';

/**
 * The variables that hold a secret, each of which may instead name a file
 * holding it (`NAME_FILE`), as Docker and Kubernetes mount secrets. A value
 * in a file stays out of `docker inspect`, `ps e` and a crash dump of the
 * environment. The audit target is here because a postgres:// URL may carry
 * a password, the webhook because its query may carry a token.
 */
export const FILE_VARIABLES = [
  'FIELDMESH_JWT_SECRET',
  'FIELDMESH_PSEUDONYM_KEY',
  'FIELDMESH_AUDIT',
  'FIELDMESH_AUDIT_RECORD_KEY',
  'FIELDMESH_AUDIT_CHAIN_KEY',
  'FIELDMESH_UPSTREAM_AUTHORIZATION',
  'FIELDMESH_BREAK_GLASS_WEBHOOK',
] as const;

/** A variable that may come from a file. */
export type FileVariable = (typeof FILE_VARIABLES)[number];

/**
 * A variable's value, from the variable or from the file its `_FILE` form
 * names; undefined when neither is set. A problem names the variables and
 * the path, never what the file holds.
 */
export type EnvValue =
  | { value: string | undefined; from: string; problem?: undefined }
  | { problem: string; value?: undefined; from?: undefined };

/**
 * Read `name` from the environment, or from the file `name_FILE` names. An
 * empty variable counts as unset (as everywhere else in the configuration).
 * Both set is ambiguous and refused; the file is read once, by the caller's
 * entry point, with one trailing line break (\n or \r\n) taken off, since
 * editors and `echo` add one; an empty or unreadable file is a problem, not
 * an unset secret that would quietly turn a protection off. Nothing else is
 * ever trimmed: a value (from the variable or the file) that still begins or
 * ends with whitespace is refused as ambiguous, since one reader trimming
 * and another not would make the same text two secrets.
 *
 * @example
 * const key = envOrFile(process.env, 'FIELDMESH_PSEUDONYM_KEY');
 * if (key.problem !== undefined) throw new Error(key.problem);
 */
export function envOrFile(
  env: Record<string, string | undefined>,
  name: FileVariable,
  read: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): EnvValue {
  const fileName = `${name}_FILE`;
  const direct = env[name];
  const path = env[fileName];
  const hasDirect = direct !== undefined && direct !== '';
  if (path === undefined || path === '') {
    if (hasDirect && hasEdgeWhitespace(direct)) return { problem: edgeProblem(name) };
    return { value: hasDirect ? direct : undefined, from: name };
  }
  if (hasDirect) return { problem: `${name} and ${fileName} are both set: set only one` };
  let text: string;
  try {
    text = read(path);
  } catch (e) {
    return { problem: `${fileName}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  const value = text.replace(/\r?\n$/, '');
  if (value === '') return { problem: `${fileName}: ${path} is empty` };
  if (hasEdgeWhitespace(value)) return { problem: `${edgeProblem(fileName)} (only one trailing line break is taken off a file)` };
  return { value, from: fileName };
}

function edgeProblem(source: string): string {
  return `${source}: the value begins or ends with whitespace (a space, a tab or a line break): remove it; it is never trimmed`;
}
