import { pino } from 'pino';
import type { AuditEvent } from './event.js';
import type { AuditStore } from './types.js';
import { webhookUrlProblem } from '../lib/url.js';
import { webhookSender, type AlertLogger, type WebhookSender } from './webhook.js';

export type { AlertLogger } from './webhook.js';

/**
 * Where break-glass use is announced the moment it is recorded.
 */
export interface BreakGlassAlertOptions {
  /** Called with each break-glass event once it is durable. */
  onBreakGlass?: ((event: AuditEvent) => void | Promise<void>) | undefined;
  /** POSTed each break-glass event as JSON. */
  breakGlassWebhook?: string | undefined;
  /** Webhook time limit per attempt in ms (default 5000). */
  webhookTimeoutMs?: number | undefined;
  /** Webhook attempts in all (default 3); a 4xx other than 408 and 429 is not retried. */
  webhookAttempts?: number | undefined;
  /** Wait before the first retry in ms (default 1000), doubling each time, with jitter. */
  webhookBackoffMs?: number | undefined;
  /** Most webhook deliveries pending at once (default 100); more are dropped, counted and logged. */
  webhookMaxPending?: number | undefined;
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
  // The URL is not quoted: its query may hold the receiver's token.
  const urlProblem = breakGlassWebhook === undefined ? undefined : webhookUrlProblem(breakGlassWebhook);
  if (urlProblem !== undefined) {
    throw new TypeError(`withBreakGlassAlert: breakGlassWebhook ${urlProblem}`);
  }
  for (const [name, min] of [
    ['webhookTimeoutMs', 1],
    ['webhookAttempts', 1],
    ['webhookBackoffMs', 0],
    ['webhookMaxPending', 1],
  ] as const) {
    const n = opts[name];
    if (n !== undefined && !(Number.isInteger(n) && n >= min))
      throw new TypeError(`withBreakGlassAlert: ${name} must be a whole number, at least ${min}`);
  }
  const logger = opts.logger ?? pino({ name: 'fieldmesh-audit' }, pino.destination(2));
  const admit = rateLimit(opts.perUserPerMinute ?? 5, opts.perMinute ?? 30, opts.now ?? Date.now);
  let dropped = 0;
  const drop = (): number => {
    dropped += 1;
    return dropped;
  };
  const webhook: WebhookSender | undefined =
    breakGlassWebhook === undefined
      ? undefined
      : webhookSender({
          url: breakGlassWebhook,
          timeoutMs: opts.webhookTimeoutMs ?? 5000,
          attempts: opts.webhookAttempts ?? 3,
          backoffMs: opts.webhookBackoffMs ?? 1000,
          maxPending: opts.webhookMaxPending ?? 100,
          logger,
          drop,
        });

  const alert = (event: AuditEvent): void => {
    // Defence in depth: admission never records a stranger's reason, and an unauthenticated refusal never alerts.
    if (event.code === 'unauthenticated') return;
    const limited = admit(event.user);
    if (limited !== undefined) {
      logger.warn(
        { eventId: event.id, channel: 'rate-limit', limit: limited, dropped: drop() },
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
    webhook?.send(event);
  };

  return {
    async append(entry) {
      const event = await store.append(entry);
      if (event.breakGlass !== undefined && event.action !== 'review') alert(event);
      return event;
    },
    query: (filter) => store.query(filter),
    count: (filter) => store.count(filter),
    verify: (onProgress, options) => store.verify(onProgress, options),
    pendingReviews: () => store.pendingReviews(),
    acknowledge: (eventId, by, note) => store.acknowledge(eventId, by, note),
    archive: (options) => store.archive(options),
    healthy: () => store.healthy(),
    ...(store.trailId === undefined ? {} : { trailId: () => (store.trailId as () => Promise<string | null>)() }),
    async close() {
      // Retries still waiting are dropped (and logged); attempts in flight end within their time limit.
      await webhook?.close();
      await store.close();
    },
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
