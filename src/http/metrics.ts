import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AuditEntry } from '../audit/event.js';
import type { CommitObservation } from '../audit/group-commit.js';
import type { PolicySet } from '../engine/policy-set.js';
import type { AdmissionCounters } from './admit.js';
import { declared } from './labels.js';
import { ERROR_CODES } from '../lib/error-codes.js';

/*
 * Every metric fieldmesh exposes, defined once for both shells (the table in
 * docs/operations.md, "Metrics", lists them). Labels carry no personal data
 * and no user id, and every label value comes from a bounded set: a route
 * pattern, a purpose or resource the policy set declares, a code from
 * ERROR_CODES. Whatever a caller sends (a junk X-Purpose, a random path)
 * lands on a fixed label, so no request can add a time series.
 */

/** The route label of a request that matched no route. */
export const NO_ROUTE_LABEL = '(no route)';
/** The code label of a request that was answered without an error. */
export const NO_CODE_LABEL = 'none';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const SIZE_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500];

/**
 * How a request ended, as both shells know it when they answer.
 *
 * @example
 * metrics.requestEnded(policies, { route: '/patients/:id', method: 'GET', resource: 'Patient', purpose: 'direct-care', outcome: 'disclosed', entry });
 */
export interface RequestEnd {
  /** The route pattern (`/patients/:id`), never the path requested; NO_ROUTE_LABEL when none matched. */
  route: string;
  method: string;
  resource?: string | undefined;
  /** The declared purpose; labelled only if the policy set declares it. */
  purpose?: string | undefined;
  outcome: 'disclosed' | 'refused';
  /** The error code answered, if any. */
  code?: string | undefined;
  /** The request's last audit entry (counts of rows and fields withheld, break-glass use). */
  entry?: AuditEntry | undefined;
}

/**
 * What each shell records into. One instance per gateway or mesh, each
 * with its own registry (two in one process never collide).
 *
 * @example
 * const metrics = createMetrics();
 * res.setHeader('Content-Type', metrics.registry.contentType).end(await metrics.registry.metrics());
 */
export interface Metrics {
  readonly registry: Registry;
  requestEnded(policies: PolicySet, end: RequestEnd): void;
  auditAppend(seconds: number, ok: boolean): void;
  /** The audit store's group-commit hook (AuditStoreOptions.onCommit). */
  auditCommit(batch: CommitObservation): void;
  /** One upstream exchange: `result` is `ok` or the error code it failed with. */
  upstream(seconds: number, result: string): void;
  policyReload(ok: boolean): void;
  /**
   * What the gauges read at each scrape: the policy set deciding now
   * (`fieldmesh_policy_info`) and admission's count of unverified
   * break-glass headers (`fieldmesh_break_glass_unverified_total`).
   */
  watch(sources: { policies: () => PolicySet; counters: Readonly<AdmissionCounters> }): void;
}

/**
 * Options of `createMetrics`.
 */
export interface MetricsOptions {
  /** The registry to fill (default: a new one of its own). */
  registry?: Registry | undefined;
  /** Also collect prom-client's default process metrics into it (default false). */
  processMetrics?: boolean | undefined;
}

/**
 * Create fieldmesh's metrics in a registry. A registry that already holds
 * them (a second mesh given the same one) is a TypeError at creation:
 * their counts would mix.
 *
 * @example
 * const metrics = createMetrics({ registry: new Registry() });
 */
