/**
 * What the HTTP benches share: servers in child processes (so the load
 * generator never shares their event loop), free ports, autocannon runs that
 * refuse to count anything but successful answers, and medians.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface Served {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts `command args` and resolves with the URL of its `READY <url>` line
 * on stdout (or, when `ready` is given, once that check passes). Its stderr
 * is echoed, prefixed with its name, unless `quiet`.
 *
 * @example
 * const api = await serveChild('api', process.execPath, ['--import', 'tsx', 'bench/baselines/api.ts']);
 */
export function serveChild(
  name: string,
  command: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; ready?: () => Promise<string>; timeoutMs?: number; quiet?: boolean } = {},
): Promise<Served> {
  const child = spawn(command, [...args], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', opts.ready ? 'ignore' : 'pipe', opts.quiet ? 'ignore' : 'pipe'],
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => process.stderr.write(d.replace(/^(?=.)/gm, `[${name}] `)));
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    });
  return new Promise<Served>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${name} was not ready within ${(opts.timeoutMs ?? 60_000) / 1000} s`));
    }, opts.timeoutMs ?? 60_000);
    const done = (url: string) => {
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve({ url, child, stop });
    };
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before it was ready (${signal ?? code})`));
    });
    if (opts.ready) {
      const poll = () =>
        opts.ready!().then(done, () => {
          if (child.exitCode === null) setTimeout(poll, 100);
        });
      poll();
      return;
    }
    let out = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('READY '));
      if (line) done(line.slice(6).trim());
    });
  });
}

/** A TCP port nobody listens on right now (127.0.0.1). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

interface Histogram {
  average: number;
  p50: number;
  p99: number;
}
export interface LoadResult {
  /** Seconds the run lasted. */
  duration: number;
  requests: Histogram & { total: number };
  latency: Histogram;
  non2xx: number;
  errors: number;
  timeouts: number;
}
interface LoadOptions {
  url: string;
  connections: number;
  duration?: number;
  amount?: number;
  headers?: Record<string, string>;
  requests?: { method: string; path: string }[];
}
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: LoadOptions) => Promise<LoadResult>;

/**
 * One autocannon run; throws when any answer was not 2xx or any request
 * failed, since figures of refusals or errors would be a lie.
 *
 * @example
 * const r = await load({ url, connections: 16, duration: 3, headers }); r.requests.average;
 */
export async function load(opts: LoadOptions): Promise<LoadResult> {
  const result = await autocannon(opts);
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(`${opts.url}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
  }
  return result;
}

/**
 * Completed requests per second over the whole run (not the mean of
 * per-second samples, which a run of a second or two leaves too few of).
 */
export function perSecond(result: LoadResult): number {
  return result.duration > 0 ? result.requests.total / result.duration : 0;
}

/** The median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** JSON with object keys sorted at every depth: two bodies are the same answer iff these are equal. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/**
 * dist/ is built from the current src/, or built now: the HTTP benches measure what ships.
 *
 * @example
 * ensureBuilt(ROOT); // then spawn dist/cli/bin.js
 */
export function ensureBuilt(root: string): void {
  const bin = join(root, 'dist', 'cli', 'bin.js');
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
      const p = join(dir, e.name);
      return Math.max(m, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }, 0);
  if (existsSync(bin) && statSync(bin).mtimeMs >= newest(join(root, 'src'))) return;
  console.log('dist/ is missing or older than src/: npm run build');
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
}
