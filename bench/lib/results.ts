/**
 * The benchmarks' result lines and the table made of them. A bench prints
 * one line per result row on stdout:
 *
 *   BENCH-RESULT {"id":"…","what":"…","fieldmesh":1,"baseline":2,"unit":"req/s","ratio":0.5,"target":"≥ 0.6×","met":false,"note":"…"}
 *
 * `parseResultLine` reads one such line (or says why it cannot), and
 * `renderMarkdown` writes BENCHMARKS.md from the rows and the failures of a
 * run, in the issue's order. Pure: no I/O here.
 */

/** One result row, as a bench prints it. */
export interface BenchResult {
  id: string;
  what: string;
  fieldmesh: number;
  baseline: number | null;
  unit: string;
  ratio: number | null;
  target: string;
  met: boolean | null;
  note: string;
}

/** A bench, or an expected row, that did not give a result: shown in the table, never dropped. */
export interface BenchFailure {
  /** The bench file (e.g. `gateway.ts`), or the row id that no bench printed. */
  source: string;
  reason: string;
}

/** The machine and moment of a run, for the header of BENCHMARKS.md. */
export interface RunInfo {
  date: string;
  cpu: string;
  cores: number;
  node: string;
  commit: string;
  /** 1-minute load average at the start and at the end of the run. */
  load: [number, number];
  quick: boolean;
}

export const RESULT_PREFIX = 'BENCH-RESULT ';

/**
 * The rows of the issue's table, in its order; any other id (audit-*, …)
 * comes after them, sorted. A run that misses one of these is a failed run.
 */
export const EXPECTED_IDS = [
  'engine-vs-naive-casl',
  'engine-vs-hand-written',
  'middleware-vs-bare',
  'gateway-vs-http-proxy',
  'gateway-vs-jwt-casl-proxy',
  'gateway-vs-cerbos',
  'compile-100-roles',
  'compile-1000-roles',
  'request-1000-vs-10-roles',
  'instances-1',
  'instances-2',
  'instances-3',
] as const;

export type ParsedLine = { kind: 'none' } | { kind: 'result'; result: BenchResult } | { kind: 'malformed'; reason: string };

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStr = (v: unknown): v is string => typeof v === 'string';

/**
 * Reads one line of a bench's stdout: not a result line, a result, or a
 * result line that breaks the protocol (with the reason).
 *
 * @example
 * parseResultLine('BENCH-RESULT {"id":"x",…}'); // { kind: 'result', result: { id: 'x', … } }
 * parseResultLine('hello'); // { kind: 'none' }
 */
export function parseResultLine(line: string): ParsedLine {
  const trimmed = line.replace(/\r$/, '');
  if (!trimmed.startsWith(RESULT_PREFIX)) return { kind: 'none' };
  let value: unknown;
  try {
    value = JSON.parse(trimmed.slice(RESULT_PREFIX.length));
  } catch {
    return { kind: 'malformed', reason: 'the result line is not one JSON object' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'malformed', reason: 'the result line is not one JSON object' };
  }
  const o = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of ['id', 'what', 'unit', 'target', 'note'] as const) if (!isStr(o[key])) problems.push(`${key} is not a string`);
  if (isStr(o['id']) && o['id'].trim() === '') problems.push('id is empty');
  if (!isNum(o['fieldmesh'])) problems.push('fieldmesh is not a finite number');
  for (const key of ['baseline', 'ratio'] as const)
    if (o[key] !== null && !isNum(o[key])) problems.push(`${key} is not a finite number or null`);
  if (o['met'] !== null && typeof o['met'] !== 'boolean') problems.push('met is not true, false or null');
  if (problems.length > 0) return { kind: 'malformed', reason: `${isStr(o['id']) ? `${o['id']}: ` : ''}${problems.join('; ')}` };
  return {
    kind: 'result',
    result: {
      id: o['id'] as string,
      what: o['what'] as string,
      fieldmesh: o['fieldmesh'] as number,
      baseline: o['baseline'] as number | null,
      unit: o['unit'] as string,
      ratio: o['ratio'] as number | null,
      target: o['target'] as string,
      met: o['met'] as boolean | null,
      note: o['note'] as string,
    },
  };
}

/**
 * Formats one result line (what a bench prints), so every bench writes the protocol the same way.
 *
 * @example
 * console.log(resultLine({ id: 'gateway-vs-cerbos', … }));
 */
export function resultLine(result: BenchResult): string {
  return `${RESULT_PREFIX}${JSON.stringify(result)}`;
}

/** The issue's rows first, in its order, then the others by id; a stable sort keeps a bench's own order within an id. */
export function sortResults(results: readonly BenchResult[]): BenchResult[] {
  const rank = (id: string) => {
    const i = (EXPECTED_IDS as readonly string[]).indexOf(id);
    return i < 0 ? EXPECTED_IDS.length : i;
  };
  return [...results].sort((a, b) => rank(a.id) - rank(b.id) || (rank(a.id) === EXPECTED_IDS.length ? a.id.localeCompare(b.id) : 0));
}

