import { expect } from 'chai';
import { upstreamInvalid } from '../../src/http/answer-status.js';

describe('http/answer-status', () => {
  describe('upstreamInvalid', () => {
    it('is an upstream_invalid refusal whose reason stays in the message for logs', () => {
      const e = upstreamInvalid('the body is not JSON');
      expect(e.code).to.equal('upstream_invalid');
      expect(e.status).to.equal(502);
      expect(e.message).to.equal('upstream answer rejected: the body is not JSON');
    });
  });
});
