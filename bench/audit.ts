/**
 * The durable audit append: events/s for one writer awaiting each append
 * (sequential) and for many appends in flight (concurrent, group-committed),
 * and what the commit costs the event loop meanwhile: while 64 appends are
 * kept in flight, the loop's delay (perf_hooks.monitorEventLoopDelay: p50,
 * p99, max) and how much of a concurrent CPU task (slices of ~0.2 ms queued
 * with setImmediate, as request work would be) still gets done, against the
 * same task with the loop to itself.
 *
 * SQLite is measured in both designs side by side, rounds interleaved, medians
 * taken: the writer thread (what `openAuditStore` opens) and the former
 * synchronous commit on the main thread (kept selectable for this comparison).
 *
 *   node --import tsx bench/audit.ts [--quick]
 *   FIELDMESH_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test node --import tsx bench/audit.ts
 *
 * Every append is durable when it resolves (SQLite synchronous=FULL, PostgreSQL
 * synchronous_commit=on), so these are fsync-bound figures for this disk.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import pg from 'pg';
import type { AuditEntry } from '../src/audit/event.js';
import { openAuditStore } from '../src/audit/open.js';
import { openSqliteStore } from '../src/audit/sqlite/store.js';
import type { AuditStore } from '../src/audit/types.js';

const QUICK = process.argv.includes('--quick');
const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? (QUICK ? 50 : 1000));
const CONCURRENT = Number(process.env.BENCH_CONCURRENT ?? (QUICK ? 1000 : 15000));
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 64);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 3));
/** One slice of the side task: CPU work of about this many ms, then back to the loop. */
const SLICE_MS = 0.2;

function entry(i: number): AuditEntry {
  return {
    requestId: `bench-${i}`,
    user: 'u-4411',
    roles: ['nurse'],
    purpose: 'direct-care',
    resource: 'Patient',
    action: 'read',
    decision: 'disclosed',
    status: 200,
    recordIds: [`p-${i % 5000}`],
    withheldRecordIds: [],
    fieldsDisclosed: ['id', 'name', 'dateOfBirth', 'ward'],
    fieldsWithheld: ['address', 'diagnoses'],
    transforms: {},
    restrictions: [],
    grants: ['nurse#0'],
    policyVersion: 'sha256:bench',
  };
}

/** Busy work for about SLICE_MS (calibrated once), standing in for a request's CPU work. */
let spinsPerSlice = 1;
function spin(n: number): number {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x * 31 + i) % 1000003;
  return x;
}
function calibrate(): void {
  let n = 1000;
  for (;;) {
    const t = performance.now();
    spin(n);
    const ms = performance.now() - t;
    if (ms > 20) {
      spinsPerSlice = Math.max(1, Math.round((n * SLICE_MS) / ms));
      return;
    }
    n *= 2;
  }
}

/** Runs the side task until `stop` settles; resolves with slices done per second. */
async function sideTask(stop: Promise<unknown>): Promise<number> {
  let done = false;
  void stop.finally(() => {
    done = true;
  });
  let slices = 0;
  const start = performance.now();
  let sink = 0;
  while (!done) {
    sink += spin(spinsPerSlice);
    slices += 1;
    await new Promise<void>((r) => setImmediate(r));
  }
  if (sink < 0) console.log(sink); // keeps the work from being optimised away
  return slices / ((performance.now() - start) / 1000);
}

async function sideAlone(ms: number): Promise<number> {
  return sideTask(new Promise((r) => setTimeout(r, ms)));
}

async function sequential(store: AuditStore, n: number, from: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await store.append(entry(from + i));
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

interface Loaded {
  eventsPerSecond: number;
  p50: number;
  p99: number;
  max: number;
  /** Share of the event loop's time spent running (not waiting), performance.eventLoopUtilization. */
  utilisation: number;
  /** Side-task slices per second while the appends ran. */
  side: number;
}

async function concurrent(store: AuditStore, n: number, inFlight: number, from: number, withSide: boolean): Promise<Loaded> {
  let next = 0;
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  const elu = performance.eventLoopUtilization();
  histogram.enable();
  const start = process.hrtime.bigint();
  const work = Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) await store.append(entry(from + next++));
    }),
  );
  const side = withSide ? sideTask(work) : Promise.resolve(0);
  await work;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  histogram.disable();
  const used = performance.eventLoopUtilization(elu);
  const ms = (ns: number): number => ns / 1e6;
  return {
    eventsPerSecond: n / seconds,
    p50: ms(histogram.percentile(50)),
    p99: ms(histogram.percentile(99)),
    max: ms(histogram.max),
    utilisation: used.utilization,
    side: await side,
  };
}

interface Design {
  name: string;
  open: (dir: string) => Promise<AuditStore> | AuditStore;
}

interface Round {
  sequential: number;
  bare: Loaded;
  loaded: Loaded;
  sideAlone: number;
}

