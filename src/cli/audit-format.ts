import { InvalidArgumentError } from 'commander';
import { printable } from '../lib/text.js';
import { colourOn } from './common.js';
import type { VerifyResult } from '../audit/types.js';

/**
 * Text styles; identity functions when the stream is not a terminal.
 *
 * @example
 * const s: Styles = styles(process.stdout);
 */
export interface Styles {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
}

/**
 * Colour as `colourOn` decides (src/cli/common.ts): piped output goes to
 * files and other programs, which want plain text, unless FORCE_COLOR asks.
 *
 * @example
 * const s = styles(process.stdout);
 * console.log(s.red('BROKEN'));
 */
export function styles(stream: { isTTY?: boolean }): Styles {
  const on = colourOn(stream);
  const sgr =
    (open: number, close: number) =>
    (s: string): string =>
      on ? `\u001b[${open}m${s}\u001b[${close}m` : s;
  return { bold: sgr(1, 22), dim: sgr(2, 22), red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39) };
}

/**
 * A table cell: its text and, optionally, how to paint it once padded.
 */
export type Cell = string | { text: string; paint: (s: string) => string };

/**
 * An aligned plain-text table. Cells are padded before they are painted so
 * colour codes never upset the alignment, and made printable first: a cell
 * comes from the trail, where an old event may hold raw control characters.
 */
export function renderTable(headers: string[], rows: Cell[][], s: Styles): string {
  const text = (c: Cell | undefined): string => printable(c === undefined ? '' : typeof c === 'string' ? c : c.text);
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => text(r[i]).length)));
  const line = (cells: Cell[], head: boolean): string =>
    cells
      .map((c, i) => {
        const last = i === cells.length - 1;
        const padded = last ? text(c) : text(c).padEnd(widths[i] ?? 0);
        if (head) return s.bold(padded);
        return typeof c === 'string' ? padded : c.paint(padded);
      })
      .join('  ')
      .trimEnd();
  return [line(headers, true), ...rows.map((r) => line(r, false))].join('\n');
}

/**
 * `2026-03-01T14:02:11.123Z` → `2026-03-01 14:02:11Z`: to the second, still UTC and unambiguous.
 *
 * @example
 * shortTime('2026-03-01T14:02:11.123Z'); // '2026-03-01 14:02:11Z'
 */
export function shortTime(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/**
 * A list shortened for a table column: the first few items and how many more.
 *
 * @example
 * brief(['a', 'b', 'c', 'd'], 2); // 'a, b +2'
 */
export function brief(items: string[], max = 3): string {
  if (items.length <= max) return items.join(', ');
  return `${items.slice(0, max).join(', ')} +${items.length - max}`;
}

/**
 * Parses `--since`/`--until`: an ISO date or date-time, or an age such as
 * `7d`, `12h`, `30m`. A bare date given to `--until` means the end of that
 * day (the bound is exclusive, so the next midnight), as people read it.
 *
 * @example
 * timeOption('until')('2026-03-31'); // '2026-04-01T00:00:00.000Z'
 */
export function timeOption(kind: 'since' | 'until'): (value: string) => string {
  return (value) => {
    const age = /^(\d+)([dhm])$/.exec(value);
    if (age) {
      const unit = { d: 86_400_000, h: 3_600_000, m: 60_000 }[age[2] as 'd' | 'h' | 'm'];
      return new Date(Date.now() - Number(age[1]) * unit).toISOString();
    }
    const ms = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
    if (Number.isNaN(ms))
      throw new InvalidArgumentError('expected a date (2026-03-31), a date-time (2026-03-31T14:00Z) or an age (7d, 12h)');
    const endOfDay = kind === 'until' && /^\d{4}-\d{2}-\d{2}$/.test(value);
    return new Date(endOfDay ? ms + 86_400_000 : ms).toISOString();
  };
}

/**
 * Parses a positive integer option.
 *
 * @example
 * positiveInt('20'); // 20
 */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive whole number');
  return n;
}

/**
 * A progress bar on a terminal for long runs; nothing otherwise (a log file
 * full of carriage returns helps nobody).
 *
 * @example
 * const bar = progressBar(process.stderr, 10_000);
 * await store.verify(bar.update);
 * bar.done();
 */
export function progressBar(
  stream: NodeJS.WriteStream,
  minTotal: number,
): { update: (done: number, total: number) => void; done: () => void } {
  let shown = -1;
  const update = (done: number, total: number): void => {
    if (stream.isTTY !== true || total < minTotal) return;
    const pct = Math.floor((done / total) * 100);
    if (pct === shown) return;
    shown = pct;
    const width = 30;
    const filled = Math.round((pct / 100) * width);
    stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(pct).padStart(3)}%  ${done}/${total} events`);
  };
  const done = (): void => {
    if (shown >= 0) stream.write('\r\u001b[2K');
  };
  return { update, done };
}

/**
 * The one line that says what broke. Chain names, ids and reasons come from
 * the trail, so they are made printable.
 *
 * @example
 * if (!result.ok) out(brokenLine(result)); // 'BROKEN at event 0b6f… (chain main, seq 3): hash mismatch: …'
 */
export function brokenLine(result: Exclude<VerifyResult, { ok: true }>): string {
  const file = 'eventId' in result && result.archive !== undefined ? ` in archive ${result.archive}` : '';
  const where = 'eventId' in result ? `${file} at event ${result.eventId} (chain ${result.chain}, seq ${result.seq})` : '';
  return `${styles(process.stdout).red('BROKEN')}${printable(`${where}: ${result.reason}`)}`;
}