/** The expected rows that no result gives, as failures. */
export function missingRows(results: readonly BenchResult[]): BenchFailure[] {
  const seen = new Set(results.map((r) => r.id));
  return EXPECTED_IDS.filter((id) => !seen.has(id)).map((id) => ({ source: id, reason: 'no bench printed this row' }));
}

/** A figure for the table: 3 significant digits for small numbers, thousands grouped for large ones. */
export function formatNumber(n: number | null): string {
  if (n === null) return '–';
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-GB');
  if (n === 0) return '0';
  return Number(n.toPrecision(3)).toString();
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

function resultRow(r: BenchResult): string {
  const met = r.met === null ? '–' : r.met ? 'yes' : '**no**';
  const ratio = r.ratio === null ? '–' : `${r.ratio.toFixed(2)}×`;
  return `| ${cell(r.id)} | ${cell(r.what)} | ${formatNumber(r.fieldmesh)} | ${formatNumber(r.baseline)} | ${cell(r.unit)} | ${ratio} | ${cell(r.target)} | ${met} |`;
}

/**
 * BENCHMARKS.md (or, for a quick run, the same text printed): the machine,
 * one row per result in the issue's order (a row nobody printed as a failed
 * row in its place), every failed bench, and how each bench measures
 * (`howMeasured`: bench file → a short paragraph, with how long it ran).
 *
 * @example
 * writeFileSync('BENCHMARKS.md', renderMarkdown(info, results, failures, howMeasured));
 */
export function renderMarkdown(
  info: RunInfo,
  results: readonly BenchResult[],
  failures: readonly BenchFailure[],
  howMeasured: ReadonlyMap<string, string>,
): string {
  const out: string[] = [];
  out.push(`# Benchmarks${info.quick ? ' (quick run: short, indicative only)' : ''}`, '');
  out.push(
    'Generated by `npm run bench` (bench/run.ts). Every figure compares fieldmesh with its baseline side by side in one run;',
    'absolute numbers drift with the machine and its load, the ratios are the result.',
    '',
  );
  out.push(`- Date: ${info.date}`);
  out.push(`- Machine: ${info.cpu}, ${info.cores} cores`);
  out.push(`- Node: ${info.node}`);
  out.push(`- Commit: ${info.commit}`);
  out.push(`- Load average (1 min) at start / end: ${info.load[0].toFixed(2)} / ${info.load[1].toFixed(2)}`);
  out.push(`- Mode: ${info.quick ? 'quick (`npm run bench -- --quick`)' : 'full (`npm run bench`)'}`, '');
  out.push('| row | what | fieldmesh | baseline | unit | ratio | target | met |', '|---|---|---:|---:|---|---:|---|:---:|');
  // A row of the issue's table that nobody printed sits in its place; a failed bench file comes last.
  const failedRow = (f: BenchFailure) => `| ${cell(f.source)} | **failed**: ${cell(f.reason)} | – | – | – | – | – | **no** |`;
  const inPlace = failures.filter((f) => (EXPECTED_IDS as readonly string[]).includes(f.source));
  const sorted = sortResults(results);
  for (const id of EXPECTED_IDS) {
    for (const f of inPlace.filter((x) => x.source === id)) out.push(failedRow(f));
    for (const r of sorted.filter((x) => x.id === id)) out.push(resultRow(r));
  }
  for (const r of sorted.filter((x) => !(EXPECTED_IDS as readonly string[]).includes(x.id))) out.push(resultRow(r));
  for (const f of failures.filter((x) => !inPlace.includes(x))) out.push(failedRow(f));
  const notes = sortResults(results).filter((r) => r.note.trim() !== '');
  if (notes.length > 0) {
    out.push('', '## Notes per row', '');
    for (const r of notes) out.push(`- **${r.id}**: ${r.note.replace(/\r?\n/g, ' ')}`);
  }
  if (howMeasured.size > 0) {
    out.push('', '## How measured', '');
    for (const [file, text] of howMeasured) out.push(`- **bench/${file}**: ${text.replace(/\s+/g, ' ').trim()}`);
  }
  return `${out.join('\n')}\n`;
}

/**
 * The first paragraph of a bench file's leading doc comment: its own "how measured".
 *
 * @example
 * describeBench('/** Redaction throughput … *\/'); // 'Redaction throughput …'
 */
export function describeBench(source: string): string {
  const m = /^\s*(?:#![^\n]*\n\s*)?\/\*\*([\s\S]*?)\*\//.exec(source);
  if (!m) return '';
  const lines = m[1]!.split('\n').map((l) => l.replace(/^\s*\* ?/, ''));
  const paragraph: string[] = [];
  for (const l of lines) {
    if (l.trim() === '') {
      if (paragraph.length > 0) break;
      continue;
    }
    paragraph.push(l.trim());
  }
  return paragraph.join(' ');
}
