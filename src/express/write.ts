import type { Request, RequestHandler } from 'express';
import { FieldmeshError } from '../lib/errors.js';
import { AccessError } from '../engine/access-error.js';
import { admit } from '../http/admit.js';
import { fhirAnswer } from '../http/error-format.js';
import { refusalFor } from '../http/audit-entry.js';
import { recordFirst } from '../http/refuse.js';
import { checkWrite } from '../http/write-check.js';
import { isPlainObject } from '../lib/paths.js';
import type { Action } from '../engine/plan.js';
import { refuse } from './answer.js';
import { readJsonBody } from './body.js';
import { admissionRequest, redirectAnswer, unroutedError, type MeshRuntime } from './read.js';
import type { MeshRoute } from './route.js';

const ACTIONS: Record<string, Exclude<Action, 'read'>> = { POST: 'create', PUT: 'update', PATCH: 'update' };

/**
 * The middleware of `mesh.write()`: the body is checked field by field
 * before the handler runs (docs/middleware.md, "Writes": a field the user may not write
 * refuses the whole body), the permitted write is recorded before the
 * handler may perform it, and the handler's answer is redacted as a read.
 * An update (PUT, PATCH) first loads the stored record with `load` and
 * needs it to be visible to the caller; a route without `load` refuses
 * every update (500 `write_needs_load`) rather than check it blind. On a
 * FHIR route (`route.fhirType`) errors are OperationOutcomes.
 *
 * @example
 * app.patch('/patients/:id', writeHandler(runtime, 'Patient', route, (req) => db.get(req.params.id)), update);
 */
export function writeHandler(rt: MeshRuntime, resource: string, route: MeshRoute, load?: (req: Request) => unknown): RequestHandler {
  return async function fieldmeshWrite(req, res, next) {
    const errors = fhirAnswer(route.fhirType, req.headers);
    const action = ACTIONS[req.method];
    // The same checks as a read: the raw query the handler can read, and route parameters as filters.
    const admitted = await admit(admissionRequest(req, route.params, route.dialect), resource, action ?? 'read', rt.admission);
    const base = { res, release: () => undefined, facts: admitted, audit: rt.audit, metrics: rt.metrics, policies: rt.policies, errors };
    if (!admitted.ok) return refuse(base, admitted.error);
    if (action === undefined)
      return refuse(base, new AccessError('method_not_allowed', `${req.method} is not a write: use POST, PUT or PATCH, or mesh.read()`));
    const unrouted = unroutedError(req, 'write');
    if (unrouted) return refuse(base, unrouted);
    // A create at a path naming a record by id could replace one the caller may not see (an upsert).
    if (action === 'create' && (admitted.targetIds ?? []).length > 0) {
      return refuse(
        base,
        new FieldmeshError(
          'create_names_record',
          `mesh.write('${resource}') serves POST at a path that names a record by its id: an upsert could overwrite a record the caller may not see; create at a path without the id, or update with PUT or PATCH and load`,
        ),
      );
    }
    // The same write() may serve POST, which needs no record: so this is known only now, per request.
    if (action === 'update' && load === undefined) {
      return refuse(
        base,
        new FieldmeshError(
          'write_needs_load',
          `mesh.write('${resource}') serves ${req.method} without a load option: an update needs the stored record to check that the caller may see it`,
        ),
      );
    }
    let body: unknown;
    let existing: unknown;
    try {
      body = await readJsonBody(req, rt.maxBodyBytes);
      existing = action === 'update' ? asData(await loadStored(load!, req)) : undefined;
    } catch (err) {
      // A body left unread (too large) is not drained: the connection closes after the answer.
      if (!req.complete) res.setHeader('Connection', 'close');
      return refuse(base, err, refusalFor(err, admitted, body));
    }
    const checked = checkWrite({ policies: rt.policies, admitted, body, existing, replace: req.method === 'PUT' });
    if (checked.kind === 'refusal') return refuse(base, checked.error, checked.entry);
    try {
      // Recorded before the handler runs: no change without a record. Status 0: not answered yet;
      // the answer is the next event with the same request id.
      await recordFirst(rt.audit, checked.entry);
    } catch (err) {
      return refuse(base, err);
    }
    if (redirectAnswer(rt, admitted, route, true, res, errors)) next();
  };
}

/**
 * The stored record, `undefined` when there is none. A `load` may say "no
 * such record" by returning undefined or null, or by throwing as the ORMs'
 * "OrThrow" lookups do (Prisma's findUniqueOrThrow: code P2025 or a
 * NotFoundError; Mongoose's orFail: DocumentNotFoundError; an HTTP client or
 * http-errors: status 404): either way the answer is the 404 of a hidden
 * record, so the two cannot be told apart. Any other error stays a 500 that
 * says nothing of its cause.
 */
async function loadStored(load: (req: Request) => unknown, req: Request): Promise<unknown> {
  try {
    return await load(req);
  } catch (err) {
    if (saysNotFound(err)) return undefined;
    throw err;
  }
}

function saysNotFound(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as Record<string, unknown>;
  return (
    e['status'] === 404 ||
    e['statusCode'] === 404 ||
    e['code'] === 'P2025' ||
    e['name'] === 'NotFoundError' ||
    e['name'] === 'DocumentNotFoundError'
  );
}

/**
 * The loaded record as the handler would send it: an ORM document or a
 * record with Dates is read through JSON, as its answer is (answer.ts), so
 * it is checked with the same values the caller could see.
 */
function asData(loaded: unknown): unknown {
  if (loaded === undefined || loaded === null || isPlainObject(loaded)) return loaded;
  const text = JSON.stringify(loaded);
  return text === undefined ? undefined : JSON.parse(text);
}
