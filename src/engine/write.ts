import { MAX_RECORD_DEPTH, nestedDeeperThan } from '../lib/depth.js';
import { asRefusal, type Decision } from './decision.js';
import { FieldmeshError, NO_SUCH_RECORD } from '../lib/errors.js';
import { AccessError, isWithheld } from './access-error.js';
import { HOSTILE_KEYS, isPlainObject, isWithin } from '../lib/paths.js';
import { pathsOf } from './compile.js';
import { recordIdsOf } from './redact.js';
import { planDecision, type Plan } from './plan.js';

/**
 * What a write is aimed at, besides its body.
 *
 * @example
 * const target: WriteTarget = { existing: stored, read: (r) => policies.redactWith(readPlan, r).decision, replace: true };
 */
export interface WriteTarget {
  /** An update: the record as the record API holds it now. `undefined` or `null`: there is no such record. */
  existing?: unknown;
  /**
   * An update: reads the stored record exactly as the caller would for the
   * purpose (the request's read plan), throwing `record_withheld` when it is
   * hidden. Required for every update: an update is never checked blind.
   */
  read?: ((record: unknown) => Decision) | undefined;
  /** A PUT: the body replaces the whole record. */
  replace?: boolean | undefined;
}

/**
 * Check a create or update body against the fields the user may write for the
 * declared purpose (docs/middleware.md, "Writes"). Any other field refuses the whole body,
 * naming the fields, before the handler or the upstream sees it.
 *
 * An update first reads the stored record as the caller would: a missing or
 * hidden record (row conditions, a whole-record restriction, opt-out,
 * consent) refuses with `not_found` / `record_withheld`, both answered as
 * "No such record", so a write cannot tell a sealed record from none.
 * Fields that a restriction withholds on that record cannot be written (you
 * cannot overwrite the address you may not see). Row conditions (`where`) of
 * update grants are evaluated on the stored record; create grants on the new
 * record itself. A replace (PUT) also needs update rights on every declared
 * field, and a stored record holding nothing outside the declared fields:
 * whatever the body leaves out is erased, so it may leave out only what the
 * user could have erased field by field.
 *
 * @example
 * const decision = checkWriteWithPlan(writePlan, { ward: 'ward-9' }, { existing, read: (r) => policies.redactWith(readPlan, r).decision });
 */
export function checkWriteWithPlan(plan: Plan, body: unknown, target: WriteTarget = {}): Decision {
  const { resource, view, ctx } = plan;
  const update = plan.action === 'update';
  const recordIds = recordIdsOf(update ? target.existing : body, resource.def.id);
  const subjectIds = writeSubjects(resource.def.subject, update ? target.existing : undefined, body);
  // `named`: the fields the refusal is about (the body's forbidden paths, or what a PUT may not erase).
  const refuse = (
    code: 'write_forbidden' | 'invalid_body',
    message: string,
    fields: string[] = [],
    withheld: string[] = [],
    named: string[] = [],
  ): never => {
    throw new AccessError(code, message, asRefusal({ ...decisionOf(plan, fields, recordIds, subjectIds), withheld }, code), named);
  };
  // Visibility before anything about the body: a hidden record must answer
  // exactly as a missing one whatever the body holds.
  const seen = update ? readStored(plan, target) : undefined;
  if (!isPlainObject(body)) refuse('invalid_body', `the body must be a JSON object (a ${ctx.resource} record or part of one)`);
  if (nestedDeeperThan(body)) refuse('invalid_body', `the body nests lists and objects deeper than ${MAX_RECORD_DEPTH} levels`);
  const subject = update ? target.existing : body;
  let mask = 0n;
  const grants: string[] = [];
  for (const g of plan.grants) {
    const applies = g.grant.where === undefined || (isPlainObject(subject) && g.matches(subject));
    if (!applies) continue;
    mask |= update ? g.grant.update : g.grant.create;
    // A grant held both directly and through inheritance is one grant: named once.
    if (!grants.includes(g.grant.label)) grants.push(g.grant.label);
  }
  mask &= view.mask;
  if (grants.length === 0) refuse('write_forbidden', `you may not ${plan.action} this ${ctx.resource} record for purpose "${ctx.purpose}"`);
  // A field a restriction withholds on this record is not the caller's to overwrite either.
  const fired = new Set(seen?.restrictions ?? []);
  for (const r of plan.restrictions) if (fired.has(r.restriction.name) && !r.restriction.record) mask &= ~r.restriction.mask;
  const writable = pathsOf(resource, mask);
  const written: string[] = [];
  const forbidden: string[] = [];
  walk(body as Record<string, unknown>, '', writable, written, forbidden);
  if (forbidden.length > 0) {
    refuse(
      'write_forbidden',
      `you may not ${plan.action} ${quoted(forbidden)} of ${ctx.resource} for purpose "${ctx.purpose}"; writable: ${writable.join(', ') || 'nothing'}`,
      written,
      [],
      forbidden,
    );
  }
  if (update && target.replace) {
    const missing = topmost(resource.paths.filter((p) => !writable.includes(p)));
    if (missing.length > 0) {
      refuse(
        'write_forbidden',
        `a PUT replaces the whole ${ctx.resource} record, erasing what the body leaves out: you may not update ${quoted(missing)} for purpose "${ctx.purpose}"; send a PATCH with only the fields you change`,
        written,
        missing,
        missing,
      );
    }
    const undeclared: string[] = [];
    walk(target.existing as Record<string, unknown>, '', resource.paths, [], undeclared);
    if (undeclared.length > 0) {
      // Not named: markers such as `sealed` or a consent record steer decisions and are never disclosed.
      refuse(
        'write_forbidden',
        `a PUT replaces the whole ${ctx.resource} record, and the stored record holds data outside the declared fields (markers that steer restrictions, consent or opt-out) that it would erase; send a PATCH with only the fields you change`,
        written,
      );
    }
  }
  return { ...decisionOf(plan, written, recordIds, subjectIds), grants, restrictions: seen?.restrictions ?? [] };
}

