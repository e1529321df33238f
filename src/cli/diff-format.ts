import type { ChangeEffect, PolicyChange, PolicyDiff } from '../engine/diff.js';
import { printable, printableJson } from '../lib/text.js';
import { paint } from './common.js';

/** The two sets compared, as the user named them: directories, or `REV:policies`. */
export interface DiffLabels {
  from: string;
  to: string;
}

const WORD: Record<ChangeEffect, string> = { widening: 'widens', narrowing: 'narrows', neutral: 'note' };
const STYLE = { widening: 'red', narrowing: 'green', neutral: 'yellow' } as const;

/**
 * The JSON of `fieldmesh diff --format json`: the library's `PolicyDiff`
 * (`{ widened, summary, changes }`) with the two sets' labels. Documented in
 * docs/cli.md; a field is only ever added to it.
 */
export function diffJson(diff: PolicyDiff, labels: DiffLabels): string {
  // Bidirectional and C1 controls from policy text as `\uXXXX`: the same value, parsed back.
  return `${printableJson({ from: labels.from, to: labels.to, ...diff })}\n`;
}

/**
 * Lines for a terminal: a summary, then the changes grouped by resource and
 * purpose, each with its effect first. Coloured only on a terminal (`paint`).
 */
export function diffText(diff: PolicyDiff, labels: DiffLabels): string {
  const out = [printable(`${labels.from} → ${labels.to}`), summaryLine(diff, (verdict) => paint(diff.widened ? 'red' : 'green', verdict))];
  for (const [heading, changes] of groups(diff.changes)) {
    out.push('', paint('bold', printable(heading)));
    for (const c of changes) {
      const subject = subjectOf(c);
      // Policy text printed as `printable` shows it: no control character reaches the terminal raw.
      out.push(`  ${paint(STYLE[c.effect], WORD[c.effect].padEnd(7))} ${printable(`${subject ? `${subject}: ` : ''}${c.message}`)}`);
    }
  }
  return `${out.join('\n')}\n`;
}

/**
 * Markdown for a pull-request comment: a heading, the summary, then one
 * table per resource × purpose. Policy text is escaped so a condition
 * cannot break the table or inject markup.
 */
export function diffMarkdown(diff: PolicyDiff, labels: DiffLabels): string {
  const out = [
    '## fieldmesh policy diff',
    '',
    summaryLine(diff, (verdict) => `**${verdict}**`),
    '',
    `Comparing ${md(labels.from)} → ${md(labels.to)}.`,
  ];
  for (const [heading, changes] of groups(diff.changes)) {
    out.push('', `### ${md(heading)}`, '', '| Effect | Who | Change |', '|---|---|---|');
    for (const c of changes)
      out.push(`| ${c.effect === 'widening' ? '⚠️ ' : ''}${WORD[c.effect]} | ${md(subjectOf(c) || '—')} | ${md(c.message)} |`);
  }
  return `${out.join('\n')}\n`;
}

function summaryLine(diff: PolicyDiff, verdict: (text: string) => string): string {
  const { widening, narrowing, neutral } = diff.summary;
  if (diff.changes.length === 0) return `${verdict('No change')} in what the policies disclose.`;
  const counts = `${widening} widening, ${narrowing} narrowing, ${neutral} to note`;
  return `${verdict(diff.widened ? 'Access widens' : 'Access does not widen')}: ${counts}.`;
}

/** `Patient × direct-care`, `Patient (every purpose)`, `purpose research`, `policy set`: changes in first-seen order (they come sorted). */
function groups(changes: readonly PolicyChange[]): Map<string, PolicyChange[]> {
  const out = new Map<string, PolicyChange[]>();
  for (const c of changes) {
    const heading =
      c.kind === 'lint-worse'
        ? 'checks'
        : c.resource && c.purpose
          ? `${c.resource} × ${c.purpose}`
          : c.resource
            ? `${c.resource} (every purpose)`
            : `purpose ${c.purpose ?? '?'}`;
    out.set(heading, [...(out.get(heading) ?? []), c]);
  }
  return out;
}

/** Who or what a change is about within its group: `nurse read`, `restriction dv-address`, `view`. */
function subjectOf(c: PolicyChange): string {
  if (c.role) return `${c.role} ${c.action ?? ''}`.trim();
  if (c.restriction) return `restriction ${c.restriction}`;
  if (c.kind.startsWith('view-') || c.kind.startsWith('transform-')) return 'view';
  return '';
}

/**
 * Text made inert in a Markdown table cell: line breaks flattened, control
 * characters shown as `\uXXXX` (`printable`: a bidirectional override in a
 * condition must not reorder what the reviewer reads), punctuation
 * backslash-escaped, and `@` followed by a zero-width space, so a policy's
 * `@everyone` or `@security-team` notifies nobody when the comment is posted.
 */
function md(text: string): string {
  return printable(text.replace(/[\r\n]+/g, ' '))
    .replace(/[\\`*_[\]<>|#~!&]/g, (c) => `\\${c}`)
    .replace(/@/g, '@\u200b');
}
