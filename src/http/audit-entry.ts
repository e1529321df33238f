import type { AuditEntry } from '../audit/event.js';
import { entryFromDecision } from '../audit/event.js';
import { asRefusal, type Decision } from '../engine/decision.js';
import { rolesOf } from '../engine/plan.js';
import { FieldmeshError } from '../lib/errors.js';
import { AccessError } from '../engine/access-error.js';
import { statusOf } from '../lib/error-codes.js';
import { isPlainObject, isWithin } from '../lib/paths.js';
import type { RequestFacts } from './admit.js';

/**
 * The audit entry of a decision that disclosed (or wrote) something.
 */
export function disclosureEntry(decision: Decision, facts: RequestFacts, status: number): AuditEntry {
  return entryFromDecision(decision, { requestId: facts.requestId, user: facts.verified?.sub ?? 'anonymous', status });
}

/**
 * The audit entry of any failure: the engine's refused decision when the
 * error carries one, otherwise what the facts say (an unauthenticated caller
 * is `anonymous`). The record a route parameter selects by id is named
 * among the withheld ids even when the refusal came before it was read, and
 * among the withheld subjects when the resource's subject is its id.
 * Field names only, never values.
 */
export function refusalEntry(error: unknown, facts: RequestFacts): AuditEntry {
  const known = error instanceof FieldmeshError && error.status >= 400 && error.status <= 599;
  const status = known ? error.status : statusOf('internal');
  const code = known ? error.code : 'internal';
  const carried = error instanceof AccessError ? error.decision : undefined;
  const decision: Decision = asRefusal(
    carried ?? {
      action: facts.action,
      resource: facts.resource,
      purpose: facts.ctx?.purpose ?? facts.purpose ?? '',
      roles: facts.ctx ? rolesOf(facts.ctx.user) : [...(facts.verified?.roles ?? [])],
      policyVersion: facts.policyVersion,
    },
    carried?.code ?? code,
  );
  const entry = entryFromDecision(decision, {
    requestId: facts.requestId,
    user: facts.verified?.sub ?? 'anonymous',
    status,
    breakGlass: facts.breakGlass,
  });
  for (const id of facts.targetIds ?? [])
    if (!entry.recordIds.includes(id) && !entry.withheldRecordIds.includes(id)) entry.withheldRecordIds.push(id);
  const subjects = entry.withheldSubjectIds ?? [];
  for (const id of facts.targetSubjectIds ?? []) if (!entry.subjectIds?.includes(id) && !subjects.includes(id)) subjects.push(id);
  if (subjects.length > 0) entry.withheldSubjectIds = subjects;
  return entry;
}

/**
 * The audit entry of a permitted write, recorded before the upstream sees
 * it (no change without a record): the field names written go in
 * `fieldsDisclosed`, `action` tells them apart from a read. Status 0: not
 * answered yet; the answer is the next event with the same request id.
 * The Express middleware and the gateway both record writes this way.
 */
export function writeEntry(decision: Decision, facts: RequestFacts, status = 0): AuditEntry {
  return { ...disclosureEntry(decision, facts, status), fieldsDisclosed: [...(decision.written ?? [])], fieldsWithheld: [] };
}

/**
 * The audit entry of a write's answer, after the handler or the upstream
 * answered: recorded as the write it is (`create`/`update`, with the status
 * sent and the fields the answer disclosed), never as a read. A result the
 * caller may not see (answered 204) is a withheld record of a done write,
 * not a refusal.
 *
 * @example
 * await audit.append(writeAnswerEntry(redacted.decision, admitted, 200));
 */
export function writeAnswerEntry(decision: Decision, facts: RequestFacts, status: number): AuditEntry {
  const { code, ...rest } = decision;
  const hidden = decision.outcome === 'refused' && code === 'record_withheld';
  const answered: Decision = hidden ? { ...rest, outcome: 'disclosed' } : decision;
  return disclosureEntry({ ...answered, action: facts.action }, facts, status);
}

/**
 * The audit entry of a refusal. A refused write names the body's refused
 * fields (names only, bounded: the caller chose them) in `fieldsWithheld`;
 * a refused PUT that sent only writable fields names the fields it may not
 * replace.
 */
export function refusalFor(error: unknown, facts: RequestFacts, body?: unknown): AuditEntry {
  const entry = refusalEntry(error, facts);
  if (!(error instanceof AccessError) || error.code !== 'write_forbidden') return entry;
  const written = error.decision?.written ?? [];
  // Names chosen by the caller: bounded, so a hostile body cannot bloat the trail.
  const refused = bodyPaths(body)
    .filter((p) => !written.some((w) => isWithin(p, w)))
    .slice(0, 50)
    .map((p) => p.slice(0, 200));
  // A refused PUT sent only writable fields: what it lacks rights to erase is the refusal's reason.
  const lacking = refused.length === 0 ? (error.decision?.withheld ?? []) : refused;
  return { ...entry, fieldsDisclosed: [], fieldsWithheld: lacking };
}

/** The paths of a body down to its leaves, arrays transparent, each once. */
function bodyPaths(value: unknown, at = '', out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) bodyPaths(v, at, out);
  else if (isPlainObject(value) && Object.keys(value).length > 0)
    for (const [k, v] of Object.entries(value)) bodyPaths(v, at ? `${at}.${k}` : k, out);
  else if (at !== '' && !out.includes(at)) out.push(at);
  return out;
}