/** The stored record, read as the caller would: missing or hidden refuses as "No such record". */
function readStored(plan: Plan, target: WriteTarget): Decision {
  const { existing, read } = target;
  if (read === undefined)
    throw new FieldmeshError(
      'write_unchecked',
      `an update of ${plan.ctx.resource} needs the stored record read with the request's read plan`,
    );
  if (existing === undefined || existing === null) {
    throw new AccessError('not_found', NO_SUCH_RECORD.message, asRefusal(decisionOf(plan, [], []), 'not_found'));
  }
  try {
    return read(existing);
  } catch (e) {
    if (!isWithheld(e)) throw e;
    // The refusal is the write's: recorded as an update, with the hidden record's id and the reason.
    throw new AccessError('record_withheld', e.message, asRefusal({ ...e.decision, action: plan.action }, 'record_withheld'));
  }
}

/** Sort every key path of the body into written (under a writable path) or forbidden. */
function walk(value: unknown, at: string, writable: string[], written: string[], forbidden: string[]): void {
  if (Array.isArray(value)) {
    for (const v of value) walk(v, at, writable, written, forbidden);
    return;
  }
  if (!isPlainObject(value)) {
    if (at) forbidden.push(at);
    return;
  }
  for (const key of Object.keys(value)) {
    const path = at ? `${at}.${key}` : key;
    if (HOSTILE_KEYS.has(key)) forbidden.push(path);
    else if (writable.some((w) => isWithin(path, w))) written.includes(path) || written.push(path);
    else if (writable.some((w) => isWithin(w, path))) walk(value[key], path, writable, written, forbidden);
    else forbidden.includes(path) || forbidden.push(path);
  }
}

/** Paths without those inside another listed path: `address`, not also `address.postcode`. */
function topmost(paths: string[]): string[] {
  return paths.filter((p) => !paths.some((q) => q !== p && isWithin(p, q)));
}

function quoted(paths: string[]): string {
  return paths.map((f) => `"${f}"`).join(', ');
}

function decisionOf(plan: Plan, written: string[], recordIds: string[], subjectIds: string[] = []): Decision {
  return { ...planDecision(plan), written, recordIds: [...recordIds], subjectIds: [...subjectIds] };
}

/**
 * Whom a write is about: the subject of the stored record (an update) and
 * of the body, each once. An update that moves a note to another person is
 * about both. None when the resource declares no subject path.
 */
function writeSubjects(path: string | undefined, existing: unknown, body: unknown): string[] {
  if (path === undefined) return [];
  const ids = recordIdsOf(existing, path);
  for (const id of recordIdsOf(body, path)) if (!ids.includes(id)) ids.push(id);
  return ids;
}
