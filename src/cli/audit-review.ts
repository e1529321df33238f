import type { Command } from 'commander';
import { archivedRange, notSearchedLine } from '../audit/archived.js';
import { pseudonymiseRecordId, type AuditEvent } from '../audit/event.js';
import type { AuditStore } from '../audit/types.js';
import { printable, printableJson } from '../lib/text.js';
import { auditOption, guard, out, plural, usageErrorsExit2, withStore } from './audit-common.js';
import { brief, brokenLine, renderTable, shortTime, styles, timeOption, type Cell } from './audit-format.js';
import { byOption, readerName, recordRead } from './audit-read-record.js';
import { CliExit, EXIT, secretEnv } from './common.js';

/**
 * Adds `audit review`: the guardian's queue of break-glass events, and
 * `--ack ID --by NAME --note TEXT` to acknowledge one with a chained event.
 *
 * @example
 * registerAuditReview(program.command('audit'));
 */
export function registerAuditReview(audit: Command): void {
  usageErrorsExit2(audit.command('review'))
    .description('list break-glass events awaiting review, or acknowledge one with --ack')
    .addOption(auditOption())
    .option('--ack <id>', 'acknowledge this event (its full id, or a unique prefix of 8 or more characters)')
    .option('--by <name>', 'who reviewed it (with --ack)')
    .option('--note <text>', 'the finding (with --ack)')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ fieldmesh audit review\n' +
        '  EVENT                                 TIME                  USER    ROLES          PURPOSE    RESOURCE  RECORDS  DECISION   REASON\n' +
        '  0b6f…                                 2026-03-02 03:12:44Z  u-9001  ed-consultant  emergency  Patient   p-1002   disclosed  Unconscious, no consent possible\n' +
        '  1 break-glass event awaiting review\n\n' +
        '  $ fieldmesh audit review --ack 0b6f3c2e --by "Dr A Guardian" --note "Justified: cardiac arrest"\n\n' +
        'The queue is read from rows verify accepts: on a broken chain it prints the BROKEN line and exits 1.',
    )
    .action(
      guard('review', async (opts: { audit?: string; ack?: string; by?: string; note?: string; json?: true }) => {
        if (opts.ack !== undefined && (opts.by === undefined || opts.note === undefined))
          throw new Error('--ack needs --by NAME and --note TEXT');
        // A forged review row (or a deleted one) would change the queue: trust it only on a chain that verifies.
        let chain: string | undefined;
        await withStore(opts.audit, 'read', async (store) => {
          const result = await store.verify();
          if (!result.ok) {
            out(opts.json ? printableJson(result) : brokenLine(result));
            throw new CliExit(EXIT.failed);
          }
          chain = result.heads[0]?.chain;
          if (opts.ack === undefined) listPending(await store.pendingReviews(), opts.json === true);
        });
        if (opts.ack === undefined) return;
        const { by, note } = opts as { by: string; note: string };
        // The review goes into the chain the trail records, whatever it is called.
        await withStore(
          opts.audit,
          'write',
          async (store) => {
            const id = await resolveId(store, opts.ack as string);
            const review = await store.acknowledge(id, by, note);
            if (opts.json) out(printableJson(review));
            else out(printable(`Acknowledged ${id} by ${review.user} (review event ${review.id}, seq ${review.seq})`));
          },
          chain,
        );
      }),
    );
}

function listPending(events: AuditEvent[], json: boolean): void {
  if (json) return out(printableJson(events));
  if (events.length === 0) return out('No break-glass events awaiting review.');
  const s = styles(process.stdout);
  const rows: Cell[][] = events.map((e) => [
    e.id,
    shortTime(e.time),
    e.user,
    e.roles.join(', '),
    e.purpose,
    e.resource,
    brief(e.recordIds),
    e.decision === 'refused' ? { text: 'refused', paint: s.red } : e.decision,
    { text: e.breakGlass ?? '', paint: s.yellow },
  ]);
  out(renderTable(['EVENT', 'TIME', 'USER', 'ROLES', 'PURPOSE', 'RESOURCE', 'RECORDS', 'DECISION', 'REASON'], rows, s));
  out(`${events.length} break-glass event${plural(events.length)} awaiting review`);
}

