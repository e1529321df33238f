/**
 * Runs bench files one after another (never in parallel: they would measure
 * each other), each as its own child process, echoing its output while
 * collecting its BENCH-RESULT lines. A bench that exits non-zero, is killed
 * by the time limit, prints a malformed result line or prints no result row
 * at all becomes a failure: shown, never silently dropped.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BenchFailure, type BenchResult, describeBench, parseResultLine } from './results.js';

/** What one bench gave. */
export interface BenchRun {
  file: string;
  results: BenchResult[];
  failures: BenchFailure[];
  /** The first paragraph of its doc comment. */
  howMeasured: string;
  /** Wall-clock seconds it ran. */
  seconds: number;
}

export interface RunOptions {
  /** Passed through to the bench as `--quick`. */
  quick: boolean;
  /** Directory the bench runs in (the repository root). */
  cwd: string;
  /** Killed (SIGKILL to the child) after this long, and recorded as failed. */
  timeoutMs: number;
  /** Where the bench's output is echoed; defaults to this process's stdout and stderr. */
  echo?: { out: (s: string) => void; err: (s: string) => void };
}

/**
 * Runs `dir/file` with `node --import tsx` and collects its result rows.
 *
 * @example
 * const run = await runBench('bench', 'gateway.ts', { quick: true, cwd: '.', timeoutMs: 60_000 });
 */
export async function runBench(dir: string, file: string, opts: RunOptions): Promise<BenchRun> {
  const path = join(dir, file);
  const run: BenchRun = { file, results: [], failures: [], howMeasured: '', seconds: 0 };
  if (!existsSync(path)) {
    run.failures.push({ source: file, reason: 'the bench file does not exist' });
    return run;
  }
  run.howMeasured = describeBench(readFileSync(path, 'utf8'));
  const started = performance.now();
  const echo = opts.echo ?? { out: (s: string) => process.stdout.write(s), err: (s: string) => process.stderr.write(s) };
  const child = spawn(process.execPath, ['--import', 'tsx', path, ...(opts.quick ? ['--quick'] : [])], {
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let pending = '';
  const take = (line: string) => {
    const parsed = parseResultLine(line);
    if (parsed.kind === 'result') run.results.push(parsed.result);
    else if (parsed.kind === 'malformed') run.failures.push({ source: file, reason: `malformed result line: ${parsed.reason}` });
  };
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    echo.out(chunk);
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) take(line);
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => echo.err(chunk));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', () => resolve({ code: null, signal: null }));
    child.once('close', (c, s) => resolve({ code: c, signal: s }));
  });
  clearTimeout(timer);
  run.seconds = (performance.now() - started) / 1000;
  if (pending !== '') take(pending);
  if (timedOut) run.failures.push({ source: file, reason: `killed after ${Math.round(opts.timeoutMs / 1000)} s` });
  else if (code !== 0) run.failures.push({ source: file, reason: signal ? `ended by ${signal}` : `exited with code ${code}` });
  if (run.results.length === 0 && run.failures.length === 0) run.failures.push({ source: file, reason: 'printed no BENCH-RESULT line' });
  return run;
}

/**
 * The bench files of `dir` in run order: the named ones first (those of the
 * issue's table, in its order; a missing one is run, and fails, all the
 * same), then any other `*.ts` there, sorted. `run.ts` itself is never one.
 *
 * @example
 * benchFiles(['engine.ts', 'gateway.ts'], readdirSync('bench')); // ['engine.ts', 'gateway.ts', 'audit.ts', …]
 */
export function benchFiles(ordered: readonly string[], present: readonly string[]): string[] {
  const others = present.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && f !== 'run.ts' && !ordered.includes(f)).sort();
  return [...ordered, ...others];
}
