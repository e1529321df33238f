import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import { AccessError } from '../../src/engine/access-error.js';
import { createUpstream, type Upstream, type UpstreamOptions } from '../../src/gateway/upstream.js';
import { startRawUpstream, type TestUpstream } from './helpers.js';

const RECORD = { id: 'pat-001', name: 'Jan Doe' };

describe('gateway/upstream', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const c of open.splice(0).reverse()) await c.close();
  });

  /** A hand-written upstream and a client for it, at `base` under its origin. */
  async function setup(
    handler: (req: IncomingMessage, res: ServerResponse) => void,
    opts: Partial<UpstreamOptions> & { base?: string } = {},
  ): Promise<{ server: TestUpstream; upstream: Upstream }> {
    const server = await startRawUpstream(handler);
    open.push(server);
    const upstream = createUpstream({ url: server.url + (opts.base ?? ''), timeoutMs: 2000, maxBodyBytes: 1000, ...opts });
    open.push(upstream);
    return { server, upstream };
  }

  async function rejection(p: Promise<unknown>): Promise<AccessError> {
    try {
      await p;
    } catch (e) {
      expect(e).to.be.instanceOf(AccessError);
      return e as AccessError;
    }
    throw new Error('expected a rejection');
  }

  const jsonAnswer =
    (body: unknown, headers: Record<string, string> = {}) =>
    (_req: IncomingMessage, res: ServerResponse) =>
      res
        .writeHead(200, { 'content-type': 'application/json', ...headers })
        .end(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));

  it('sends the request under the base path, with its own credential and the codings it can undo', async () => {
    const { server, upstream } = await setup(jsonAnswer([RECORD]), { base: '/api/', authorization: 'Bearer gateway-credential' });
    const answer = await upstream.send({
      method: 'GET',
      path: '/patients?gp=B86001',
      headers: { accept: 'application/json', authorization: 'Bearer caller' },
    });
    expect(answer.status).to.equal(200);
    expect(answer.body).to.deep.equal([RECORD]);
    expect(server.seen[0]).to.deep.include({ method: 'GET', url: '/api/patients?gp=B86001' });
    expect(server.seen[0]!.headers).to.include({
      authorization: 'Bearer gateway-credential',
      'accept-encoding': 'gzip, deflate, br',
      accept: 'application/json',
    });
  });

  it('sends a write body', async () => {
    let received = '';
    const { upstream } = await setup((req, res) => {
      req.setEncoding('utf8');
      req.on('data', (c: string) => (received += c));
      req.on('end', () => jsonAnswer(RECORD)(req, res));
    });
    const answer = await upstream.send({
      method: 'PATCH',
      path: '/patients/pat-001',
      headers: { 'content-type': 'application/json' },
      body: Buffer.from('{"ward":"W8"}'),
    });
    expect(received).to.equal('{"ward":"W8"}');
    expect(answer.body).to.deep.equal(RECORD);
  });

  it('decodes a compressed body before parsing it', async () => {
    const { upstream } = await setup(jsonAnswer(gzipSync(JSON.stringify(RECORD)), { 'content-encoding': 'gzip' }));
    expect((await upstream.send({ method: 'GET', path: '/p', headers: {} })).body).to.deep.equal(RECORD);
  });

  it('returns an error status, a redirect or a 204 with no body at all, never following a redirect', async () => {
    for (const [status, headers] of [
      [404, {}],
      [500, {}],
      [302, { location: 'http://example.invalid/elsewhere' }],
      [204, {}],
    ] as const) {
      const { server, upstream } = await setup((_req, res) =>
        res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(status === 204 ? undefined : JSON.stringify(RECORD)),
      );
      const answer = await upstream.send({ method: 'GET', path: '/p', headers: {} });
      expect(answer.status).to.equal(status);
      expect(answer).to.not.have.property('body');
      expect(server.seen).to.have.length(1);
    }
  });

  it('refuses a body larger than allowed, announced or not', async () => {
    const big = JSON.stringify({ notes: 'x'.repeat(2000) });
    const announced = await setup(jsonAnswer(big, { 'content-length': String(big.length) }));
    expect((await rejection(announced.upstream.send({ method: 'GET', path: '/p', headers: {} }))).message).to.include(
      `announces ${big.length} bytes`,
    );
    const chunked = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(big.slice(0, 900));
      res.end(big.slice(900));
    });
    const e = await rejection(chunked.upstream.send({ method: 'GET', path: '/p', headers: {} }));
    expect(e.code).to.equal('upstream_invalid');
    expect(e.message).to.include('exceeds 1000 bytes');
  });

  it('refuses a body that is not JSON', async () => {
    const { upstream } = await setup((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<p>Jan Doe</p>'));
    const e = await rejection(upstream.send({ method: 'GET', path: '/p', headers: {} }));
    expect(e.code).to.equal('upstream_invalid');
    expect(e.message).to.not.include('Jan');
  });

  it('refuses an answer cut short mid-body as invalid', async () => {
    const { upstream } = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' });
      res.write('{"id":"pat-001",');
      setImmediate(() => res.socket?.destroy());
    });
    expect((await rejection(upstream.send({ method: 'GET', path: '/p', headers: {} }))).code).to.equal('upstream_invalid');
  });

  it('answers upstream_timeout when the upstream does not answer within the deadline', async () => {
    const { upstream } = await setup(() => undefined, { timeoutMs: 200 });
    const e = await rejection(upstream.send({ method: 'GET', path: '/p', headers: {} }));
    expect(e.code).to.equal('upstream_timeout');
    expect(e.status).to.equal(504);
  });

  it('answers upstream_unreachable when nothing listens', async () => {
    const server = createServer();
    const port = await new Promise<number>((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
    );
    await new Promise((resolve) => server.close(resolve));
    const upstream = createUpstream({ url: `http://127.0.0.1:${port}`, timeoutMs: 2000, maxBodyBytes: 1000 });
    open.push(upstream);
    const e = await rejection(upstream.send({ method: 'GET', path: '/p', headers: {} }));
    expect(e.code).to.equal('upstream_unreachable');
    expect(e.message).to.include('ECONNREFUSED');
  });
});