/** A full id is taken as given; a prefix must name exactly one pending event. */
async function resolveId(store: AuditStore, given: string): Promise<string> {
  if (given.length >= 36) return given;
  if (given.length < 8) throw new Error('--ack needs the event id, or at least its first 8 characters');
  const matches = (await store.pendingReviews()).filter((e) => e.id.startsWith(given));
  if (matches.length === 1) return (matches[0] as AuditEvent).id;
  throw new Error(
    matches.length === 0 ? `no event awaiting review starts with ${given}` : `${given} names ${matches.length} events; give more of the id`,
  );
}

/**
 * Adds `audit report --record ID` and `audit report --subject ID`: the
 * subject access request view, who accessed this person's record (or, by
 * subject, any record about them, whichever resource carried it), when, for
 * which purpose and which fields.
 *
 * @example
 * registerAuditReport(program.command('audit'));
 */
export function registerAuditReport(audit: Command): void {
  usageErrorsExit2(audit.command('report'))
    .description('subject access report: who accessed a record (or anything about a person), when, for which purpose, which fields')
    .addOption(auditOption())
    .option('--record <id>', 'the record id (as the record API knows it)')
    .option('--subject <id>', "the person's id: every record about them, whichever resource (needs subject: in the policy's resources)")
    .option('--since <time>', 'from this time', timeOption('since'))
    .option('--until <time>', 'before this time (a bare date includes that whole day)', timeOption('until'))
    .option('--json', 'print as JSON')
    .addOption(byOption())
    .addHelpText(
      'after',
      '\nThe report is recorded in the trail (who, which record or subject) before it prints; when that cannot be\n' +
        'written it prints nothing and exits 3.\n' +
        '\nExamples:\n  $ fieldmesh audit report --record p-1002\n  Access to record p-1002: 2 events by 2 users, 2026-03-01 14:02:11Z to 2026-03-02 03:12:44Z\n' +
        '  TIME                  USER    ROLES          PURPOSE      ACTION  OUTCOME    FIELDS                             NOTE\n' +
        '  2026-03-01 14:02:11Z  u-4411  nurse          direct-care  read    disclosed  dateOfBirth, id, name, ward\n' +
        '  2026-03-02 03:12:44Z  u-9001  ed-consultant  emergency    read    disclosed  diagnoses, id, name                 break-glass, awaiting review\n\n' +
        '  $ fieldmesh audit report --subject p-1002\n  Access to records about p-1002: 2 events by 2 users, 2026-03-01 14:02:11Z to 2026-03-01 14:05:40Z\n' +
        '  TIME                  USER    ROLES  PURPOSE      RESOURCE  ACTION  OUTCOME    FIELDS                       NOTE\n' +
        '  2026-03-01 14:02:11Z  u-4411  nurse  direct-care  Patient   read    disclosed  dateOfBirth, id, name, ward\n' +
        '  2026-03-01 14:05:40Z  u-4411  nurse  direct-care  CaseNote  read    disclosed  authoredAt, id, subjectId, text\n\n' +
        'Exactly one of --record and --subject. On a trail that stores ids as pseudonyms, set FIELDMESH_AUDIT_RECORD_KEY.',
    )
    .action(
      guard(
        'report',
        async (opts: { audit?: string; record?: string; subject?: string; since?: string; until?: string; json?: true; by?: string }) => {
          const by = readerName(opts.by);
          if ((opts.record === undefined) === (opts.subject === undefined))
            throw new Error('give exactly one of --record ID and --subject ID');
          const bySubject = opts.subject !== undefined;
          const id = (opts.subject ?? opts.record) as string;
          await withStore(opts.audit, 'read', async (store) => {
            const filter = bySubject ? { subject: id } : { recordId: id };
            const events = await store.query({ ...filter, since: opts.since, until: opts.until });
            const pending = new Set((await store.pendingReviews()).map((e) => e.id));
            // A report is itself a disclosure: recorded before it is shown, and shown by the next report on this record.
            const scope = { since: opts.since, until: opts.until, count: events.length };
            await recordRead(opts.audit, 'report', store, { action: 'report', by, recordId: opts.record, subjectId: opts.subject, scope });
            const key = secretEnv('FIELDMESH_AUDIT_RECORD_KEY');
            // A subject id is stored as a record id is: one pseudonym for both.
            const storedId = key === undefined ? printable(id) : pseudonymiseRecordId(printable(id), key);
            const disclosedIn = bySubject ? (e: AuditEvent) => e.subjectIds ?? [] : (e: AuditEvent) => e.recordIds;
            const lines = events.map((e) => reportLine(e, disclosedIn(e).includes(storedId), pending));
            // Events archived out of the trail were not searched: said, so that "No access … is recorded" is not read as all time.
            const archived = await archivedRange(store);
            const notSearched = archived && { seq: [1, archived.through], archives: archived.archives.map((a) => a.file) };
            if (opts.json) {
              const about = bySubject ? { subject: id } : { record: id };
              return out(printableJson({ ...about, events: lines, ...(notSearched === undefined ? {} : { notSearched }) }));
            }
            printReport(bySubject ? `records about ${id}` : `record ${id}`, lines, bySubject);
            if (archived !== undefined) out(printable(`(${notSearchedLine(archived)})`));
          });
        },
      ),
    );
}

