import { InvalidArgumentError, Option, type Command } from 'commander';
import { archivedStartReason, exportRange } from '../audit/export-range.js';
import { resumeProblem, type ResumeProblem } from '../audit/export-resume.js';
import { assertCursorWritable, exportEvents, readCursor, saveCursor, type ExportPosition } from '../audit/export-stream.js';
import type { AuditEvent } from '../audit/event.js';
import { toFhirAuditEvent } from '../audit/fhir-audit-event.js';
import { printableJson } from '../lib/text.js';
import { auditOption, guard, usageErrorsExit2, withStore } from './audit-common.js';
import { positiveInt, timeOption } from './audit-format.js';
import { byOption, readerName, recordRead } from './audit-read-record.js';
import { CliExit, EXIT } from './common.js';

const DEFAULT_PAGE = 500;
const DEFAULT_POLL_MS = 1000;
/** How often a --progress line is written when stderr is not a terminal. */
const PROGRESS_LINE_MS = 1000;

interface ExportOptions {
  audit: string;
  since?: string;
  until?: string;
  format: 'jsonl' | 'fhir';
  after?: number;
  cursor?: string;
  follow?: true;
  pollMs: number;
  pageSize: number;
  progress?: true;
  by?: string;
}

/**
 * Adds `audit export`: the trail as JSON lines (each event exactly as
 * stored, chain, seq and hash included, so the reader can verify it) or as
 * FHIR R4 AuditEvent resources, one per line, resumable from a cursor file
 * and, with --follow, streaming new events until SIGINT or SIGTERM. The
 * export is itself recorded in the trail before its first line (exit 3 when
 * it cannot be).
 *
 * @example
 * registerAuditExport(program.command('audit'));
 */
export function registerAuditExport(audit: Command): void {
  usageErrorsExit2(audit.command('export'))
    .description('stream events for a SIEM, one per line: JSON as stored (--format jsonl) or FHIR R4 AuditEvent (--format fhir)')
    .addOption(auditOption())
    .option('--since <time>', 'only events from this time', timeOption('since'))
    .option('--until <time>', 'only events before this time (a bare date includes that whole day)', timeOption('until'))
    .addOption(
      new Option('--format <format>', 'jsonl: each event as stored; fhir: FHIR R4 AuditEvent').choices(['jsonl', 'fhir']).default('jsonl'),
    )
    .option(
      '--after <seq>',
      'start after this seq, not beyond the end of the trail (default: after the --cursor position, else from the first event)',
      wholeNumber,
    )
    .option(
      '--cursor <file>',
      'resume after the position this file holds (checked: the trail must still hold its event), and save each position exported to it',
    )
    .option('--follow', 'after the events there are, keep streaming new ones until SIGINT or SIGTERM')
    .option('--poll-ms <ms>', 'with --follow, how often to look for new events', positiveInt, DEFAULT_POLL_MS)
    .option('--page-size <n>', 'events read, written and then saved to the cursor at a time', positiveInt, DEFAULT_PAGE)
    .option('--progress', 'report progress on stderr even when it is not a terminal')
    .addOption(byOption())
    .addHelpText(
      'after',
      '\nExamples:\n  $ fieldmesh audit export --cursor siem.cursor >> siem.jsonl      # again later: only what is new\n' +
        '  $ fieldmesh audit export --format fhir --since 2026-03-01 --until 2026-03-31 > march.ndjson\n' +
        '  $ fieldmesh audit export --follow --cursor siem.cursor | siem-forwarder\n\n' +
        'Each line carries its chain and seq; the cursor is saved only after the lines before it were written,\n' +
        'so a resumed export has no gap. A process killed without warning may send up to one page again\n' +
        '(at-least-once; drop repeats by id or seq); one stopped by SIGINT or SIGTERM saves its place and\n' +
        'resumes exactly once. The cursor holds the seq and hash of the last event exported: when the trail no\n' +
        'longer holds that event (another trail, or one rolled back since) it exits 2 rather than skip events;\n' +
        'resume then with --after SEQ --cursor FILE from the last seq you trust. The export is recorded in the\n' +
        'trail (who, which range, how many) before its first line; when that cannot be written nothing is\n' +
        'exported and it exits 3.\n' +
        'After archiving, an export from the first event starts at the live chain (saying so on stderr); a cursor\n' +
        'or --after whose next events were archived is refused (exit 2), naming the archive that holds them.',
    )
    .action(guard('export', runExport));
}

