import { request } from 'undici';
import type { AuditEvent } from './event.js';

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
 * How a webhook is called: its time limit, its retries and how many
 * deliveries may wait at once.
 */
export interface WebhookOptions {
  url: string;
  /** Per attempt, in ms. */
  timeoutMs: number;
  /** Attempts in all, the first included. */
  attempts: number;
  /** The first retry waits about this long (ms); each next one about twice as long. */
  backoffMs: number;
  /** Deliveries in flight or waiting to retry; one more is dropped. */
  maxPending: number;
  logger: AlertLogger;
  /** Counts a dropped alert and returns the running total (shared with the rate limit). */
  drop: () => number;
}

/**
 * A webhook that delivers events as JSON, retrying what may pass later.
 *
 * @example
 * const hook = webhookSender({ url, timeoutMs: 5000, attempts: 3, backoffMs: 500, maxPending: 100, logger, drop });
 * hook.send(event); // returns at once
 */
export interface WebhookSender {
  /** Starts a delivery and returns at once; never throws. */
  send(event: AuditEvent): void;
  /** Cancels waiting retries (each counted and logged as dropped) and waits for attempts in flight, each bounded by its time limit. */
  close(): Promise<void>;
}

/** A retry may succeed: the receiver timed out, was throttled or failed; any other 4xx will answer the same again. */
const RETRIABLE = (status: number): boolean => status === 408 || status === 429 || status >= 500;

class WebhookStatus extends Error {
  constructor(readonly status: number) {
    super(`webhook answered ${status}`);
  }
}

/**
 * Deliveries run side by side, each up to `attempts` times with exponential
 * backoff and jitter (so many gateways recovering together do not call in
 * step). At most `maxPending` are pending: a webhook that is down cannot
 * make memory grow without limit; one more alert is dropped, counted and
 * logged by event id. Logs name the event id, the attempt count and the
 * status or error code, never the URL (its query may hold a token) nor
 * anything of the event.
 */
export function webhookSender(opts: WebhookOptions): WebhookSender {
  const inFlight = new Set<Promise<void>>();
  const waiting = new Map<NodeJS.Timeout, string>();
  let closed = false;

  const attempt = async (event: AuditEvent, n: number): Promise<void> => {
    try {
      await postJson(opts.url, event, opts.timeoutMs);
    } catch (err) {
      const retriable = !(err instanceof WebhookStatus) || RETRIABLE(err.status);
      if (retriable && n < opts.attempts) {
        if (!closed) return retryLater(event, n + 1);
        return droppedAtClose(event.id);
      }
      opts.logger.warn({ eventId: event.id, channel: 'webhook', attempts: n, err: describe(err) }, 'break-glass alert failed');
    }
  };

  const retryLater = (event: AuditEvent, n: number): void => {
    // Equal jitter: half the exponential delay fixed, half random.
    const base = opts.backoffMs * 2 ** (n - 2);
    const timer = setTimeout(
      () => {
        waiting.delete(timer);
        track(attempt(event, n));
      },
      base / 2 + Math.random() * (base / 2),
    );
    waiting.set(timer, event.id);
  };

  const droppedAtClose = (eventId: string): void => {
    opts.logger.warn(
      { eventId, channel: 'webhook', limit: 'closed', dropped: opts.drop() },
      'break-glass alert dropped: closed before its retry (the event is in the trail)',
    );
  };

  const track = (p: Promise<void>): void => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  return {
    send(event) {
      if (closed || inFlight.size + waiting.size >= opts.maxPending) {
        const dropped = opts.drop();
        opts.logger.warn(
          { eventId: event.id, channel: 'webhook', limit: closed ? 'closed' : 'pending', dropped },
          'break-glass alert dropped: the webhook is behind (the event is in the trail)',
        );
        return;
      }
      track(attempt(event, 1));
    },
    async close() {
      closed = true;
      for (const [timer, eventId] of waiting) {
        clearTimeout(timer);
        droppedAtClose(eventId);
      }
      waiting.clear();
      await Promise.all([...inFlight]);
    },
  };
}

/** A status or an error code: an error's message may quote the URL. */
function describe(err: unknown): string {
  if (err instanceof WebhookStatus) return err.message;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : err instanceof Error ? err.name : 'error';
}

async function postJson(url: string, event: AuditEvent, timeout: number): Promise<void> {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(event),
    // One limit for the whole attempt, connecting included: a receiver that never answers ends here.
    signal: AbortSignal.timeout(timeout),
  });
  await res.body.dump();
  if (res.statusCode < 200 || res.statusCode >= 300) throw new WebhookStatus(res.statusCode);
}
