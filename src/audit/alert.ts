import { pino } from 'pino';
import { request } from 'undici';
import type { AuditEvent } from './event.js';
import type { AuditStore } from './store.js';

/**
 * The part of a pino logger the alert uses.
 *
 * @example
 * const logger: AlertLogger = pino();
 */
export interface AlertLogger {
  warn(obj: object, msg: string): void;
}

/**
 * Where break-glass use is announced the moment it is recorded.
 *
 * @example
 * const opts: BreakGlassAlertOptions = { breakGlassWebhook: 'https://guardian.example/hooks/break-glass' };
 */
export interface BreakGlassAlertOptions {
  /** Called with each break-glass event once it is durable. */
  onBreakGlass?: ((event: AuditEvent) => void | Promise<void>) | undefined;
  /** POSTed each break-glass event as JSON. */
  breakGlassWebhook?: string | undefined;
  /** Webhook time limit in ms (default 5000). */
  webhookTimeoutMs?: number | undefined;
  /** Where failed alerts are reported (default: pino on stderr). */
  logger?: AlertLogger | undefined;
}

/**
 * Wraps a store so that every break-glass event (Caldicott 7: shared at once,
 * reviewed after) also alerts the guardian. The alert starts after the event
 * is durable and is never awaited: a slow or failing hook is logged and can
 * neither delay nor fail the request it records.
 *
 * @example
 * const store = withBreakGlassAlert(await openAuditStore(target), {
 *   breakGlassWebhook: process.env.FIELDMESH_BREAK_GLASS_WEBHOOK,
 * });
 */
export function withBreakGlassAlert(store: AuditStore, opts: BreakGlassAlertOptions): AuditStore {
  const { onBreakGlass, breakGlassWebhook } = opts;
  if (onBreakGlass === undefined && breakGlassWebhook === undefined) return store;
  if (breakGlassWebhook !== undefined && !/^https?:\/\//i.test(breakGlassWebhook)) {
    throw new TypeError(`withBreakGlassAlert: breakGlassWebhook must be an http(s) URL, got "${breakGlassWebhook}"`);
  }
  const logger = opts.logger ?? pino({ name: 'fieldmesh-audit' }, pino.destination(2));
  const timeout = opts.webhookTimeoutMs ?? 5000;

  const alert = (event: AuditEvent): void => {
    const report = (channel: string) => (err: unknown): void => {
      logger.warn({ eventId: event.id, channel, err: err instanceof Error ? err.message : String(err) }, 'break-glass alert failed');
    };
    if (onBreakGlass !== undefined) {
      Promise.resolve().then(() => onBreakGlass(event)).catch(report('onBreakGlass'));
    }
    if (breakGlassWebhook !== undefined) {
      postJson(breakGlassWebhook, event, timeout).catch(report('webhook'));
    }
  };

  return {
    async append(entry) {
      const event = await store.append(entry);
      if (event.breakGlass !== undefined && event.action !== 'review') alert(event);
      return event;
    },
    query: (filter) => store.query(filter),
    verify: (onProgress, options) => store.verify(onProgress, options),
    pendingReviews: () => store.pendingReviews(),
    acknowledge: (eventId, by, note) => store.acknowledge(eventId, by, note),
    healthy: () => store.healthy(),
    close: () => store.close(),
  };
}

async function postJson(url: string, event: AuditEvent, timeout: number): Promise<void> {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(event),
    headersTimeout: timeout,
    bodyTimeout: timeout,
  });
  await res.body.dump();
  if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`webhook answered ${res.statusCode}`);
}
