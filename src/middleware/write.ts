import type { Request, RequestHandler } from 'express';
import type { AuditEntry } from '../audit/event.js';
import type { Decision } from '../decision.js';
import { AccessError } from '../errors.js';
import { admit, disclosureEntry, refusalEntry, type RequestFacts } from '../http/guard.js';
import { sendError } from '../http/respond.js';
import { getPath, isPlainObject, isWithin } from '../paths.js';
import type { Action } from '../request.js';
import type { ListKey } from '../shape.js';
import { checkWriteWithPlan } from '../write.js';
import { refuse, trailDown } from './answer.js';
import { readJsonBody } from './body.js';
import { redirectAnswer, type MeshRuntime } from './read.js';

const ACTIONS: Record<string, Exclude<Action, 'read'>> = { POST: 'create', PUT: 'update', PATCH: 'update' };

/**
 * The middleware of `mesh.write()`: the body is checked field by field
 * before the handler runs (SPEC "Writes": a field the user may not write
 * refuses the whole body), the permitted write is recorded before the
 * handler may perform it, and the handler's answer is redacted as a read.
 *
 * @example
 * app.patch('/patients/:id', writeHandler(runtime, 'Patient', null, (req) => db.get(req.params.id)), update);
 */
export function writeHandler(rt: MeshRuntime, resource: string, list: ListKey | null, load?: (req: Request) => unknown): RequestHandler {
  return async function fieldmeshWrite(req, res, next) {
    const action = ACTIONS[req.method];
    const admitted = await admit({ headers: req.headers, query: req.query }, resource, action ?? 'read', rt.guard);
    const base = { res, release: () => undefined, facts: admitted, audit: rt.audit };
    if (!admitted.ok) return refuse(base, admitted.error);
    if (action === undefined) return refuse(base, new AccessError('method_not_allowed', `${req.method} is not a write: use POST, PUT or PATCH, or mesh.read()`));
    let body: unknown;
    let decision: Decision;
    try {
      body = await readJsonBody(req, rt.maxBodyBytes);
      const existing = action === 'update' && load ? await load(req) : undefined;
      decision = checkWriteWithPlan(admitted.writePlan!, body, existing);
      const id = getPath(action === 'create' ? body : existing, admitted.plan.resource.def.id);
      if (typeof id === 'string' || typeof id === 'number') decision.recordIds = [String(id)];
    } catch (err) {
      return refuse(base, err, writeRefusal(err, admitted, body));
    }
    // Recorded before the handler runs: no change without a record. Status 0: not answered yet;
    // the answer is the next event with the same request id.
    try {
      await rt.audit.append(writeEntry(decision, admitted, 0));
    } catch (err) {
      return sendError(res, trailDown(err), admitted.requestId);
    }
    if (redirectAnswer(rt, admitted, list, true, res)) next();
  };
}

/**
 * A write's audit entry: the field names written go in `fieldsDisclosed`
 * (the entry has no separate list for them; `action` tells them apart).
 */
function writeEntry(decision: Decision, facts: RequestFacts, status: number): AuditEntry {
  return { ...disclosureEntry(decision, facts, status), fieldsDisclosed: [...(decision.written ?? [])], fieldsWithheld: [] };
}

/** A refused write names the refused fields of the body (names only) in `fieldsWithheld`. */
function writeRefusal(err: unknown, facts: RequestFacts, body: unknown): AuditEntry {
  const entry = refusalEntry(err, facts);
  if (!(err instanceof AccessError) || err.code !== 'write_forbidden') return entry;
  const written = ((err.decision as Decision | undefined)?.written ?? []);
  // Names chosen by the caller: bounded, so a hostile body cannot bloat the trail.
  const refused = bodyPaths(body).filter((p) => !written.some((w) => isWithin(p, w))).slice(0, 50).map((p) => p.slice(0, 200));
  return { ...entry, fieldsDisclosed: [], fieldsWithheld: refused };
}

/** The paths of a body down to its leaves, arrays transparent, each once. */
function bodyPaths(value: unknown, at = '', out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) bodyPaths(v, at, out);
  else if (isPlainObject(value) && Object.keys(value).length > 0) for (const [k, v] of Object.entries(value)) bodyPaths(v, at ? `${at}.${k}` : k, out);
  else if (at !== '' && !out.includes(at)) out.push(at);
  return out;
}
