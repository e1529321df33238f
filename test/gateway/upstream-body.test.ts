import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { expect } from 'chai';
import { AccessError } from '../../src/engine/access-error.js';
import { decodeBody, parseJsonBody } from '../../src/gateway/upstream-body.js';

const RECORD = Buffer.from(JSON.stringify({ id: 'pat-001', name: 'Jan Doe' }));

/** The AccessError a promise or call rejects with. */
async function rejection(fn: () => unknown): Promise<AccessError> {
  try {
    await fn();
  } catch (e) {
    expect(e).to.be.instanceOf(AccessError);
    return e as AccessError;
  }
  throw new Error('expected a rejection');
}

describe('gateway/upstream-body', () => {
  describe('decodeBody', () => {
    it('passes an unencoded or identity body through', async () => {
      expect(await decodeBody(RECORD, undefined, 1000)).to.deep.equal(RECORD);
      expect(await decodeBody(RECORD, ' identity ', 1000)).to.deep.equal(RECORD);
    });

    it('undoes gzip, x-gzip, br and deflate, zlib-wrapped or raw', async () => {
      expect(await decodeBody(gzipSync(RECORD), 'gzip', 1000)).to.deep.equal(RECORD);
      expect(await decodeBody(gzipSync(RECORD), 'X-Gzip', 1000)).to.deep.equal(RECORD);
      expect(await decodeBody(brotliCompressSync(RECORD), 'br', 1000)).to.deep.equal(RECORD);
      expect(await decodeBody(deflateSync(RECORD), 'deflate', 1000)).to.deep.equal(RECORD);
      expect(await decodeBody(deflateRawSync(RECORD), 'deflate', 1000)).to.deep.equal(RECORD);
    });

    it('undoes stacked codings last applied first', async () => {
      expect(await decodeBody(brotliCompressSync(gzipSync(RECORD)), 'gzip, br', 1000)).to.deep.equal(RECORD);
    });

    it('refuses an unknown coding and a body that does not decode', async () => {
      expect((await rejection(() => decodeBody(RECORD, 'compress', 1000))).message).to.include('unsupported content-encoding "compress"');
      expect((await rejection(() => decodeBody(RECORD, 'gzip', 1000))).message).to.include('the gzip body cannot be decoded');
    });

    it('bounds the decoded size, so a small compressed body cannot expand without limit', async () => {
      const bomb = gzipSync(Buffer.alloc(5_000_000));
      expect(bomb.length).to.be.below(10_000);
      expect((await rejection(() => decodeBody(bomb, 'gzip', 100_000))).message).to.include('the decoded body exceeds 100000 bytes');
      expect((await rejection(() => decodeBody(deflateSync(Buffer.alloc(5_000_000)), 'deflate', 100_000))).message).to.include('exceeds');
    });
  });

  describe('parseJsonBody', () => {
    it('parses a JSON record or list', () => {
      expect(parseJsonBody(RECORD, 'application/json')).to.deep.equal({ id: 'pat-001', name: 'Jan Doe' });
      expect(parseJsonBody(Buffer.from('[]'), 'application/fhir+json')).to.deep.equal([]);
    });

    it('refuses another type, broken UTF-8, broken JSON and a bare scalar, never quoting the body', async () => {
      const reasons = [
        (await rejection(() => parseJsonBody(RECORD, 'text/plain'))).message,
        (await rejection(() => parseJsonBody(Buffer.from([0x7b, 0xff, 0x7d]), 'application/json'))).message,
        (await rejection(() => parseJsonBody(Buffer.from('{"name": "Jan Doe"'), 'application/json'))).message,
        (await rejection(() => parseJsonBody(Buffer.from('"Jan Doe"'), 'application/json'))).message,
        (await rejection(() => parseJsonBody(Buffer.from('null'), 'application/json'))).message,
      ];
      expect(reasons.map((r) => r.replace('upstream answer rejected: ', ''))).to.deep.equal([
        'the body is not declared as JSON',
        'the body is not valid UTF-8',
        'the body is not valid JSON',
        'the body is a JSON scalar, not a record or a list',
        'the body is a JSON scalar, not a record or a list',
      ]);
      for (const r of reasons) expect(r).to.not.include('Jan');
    });
  });
});
