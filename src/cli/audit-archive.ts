import type { Command } from 'commander';
import type { VerifyResult } from '../audit/types.js';
import { printable, printableJson } from '../lib/text.js';
import { auditOption, guard, out, plural, usageErrorsExit2, withStore } from './audit-common.js';
import { brokenLine, timeOption } from './audit-format.js';
import { CliExit, EXIT } from './common.js';

/**
 * Adds `audit archive --before DATE --out FILE`: moves the beginning of the
 * chain into an archive file that verifies by itself and leaves a
 * checkpoint in the trail. Exit 0 archived (or nothing to archive), 1 the
 * chain does not verify, 2 could not (the file exists, a date in the future,
 * a full disk: the trail unchanged), 3 refused (a break-glass event awaiting
 * review is in the range).
 *
 * @example
 * registerAuditArchive(program.command('audit'));
 */
export function registerAuditArchive(audit: Command): void {
  usageErrorsExit2(audit.command('archive'))
    .description('move events before a date into an archive file that verifies by itself, leaving a checkpoint in the trail')
    .addOption(auditOption())
    .requiredOption(
      '--before <date>',
      'archive events before this date or date-time (2026-01-01 is its midnight UTC); not in the future',
      timeOption('since'),
    )
    .requiredOption('--out <file>', 'the archive file to create (JSON lines); it must not exist')
    .option(
      '--include-unreviewed',
      'archive break-glass events still awaiting review too (they leave the review queue; the output and the checkpoint name them)',
    )
    .option('--by <name>', 'who archives, recorded in the checkpoint (default: the operating-system user)')
    .option('--json', 'print the outcome as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  $ fieldmesh audit archive --before 2026-01-01 --out /archive/audit-2025.jsonl\n' +
        '  archived seq 1 to 1200 (1200 events) into /archive/audit-2025.jsonl\n' +
        '    sha256 5d0c…  checkpoint event 3f1e… at seq 1305; the live chain starts at seq 1201\n' +
        '  $ fieldmesh audit verify --archive /archive/audit-2025.jsonl\n\n' +
        'Archives the beginning of the chain up to its first event at or after the date. Keep every archive:\n' +
        'the trail records each one (range, hashes, SHA-256) and verify --archive needs them all.\n' +
        'On a keyed trail set FIELDMESH_AUDIT_CHAIN_KEY; the archive holds no key.\n' +
        'If the connection drops after the checkpoint was sent and the trail cannot be checked, the file is kept\n' +
        '(exit 2): run verify --archive FILE once the trail is back to know whether it was archived.',
    )
    .action(
      guard('archive', async (opts: { audit: string; before: string; out: string; includeUnreviewed?: true; by?: string; json?: true }) => {
        // The checkpoint goes into the chain the trail records, whatever it is called.
        let chain: string | undefined;
        await withStore(opts.audit, 'read', async (store) => {
          const result = await store.verify();
          if (!result.ok) {
            out(opts.json ? printableJson(result) : brokenLine(result));
            throw new CliExit(EXIT.failed);
          }
          chain = result.heads[0]?.chain;
        });
        await withStore(
          opts.audit,
          'write',
          async (store) => {
            const outcome = await store.archive({
              before: new Date(opts.before),
              out: opts.out,
              includeUnreviewed: opts.includeUnreviewed === true,
              by: opts.by,
            });
            if (opts.json) out(printableJson(outcome));
            if (outcome.ok) {
              if (!opts.json) {
                const { record, checkpoint } = outcome;
                out(
                  printable(
                    `archived seq ${record.from.seq + 1} to ${record.to.seq} (${record.events} event${plural(record.events)}) into ${opts.out}`,
                  ),
                );
                out(
                  printable(
                    `  sha256 ${record.sha256}  checkpoint event ${checkpoint.id} at seq ${checkpoint.seq}; the live chain starts at seq ${record.to.seq + 1}`,
                  ),
                );
                const unreviewed = record.unreviewed ?? [];
                if (unreviewed.length > 0) {
                  out(
                    printable(
                      `  ${unreviewed.length} break-glass event${plural(unreviewed.length)} archived awaiting review (no longer in the review queue; ` +
                        `named in the checkpoint, the events in ${opts.out}): ${unreviewed.join(', ')}`,
                    ),
                  );
                }
                if (outcome.note !== undefined) out(printable(`  (${outcome.note})`));
              }
              return;
            }
            if (outcome.kind === 'nothing') {
              if (!opts.json) out(printable(`Nothing to archive: ${outcome.reason}.`));
              return;
            }
            if (outcome.kind === 'broken' && outcome.verify !== undefined && !outcome.verify.ok) {
              if (!opts.json) out(brokenLine(outcome.verify));
              throw new CliExit(EXIT.failed);
            }
            const code = outcome.kind === 'unreviewed' ? EXIT.refused : EXIT.usage;
            throw new CliExit(code, opts.json ? '' : `fieldmesh audit archive: ${outcome.reason}`);
          },
          chain,
        );
      }),
    );
}

/**
 * What `audit verify` adds when the beginning of the chain was archived:
 * where the live chain starts, on which archives it depends, and which
 * archive files were checked.
 *
 * @example
 * for (const line of archivedLines(result)) out(line);
 */
export function archivedLines(result: Extract<VerifyResult, { ok: true }>): string[] {
  const a = result.archived;
  if (a === undefined) return [];
  const n = a.archives.length;
  const lines = [
    `  the live chain starts at seq ${a.seq + 1}, after ${n} archive${plural(n)} ending at seq ${a.seq} hash ${a.hash}:`,
    ...a.archives.map((r) => `    seq ${r.from.seq + 1} to ${r.to.seq}  ${r.file}  sha256 ${r.sha256}`),
  ];
  if (a.verified === undefined) lines.push('  (archives not checked: pass each with --archive to verify the chain from its genesis)');
  else
    lines.push(
      `  archives verified: the chain is intact from its genesis to the live head (${a.verified.length} file${plural(a.verified.length)})`,
    );
  return lines.map(printable);
}
