import { expect } from 'chai';
import { gatewayLogger, logRequest } from '../../src/gateway/log.js';

/** A logger writing JSON lines into memory. */
function setup(level?: string) {
  const lines: string[] = [];
  const logger = gatewayLogger({ ...(level === undefined ? {} : { level }), destination: { write: (s: string) => void lines.push(s) } });
  return { logger, logs: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>), text: () => lines.join('') };
}

describe('gateway/log', () => {
  describe('gatewayLogger', () => {
    it('writes JSON lines named after the gateway', () => {
      const { logger, logs } = setup();
      logger.info({ event: 'start' }, 'listening');
      expect(logs()[0]).to.include({ name: 'fieldmesh-gateway', event: 'start', msg: 'listening', level: 30 });
    });

    it('censors authorization, cookies and whole header objects should they ever reach a log call', () => {
      const { logger, text } = setup();
      logger.info(
        {
          req: { authorization: 'Bearer secret-token', cookie: 'sid=secret-cookie', headers: { 'x-api-key': 'secret-key' } },
          token: 'secret-jwt',
        },
        'oops',
      );
      expect(text()).to.not.match(/secret-(token|cookie|key|jwt)/);
      expect(text()).to.include('[redacted]');
    });

    it('logs at the level it is given', () => {
      const { logger, logs } = setup('warn');
      logger.info({}, 'hidden');
      logger.warn({}, 'shown');
      expect(logs().map((l) => l['msg'])).to.deep.equal(['shown']);
    });
  });

  describe('logRequest', () => {
    it('writes one info line per request, leaving out what is undefined', () => {
      const { logger, logs } = setup();
      logRequest(logger, {
        requestId: 'r1',
        method: 'GET',
        route: '/patients/:id',
        resource: 'Patient',
        purpose: undefined,
        status: 200,
        durationMs: 4,
        outcome: 'disclosed',
        rowsReturned: 1,
      });
      const [line] = logs();
      expect(line).to.include({
        level: 30,
        msg: 'request',
        requestId: 'r1',
        route: '/patients/:id',
        status: 200,
        outcome: 'disclosed',
        rowsReturned: 1,
      });
      expect(line).to.not.have.property('purpose');
    });

    it('logs a 5xx as an error and a refusal as info', () => {
      const { logger, logs } = setup();
      logRequest(logger, {
        requestId: 'r2',
        method: 'GET',
        route: '(no route)',
        status: 502,
        durationMs: 1,
        outcome: 'error',
        code: 'upstream_invalid',
      });
      logRequest(logger, {
        requestId: 'r3',
        method: 'GET',
        route: '/patients',
        status: 403,
        durationMs: 1,
        outcome: 'refused',
        code: 'purpose_not_granted',
      });
      expect(logs().map((l) => [l['level'], l['msg']])).to.deep.equal([
        [50, 'request failed'],
        [30, 'request'],
      ]);
    });
  });
});
