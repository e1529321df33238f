/**
 * Load + compile time and memory of a large policy set, through the public
 * load path (`loadPolicies`, the one `fieldmesh check` and `serve` use), each
 * load in a fresh child process so that time and heap are the set's own:
 *  - compile-100-roles: 20 resources × 10 purposes × 100 roles (20,000 grants);
 *  - compile-1000-roles: the same with 1,000 roles (200,000 grants).
 * Heap is heapUsed after a forced GC with the set loaded, less the same
 * before the load. The baseline is the floor for any YAML loader: js-yaml
 * parsing the same files, timed in the same child after the load (its JIT
 * then warm, which favours the baseline); ratio = load ÷ parse, lower is
 * better. `--quick`: the 100-role set three times, and one load of a
 * 1,000-role stand-in with 2 resources and 2 purposes (4,000 grants), which
 * is not the target's set, so that row does not say met.
 *
 *   node --import tsx bench/compile.ts [--quick]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jsyaml from 'js-yaml';
import { loadPolicies } from '../src/engine/policy-set.js';
import { type PolicySetSize, writePolicySet } from './lib/generate.js';

interface Sample {
  seconds: number;
  /** CPU seconds of the load (all threads, GC included): steadier than wall time on a shared machine. */
  cpuSeconds: number;
  heapMB: number;
  parseSeconds: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

/** In the child: one load, then the baseline parse, printed as one JSON line. */
async function child(dir: string): Promise<void> {
  if (!gc) throw new Error('run the child with --expose-gc');
  gc();
  const before = process.memoryUsage().heapUsed;
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  const policies = await loadPolicies(dir);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  gc();
  const heapMB = (process.memoryUsage().heapUsed - before) / 2 ** 20;
  const files = readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8'));
  const parseStart = process.hrtime.bigint();
  for (const text of files) jsyaml.load(text);
  const parseSeconds = Number(process.hrtime.bigint() - parseStart) / 1e9;
  if (policies.resourceNames().length === 0) throw new Error('nothing loaded');
  console.log(JSON.stringify({ seconds, cpuSeconds, heapMB, parseSeconds } satisfies Sample));
}

function sample(dir: string): Sample {
  const script = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', script, '--child', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the load failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Sample;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Row {
  id: string;
  size: PolicySetSize;
  rounds: number;
  target: string;
  met: (s: Sample) => boolean | null;
  note: string;
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const rows: Row[] = [
    {
      id: 'compile-100-roles',
      size: { resources: 20, purposes: 10, roles: 100 },
      rounds: 3,
      target: '< 1 s',
      met: (s) => s.seconds < 1,
      note: '20 resources × 10 purposes × 100 roles',
    },
    quick
      ? {
          id: 'compile-1000-roles',
          size: { resources: 2, purposes: 2, roles: 1000 },
          rounds: 1,
          target: '< 10 s and < 500 MB',
          met: () => null,
          note: 'quick stand-in: 2 resources × 2 purposes × 1,000 roles (not the target set; run without --quick)',
        }
      : {
          id: 'compile-1000-roles',
          size: { resources: 20, purposes: 10, roles: 1000 },
          rounds: 3,
          target: '< 10 s and < 500 MB',
          met: (s) => s.seconds < 10 && s.heapMB < 500,
          note: '20 resources × 10 purposes × 1,000 roles',
        },
  ];
  console.log(
    `compile: loadPolicies in a fresh process per load (node ${process.version}, ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)})`,
  );
  for (const row of rows) {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-bench-compile-'));
    try {
      const bytes = writePolicySet(dir, row.size);
      const grants = row.size.resources * row.size.purposes * row.size.roles;
      const samples = Array.from({ length: row.rounds }, () => sample(dir));
      const s: Sample = {
        seconds: median(samples.map((x) => x.seconds)),
        cpuSeconds: median(samples.map((x) => x.cpuSeconds)),
        heapMB: median(samples.map((x) => x.heapMB)),
        parseSeconds: median(samples.map((x) => x.parseSeconds)),
      };
      const ratio = s.seconds / s.parseSeconds;
      console.log(
        `${row.id.padEnd(20)} ${grants.toLocaleString('en-GB').padStart(8)} grants ${(bytes / 2 ** 20).toFixed(1).padStart(5)} MB YAML  ` +
          `load ${s.seconds.toFixed(2)} s (cpu ${s.cpuSeconds.toFixed(2)} s)  heap +${s.heapMB.toFixed(0)} MB  js-yaml parse ${s.parseSeconds.toFixed(2)} s  load÷parse ${ratio.toFixed(2)}  (median of ${row.rounds})`,
      );
      const result = {
        id: row.id,
        what: `loadPolicies of ${grants.toLocaleString('en-GB')} grants (${(bytes / 2 ** 20).toFixed(1)} MB YAML), seconds`,
        fieldmesh: Number(s.seconds.toFixed(3)),
        baseline: Number(s.parseSeconds.toFixed(3)),
        unit: 's',
        ratio: Number(ratio.toFixed(2)),
        target: row.target,
        met: row.met(s),
        note: `${row.note}; cpu ${s.cpuSeconds.toFixed(2)} s; heap +${s.heapMB.toFixed(0)} MB after load (forced GC); median of ${row.rounds} fresh processes; baseline: js-yaml parse of the same files, ratio = load ÷ parse (lower is better)`,
      };
      console.log(`BENCH-RESULT ${JSON.stringify(result)}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

const at = process.argv.indexOf('--child');
if (at !== -1) await child(process.argv[at + 1]!);
else await main();
