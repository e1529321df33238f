import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { parseJson, readJsonRequest, requestJson } from '../../src/http/json-body.js';
import { FieldmeshError } from '../../src/lib/errors.js';

/** Send `body` to a real server that reads it with readJsonRequest; resolves to the value or the error's code. */
async function roundTrip(body: Buffer | string, headers: Record<string, string>, maxBytes = 64): Promise<unknown> {
  let result: unknown;
  const server = createServer((req: IncomingMessage, res) => {
    readJsonRequest(req, maxBytes)
      .then(
        (v) => {
          result = { value: v };
        },
        (e: unknown) => {
          result = { code: (e as FieldmeshError).code };
        },
      )
      .finally(() => res.writeHead(200, { connection: 'close' }).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', () => resolve());
    req.end(body);
  });
  await new Promise<void>((r) => server.close(() => r()));
  return result;
}

describe('json-body', () => {
  describe('parseJson', () => {
    it('reads JSON and +json types, dropping a byte-order mark', () => {
      expect(parseJson(Buffer.from('\uFEFF{"a":1}'), 'application/fhir+json; charset=utf-8')).to.deep.equal({ ok: true, value: { a: 1 } });
    });

    it('names each fault as data, never quoting the bytes', () => {
      expect(parseJson(Buffer.from('{}'), 'text/plain')).to.deep.equal({ ok: false, fault: 'type' });
      expect(parseJson(Buffer.from('{}'), 'application/json; charset=iso-8859-1')).to.deep.equal({ ok: false, fault: 'charset' });
      expect(parseJson(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]), 'application/json')).to.deep.equal({ ok: false, fault: 'utf8' });
      expect(parseJson(Buffer.from('{"a":'), 'application/json')).to.deep.equal({ ok: false, fault: 'syntax' });
      expect(parseJson(Buffer.from('[[[1]]]'), 'application/json', { maxDepth: 2 })).to.deep.equal({ ok: false, fault: 'depth' });
    });
  });

  describe('requestJson', () => {
    it('refuses an empty body, a body nested deeper than a record may be, and broken JSON, all as invalid_body', () => {
      const deep = `${'['.repeat(200)}1${']'.repeat(200)}`;
      for (const [bytes, type] of [
        ['', 'application/json'],
        [deep, 'application/json'],
        ['{"ward": [', 'application/json'],
        ['ward=1', 'text/plain'],
      ] as const) {
        expect(() => requestJson(Buffer.from(bytes), type))
          .to.throw(FieldmeshError)
          .with.property('code', 'invalid_body');
      }
      const quoted = () => requestJson(Buffer.from('{"nhsNumber": 9990000018'), 'application/json');
      expect(quoted).to.throw(FieldmeshError).with.property('message').that.does.not.include('9990000018');
    });
  });

  describe('readJsonRequest', () => {
    it('reads a JSON body from a real request stream', async () => {
      expect(await roundTrip('{"ward":"Ward 9"}', { 'content-type': 'application/json' })).to.deep.equal({ value: { ward: 'Ward 9' } });
    });

    it('refuses a body past the limit, announced or not, as payload_too_large', async () => {
      const big = JSON.stringify({ ward: 'W'.repeat(200) });
      expect(await roundTrip(big, { 'content-type': 'application/json' })).to.deep.equal({ code: 'payload_too_large' });
      expect(await roundTrip(big, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' })).to.deep.equal({
        code: 'payload_too_large',
      });
    });

    it('refuses a compressed body as invalid_body', async () => {
      expect(await roundTrip('{}', { 'content-type': 'application/json', 'content-encoding': 'gzip' })).to.deep.equal({
        code: 'invalid_body',
      });
    });
  });
});
