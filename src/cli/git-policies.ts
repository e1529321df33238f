import { execFile } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import type { PolicySource } from '../policy/load.js';
import { CliExit, EXIT } from './common.js';

const run = promisify(execFile);

/**
 * The policy files of a directory as they were at a git revision
 * (`fieldmesh diff --git REV`), read straight from the repository's objects:
 * nothing is checked out and the working tree is left alone. git is run with
 * argument arrays, never through a shell, and the revision is passed after
 * `--end-of-options`, so no revision text can become an option or a command.
 *
 * @example
 * const sources = await policySourcesAt('./policies', 'main');
 * // [{ file: 'main:policies/purposes.yaml', text: '…' }, …]
 */
export async function policySourcesAt(dir: string, revision: string): Promise<PolicySource[]> {
  if (revision === '' || revision.startsWith('-')) throw new CliExit(EXIT.usage, `--git: "${revision}" is not a revision`);
  const wanted = resolve(dir);
  // The directory may be gone from the working tree and still exist at the revision: ask git from its nearest parent.
  let existing = wanted;
  while (!existsSync(existing)) existing = dirname(existing);
  const here = realpathSync(existing);
  const top = (await git(here, ['rev-parse', '--show-toplevel'], `--git: ${existing} is not inside a git repository`)).trim();
  const commit = (
    await git(
      top,
      ['rev-parse', '--verify', '--quiet', '--end-of-options', `${revision}^{commit}`],
      `--git: no revision "${revision}" in ${top}`,
    )
  ).trim();
  const rel = relative(realpathSync(top), join(here, relative(existing, wanted)))
    .split(sep)
    .join('/');
  if (rel.startsWith('..')) throw new CliExit(EXIT.usage, `--git: ${dir} is outside the git repository ${top}`);

  const listing = await git(
    top,
    ['ls-tree', '-z', commit, '--', rel === '' ? '.' : `${rel}/`],
    `--git: cannot list ${rel || '.'} at ${revision}`,
  );
  const files = listing
    .split('\0')
    .filter(Boolean)
    .map((line) => {
      const [meta, path] = line.split('\t') as [string, string];
      const [mode, type, object] = meta.split(' ') as [string, string, string];
      return { mode, type, object, path };
    })
    .filter((f) => /\.ya?ml$/i.test(f.path))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
  // A committed symbolic link is a blob holding the target's path: read as YAML it is a string, and what it
  // points at is not in the revision's tree. Refused by name (fail closed), as is a submodule named *.yaml.
  for (const f of files) {
    if (f.mode === '120000') throw new CliExit(EXIT.usage, `--git: ${f.path} is a symbolic link at ${revision}: not read`);
    if (f.type !== 'blob') throw new CliExit(EXIT.usage, `--git: ${f.path} is not a file at ${revision} (a ${f.type}): not read`);
  }
  if (files.length === 0) throw new CliExit(EXIT.usage, `--git: ${rel || '.'} holds no *.yaml or *.yml policy files at ${revision}`);
  return Promise.all(
    files.map(async (f) => ({
      file: `${revision}:${f.path}`,
      text: await git(top, ['cat-file', 'blob', f.object], `--git: cannot read ${f.path} at ${revision}`),
    })),
  );
}

/** Run git; any failure is a usage error with `message` (git's own text is not passed on: it may quote anything). */
async function git(cwd: string, args: string[], message: string): Promise<string> {
  try {
    const { stdout } = await run('git', ['-C', cwd, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CliExit(EXIT.usage, '--git: git is not installed (not found on PATH)');
    throw new CliExit(EXIT.usage, message);
  }
}
