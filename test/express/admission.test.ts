import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import type { AuditEvent } from '../../src/audit/event.js';
import { as, cleanup, NOW, onCleanup, patientsHandler, setup, token, USERS } from './harness.js';

const T = Math.floor(NOW.getTime() / 1000);
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

async function patientsApp(options = {}) {
  return setup((app, mesh) => {
    app.get('/patients/:id', mesh.read('Patient'), patientsHandler);
  }, options);
}

/** The last audit event, which every refusal must have written. */
async function lastEvent(events: () => Promise<AuditEvent[]>): Promise<AuditEvent> {
  const all = await events();
  expect(all).to.have.length.greaterThan(0);
  return all[all.length - 1]!;
}

describe('mesh.read admission', () => {
  afterEach(cleanup);

  describe('identity (401)', () => {
    const bad: [string, () => Record<string, string>][] = [
      ['no Authorization header', () => ({ 'X-Purpose': 'direct-care' })],
      [
        'a scheme other than Bearer',
        () => ({ Authorization: `Basic ${Buffer.from('a:b').toString('base64')}`, 'X-Purpose': 'direct-care' }),
      ],
      [
        'an unsigned token (alg none)',
        () => ({
          Authorization: `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...USERS.gp, iat: T, exp: T + 300 })}.`,
          'X-Purpose': 'direct-care',
        }),
      ],
      [
        'a token signed with another key',
        () => ({
          Authorization: `Bearer ${token(USERS.gp, { secret: 'another-secret-that-is-also-32-bytes-long' })}`,
          'X-Purpose': 'direct-care',
        }),
      ],
      ['an expired token', () => ({ Authorization: `Bearer ${token(USERS.gp, { exp: T - 3600 })}`, 'X-Purpose': 'direct-care' })],
      ['a token without exp', () => ({ Authorization: `Bearer ${token(USERS.gp, { exp: null })}`, 'X-Purpose': 'direct-care' })],
      [
        'a token for another audience',
        () => ({ Authorization: `Bearer ${token(USERS.gp, { audience: 'billing' })}`, 'X-Purpose': 'direct-care' }),
      ],
    ];
    for (const [what, headers] of bad) {
      it(`refuses ${what}, audited as anonymous`, async () => {
        const { app, events } = await patientsApp({
          jwt: { secret: 'a-test-secret-that-is-at-least-32-bytes-long', audience: 'records-api' },
        });
        const h = headers();
        // Tokens of the good cases carry the right audience; these are wrong on their own count.
        const res = await request(app).get('/patients/pat-001').set(h);
        expect(res.status).to.equal(401);
        expect(res.body.error.code).to.equal('unauthenticated');
        expect(res.headers['www-authenticate']).to.match(/^Bearer/);
        expect(res.text).not.to.include('Testwood');
        const event = await lastEvent(events);
        expect(event).to.include({ user: 'anonymous', decision: 'refused', code: 'unauthenticated', status: 401 });
      });
    }

    it('accepts the audience it is configured for', async () => {
      const { app } = await patientsApp({ jwt: { secret: 'a-test-secret-that-is-at-least-32-bytes-long', audience: 'records-api' } });
      const res = await request(app)
        .get('/patients/pat-001')
        .set({ Authorization: `Bearer ${token(USERS.gp, { audience: 'records-api' })}`, 'X-Purpose': 'direct-care' });
      expect(res.status).to.equal(200);
    });

    it('follows a JWKS key rotation: the new key is accepted, the withdrawn one refused', async () => {
      const keyA = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const keyB = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const jwk = (k: KeyObject, kid: string) => ({ ...k.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' });
      const served = { keys: [jwk(keyA.publicKey, 'a')] };
      const idp = createServer((_req, res) => res.setHeader('Content-Type', 'application/json').end(JSON.stringify(served)));
      await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
      onCleanup(() => new Promise((resolve) => idp.close(() => resolve())));
      const jwksUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/jwks.json`;
      const { app } = await patientsApp({ jwt: { jwksUrl } });
      const signed = (key: KeyObject, kid: string) =>
        jwt.sign({ ...USERS.gp, iat: T, exp: T + 300 }, key, { algorithm: 'RS256', keyid: kid });
      const get = (t: string) =>
        request(app)
          .get('/patients/pat-001')
          .set({ Authorization: `Bearer ${t}`, 'X-Purpose': 'direct-care' });

      expect((await get(signed(keyA.privateKey, 'a'))).status).to.equal(200);
      served.keys = [jwk(keyB.publicKey, 'b')];
      expect((await get(signed(keyB.privateKey, 'b'))).status).to.equal(200);
      const withdrawn = await get(signed(keyA.privateKey, 'a'));
      expect(withdrawn.status).to.equal(401);
      expect(withdrawn.text).not.to.include('Testwood');
    });
  });

  describe('purpose', () => {
    const cases: [string, string | undefined, Record<string, unknown>, number, string][] = [
      ['missing', undefined, USERS.gp, 400, 'purpose_required'],
      ['malformed', 'direct care!', USERS.gp, 400, 'purpose_malformed'],
      ['unknown', 'dirct-care', USERS.gp, 403, 'purpose_unknown'],
      ['not granted to the role', 'direct-care', USERS.receptionist, 403, 'purpose_not_granted'],
      ['past its review date', 'legacy-audit-2024', USERS.auditor, 403, 'purpose_expired'],
    ];
    for (const [what, purpose, user, status, code] of cases) {
      it(`refuses a purpose ${what} (${status} ${code}), audited with the user`, async () => {
        const { app, events } = await patientsApp();
        const headers: Record<string, string> = { Authorization: `Bearer ${token(user)}` };
        if (purpose !== undefined) headers['X-Purpose'] = purpose;
        const res = await request(app).get('/patients/pat-001').set(headers);
        expect(res.status).to.equal(status);
        expect(res.body.error.code).to.equal(code);
        expect(res.text).not.to.include('Testwood');
        expect(await lastEvent(events)).to.include({ user: user['sub'], decision: 'refused', code, status });
      });
    }
    it('says which purpose was meant for a typo', async () => {
      const { app } = await patientsApp();
      const res = await request(app).get('/patients/pat-001').set(as(USERS.gp, 'dirct-care'));
      expect(res.body.error.message).to.include('did you mean "direct-care"');
    });
  });

  describe('training (Caldicott 5)', () => {
    it('refuses a user whose training is older than a year', async () => {
      const { app } = await patientsApp();
      const res = await request(app)
        .get('/patients/pat-001')
        .set(as({ ...USERS.gp, training: '2025-06-01' }));
      expect(res.status).to.equal(403);
      expect(res.body.error.code).to.equal('training_expired');
    });
    it('refuses a user without a training attestation', async () => {
      const { app } = await patientsApp();
      const { training: _none, ...untrained } = USERS.gp;
      const res = await request(app).get('/patients/pat-001').set(as(untrained));
      expect(res.status).to.equal(403);
      expect(res.body.error.code).to.equal('training_missing');
    });
    it('applies the configured trainingMaxAgeDays', async () => {
      const { app } = await patientsApp({ trainingMaxAgeDays: 90 });
      const res = await request(app).get('/patients/pat-001').set(as(USERS.gp)); // trained 2026-06-01, 176 days ago
      expect(res.body.error.code).to.equal('training_expired');
    });
  });

  describe('break-glass (Caldicott 7)', () => {
    const reason = 'Collapsed in outpatients, own team unreachable';
    it('gives a nurse the emergency view of a patient outside the team, audited with the reason', async () => {
      const alerts: AuditEvent[] = [];
      const { app, events } = await patientsApp({ onBreakGlass: (e: AuditEvent) => void alerts.push(e) });
      const res = await request(app)
        .get('/patients/pat-006')
        .set({ ...as(USERS.nurse, 'emergency'), 'X-Break-Glass': reason });
      expect(res.status).to.equal(200);
      expect(res.body.id).to.equal('pat-006');
      expect(res.body).to.have.property('diagnoses');
      const event = await lastEvent(events);
      expect(event).to.include({ decision: 'disclosed', purpose: 'emergency', breakGlass: reason, user: 'nurse-1' });
      await new Promise((r) => setTimeout(r, 20));
      expect(alerts.map((a) => a.id)).to.deep.equal([event.id]);
    });
    it('refuses break-glass to a role without an emergency grant, and audits the attempt with its reason', async () => {
      const { app, events } = await patientsApp();
      const res = await request(app)
        .get('/patients/pat-001')
        .set({ ...as(USERS.receptionist, 'emergency'), 'X-Break-Glass': reason });
      expect(res.status).to.equal(403);
      expect(res.body.error.code).to.equal('break_glass_refused');
      expect(await lastEvent(events)).to.include({ decision: 'refused', code: 'break_glass_refused', breakGlass: reason, user: 'rec-1' });
    });
    it('refuses a reason shorter than 10 characters', async () => {
      const { app } = await patientsApp();
      const res = await request(app)
        .get('/patients/pat-001')
        .set({ ...as(USERS.nurse, 'emergency'), 'X-Break-Glass': 'urgent' });
      expect(res.status).to.equal(403);
      expect(res.body.error.code).to.equal('break_glass_refused');
    });
    it('refuses the emergency purpose without a declaration', async () => {
      const { app } = await patientsApp();
      const res = await request(app).get('/patients/pat-001').set(as(USERS.nurse, 'emergency'));
      expect(res.status).to.equal(403);
      expect(res.body.error.code).to.equal('break_glass_required');
    });
  });

  describe('acting role (Caldicott 4)', () => {
    const both = { sub: 'dual-1', roles: ['gp', 'ward-nurse'], practice: 'B86001', team: 'ward-7', training: '2026-06-01' };
    it('narrows a user with two roles to the one named', async () => {
      const { app, events } = await patientsApp();
      const asGp = await request(app).get('/patients/pat-001').set(as(both));
      expect(asGp.body).to.have.property('address');
      const asNurse = await request(app)
        .get('/patients/pat-001')
        .set({ ...as(both), 'X-Acting-Role': 'ward-nurse' });
      expect(asNurse.status).to.equal(200);
      expect(asNurse.body).not.to.have.property('address');
      expect((await lastEvent(events)).roles).to.deep.equal(['ward-nurse']);
    });
    it('refuses a role the user does not hold', async () => {
      const { app } = await patientsApp();
      const res = await request(app)
        .get('/patients/pat-001')
        .set({ ...as(USERS.nurse), 'X-Acting-Role': 'gp' });
      expect(res.status).to.equal(403);
      expect(res.body.error.code).to.equal('role_not_held');
    });
  });
});
