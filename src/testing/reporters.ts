import type { CaseResult } from './run-case.js';

/**
 * Reports of a `fieldmesh test` run for machines (docs/testing.md,
 * "Reporters"): `json`, one document, and `junit`, the XML that CI systems
 * read. `spec` is the CLI's own line-per-case output. A report carries what
 * a result carries (names, the failure message a developer's own fixture
 * data makes) and never a decision's record ids beyond that.
 */

/** The reporters `--reporter` accepts. */
export const REPORTERS = ['spec', 'json', 'junit'] as const;
export type ReporterName = (typeof REPORTERS)[number];

/** A case's result with how long it ran. */
export interface ReportedCase extends CaseResult {
  durationMs: number;
}

/** Passed, failed and total. */
export interface Summary {
  passed: number;
  failed: number;
  total: number;
}

export function summaryOf(results: readonly CaseResult[]): Summary {
  const failed = results.filter((r) => !r.passed).length;
  return { passed: results.length - failed, failed, total: results.length };
}

/**
 * Every result and the summary as one JSON document; `extra` adds top-level
 * members (a coverage report, say).
 *
 * @example
 * process.stdout.write(jsonReport(results));
 */
export function jsonReport(results: readonly ReportedCase[], extra: Record<string, unknown> = {}): string {
  const cases = results.map((r) => {
    const out: Record<string, unknown> = { file: r.file, name: r.name, kind: r.kind, passed: r.passed };
    if (r.message !== undefined) out['message'] = r.message;
    out['durationMs'] = Math.round(r.durationMs * 1000) / 1000;
    return out;
  });
  return `${JSON.stringify({ ...extra, results: cases, summary: summaryOf(results) }, null, 2)}\n`;
}

/**
 * JUnit XML: one `<testsuite>` per case file, one `<testcase>` per case, a
 * `<failure>` with the message for each failed one. Every name and message is
 * escaped, and characters XML 1.0 cannot carry become U+FFFD, so no case
 * name can break the document or add an element.
 *
 * @example
 * await writeFile('junit.xml', junitReport(results));
 */
export function junitReport(results: readonly ReportedCase[]): string {
  const files = [...new Set(results.map((r) => r.file))];
  const seconds = (rs: readonly ReportedCase[]) => (rs.reduce((t, r) => t + r.durationMs, 0) / 1000).toFixed(3);
  const total = summaryOf(results);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="fieldmesh test" tests="${total.total}" failures="${total.failed}" errors="0" time="${seconds(results)}">`,
  ];
  for (const file of files) {
    const rs = results.filter((r) => r.file === file);
    const s = summaryOf(rs);
    lines.push(`  <testsuite name="${attr(file)}" tests="${s.total}" failures="${s.failed}" errors="0" skipped="0" time="${seconds(rs)}">`);
    for (const r of rs) {
      const open = `    <testcase classname="${attr(file)}" name="${attr(r.name)}" time="${(r.durationMs / 1000).toFixed(3)}"`;
      if (r.passed) {
        lines.push(`${open}/>`);
        continue;
      }
      const message = r.message ?? 'failed';
      lines.push(`${open}>`);
      lines.push(`      <failure message="${attr(message.split('\n')[0] ?? '')}" type="${attr(r.kind)}">${text(message)}</failure>`);
      lines.push('    </testcase>');
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>');
  return `${lines.join('\n')}\n`;
}

/**
 * Characters XML 1.0 cannot hold even escaped: controls other than tab, line
 * feed and carriage return, lone surrogates, U+FFFE and U+FFFF.
 */
const NOT_XML =
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Element text: markup characters escaped (so `]]>` is harmless too). */
function text(value: string): string {
  return value.replace(NOT_XML, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#13;');
}

/** An attribute value in double quotes: also quotes, and line breaks and tabs kept as references (a parser would fold them). */
function attr(value: string): string {
  return text(value).replace(/"/g, '&quot;').replace(/'/g, '&apos;').replace(/\t/g, '&#9;').replace(/\n/g, '&#10;');
}
