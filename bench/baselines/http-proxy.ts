/**
 * Baseline: a plain reverse proxy (node:http + http-proxy, keep-alive
 * agent) in front of the record API, doing nothing else: the floor for any
 * proxy. `node --import tsx bench/baselines/http-proxy.ts <upstream>`; prints `READY <url>`.
 */
import { Agent, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import httpProxy from 'http-proxy';

const upstream = process.argv[2];
if (upstream === undefined) throw new Error('usage: http-proxy.ts <upstream url>');
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const proxy = httpProxy.createProxyServer({ target: upstream, agent });
proxy.on('error', (_err, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502).end();
});
const server = createServer((req, res) => proxy.web(req, res));
server.listen(0, '127.0.0.1', () => process.stdout.write(`READY http://127.0.0.1:${(server.address() as AddressInfo).port}\n`));
