import { pino } from 'pino';
import { request } from 'undici';
import type { AuditEvent } from './event.js';
import type { AuditStore } from './types.js';

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
 */
export interface BreakGlassAlertOptions {
  /** Called with each break-glass event once it is durable. */
  onBreakGlass?: ((event: AuditEvent) => void | Promise<void>) | undefined;
  /** POSTed each break-glass event as JSON. */
  breakGlassWebhook?: string | undefined;
  /** Webhook time limit in ms (default 5000). */
  webhookTimeoutMs?: number | undefined;
  /** Where failed and dropped alerts are reported (default: pino on stderr). */
  logger?: AlertLogger | undefined;
  /** Most alerts per user in one minute (default 5); more are dropped, counted and logged. */
  perUserPerMinute?: number | undefined;
  /** Most alerts in one minute for everyone together (default 30). */
  perMinute?: number | undefined;
  /** The clock, in ms (tests inject one). */
  now?: (() => number) | undefined;
}

const MINUTE_MS = 60_000;

/**
 * Wraps a store so that every break-glass event (Caldicott 7: shared at once,
 * reviewed after) also alerts the guardian. The alert starts after the event
 * is durable and is never awaited: a slow or failing hook is logged and can
 * neither delay nor fail the request it records. Only a verified caller's
 * declaration alerts (an unauthenticated refusal never does), and alerts are
 * rate-limited per user and overall, per minute: one user, or many, cannot
 * flood the guardian's channel. Every event is still in the trail and its
 * review queue; a dropped alert is counted and logged with its event id only.
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
  const admit = rateLimit(opts.perUserPerMinute ?? 5, opts.perMinute ?? 30, opts.now ?? Date.now);
  let dropped = 0;

  const alert = (event: AuditEvent): void => {
    // Defence in depth: admission never records a stranger's reason, and an unauthenticated refusal never alerts.
    if (event.code === 'unauthenticated') return;
    const limited = admit(event.user);
    if (limited !== undefined) {
      dropped += 1;
      logger.warn(
        { eventId: event.id, channel: 'rate-limit', limit: limited, dropped },
        'break-glass alert dropped: too many this minute (the event is in the trail)',
      );
      return;
    }
    const report =
      (channel: string) =>
      (err: unknown): void => {
        logger.warn({ eventId: event.id, channel, err: err instanceof Error ? err.message : String(err) }, 'break-glass alert failed');
      };
    if (onBreakGlass !== undefined) {
      Promise.resolve()
        .then(() => onBreakGlass(event))
        .catch(report('onBreakGlass'));
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
    archive: (options) => store.archive(options),
    healthy: () => store.healthy(),
    close: () => store.close(),
  };
}

/**
 * Fixed one-minute windows: undefined when an alert may go, otherwise which
 * limit it hit. Counts reset with each window, so memory stays bounded by
 * the users alerting within one minute.
 */
function rateLimit(perUser: number, overall: number, now: () => number): (user: string) => 'user' | 'global' | undefined {
  let window = -1;
  let total = 0;
  const byUser = new Map<string, number>();
  return (user) => {
    const current = Math.floor(now() / MINUTE_MS);
    if (current !== window) {
      window = current;
      total = 0;
      byUser.clear();
    }
    const mine = byUser.get(user) ?? 0;
    if (mine >= perUser) return 'user';
    if (total >= overall) return 'global';
    byUser.set(user, mine + 1);
    total += 1;
    return undefined;
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