async function runExport(opts: ExportOptions): Promise<void> {
  const by = readerName(opts.by);
  const cursor = opts.cursor === undefined ? undefined : await readCursor(opts.cursor);
  // Checked before anything is written: a cursor that cannot be saved would fail only after the first page.
  if (opts.cursor !== undefined) await assertCursorWritable(opts.cursor);
  await withStore(opts.audit, 'read', async (store) => {
    const [latest] = await store.query({ limit: 1 });
    const chain = cursor?.chain ?? latest?.chain ?? 'main';
    if (latest !== undefined && latest.chain !== chain) {
      throw new Error(
        `the cursor ${opts.cursor} is for chain "${chain}", but this trail is written in chain "${latest.chain}": is it another trail's?`,
      );
    }
    const head = latest?.seq ?? 0;
    const trail = (await store.trailId?.()) ?? null;
    if (opts.after !== undefined && opts.after > head) {
      throw new Error(
        `--after ${opts.after} is beyond the end of the trail (its chain ends at seq ${head}): nothing after it can be exported`,
      );
    }
    if (opts.after === undefined && cursor !== undefined) {
      const problem = await resumeProblem(store, cursor, head);
      if (problem !== undefined) throw new Error(resumeRefusal(opts.cursor as string, problem));
    }
    const after = opts.after ?? cursor?.seq ?? 0;
    // The range is fixed now: up to the head as it is (the export's own event, and anything later, is for the next export).
    const { through, archived } = await exportRange(store, chain, after);
    if (archived !== undefined) {
      // Told where to start: never skip past events it has not sent. From the first event: the live chain, said so.
      if (opts.after !== undefined || cursor !== undefined) throw new Error(archivedStartReason(archived, after));
      process.stderr.write(
        `seq ${archived.from} to ${archived.to} are archived (in ${archived.files.join(', ')}): exporting the live chain from seq ${archived.to + 1}\n`,
      );
    }
    const count = await store.count({ chain, afterSeq: after, throughSeq: through, since: opts.since, until: opts.until });
    await recordRead(opts.audit, 'export', store, {
      action: 'export',
      by,
      scope: { format: opts.format, after, through, since: opts.since, until: opts.until, count, follow: opts.follow },
    });

    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
    for (const s of signals) process.on(s, onSignal);
    const progress = progressReporter(opts.progress === true, count, opts.follow === true);
    try {
      const result = await exportEvents({
        store,
        chain,
        after,
        through,
        since: opts.since,
        until: opts.until,
        pageSize: opts.pageSize,
        follow: opts.follow === true,
        pollMs: opts.pollMs,
        render: opts.format === 'fhir' ? (e: AuditEvent) => printableJson(toFhirAuditEvent(e), 0) : (e: AuditEvent) => printableJson(e, 0),
        write: writeStdout,
        save:
          opts.cursor === undefined
            ? async () => undefined
            : (p: ExportPosition) => saveCursor(opts.cursor as string, trail === null ? p : { ...p, trail }),
        signal: stop.signal,
        onPage: progress.page,
      });
      progress.done(result.exported);
      if (!result.complete && opts.follow !== true) {
        throw new CliExit(
          EXIT.usage,
          `fieldmesh audit export: stopped at seq ${result.seq} before the end of its range (seq ${through})` +
            (opts.cursor === undefined ? `: resume with --after ${result.seq}` : `: run it again with --cursor ${opts.cursor} to resume`),
        );
      }
    } finally {
      for (const s of signals) process.off(s, onSignal);
    }
  });
}

/** Why the export does not resume from the cursor, and what the operator can do. */
function resumeRefusal(file: string, problem: ResumeProblem): string {
  switch (problem.kind) {
    case 'trail':
      return (
        `the cursor ${file} is another trail's: ${problem.reason}. Resuming from it would skip events: use this trail's own ` +
        `cursor, or start this trail's export with --after 0 --cursor ${file}`
      );
    case 'unchecked':
      return (
        `the cursor ${file} cannot be checked: ${problem.reason}. If its seq is the last one you exported from this trail, ` +
        `run once with --after SEQ --cursor ${file}: the position saved then is checked on every later run`
      );
    default:
      return (
        `the trail no longer holds the event the cursor ${file} names: ${problem.reason}. The cursor is another trail's, ` +
        'or this trail was rolled back or rewritten since it was saved (a restore, or a failover that lost committed events ' +
        'whose seqs new events then took), and resuming from it would skip events. Find the last seq you exported whose hash ' +
        `this trail still holds (audit export --after N shows the trail's), then resume with --after that seq --cursor ${file}`
      );
  }
}

/** Resolves once the chunk is handed to the operating system; only then may its position be saved. */
function writeStdout(chunk: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
}

/** Progress on stderr: a line redrawn on a terminal, or (with --progress elsewhere) a line at most every second. */
function progressReporter(forced: boolean, total: number, follow: boolean) {
  const tty = process.stderr.isTTY === true;
  const on = tty || forced;
  let last = 0;
  const text = (n: number, seq?: number): string =>
    `exported ${n}${follow ? '' : ` of ${total}`} event${n === 1 ? '' : 's'}${seq === undefined ? '' : ` (seq ${seq})`}`;
  return {
    page: (n: number, p: ExportPosition): void => {
      if (!on) return;
      if (tty) process.stderr.write(`\r${text(n, p.seq)}`);
      else if (Date.now() - last >= PROGRESS_LINE_MS) {
        last = Date.now();
        process.stderr.write(`${text(n, p.seq)}\n`);
      }
    },
    done: (n: number): void => {
      if (on) process.stderr.write(`${tty ? '\r\u001b[2K' : ''}${text(n)}\n`);
    },
  };
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a seq: a whole number, 0 or more');
  return n;
}
