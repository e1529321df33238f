import { SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import type { PolicySet } from '../engine/policy-set.js';
import { FieldmeshError } from '../lib/errors.js';
import { declared } from './labels.js';

/*
 * The spans both shells open (docs/operations.md, "Traces"), through the
 * OpenTelemetry API only: until the application registers an SDK, the API's
 * tracer is a no-op and a span costs a function call. Attributes are the
 * bounded facts of the decision (resource, purpose, outcome, code, route
 * pattern): never a record value, never a user id, never a header's text.
 */

/** The names of fieldmesh's spans. */
export type SpanName = 'fieldmesh.request' | 'fieldmesh.plan' | 'fieldmesh.upstream' | 'fieldmesh.redact' | 'fieldmesh.audit.commit';

/**
 * What a span may say. Purpose and resource are kept only when the policy
 * set declares them; the rest comes from fixed sets (codes, outcomes, route
 * patterns).
 *
 * @example
 * span.setAttributes(spanAttributes(policies, { resource: 'Patient', purpose: 'direct-care', outcome: 'disclosed' }));
 */
export interface SpanFacts {
  resource?: string | undefined;
  purpose?: string | undefined;
  outcome?: 'disclosed' | 'refused' | 'admitted' | undefined;
  code?: string | undefined;
  route?: string | undefined;
}

const tracer = () => trace.getTracer('fieldmesh');

/**
 * The attributes of a span, as `SpanFacts` allows them.
 *
 * @example
 * spanAttributes(policies, { purpose: 'no-such-purpose' }); // { 'fieldmesh.purpose': '(unknown)' }
 */
export function spanAttributes(policies: PolicySet | undefined, facts: SpanFacts): Attributes {
  const out: Attributes = {};
  if (facts.resource !== undefined)
    out['fieldmesh.resource'] = policies === undefined ? facts.resource : declared(facts.resource, policies.compiled.resources);
  if (facts.purpose !== undefined && policies !== undefined) out['fieldmesh.purpose'] = declared(facts.purpose, policies.compiled.purposes);
  if (facts.outcome !== undefined) out['fieldmesh.outcome'] = facts.outcome;
  if (facts.code !== undefined) out['fieldmesh.code'] = facts.code;
  if (facts.route !== undefined) out['http.route'] = facts.route;
  return out;
}

/**
 * Run `fn` inside a span named `name`, made the active span so spans opened
 * inside it nest under it (when the application registered a context
 * manager). A thrown error ends the span with status ERROR and its code
 * (never its message: a runtime error's message can quote data).
 *
 * @example
 * const answer = await inSpan('fieldmesh.upstream', { route: route.path }, () => upstream.send(req));
 */
export function inSpan<T>(name: SpanName, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      failed(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * `inSpan` for synchronous work (redacting an answer).
 *
 * @example
 * const outcome = inSpanSync('fieldmesh.redact', attrs, () => readOutcome(input));
 */
export function inSpanSync<T>(name: SpanName, attributes: Attributes, fn: (span: Span) => T): T {
  return tracer().startActiveSpan(name, { attributes }, (span) => {
    try {
      return fn(span);
    } catch (err) {
      failed(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Mark a span failed with the error's code only. */
export function failed(span: Span, err: unknown): void {
  const code = err instanceof FieldmeshError ? err.code : 'internal';
  span.setAttribute('fieldmesh.code', code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: code });
}

/**
 * Redact a source's answer (`readOutcome`, `writeOutcome`) inside a
 * `fieldmesh.redact` span that ends saying what was decided.
 *
 * @example
 * const outcome = redactSpan(policies, { resource, purpose, route }, () => readOutcome(input));
 */
export function redactSpan<T extends { entry: { decision: 'disclosed' | 'refused'; code?: string | undefined } }>(
  policies: PolicySet,
  facts: SpanFacts,
  fn: () => T,
): T {
  return inSpanSync('fieldmesh.redact', spanAttributes(policies, facts), (span) => {
    const out = fn();
    if (span.isRecording()) span.setAttributes(spanAttributes(policies, { outcome: out.entry.decision, code: out.entry.code }));
    return out;
  });
}
