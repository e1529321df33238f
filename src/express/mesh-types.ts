import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import type { AuditStore } from '../audit/types.js';
import type { PolicySet } from '../engine/policy-set.js';
import type { AdmissionCounters } from '../http/admit.js';
import type { ReadOptions, writeOptionsSchema } from './options.js';

/*
 * The middleware's shape, written over the request and handler types so that
 * it names no express declaration: `fieldmesh/express` fills them with
 * express's own `Request` and `RequestHandler` (src/express/mesh.ts); the
 * root entry, which an engine-only project compiles without @types/express,
 * with the structural types below (src/index.ts).
 */

/**
 * A loader of the record a write changes, given the request. Its parameter is
 * compared both ways (as a method's is), so a loader typed with express's own
 * Request fits the root entry's PlainRequest.
 */
type Loader<Req> = { load(req: Req): Promise<unknown> | unknown }['load'];

/**
 * Options of `mesh.write()` for a request type `Req`.
 */
export type WriteOptionsFor<Req> = Omit<z.input<typeof writeOptionsSchema>, 'load'> & {
  /**
   * The record as it is before an update (`undefined` or `null`: no such record). Required for PUT and
   * PATCH: the caller must be able to see the record to change it; without it every update is refused (500 `write_needs_load`).
   */
  load?: Loader<Req> | undefined;
};

/**
 * Need-to-know enforcement for an express app, over its handler and request types.
 */
export interface MeshFor<Handler, Req> {
  /** Middleware that redacts whatever the route's handler answers. Throws a TypeError for an unknown resource. */
  read(resource: string, opts?: ReadOptions): Handler;
  /** Middleware that checks a POST (create) or PUT/PATCH (update) body before the handler runs, and redacts its answer. Updates need `load`. */
  write(resource: string, opts?: WriteOptionsFor<Req>): Handler;
  /** Closes the audit trail if fieldmesh opened it (a store passed in stays open). */
  close(): Promise<void>;
  readonly policies: PolicySet;
  readonly audit: AuditStore;
  /** Break-glass declarations that came without a verified token: counted here, never recorded as break-glass. */
  readonly counters: Readonly<AdmissionCounters>;
  /**
   * The registry the mesh's metrics are in (the `metrics` option, or one of its own): mount it where your
   * app serves metrics (docs/middleware.md, "Metrics and traces").
   *
   * @example
   * app.get('/metrics', async (_req, res) => void res.type(mesh.metrics.contentType).send(await mesh.metrics.metrics()));
   */
  readonly metrics: Registry;
}

/**
 * A request as the root entry types it without express's declarations: what
 * express hands a middleware is one (an IncomingMessage with route
 * parameters, the parsed query and body).
 *
 * @example
 * const options: WriteOptions = { load: (req) => db.patients.get(req.params['id']) };
 */
export interface PlainRequest extends IncomingMessage {
  params: Record<string, string | string[]>;
  query: unknown;
  body?: unknown;
}

/**
 * A middleware as the root entry types it: express's `RequestHandler` is
 * one, so `app.get(path, mesh.read('Patient'), handler)` compiles either way.
 */
export type PlainHandler = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => unknown;
