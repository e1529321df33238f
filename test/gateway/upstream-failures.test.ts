import { gzipSync, brotliCompressSync, deflateSync } from 'node:zlib';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { as, call, records, startRawUpstream, startTestGateway, USERS, type TestGateway, type TestUpstream } from './helpers.js';

const PATIENT = records('Patient').find((p) => p['id'] === 'pat-001')!;
const SECRET_VALUES = ['Testwood', '9990000018', '07700 900001', 'penicillin'];
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('gateway › an upstream that cannot be trusted', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const c of open.splice(0).reverse()) await c.close();
  });
  async function setup(
    handler: (req: IncomingMessage, res: ServerResponse) => void,
    flags = {},
  ): Promise<{ upstream: TestUpstream; gw: TestGateway }> {
    const upstream = await startRawUpstream(handler);
    open.push(upstream);
    const gw = await startTestGateway(upstream.url, flags);
    open.push(gw);
    return { upstream, gw };
  }
  /** A receptionist's read of pat-001: may see the name, never the diagnoses. */
  const read = (gw: TestGateway, path = '/patients/pat-001') =>
    call(`${gw.url}${path}`, { headers: as(USERS.receptionist, 'administration') });
  function expectNothingPassed(res: { text: string; headers: Record<string, unknown> }) {
    for (const value of SECRET_VALUES) expect(res.text).not.to.include(value);
    expect(res.headers).not.to.have.property('content-encoding');
    expect(res.headers).not.to.have.property('location');
  }
  async function expectAudited(gw: TestGateway, code: string, status: number) {
    const events = await gw.audit.query();
    expect(events).to.have.length(1);
    expect(events[0]).to.include({ decision: 'refused', code, status });
    expect(events[0]!.fieldsDisclosed).to.deep.equal([]);
  }

  it('refuses an HTML body (502) and passes none of it on', async () => {
    const { gw } = await setup((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(`<p>${JSON.stringify(PATIENT)}</p>`));
    const res = await read(gw);
    expect(res.status).to.equal(502);
    expect(res.json.error.code).to.equal('upstream_invalid');
    expectNothingPassed(res);
    await expectAudited(gw, 'upstream_invalid', 502);
  });

  it('refuses a body labelled JSON that does not parse (502)', async () => {
    const { gw } = await setup((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(PATIENT).slice(0, -5)),
    );
    const res = await read(gw);
    expect(res.status).to.equal(502);
    expectNothingPassed(res);
  });

  it('refuses a JSON scalar where a record was expected (502)', async () => {
    const { gw } = await setup((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('"Testwood"'));
    const res = await read(gw);
    expect(res.status).to.equal(502);
    expectNothingPassed(res);
  });

  it('refuses a record nested 6000 levels deep (502) and passes none of it on', async () => {
    const deep = `${JSON.stringify(PATIENT).slice(0, -1)},"allergies":${'['.repeat(6000)}"x"${']'.repeat(6000)}}`;
    const { gw } = await setup((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(deep));
    const res = await read(gw);
    expect(res.status).to.equal(502);
    expect(res.json.error.code).to.equal('upstream_invalid');
    expectNothingPassed(res);
    await expectAudited(gw, 'upstream_invalid', 502);
  });

  it('refuses a list route answered with an object (502): the rows are not where the route says', async () => {
    const { gw } = await setup((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: [PATIENT] })),
    );
    const res = await read(gw, '/patients');
    expect(res.status).to.equal(502);
    expect(res.json.error.code).to.equal('upstream_invalid');
    expectNothingPassed(res);
  });

  it('refuses a body shorter than its Content-Length, cut off by the upstream (502)', async () => {
    const { gw } = await setup((_req, res) => {
      const body = json([PATIENT, PATIENT]);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.write(body.subarray(0, Math.floor(body.length / 2)));
      setImmediate(() => res.socket?.destroy());
    });
    const res = await read(gw, '/patients');
    expect(res.status).to.equal(502);
    expect(res.json.error.code).to.equal('upstream_invalid');
    expectNothingPassed(res);
    await expectAudited(gw, 'upstream_invalid', 502);
  });

  it('refuses a chunked body whose connection is destroyed before its end (502)', async () => {
    const { gw } = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(json([PATIENT]).subarray(0, 200));
      setImmediate(() => res.socket?.destroy());
    });
    const res = await read(gw, '/patients');
    expect(res.status).to.equal(502);
    expectNothingPassed(res);
  });

  it('refuses a body over the size limit (502), compressed or not', async () => {
    const big = json(Array.from({ length: 50 }, () => PATIENT));
    const { gw } = await setup(
      (req, res) => {
        if (req.url === '/patients/pat-001') {
          // 4 MB of zeros gzip to a few kB: a decompression bomb.
          const bomb = gzipSync(Buffer.concat([Buffer.from('{"id":"pat-001","pad":"'), Buffer.alloc(4_000_000, 48), Buffer.from('"}')]));
          res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': bomb.length }).end(bomb);
        } else {
          res.writeHead(200, { 'content-type': 'application/json' }).end(big);
        }
      },
      { maxBodyBytes: '16384' },
    );
    const list = await read(gw, '/patients');
    expect(list.status).to.equal(502);
    expectNothingPassed(list);
    const bomb = await read(gw);
    expect(bomb.status).to.equal(502);
  });

  for (const [name, encode] of [
    ['gzip', gzipSync],
    ['br', brotliCompressSync],
    ['deflate', deflateSync],
  ] as const) {
    it(`decodes a ${name} body before redacting it`, async () => {
      const { upstream, gw } = await setup((_req, res) => {
        const body = encode(json(PATIENT));
        res
          .writeHead(200, { 'content-type': 'application/json', 'content-encoding': name, 'content-length': body.length, etag: '"v1"' })
          .end(body);
      });
      const res = await read(gw);
      expect(res.status).to.equal(200);
      expect(res.json.name[0].family).to.equal('Testwood');
      expect(res.json.nhsNumber).to.equal('******0018');
      expect(res.json).not.to.have.property('diagnoses');
      expect(res.headers).not.to.have.property('content-encoding');
      expect(res.headers).not.to.have.property('etag');
      expect(Number(res.headers['content-length'])).to.equal(Buffer.byteLength(res.text));
      expect(upstream.seen[0]!.headers['accept-encoding']).to.equal('gzip, deflate, br');
    });
  }

  it('refuses a body in an encoding it cannot decode (502)', async () => {
    const { gw } = await setup((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'zstd' }).end(json(PATIENT)),
    );
    expect((await read(gw)).status).to.equal(502);
  });

  it('never follows nor passes on a redirect: for one record it answers as a missing one (404, no Location)', async () => {
    const { upstream, gw } = await setup((_req, res) => res.writeHead(302, { location: 'http://127.0.0.1:1/patients/pat-001' }).end());
    const res = await read(gw);
    expect(res.status).to.equal(404);
    expect(res.json.error.code).to.equal('not_found');
    expectNothingPassed(res);
    expect(upstream.seen).to.have.length(1);
  });

  it("passes on an upstream error status with a generic error, never the upstream's body", async () => {
    const { gw } = await setup((_req, res) =>
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'db dump', row: PATIENT })),
    );
    const res = await read(gw);
    expect(res.status).to.equal(500);
    expect(res.json.error.code).to.equal('upstream_error');
    expectNothingPassed(res);
    // As the middleware records a handler's error answer: permitted, nothing disclosed, the status answered.
    const [event] = await gw.audit.query();
    expect(event).to.include({ decision: 'disclosed', status: 500 });
    expect(event!.fieldsDisclosed).to.deep.equal([]);
  });

  it("turns an upstream 401 (the gateway's own credential) into 502, not a 401 for the caller", async () => {
    const { gw } = await setup((_req, res) => res.writeHead(401, { 'www-authenticate': 'Basic' }).end());
    const res = await read(gw);
    expect(res.status).to.equal(502);
    expect(res.headers).not.to.have.property('www-authenticate');
  });

  it('answers 502 upstream_unreachable when nothing listens', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const gw = await startTestGateway(`http://127.0.0.1:${port}`);
    open.push(gw);
    const res = await read(gw);
    expect(res.status).to.equal(502);
    expect(res.json.error.code).to.equal('upstream_unreachable');
    await expectAudited(gw, 'upstream_unreachable', 502);
  });

  it('answers 504 upstream_timeout when the upstream does not answer in time', async () => {
    const { gw } = await setup(() => undefined, { timeoutMs: '200' });
    const res = await read(gw);
    expect(res.status).to.equal(504);
    expect(res.json.error.code).to.equal('upstream_timeout');
    await expectAudited(gw, 'upstream_timeout', 504);
  });

  it('answers 504 when the upstream stalls in the middle of the body', async () => {
    const { gw } = await setup(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('[{"id":"pat-001","name":');
      },
      { timeoutMs: '200' },
    );
    const res = await read(gw, '/patients');
    expect(res.status).to.equal(504);
    expectNothingPassed(res);
  });
});
