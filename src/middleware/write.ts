import type { Request, RequestHandler } from 'express';
import type { Decision } from '../decision.js';
import { AccessError, NO_SUCH_RECORD } from '../errors.js';
import { admit } from '../http/guard.js';
import { sendError } from '../http/respond.js';
import { recordIdsOf } from '../redact.js';
import type { Action } from '../request.js';
import type { ListKey } from '../shape.js';
import { checkWriteWithPlan } from '../write.js';
import { refuse, trailDown } from './answer.js';
import { readJsonBody } from './body.js';
import { redirectAnswer, type MeshRuntime } from './read.js';
import { refusalFor, writeEntry } from '../http/write-audit.js';

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
      if (action === 'update' && load && existing === undefined) throw new AccessError('not_found', NO_SUCH_RECORD.message);
      // A record the user may not read answers as a missing one, never as a refused write.
      if (existing !== undefined) rt.policies.redactWith(admitted.plan, existing);
      decision = checkWriteWithPlan(admitted.writePlan!, body, existing);
      decision.recordIds = recordIdsOf(action === 'create' ? body : existing, admitted.plan.resource.def.id);
    } catch (err) {
      return refuse(base, err, refusalFor(err, admitted, body));
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
