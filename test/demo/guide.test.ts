import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { pino } from 'pino';
import { startDemoApi } from '../../src/demo/api.js';
import { DEMO_JWT_SECRET, DEMO_PSEUDONYM_KEY, demoGuide, demoSteps } from '../../src/demo/guide.js';
import { resolveConfig } from '../../src/gateway/config.js';
import { startGateway } from '../../src/gateway/start.js';
import { call, POLICIES, ROOT, ROUTES } from '../gateway/helpers.js';

/** The URL and headers of one of the guide's curl commands, as a shell would pass them. */
function parseCurl(curl: string): { url: string; headers: Record<string, string> } {
  const quoted = [...curl.matchAll(/'([^']*)'/g)].map((m) => m[1]!);
  const [url, ...headerLines] = quoted;
  const headers = Object.fromEntries(
    headerLines.map((h) => [h.slice(0, h.indexOf(':')).toLowerCase(), h.slice(h.indexOf(':') + 1).trim()]),
  );
  return { url: url!, headers };
}

describe('demo/guide', () => {
  describe('demoSteps', () => {
    it('signs each token with the demo secret, HS256, for 8 hours, with training 30 days before now', () => {
      const now = new Date('2026-11-24T12:00:00Z');
      const steps = demoSteps('http://127.0.0.1:8080', now);
      expect(steps).to.have.length(5);
      for (const step of steps) {
        const token = /Bearer ([^']+)'/.exec(step.curl)![1]!;
        const decoded = jwt.verify(token, DEMO_JWT_SECRET, { algorithms: ['HS256'], ignoreExpiration: true }) as jwt.JwtPayload;
        expect(decoded['training']).to.equal('2026-10-25');
        expect(decoded.exp! - decoded.iat!).to.equal(8 * 3600);
        expect(step.curl).to.match(/^curl -s 'http:\/\/127\.0\.0\.1:8080\//);
      }
    });

    it('declares a break-glass reason only for the emergency step', () => {
      const steps = demoSteps('http://x');
      expect(steps.map((s) => s.curl.includes('X-Break-Glass'))).to.deep.equal([false, false, false, false, true]);
    });

    it('shows what it says against the real demo record API and gateway', async () => {
      const api = await startDemoApi(join(ROOT, 'fixtures', 'records'));
      const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-demo-guide-'));
      const config = resolveConfig(
        { upstream: api.url, routes: ROUTES, policies: POLICIES, jwtSecret: DEMO_JWT_SECRET, port: '0', audit: join(dir, 'audit.db') },
        { FIELDMESH_PSEUDONYM_KEY: DEMO_PSEUDONYM_KEY },
      );
      const gateway = await startGateway(config, { logger: pino({ level: 'silent' }), watch: false });
      try {
        const answers = [];
        for (const step of demoSteps(gateway.url)) {
          const { url, headers } = parseCurl(step.curl);
          answers.push(await call(url, { headers }));
        }
        expect(answers.map((a) => a.status)).to.deep.equal([200, 200, 200, 403, 200]);
        const [gp, receptionist, analyst, filter, emergency] = answers;
        expect(gp!.json).to.have.property('diagnoses');
        expect(receptionist!.json).to.have.property('name');
        expect(receptionist!.json).to.not.have.property('diagnoses');
        expect(receptionist!.json.nhsNumber).to.not.equal(gp!.json.nhsNumber);
        expect(analyst!.json).to.be.an('array').that.is.not.empty;
        expect(analyst!.json.every((p: { id: string }) => typeof p.id === 'string' && !p.id.startsWith('pat-'))).to.equal(true); // pseudonyms
        expect(filter!.json.error.code).to.equal('filter_forbidden');
        expect(emergency!.json).to.include({ id: 'pat-003' });
      } finally {
        await gateway.close();
        await api.close();
      }
    });
  });

  describe('demoGuide', () => {
    it('prints where everything runs, the public demo secrets, every step numbered and how to read the trail', () => {
      const text = demoGuide({ gatewayUrl: 'http://127.0.0.1:8080', apiUrl: 'http://127.0.0.1:3000', audit: './trail.db' });
      expect(text).to.include('record API (no access control):   http://127.0.0.1:3000');
      expect(text).to.include('fieldmesh gateway in front of it: http://127.0.0.1:8080');
      expect(text).to.include(`FIELDMESH_JWT_SECRET=${DEMO_JWT_SECRET}`).and.include(`FIELDMESH_PSEUDONYM_KEY=${DEMO_PSEUDONYM_KEY}`);
      expect(text.match(/^# \d\. /gm)).to.have.length(5);
      expect(text).to.include('npx fieldmesh audit query --audit ./trail.db');
      expect(text.trimEnd().endsWith('Press Ctrl-C to stop.')).to.equal(true);
    });
  });
});
