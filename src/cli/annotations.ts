import type { PolicyIssue } from '../lib/errors.js';
import { printable } from '../lib/text.js';

/**
 * A policy issue as a GitHub Actions workflow command, which the runner turns
 * into an annotation on the line of the pull request's file:
 * `::error file=policies/roles.yaml,line=12,col=9,title=fieldmesh check::roles.nurse.grants[0].purpose: …`.
 * Values are escaped as GitHub's workflow command syntax requires, so a key
 * name or message holding `::`, `,` or a line break can neither end the
 * command early nor start a forged one; other control characters are made
 * visible (`printable`), as everything the CLI prints from a policy file.
 *
 * @example
 * githubAnnotation({ file: 'p.yaml', path: 'roles', message: 'a, b', severity: 'warning', line: 2, col: 1 });
 * // '::warning file=p.yaml,line=2,col=1,title=fieldmesh check::roles: a, b'
 */
export function githubAnnotation(issue: PolicyIssue): string {
  const props = [`file=${escapeProperty(issue.file)}`];
  if (issue.line !== undefined) props.push(`line=${issue.line}`);
  if (issue.col !== undefined) props.push(`col=${issue.col}`);
  props.push(`title=${escapeProperty('fieldmesh check')}`);
  return `::${issue.severity} ${props.join(',')}::${escapeData(`${issue.path}: ${issue.message}`)}`;
}

/** The message of a workflow command: `%`, CR and LF escaped (GitHub's own rule, `%` first). */
export function escapeData(text: string): string {
  return printable(text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A'));
}

/** A property value of a workflow command: as data, and `:` and `,`, which end a value. */
export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}
