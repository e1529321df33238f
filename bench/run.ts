/**
 * `npm run bench`: every benchmark in bench/, one after another (never in
 * parallel: they would measure each other), each in its own process. Each
 * compares fieldmesh with its baselines side by side in one run and prints
 * BENCH-RESULT lines; this collects them into one table in the order.
 *
 *   npm run bench                    # full run: writes BENCHMARKS.md at the repository root
 *   npm run bench -- --quick         # each bench short (≤ 10 s): prints the table, writes nothing
 *   npm run bench -- gateway         # only the benches whose file name starts with "gateway"
 *   npm run bench -- instances       # several gateways on one PostgreSQL trail (needs PostgreSQL: FIELDMESH_BENCH_PG_URL)
 *   npm run bench -- --quick --out /tmp/b.md   # write the table somewhere (any mode)
 *
 * A quick run never overwrites BENCHMARKS.md: its figures are too short to
 * stand for the project. A bench that fails, or prints no result row, is a
 * failed row in the table and makes the exit code 1; so does a row of the
 * issue's table that no bench printed (on an unfiltered run). A missed
 * target is a result, not a failure: it shows as "no" in the "met" column.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchFiles, runBench } from './lib/harness.js';
import { type BenchFailure, type BenchResult, missingRows, renderMarkdown } from './lib/results.js';

/** The benches of the table, in its order; any other bench file runs after them. */
const ORDER = ['engine.ts', 'middleware.ts', 'gateway.ts', 'compile.ts', 'roles.ts', 'audit.ts', 'instances.ts'];

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const flagValue = (flag: string) => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};
const out = flagValue('--out');
const dir = resolve(flagValue('--dir') ?? join(ROOT, 'bench'));
const only = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--out' && args[i - 1] !== '--dir');

const files = benchFiles(ORDER, readdirSync(dir)).filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)));
const startLoad = loadavg()[0] ?? 0;
const results: BenchResult[] = [];
const failures: BenchFailure[] = [];
const howMeasured = new Map<string, string>();
for (const file of files) {
  console.log(`\n── bench/${file}${quick ? ' --quick' : ''} ──`);
  const run = await runBench(dir, file, { quick, cwd: ROOT, timeoutMs: quick ? 60_000 : 15 * 60_000 });
  results.push(...run.results);
  failures.push(...run.failures);
  console.log(`── bench/${file}: ${run.results.length} row(s), ${run.failures.length} failure(s), ${run.seconds.toFixed(1)} s ──`);
  if (run.howMeasured !== '') howMeasured.set(file, `${run.howMeasured} (This run: ${run.seconds.toFixed(1)} s.)`);
}
if (only.length === 0) failures.push(...missingRows(results));

let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
  if (dirty) commit += ' (with uncommitted changes)';
} catch {
  // not a git checkout: the commit stays unknown
}
const cpu = cpus();
const markdown = renderMarkdown(
  {
    date: new Date().toISOString(),
    cpu: cpu[0]?.model.trim() ?? 'unknown CPU',
    cores: cpu.length,
    node: process.version,
    commit,
    load: [startLoad, loadavg()[0] ?? 0],
    quick,
  },
  results,
  failures,
  howMeasured,
);
const target = out ?? (quick || only.length > 0 ? undefined : join(ROOT, 'BENCHMARKS.md'));
console.log(`\n${markdown}`);
if (target !== undefined) {
  writeFileSync(target, markdown);
  console.log(`written to ${target}`);
} else {
  console.log(`(not written to a file: ${quick ? 'a quick run' : 'a partial run'}; --out <file> writes it)`);
}
if (failures.length > 0) console.error(`${failures.length} failure(s): ${failures.map((f) => f.source).join(', ')}`);
process.exitCode = failures.length === 0 ? 0 : 1;
