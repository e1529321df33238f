/**
 * The CLI as users get it: the built binary that package.json `bin` names,
 * spawned as a child process, so exit codes, stdout and stderr are the ones
 * that ship. Nothing here imports src/cli.
 *
 * Importing this file makes sure dist/ is built from the current src/: `npm
 * test` builds first, and a lone `npx mocha test/cli/…` builds here (or stops
 * with the compiler's errors) rather than testing a stale binary.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The file package.json `bin` points at, so a wrong `bin` fails every CLI test. */
export const BIN = join(
  ROOT,
  (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: { fieldmesh: string } }).bin.fieldmesh,
);

ensureBuilt();

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Standard input, then end of file (default: end of file at once). */
  input?: string;
  /** Variables on top of the test's environment; `undefined` removes one. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** A copy of the built binary placed elsewhere (an installed package, say) instead of BIN. */
  bin?: string;
}

/** Run the binary to completion, as a user would in a shell. */
export function fieldmesh(args: string[], opts: RunOptions = {}): Run {
  const r = spawnSync(process.execPath, [opts.bin ?? BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    input: opts.input ?? '',
    encoding: 'utf8',
    env: childEnv(opts.env),
  });
  if (r.error) throw r.error;
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** The same, without blocking: for running several at once. */
export async function fieldmeshAsync(args: string[], opts: RunOptions = {}): Promise<Run> {
  const p = startFieldmesh(args, opts);
  const { code, signal } = await p.exited;
  return { code, signal, ...p.out };
}

/** A running binary (a server): its output collected as it comes. */
export interface Running {
  child: ChildProcess;
  out: { stdout: string; stderr: string };
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when `stream` holds `text`; rejects with the output if the process exits first. */
  waitFor(text: string, stream?: 'stdout' | 'stderr'): Promise<void>;
  /** Send a signal if it is still running. */
  stop(signal: NodeJS.Signals): void;
}

/** Start the binary and leave it running. */
export function startFieldmesh(args: string[], opts: RunOptions = {}): Running {
  const child = spawn(process.execPath, [opts.bin ?? BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: childEnv(opts.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end(opts.input ?? '');
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    // 'close', not 'exit': by then stdout and stderr are read to their end.
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  const waitFor = (text: string, stream: 'stdout' | 'stderr' = 'stdout') =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (out[stream].includes(text)) {
          child[stream].off('data', check);
          resolve();
        }
      };
      child[stream].on('data', check);
      void exited.then(({ code }) =>
        reject(new Error(`fieldmesh exited ${code} before printing "${text}":\n${out.stdout}\n${out.stderr}`)),
      );
      check();
    });
  const stop = (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  return { child, out, exited, waitFor, stop };
}

/**
 * The test's environment without fieldmesh's own variables (a developer's
 * FIELDMESH_AUDIT must not decide what a test reads), plain output, and the
 * case's own variables.
 */
function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { NO_COLOR: '1' };
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('FIELDMESH_') && k !== 'PORT' && k !== 'LOG_LEVEL') env[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Build dist/ when a source is newer than the binary; tsc rewrites every output, so one file's time stands for all. */
function ensureBuilt(): void {
  if (existsSync(BIN) && statSync(BIN).mtimeMs >= newest(join(ROOT, 'src'))) return;
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {
      cwd: ROOT,
      stdio: 'pipe',
    });
  } catch (e) {
    // tsc writes its output even when it fails: remove the binary so no later load takes it for a good build.
    rmSync(BIN, { force: true });
    const out = e as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(
      `The CLI tests spawn the built binary, and building it (npm run build) failed:\n${out.stdout?.toString() ?? ''}${out.stderr?.toString() ?? ''}`,
    );
  }
  if (!existsSync(BIN)) throw new Error(`npm run build did not produce ${BIN}, which package.json "bin" names`);
}

function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}
