import { InvalidArgumentError, Option, type Command } from 'commander';
import { archivedRange, notSearchedLine } from '../audit/archived.js';
import { GENESIS_HASH, type AuditEvent } from '../audit/event.js';
import type { AuditFilter, AuditStore, ChainHead, VerifyResult } from '../audit/types.js';
import { printable, printableJson } from '../lib/text.js';
import { parseChainHead } from '../audit/verify.js';
import { auditOption, guard, out, plural, usageErrorsExit2, withStore } from './audit-common.js';
import { brief, brokenLine, positiveInt, progressBar, renderTable, shortTime, styles, timeOption, type Cell } from './audit-format.js';
import { archivedLines, registerAuditArchive } from './audit-archive.js';
import { registerAuditExport } from './audit-export.js';
import { byOption, readerName, recordRead } from './audit-read-record.js';
import { registerAuditReport, registerAuditReview } from './audit-review.js';
import { CliExit, EXIT } from './common.js';

/** Verifying fewer events than this is quick enough that a bar would only flicker. */
const PROGRESS_FROM = 10_000;
const DEFAULT_QUERY_LIMIT = 1000;

/**
 * Adds `fieldmesh audit verify | head | query | review | report | archive`. Exit codes: 0 done,
 * 1 (verify) the chain is broken, 2 the command could not run (bad option,
 * trail unreachable), so a script can tell tampering from a typo.
 *
 * @example
 * const program = new Command('fieldmesh');
 * registerAudit(program);
 * await program.parseAsync(process.argv);
 */
export function registerAudit(program: Command): Command {
  const audit = usageErrorsExit2(program.command('audit'))
    .description('check, search, review and export the audit trail of disclosures')
    .addHelpText(
      'after',
      '\nThe trail is a SQLite file or a postgres:// URL: --audit, else $FIELDMESH_AUDIT, else ./fieldmesh-audit.db.\n' +
        'Set FIELDMESH_AUDIT_RECORD_KEY when the trail stores record ids as keyed pseudonyms,\n' +
        'and FIELDMESH_AUDIT_CHAIN_KEY when its chain is keyed (verify, head and review need it).',
    );

  usageErrorsExit2(audit.command('verify'))
    .description(
      'check the hash chain (and, with --archive, its archives): exit 0 intact, 1 broken (naming the first broken event and why)',
    )
    .addOption(auditOption())
    .option('--json', 'print the result as JSON')
    .option('--expect-head <seq:hash>', 'fail unless the chain still holds this head, recorded earlier with `audit head`', headOption)
    .option('--archive <file>', 'check this archive file too (repeat for each: all of them, to verify from the genesis)', collect, [])
    .addHelpText(
      'after',
      '\nExample:\n  $ fieldmesh audit verify\n  intact: 1204 events in 1 chain\n' +
        '    chain main  head seq 1204  hash 9f2c…  (1204 events)\n\n' +
        'Deleting the newest events leaves a chain that verifies: record `fieldmesh audit head` somewhere else\n' +
        'from time to time and pass the last one with --expect-head, which fails when the trail was cut short or rewritten.',
    )
    .action(
      guard('verify', async (opts: { audit?: string; json?: true; expectHead?: ChainHead; archive: string[] }) => {
        await withStore(opts.audit, 'read', async (store) => {
          const result = await verifyWithBar(store, opts.json === true, opts.expectHead, opts.archive);
          const s = styles(process.stdout);
          if (opts.json) out(printableJson(result));
          else if (result.ok) {
            out(`${s.green('intact')}: ${result.events} event${plural(result.events)} in ${result.chains} chain${plural(result.chains)}`);
            for (const h of result.heads)
              out(printable(`  chain ${h.chain}  head seq ${h.seq}  hash ${h.hash}  (${h.events} event${plural(h.events)})`));
            for (const line of archivedLines(result)) out(line);
          } else {
            out(brokenLine(result));
          }
          if (!result.ok) throw new CliExit(EXIT.failed);
        });
      }),
    );

  usageErrorsExit2(audit.command('head'))
    .description('verify the chain, then print its head as SEQ:HASH to record somewhere else (for verify --expect-head)')
    .addOption(auditOption())
    .option('--json', 'print { chain, seq, hash, head } as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  $ fieldmesh audit head >> /secure/elsewhere/fieldmesh-heads.txt\n' +
        '  $ fieldmesh audit verify --expect-head "$(tail -n 1 /secure/elsewhere/fieldmesh-heads.txt)"\n\n' +
        "A broken chain has no head worth recording: it exits 1 as verify does (with --json, printing verify's JSON result).",
    )
    .action(
      guard('head', async (opts: { audit?: string; json?: true }) => {
        await withStore(opts.audit, 'read', async (store) => {
          const result = await verifyWithBar(store, opts.json === true, undefined);
          if (!result.ok) {
            out(opts.json ? printableJson(result) : brokenLine(result));
            throw new CliExit(EXIT.failed);
          }
          const h = result.heads[0] ?? { chain: null, seq: 0, hash: GENESIS_HASH };
          if (opts.json) out(printableJson({ chain: h.chain, seq: h.seq, hash: h.hash, head: `${h.seq}:${h.hash}` }));
          else out(`${h.seq}:${h.hash}`);
        });
      }),
    );

  usageErrorsExit2(audit.command('query'))
    .description('list events, oldest first (the latest --limit of those that match)')
    .addOption(auditOption())
    .option('--user <sub>', 'only this user')
    .option('--purpose <purpose>', 'only this purpose')
    .option('--resource <type>', 'only this resource type')
    .option('--record <id>', 'only events that disclosed or withheld this record')
    .option('--since <time>', 'from this time (2026-03-01, 2026-03-01T14:00Z, or an age: 7d, 12h)', timeOption('since'))
    .option('--until <time>', 'before this time (a bare date includes that whole day)', timeOption('until'))
    .addOption(new Option('--decision <decision>', 'only disclosed or refused').choices(['disclosed', 'refused']))
    .option('--break-glass', 'only break-glass events')
    .option('--no-break-glass', 'no break-glass events')
    .option('--limit <n>', `at most this many, the most recent (default ${DEFAULT_QUERY_LIMIT})`, positiveInt)
    .option('--json', 'print the events as a JSON array')
    .addOption(byOption())
    .addHelpText(
      'after',
      '\nExample:\n  $ fieldmesh audit query --user u-4411 --since 7d\n' +
        '  TIME                  EVENT     USER    PURPOSE      RESOURCE  ACTION  DECISION   RECORDS  BREAK-GLASS\n' +
        '  2026-03-02 09:14:03Z  5c1e07aa  u-4411  direct-care  Patient   read    disclosed  p-1002\n  1 event\n\n' +
        'The query is recorded in the trail (who, which filters, how many events) before it prints; when that\n' +
        'cannot be written it prints nothing and exits 3.',
    )
    .action(
      guard('query', async (opts: QueryOptions) => {
        const by = readerName(opts.by);
        await withStore(opts.audit, 'read', async (store) => {
          const limit = opts.limit ?? DEFAULT_QUERY_LIMIT;
          const events = await store.query({ ...filterFrom(opts), limit });
          // The filters as given (the record searched for is named like a disclosed one), and how many events were shown.
          const { audit: _trail, json: _json, by: _by, record, ...scope } = opts;
          await recordRead(opts.audit, 'query', store, {
            action: 'query',
            by,
            recordId: record,
            scope: { ...scope, count: events.length },
          });
          if (opts.json) out(printableJson(events));
          else out(events.length === 0 ? 'No matching events.' : `${eventTable(events)}\n${events.length} event${plural(events.length)}`);
          if (opts.limit === undefined && events.length === limit) {
            process.stderr.write(`(showing the latest ${limit} events; narrow the filters or pass --limit)\n`);
          }
          const archived = await archivedRange(store);
          if (archived !== undefined) process.stderr.write(`${printable(`(${notSearchedLine(archived)})`)}\n`);
        });
      }),
    );

  registerAuditReview(audit);
  registerAuditReport(audit);
  registerAuditExport(audit);
  registerAuditArchive(audit);
  return audit;
}

