import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Metrics } from '../http/metrics.js';
import { securityHeaders } from '../http/respond.js';
import type { PolicyHolder } from './policy-holder.js';
import { createProxy, faultOf, type ProxyDeps } from './proxy.js';

/**
 * The parts a gateway is built from (`startGateway` makes them from a Config;
 * tests hand in their own).
 */
export type GatewayParts = Omit<ProxyDeps, 'policies'> & { holder: PolicyHolder };

/**
 * A listening gateway.
 *
 * @example
 * const gw = await startGateway(config); console.log(gw.url); await gw.close();
 */
export interface Gateway {
  url: string;
  port: number;
  server: Server;
  holder: PolicyHolder;
  /** The gateway's own metrics registry, served at `/metrics` (docs/operations.md, "Metrics"). */
  metrics: Registry;
  /** Load the policies again, keeping the current set if the new one fails. */
  reload(why?: string): Promise<boolean>;
  /** Stop accepting, let requests in flight finish, then close the upstream pool and the audit trail. */
  close(): Promise<void>;
}

/**
 * Serve the gateway: `/healthz` (the process is up), `/readyz` (policies
 * loaded and the audit trail writable; 503 otherwise, and while shutting
 * down), `/metrics` (Prometheus text format), every other path through the proxy.
 */
export async function listenGateway(
  parts: GatewayParts,
  opts: { port: number; host?: string; shutdownGraceMs?: number },
): Promise<Gateway> {
  const proxy = createProxy({ ...parts, policies: () => parts.holder.current });
  let closing: Promise<void> | undefined;
  const server = createServer((req, res) => {
    // While shutting down, answers still go out but connections are not kept.
    if (closing !== undefined) res.setHeader('Connection', 'close');
    // A request that was in flight when shutdown began leaves a kept-alive connection behind: close it once idle.
    res.once('finish', () => {
      if (closing !== undefined) setImmediate(() => server.closeIdleConnections());
    });
    // The gateway's own paths ignore a query string (a scraper or probe may add one, `?x=1` or a cache-buster).
    const own = req.method === 'GET' ? (req.url ?? '').split('?', 1)[0] : undefined;
    if (own === '/healthz') return probe(res, 200, { status: 'ok' });
    if (own === '/readyz') return void ready(parts, closing !== undefined).then(([status, body]) => probe(res, status, body));
    if (own === '/metrics') return void scrape(parts.metrics, res);
    proxy(req, res).catch((e: unknown) => {
      parts.logger.error({ err: faultOf(e) }, 'unhandled gateway error');
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  const gateway: Gateway = {
    url: `http://${host}:${port}`,
    port,
    server,
    holder: parts.holder,
    metrics: parts.metrics.registry,
    reload: (why = 'requested') => parts.holder.reload(why),
    close() {
      closing ??= shutdown(server, parts, opts.shutdownGraceMs ?? 10_000);
      return closing;
    },
  };
  parts.logger.info(
    { event: 'listening', url: gateway.url, policyVersion: parts.holder.current.version, routes: parts.routes.routes.length },
    'gateway listening',
  );
  return gateway;
}

async function ready(parts: GatewayParts, closing: boolean): Promise<[number, object]> {
  const audit = await parts.audit.healthy().catch(() => false);
  const checks = { policies: parts.holder.current !== undefined, audit, shuttingDown: closing };
  const ok = checks.policies && audit && !closing;
  return [ok ? 200 : 503, { status: ok ? 'ready' : 'not ready', policyVersion: parts.holder.current.version, checks }];
}

/** Answer a scrape; a collector that failed is a 500 naming nothing of it. */
async function scrape(metrics: Metrics, res: ServerResponse): Promise<void> {
  let text: string;
  try {
    text = await metrics.registry.metrics();
  } catch {
    return probe(res, 500, { error: { code: 'internal', message: 'The metrics could not be collected' } });
  }
  securityHeaders(res);
  res.writeHead(200, { 'Content-Type': metrics.registry.contentType, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function probe(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  securityHeaders(res);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function shutdown(server: Server, parts: GatewayParts, graceMs: number): Promise<void> {
  parts.logger.info({ event: 'shutdown' }, 'shutting down: finishing requests in flight');
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // Requests still running after the grace period are cut rather than held forever.
  const grace = setTimeout(() => server.closeAllConnections(), graceMs);
  grace.unref();
  await closed;
  clearTimeout(grace);
  parts.holder.close();
  await parts.upstream.close().catch(() => undefined);
  await parts.audit.close();
  parts.logger.info({ event: 'stopped' }, 'gateway stopped');
}

/**
 * Wire process signals: SIGTERM and SIGINT close the gateway gracefully and
 * exit; SIGHUP reloads the policies. Returns a function that unwires them.
 *
 * @example
 * const unwire = onSignals(gateway, () => process.exit(0));
 */
export function onSignals(gateway: Gateway, exit: (code: number) => void = (code) => process.exit(code)): () => void {
  const stop = () => {
    gateway.close().then(
      () => exit(0),
      () => exit(1),
    );
  };
  const hup = () => void gateway.reload('SIGHUP');
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.on('SIGHUP', hup);
  return () => {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    process.off('SIGHUP', hup);
  };
}
