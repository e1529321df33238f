/**
 * A TCP proxy whose link can be cut: it stands in front of PostgreSQL so a
 * bench or a test can make the trail unreachable and bring it back, as a
 * failover or a network partition would, without touching the server.
 * While cut, every open connection is reset and every new one is reset as
 * soon as it is accepted (the port stays bound, so clients see the server
 * gone, not another program on its port); `restore()` lets connections
 * through again.
 */
import { createServer, type Server, type Socket, connect } from 'node:net';

export interface TcpProxy {
  /** The port it listens on (127.0.0.1). */
  port: number;
  /** Reset every open connection and refuse new ones until `restore()`. */
  cut(): Promise<void>;
  /** Let connections through again. */
  restore(): Promise<void>;
  /** Connections it accepted while cut (each reset at once). */
  refused(): number;
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1 (a free port) and forwards every connection to `host:port`.
 *
 * @example
 * const proxy = await startTcpProxy('127.0.0.1', 5432);
 * await proxy.cut(); // the trail is unreachable
 * await proxy.restore();
 */
export async function startTcpProxy(host: string, port: number): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let isCut = false;
  let refused = 0;
  const server: Server = createServer((client) => {
    if (isCut) {
      refused++;
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(port, host);
    open.add(client);
    open.add(upstream);
    const drop = () => {
      open.delete(client);
      open.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const cutAll = () => {
    for (const s of open) s.resetAndDestroy();
    open.clear();
  };
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    cut: async () => {
      isCut = true;
      cutAll();
    },
    restore: async () => {
      isCut = false;
    },
    refused: () => refused,
    close: () =>
      new Promise<void>((resolve) => {
        cutAll();
        server.close(() => resolve());
      }),
  };
}