export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = opts.registry ?? new Registry();
  if (registry.getSingleMetric('fieldmesh_requests_total') !== undefined) {
    throw new TypeError(
      'fieldmesh: metrics: this registry already holds fieldmesh metrics; give each mesh or gateway its own registry (Registry.merge can expose several)',
    );
  }
  const registers = [registry];
  const requests = new Counter({
    name: 'fieldmesh_requests_total',
    help: 'Requests answered, by route pattern, method, resource, purpose, outcome and error code',
    labelNames: ['route', 'method', 'resource', 'purpose', 'outcome', 'code'] as const,
    registers,
  });
  const refusals = new Counter({
    name: 'fieldmesh_refusals_total',
    help: 'Requests refused, by error code',
    labelNames: ['code'] as const,
    registers,
  });
  const breakGlass = new Counter({
    name: 'fieldmesh_break_glass_total',
    help: 'Requests of verified callers declaring break-glass, by resource, purpose and outcome',
    labelNames: ['resource', 'purpose', 'outcome'] as const,
    registers,
  });
  let sources: { policies: () => PolicySet; counters: Readonly<AdmissionCounters> } | undefined;
  new Counter({
    name: 'fieldmesh_break_glass_unverified_total',
    help: 'Break-glass headers sent with a token that did not verify (not recorded as break-glass)',
    registers,
    collect() {
      // Admission already counts them (AdmissionCounters): read, not counted twice.
      this.reset();
      if (sources !== undefined) this.inc(sources.counters.unverifiedBreakGlass);
    },
  });
  const rowsWithheld = new Counter({
    name: 'fieldmesh_rows_withheld_total',
    help: 'Records withheld whole from answers, by resource',
    labelNames: ['resource'] as const,
    registers,
  });
  const fieldsWithheld = new Counter({
    name: 'fieldmesh_fields_withheld_total',
    help: 'Field names withheld from answers (each field counted once per request), by resource',
    labelNames: ['resource'] as const,
    registers,
  });
  const append = new Histogram({
    name: 'fieldmesh_audit_append_seconds',
    help: 'Time for an audit event to become durable, as the request waits for it, by result',
    labelNames: ['result'] as const,
    registers,
  });
  const batchSize = new Histogram({
    name: 'fieldmesh_audit_batch_size',
    help: 'Audit events written per group commit (one transaction)',
    buckets: SIZE_BUCKETS,
    registers,
  });
  const commit = new Histogram({
    name: 'fieldmesh_audit_commit_seconds',
    help: 'Time of one group commit, by result',
    labelNames: ['result'] as const,
    registers,
  });
  const upstream = new Histogram({
    name: 'fieldmesh_upstream_seconds',
    help: 'Time of each exchange with the record API (gateway), by result: ok or the error code',
    labelNames: ['result'] as const,
    registers,
  });
  const upstreamErrors = new Counter({
    name: 'fieldmesh_upstream_errors_total',
    help: 'Exchanges with the record API that failed (gateway), by error code',
    labelNames: ['code'] as const,
    registers,
  });
  const reloads = new Counter({
    name: 'fieldmesh_policy_reloads_total',
    help: 'Policy reloads, by result (failed: the last good set was kept)',
    labelNames: ['result'] as const,
    registers,
  });
  new Gauge({
    name: 'fieldmesh_policy_info',
    help: 'The version hash of the policy set deciding now (value 1)',
    labelNames: ['version'] as const,
    registers,
    collect() {
      // Read at scrape time from the holder: a reload swaps the set whole, so a scrape sees one version or the other.
      this.reset();
      if (sources !== undefined) this.set({ version: sources.policies().version }, 1);
    },
  });
  for (const result of ['ok', 'failed']) reloads.inc({ result }, 0);
  if (opts.processMetrics === true) collectDefaultMetrics({ register: registry });

  /** Count one request's end; labels from bounded sets only. */
  const countEnd = (policies: PolicySet, end: RequestEnd): void => {
    const resource = declared(end.resource, policies.compiled.resources);
    const purpose = declared(end.purpose, policies.compiled.purposes);
    const code = codeLabel(end.code);
    const method = METHODS.has(end.method.toUpperCase()) ? end.method.toUpperCase() : 'OTHER';
    requests.inc({ route: end.route, method, resource, purpose, outcome: end.outcome, code });
    if (end.outcome === 'refused') refusals.inc({ code });
    const entry = end.entry;
    if (entry === undefined) return;
    // Admission keeps a break-glass reason only from a verified caller: a stranger's header never counts here.
    if (entry.breakGlass !== undefined) breakGlass.inc({ resource, purpose, outcome: end.outcome });
    if (entry.withheldRecordIds.length > 0) rowsWithheld.inc({ resource }, entry.withheldRecordIds.length);
    if (entry.fieldsWithheld.length > 0) fieldsWithheld.inc({ resource }, entry.fieldsWithheld.length);
  };

  return {
    registry,
    requestEnded(policies, end) {
      try {
        countEnd(policies, end);
      } catch {
        // Counting is an onlooker: a fault here must never fail or change an answer already sent.
      }
    },
    auditAppend: (seconds, ok) => append.observe({ result: ok ? 'ok' : 'failed' }, seconds),
    auditCommit(batch) {
      batchSize.observe(batch.size);
      commit.observe({ result: batch.ok ? 'ok' : 'failed' }, batch.seconds);
    },
    upstream(seconds, result) {
      const label = result === 'ok' ? 'ok' : codeLabel(result);
      upstream.observe({ result: label }, seconds);
      if (label !== 'ok') upstreamErrors.inc({ code: label });
    },
    policyReload: (ok) => reloads.inc({ result: ok ? 'ok' : 'failed' }),
    watch(from) {
      sources = from;
    },
  };
}

/** A code as a label: one of ERROR_CODES, `none` when there was no error, `internal` for anything else. */
function codeLabel(code: string | undefined): string {
  if (code === undefined) return NO_CODE_LABEL;
  return Object.hasOwn(ERROR_CODES, code) ? code : 'internal';
}