async function round(design: Design, dir: string): Promise<Round> {
  const store = await design.open(dir);
  await store.append(entry(-1)); // opens the file (and starts the writer) before timing
  const seq = await sequential(store, SEQUENTIAL, 0);
  const bare = await concurrent(store, CONCURRENT, IN_FLIGHT, SEQUENTIAL, false);
  const loaded = await concurrent(store, CONCURRENT, IN_FLIGHT, SEQUENTIAL + CONCURRENT, true);
  const alone = await sideAlone(QUICK ? 200 : 1000);
  const verify = await store.verify();
  await store.close();
  if (!verify.ok) throw new Error(`${design.name}: chain broken after the run: ${verify.reason}`);
  if (verify.events !== 1 + SEQUENTIAL + 2 * CONCURRENT) throw new Error(`${design.name}: ${verify.events} events in the trail`);
  return { sequential: seq, bare, loaded, sideAlone: alone };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function summarise(rounds: Round[]) {
  const pick = (f: (r: Round) => number): number => median(rounds.map(f));
  return {
    sequential: pick((r) => r.sequential),
    concurrent: pick((r) => r.bare.eventsPerSecond),
    concurrentLoaded: pick((r) => r.loaded.eventsPerSecond),
    p50: pick((r) => r.loaded.p50),
    p99: pick((r) => r.loaded.p99),
    max: pick((r) => r.loaded.max),
    utilisation: pick((r) => r.bare.utilisation),
    sideShare: pick((r) => r.loaded.side / r.sideAlone),
  };
}

const designs: Design[] = [
  { name: 'sqlite, writer thread', open: (dir) => openAuditStore(join(dir, 'thread.db')) },
  { name: 'sqlite, synchronous on the main thread', open: (dir) => openSqliteStore(join(dir, 'inline.db'), {}, { writer: 'inline' }) },
];

calibrate();
const cpu = cpus();
console.log(
  `${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, Node ${process.version}, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
console.log(
  `${ROUNDS} round(s), designs interleaved: ${SEQUENTIAL} sequential appends, then ${CONCURRENT} with ${IN_FLIGHT} in flight, ` +
    `then ${CONCURRENT} more alongside a CPU task (slices of ${SLICE_MS} ms); every append durable when it resolves`,
);
const results = new Map<string, Round[]>(designs.map((d) => [d.name, []]));
const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-bench-'));
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const design of r % 2 === 0 ? designs : [...designs].reverse()) {
      const sub = mkdtempSync(join(dir, 'r-'));
      results.get(design.name)?.push(await round(design, sub));
      rmSync(sub, { recursive: true, force: true });
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const rows: string[][] = [
  ['store', 'sequential ev/s', `concurrent ev/s`, 'loop busy', 'with CPU task ev/s', 'loop delay p50/p99/max ms', 'CPU task got'],
];
const fmt = (n: number): string => Math.round(n).toLocaleString('en-GB');
const summaries = new Map<string, ReturnType<typeof summarise>>();
for (const [name, rs] of results) {
  const s = summarise(rs);
  summaries.set(name, s);
  rows.push([
    name,
    fmt(s.sequential),
    fmt(s.concurrent),
    `${Math.round(s.utilisation * 100)}%`,
    fmt(s.concurrentLoaded),
    `${s.p50.toFixed(1)} / ${s.p99.toFixed(1)} / ${s.max.toFixed(1)}`,
    `${Math.round(s.sideShare * 100)}%`,
  ]);
}

const pgUrl = process.env.FIELDMESH_BENCH_PG_URL ?? process.env.FIELDMESH_TEST_PG_URL;
if (pgUrl !== undefined) {
  const schema = `fm_audit_bench_${randomBytes(4).toString('hex')}`;
  try {
    const store = await openAuditStore(pgUrl, { schema });
    const seq = await sequential(store, SEQUENTIAL, 0);
    const conc = await concurrent(store, CONCURRENT, IN_FLIGHT, SEQUENTIAL, false);
    await store.close();
    rows.push(['postgres', fmt(seq), fmt(conc.eventsPerSecond), `${Math.round(conc.utilisation * 100)}%`, '', '', '']);
  } finally {
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
}

const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('   '));
console.log(
  '(loop busy: share of time the event loop was running, not waiting, during the concurrent appends; CPU task got: slices done while\n' +
    ' appending, as a share of the slices done with the loop to itself)',
);

const thread = summaries.get('sqlite, writer thread');
const inline = summaries.get('sqlite, synchronous on the main thread');
if (thread !== undefined && inline !== undefined) {
  const row = (r: Record<string, unknown>): void => console.log(`BENCH-RESULT ${JSON.stringify(r)}`);
  const concRatio = thread.concurrent / inline.concurrent;
  row({
    id: 'audit-append-concurrent',
    what: `durable SQLite appends/s, ${IN_FLIGHT} in flight: writer thread vs the synchronous commit on the main thread`,
    fieldmesh: Math.round(thread.concurrent),
    baseline: Math.round(inline.concurrent),
    unit: 'events/s',
    ratio: Number(concRatio.toFixed(2)),
    target: '≥ 1× the synchronous commit, fsync before every answer',
    met: concRatio >= 1,
    note: `sequential ${fmt(thread.sequential)} vs ${fmt(inline.sequential)} ev/s; loop busy ${Math.round(thread.utilisation * 100)}% vs ${Math.round(inline.utilisation * 100)}%; each batch crosses threads twice, which costs most when the machine has more runnable threads than cores`,
  });
  const stallRatio = thread.p99 / inline.p99;
  row({
    id: 'audit-loop-stall',
    what: `p99 event-loop delay while ${IN_FLIGHT} durable appends stay in flight beside a CPU task: writer thread vs synchronous commit`,
    fieldmesh: Number(thread.p99.toFixed(2)),
    baseline: Number(inline.p99.toFixed(2)),
    unit: 'ms (lower is better)',
    ratio: Number(stallRatio.toFixed(2)),
    target: 'the commit no longer stalls the event loop (p99 ≤ 0.5× the synchronous commit)',
    met: stallRatio <= 0.5,
    note: `p50 ${thread.p50.toFixed(1)} vs ${inline.p50.toFixed(1)} ms, max ${thread.max.toFixed(1)} vs ${inline.max.toFixed(1)} ms (on a machine with more runnable threads than cores the p99 and max follow the scheduler); the CPU task got ${Math.round(thread.sideShare * 100)}% vs ${Math.round(inline.sideShare * 100)}% of its rate alone`,
  });
}