interface ReportLine {
  eventId: string;
  time: string;
  user: string;
  roles: string[];
  purpose: string;
  resource: string;
  action: string;
  outcome: 'disclosed' | 'written' | 'withheld' | 'refused';
  code?: string;
  fields: string[];
  transforms: Record<string, string>;
  breakGlass?: string;
  review?: 'awaiting' | 'done';
}

/**
 * One row of the report. Fields are those the response disclosed (the event
 * records them per response, not per row), or for a write's own event those
 * it wrote; a withheld or refused record was disclosed nothing. `disclosed`:
 * the record (or a record about the subject) is among those the event disclosed.
 */
function reportLine(e: AuditEvent, disclosed: boolean, pending: Set<string>): ReportLine {
  // A write's own event (status 0, before the answer) records the fields written, not disclosed.
  const shown = e.action !== 'read' && e.action !== 'review' && e.status === 0 ? 'written' : 'disclosed';
  const outcome = e.decision === 'refused' ? 'refused' : disclosed ? shown : 'withheld';
  const line: ReportLine = {
    eventId: e.id,
    time: e.time,
    user: e.user,
    roles: e.roles,
    purpose: e.purpose,
    resource: e.resource,
    action: e.action,
    outcome,
    fields: outcome === 'disclosed' || outcome === 'written' ? e.fieldsDisclosed : [],
    transforms: outcome === 'disclosed' ? e.transforms : {},
  };
  if (e.code !== undefined) line.code = e.code;
  if (e.breakGlass !== undefined) {
    line.breakGlass = e.breakGlass;
    line.review = pending.has(e.id) ? 'awaiting' : 'done';
  }
  return line;
}

/** `about`: `record p-1002` or `records about p-1002`; by subject, each line names its resource. */
function printReport(about: string, lines: ReportLine[], byResource: boolean): void {
  const s = styles(process.stdout);
  if (lines.length === 0) {
    out(printable(`No access to ${about} is recorded.`));
    if (secretEnv('FIELDMESH_AUDIT_RECORD_KEY') === undefined)
      out('(If this trail stores record ids as pseudonyms, set FIELDMESH_AUDIT_RECORD_KEY.)');
    return;
  }
  const users = new Set(lines.map((l) => l.user)).size;
  const span = `${shortTime((lines[0] as ReportLine).time)} to ${shortTime((lines[lines.length - 1] as ReportLine).time)}`;
  out(s.bold(printable(`Access to ${about}: ${lines.length} event${plural(lines.length)} by ${users} user${plural(users)}, ${span}`)));
  const rows: Cell[][] = lines.map((l) => [
    shortTime(l.time),
    l.user,
    l.roles.join(', '),
    l.purpose,
    ...(byResource ? [l.resource] : []),
    l.action,
    l.outcome === 'disclosed' || l.outcome === 'written'
      ? l.outcome
      : { text: l.code === undefined ? l.outcome : `${l.outcome} (${l.code})`, paint: s.dim },
    l.fields.map((f) => (l.transforms[f] === undefined ? f : `${f} (${l.transforms[f]})`)).join(', '),
    l.breakGlass === undefined ? '' : { text: `break-glass, ${l.review === 'awaiting' ? 'awaiting review' : 'reviewed'}`, paint: s.yellow },
  ]);
  const head = ['TIME', 'USER', 'ROLES', 'PURPOSE', ...(byResource ? ['RESOURCE'] : []), 'ACTION', 'OUTCOME', 'FIELDS', 'NOTE'];
  out(renderTable(head, rows, s));
}