interface QueryOptions {
  audit?: string;
  user?: string;
  purpose?: string;
  resource?: string;
  record?: string;
  since?: string;
  until?: string;
  decision?: 'disclosed' | 'refused';
  breakGlass?: boolean;
  limit?: number;
  json?: true;
  by?: string;
}

function filterFrom(o: QueryOptions): AuditFilter {
  return {
    user: o.user,
    purpose: o.purpose,
    resource: o.resource,
    recordId: o.record,
    since: o.since,
    until: o.until,
    decision: o.decision,
    breakGlass: o.breakGlass,
  };
}

function eventTable(events: AuditEvent[]): string {
  const s = styles(process.stdout);
  const rows: Cell[][] = events.map((e) => [
    shortTime(e.time),
    e.id.slice(0, 8),
    e.user,
    e.purpose,
    e.resource,
    e.action,
    e.decision === 'refused' ? { text: `refused${e.code === undefined ? '' : ` (${e.code})`}`, paint: s.red } : e.decision,
    brief([...e.recordIds, ...e.withheldRecordIds.map((id) => `${id} (withheld)`)]),
    e.breakGlass === undefined ? '' : { text: e.breakGlass.length > 40 ? `${e.breakGlass.slice(0, 39)}…` : e.breakGlass, paint: s.yellow },
  ]);
  return renderTable(['TIME', 'EVENT', 'USER', 'PURPOSE', 'RESOURCE', 'ACTION', 'DECISION', 'RECORDS', 'BREAK-GLASS'], rows, s);
}

/** Verifies with a progress bar on a terminal (never with --json, whose reader is a program). */
async function verifyWithBar(
  store: AuditStore,
  json: boolean,
  expectHead: ChainHead | undefined,
  archives: string[] = [],
): Promise<VerifyResult> {
  const bar = progressBar(process.stderr, json ? Number.POSITIVE_INFINITY : PROGRESS_FROM);
  const result = await store.verify(bar.update, { expectHead, archives });
  bar.done();
  return result;
}

/** A repeatable option's values, in the order given. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `--expect-head SEQ:HASH`, as `audit head` prints it. */
function headOption(value: string): ChainHead {
  const head = parseChainHead(value);
  if (head === undefined)
    throw new InvalidArgumentError('expected SEQ:HASH as `fieldmesh audit head` prints it (e.g. 1204:9f2c…, 64 hex digits)');
  return head;
}
