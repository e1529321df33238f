import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * What the gateway logs per request: who can correlate it (the request id),
 * what was asked in terms of routes (the pattern, never the path: a path
 * holds record ids), and how it ended. Never a header, a token, a query
 * value or a record value.
 */
export interface RequestLog {
  requestId: string;
  method: string;
  /** The matched route pattern, or a fixed label (`(no route)`, `/healthz`). */
  route: string;
  resource?: string | undefined;
  /** The purpose named when the policy set declares it, else `(unknown)` (src/http/labels.ts): never the header's text. */
  purpose?: string | undefined;
  status: number;
  durationMs: number;
  /** `disclosed`, `refused`, or `error` when nothing was decided. */
  outcome: 'disclosed' | 'refused' | 'error' | 'none';
  code?: string | undefined;
  rowsReturned?: number | undefined;
  rowsWithheld?: number | undefined;
}

/**
 * The gateway's structured JSON logger (pino): one line per request, plus
 * start-up, reload and shutdown events.
 *
 * @example
 * const logger = gatewayLogger(); // JSON lines on stdout
 */
export function gatewayLogger(opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      name: 'fieldmesh-gateway',
      level: opts.level ?? process.env['LOG_LEVEL'] ?? 'info',
      // Belt and braces: should a header object ever reach a log call, its secrets are not written.
      redact: { paths: ['*.authorization', '*.cookie', '*.headers', 'token'], censor: '[redacted]' },
    },
    opts.destination ?? pino.destination(1),
  );
}

/**
 * Log one finished request at a level that fits its status.
 */
export function logRequest(logger: Logger, line: RequestLog): void {
  // Passed as it is: pino leaves out undefined members itself, so no copy is made per request.
  if (line.status >= 500) logger.error(line, 'request failed');
  else logger.info(line, 'request');
}
