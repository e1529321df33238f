import { expect } from 'chai';
import { loadPolicies } from '../../src/engine/policy-set.js';
import {
  as,
  call,
  NOW,
  POLICIES,
  PSEUDONYM_KEY,
  records,
  startJsonServer,
  startTestGateway,
  USERS,
  type TestGateway,
  type TestUpstream,
} from './helpers.js';

describe('gateway › reads in front of json-server', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const c of open.splice(0).reverse()) await c.close();
  });
  async function setup(
    flags = {},
  ): Promise<{ upstream: TestUpstream; gw: TestGateway; get: (path: string, headers: Record<string, string>) => ReturnType<typeof call> }> {
    const upstream = await startJsonServer();
    open.push(upstream);
    const gw = await startTestGateway(upstream.url, flags);
    open.push(gw);
    return { upstream, gw, get: (path, headers) => call(`${gw.url}${path}`, { headers }) };
  }
  async function engine() {
    return loadPolicies(POLICIES, { pseudonymKey: PSEUDONYM_KEY });
  }

  describe('lists', () => {
    it('gives an analyst the planning list exactly as the engine redacts it: pseudonyms, opted-out rows withheld', async () => {
      const { get } = await setup();
      const res = await get('/patients', as(USERS.analyst, 'service-planning'));
      expect(res.status).to.equal(200);
      const expected = (await engine()).redact(records('Patient'), {
        resource: 'Patient',
        purpose: 'service-planning',
        user: { ...USERS.analyst, training: '2026-06-01' },
        now: NOW,
      });
      expect(res.json).to.deep.equal(expected.data);
      expect(res.json.length).to.be.lessThan(records('Patient').length);
      expect(res.text).not.to.include('pat-001');
    });

    it("gives a GP only the patients registered at the GP's practice", async () => {
      const { get } = await setup();
      const res = await get('/patients', as(USERS.gp, 'direct-care'));
      expect(res.status).to.equal(200);
      const practices = new Set((res.json as { gp: string }[]).map((p) => p.gp));
      expect([...practices]).to.deep.equal(['B86001']);
      const sealed = records('Patient').filter((p) => p['gp'] === 'B86001');
      expect(res.json.length).to.be.greaterThan(0).and.at.most(sealed.length);
    });

    it("gives a ward nurse only the patients of the nurse's care team, without addresses", async () => {
      const { get } = await setup();
      const res = await get('/patients', as(USERS.nurse, 'direct-care'));
      expect(res.status).to.equal(200);
      expect(res.json.length).to.be.greaterThan(0);
      for (const p of res.json as Record<string, unknown>[]) {
        expect(p['careTeam']).to.equal('ward-7');
        expect(p).not.to.have.property('address');
        expect(p).not.to.have.property('telecom');
      }
    });

    it("gives a social worker only the concerns on the worker's caseload", async () => {
      const { get } = await setup();
      const res = await get('/concerns', as(USERS.socialWorker, 'safeguarding'));
      expect(res.status).to.equal(200);
      const mine = records('SafeguardingConcern')
        .filter((c) => c['caseworker'] === 'sw-1')
        .map((c) => c['id']);
      expect((res.json as { id: string }[]).map((c) => c.id)).to.deep.equal(mine);
    });

    it('gives the police liaison only concerns shared with the police, and only their shape', async () => {
      const { get } = await setup();
      const res = await get('/concerns', as(USERS.police, 'safeguarding'));
      expect(res.status).to.equal(200);
      expect(res.json.length).to.be.greaterThan(0);
      for (const c of res.json as Record<string, unknown>[])
        expect(Object.keys(c).sort()).to.deep.equal(['category', 'id', 'riskLevel', 'status'].filter((k) => k in c).sort());
      expect(res.text).not.to.include('summary');
    });

    it('never passes on the count headers of the upstream (they would count hidden rows)', async () => {
      const { upstream, get } = await setup();
      // json-server counts and links pages only when asked for one; a GP, from whom rows may be hidden, may not ask.
      const gp = await get('/patients?_page=1&_limit=50', as(USERS.gp, 'direct-care'));
      expect(gp.status).to.equal(403);
      expect(upstream.seen).to.have.length(0);
      // The safeguarding lead reads every concern and may page: the headers still do not travel (deny by default).
      const res = await get('/concerns?_page=1&_limit=50', as(USERS.lead, 'safeguarding'));
      expect(res.status).to.equal(200);
      expect(upstream.seen.map((s) => s.url)).to.deep.equal(['/concerns?_page=1&_limit=50']);
      expect(res.headers).not.to.have.property('x-total-count');
      expect(res.headers).not.to.have.property('link');
      expect(res.headers).not.to.have.property('etag');
      expect(res.headers).not.to.have.property('x-powered-by');
      expect(res.headers['cache-control']).to.equal('no-store');
    });
  });

  describe('routes', () => {
    for (const path of ['/db', '/admin', '/patients/pat-001/history', '/Patients', '/patients/']) {
      it(`refuses ${path}, which no route names, without forwarding it`, async () => {
        const { upstream, get } = await setup();
        const res = await get(path, as(USERS.gp, 'direct-care'));
        expect(res.status).to.equal(404);
        expect(res.json.error.code).to.equal('not_found');
        expect(upstream.seen).to.have.length(0);
      });
    }

    for (const path of ['/patients/..%2Fdb', '/patients/%2e%2e', '/patients/pat-001%2F..%2F..%2Fdb', '//db', '/patients/%00']) {
      it(`refuses the path ${path}, which the upstream could read as another route, without forwarding it`, async () => {
        const { upstream, get } = await setup();
        const res = await get(path, as(USERS.gp, 'direct-care'));
        expect(res.status).to.equal(404);
        expect(upstream.seen).to.have.length(0);
      });
    }

    it('refuses a method the route does not list with 405 and Allow, without forwarding it', async () => {
      const { upstream, gw } = await setup();
      const res = await call(`${gw.url}/patients/pat-001`, { method: 'DELETE', headers: as(USERS.gp, 'direct-care') });
      expect(res.status).to.equal(405);
      expect(res.headers['allow']).to.equal('GET, PATCH');
      expect(upstream.seen).to.have.length(0);
    });
  });

  describe('query strings', () => {
    it('refuses a receptionist filtering by diagnosis (403) and never asks the upstream', async () => {
      const { upstream, get } = await setup();
      const res = await get('/patients?diagnoses.code=J45', as(USERS.receptionist, 'administration'));
      expect(res.status).to.equal(403);
      expect(res.json.error.code).to.equal('filter_forbidden');
      expect(res.text).not.to.include('J45');
      expect(upstream.seen).to.have.length(0);
    });

    for (const query of ['q=Asthma', '_sort=diagnoses', 'careTeam_ne=ward-9', 'flags=dv-risk']) {
      it(`refuses ?${query} from a receptionist without forwarding it`, async () => {
        const { upstream, get } = await setup();
        const res = await get(`/patients?${query}`, as(USERS.receptionist, 'administration'));
        expect(res.status).to.equal(403);
        expect(upstream.seen).to.have.length(0);
      });
    }

    for (const query of ['careTeam.lead=Dr%20Jane%20Roe', 'gender.text=female', 'diagnoses.code.text=Asthma']) {
      it(`refuses ?${query} from an analyst for planning, whose output never shows that key, without forwarding it`, async () => {
        const { upstream, get } = await setup();
        const res = await get(`/patients?${query}`, as(USERS.analyst, 'service-planning'));
        expect(res.status).to.equal(403);
        expect(res.json.error.code).to.equal('filter_forbidden');
        expect(upstream.seen).to.have.length(0);
      });
    }

    it('forwards an analyst filter on a field path planning discloses untransformed (careTeam)', async () => {
      const { upstream, get } = await setup();
      const res = await get('/patients?careTeam=ward-7', as(USERS.analyst, 'service-planning'));
      expect(res.status).to.equal(200);
      expect(upstream.seen.map((s) => s.url)).to.deep.equal(['/patients?careTeam=ward-7']);
    });

    it('forwards a filter on a field the user may read, and paging keys, each alone, paging only where no row can be hidden', async () => {
      const { upstream, get } = await setup();
      const filtered = await get('/patients?gp=B86001', as(USERS.gp, 'direct-care'));
      expect(filtered.status).to.equal(200);
      // A GP's page would show where the other practices' patients sit: refused, never forwarded.
      const refused = await get('/patients?_limit=2', as(USERS.gp, 'direct-care'));
      expect(refused.status).to.equal(403);
      expect(refused.json.error.code).to.equal('filter_forbidden');
      const paged = await get('/concerns?_limit=2', as(USERS.lead, 'safeguarding'));
      expect(paged.status).to.equal(200);
      expect(upstream.seen.map((s) => s.url)).to.deep.equal(['/patients?gp=B86001', '/concerns?_limit=2']);
      expect(paged.json.length).to.be.at.most(2);
    });

    it('refuses paging together with a filter when rows may be hidden, and never forwards it', async () => {
      const { upstream, get } = await setup();
      const res = await get('/patients?gp=B86001&_limit=2', as(USERS.gp, 'direct-care'));
      expect(res.status).to.equal(403);
      expect(res.json.error.code).to.equal('filter_forbidden');
      expect(upstream.seen).to.have.length(0);
    });
  });

  describe('headers', () => {
    it("never forwards the caller's token, cookies or conditional headers; sends the request id", async () => {
      const { upstream, get } = await setup();
      const headers = {
        ...as(USERS.gp, 'direct-care'),
        cookie: 'session=abc',
        'if-none-match': '"x"',
        'x-request-id': 'ward7-0042',
        'accept-language': 'en-GB',
      };
      const res = await get('/patients/pat-001', headers);
      expect(res.status).to.equal(200);
      expect(res.headers['x-request-id']).to.equal('ward7-0042');
      const seen = upstream.seen[0]!.headers;
      expect(seen).not.to.have.property('authorization');
      expect(seen).not.to.have.property('cookie');
      expect(seen).not.to.have.property('if-none-match');
      expect(seen).not.to.have.property('x-purpose');
      expect(seen['x-request-id']).to.equal('ward7-0042');
      expect(seen['accept-language']).to.equal('en-GB');
      expect(seen['accept-encoding']).to.equal('gzip, deflate, br');
    });

    it('sends the configured upstream credential instead', async () => {
      const { upstream, get } = await setup({ upstreamAuthorization: 'Bearer upstream-service-token' });
      await get('/patients/pat-001', as(USERS.gp, 'direct-care'));
      expect(upstream.seen[0]!.headers['authorization']).to.equal('Bearer upstream-service-token');
    });
  });

  describe('refusals', () => {
    it('refuses a request without a token (401) without forwarding it', async () => {
      const { upstream, get } = await setup();
      const res = await get('/patients/pat-001', { 'x-purpose': 'direct-care' });
      expect(res.status).to.equal(401);
      expect(upstream.seen).to.have.length(0);
    });

    it('answers 404 for a record hidden by a row condition, with nothing of it', async () => {
      const { get } = await setup();
      const res = await get('/patients/pat-003', as(USERS.gp, 'direct-care'));
      expect(res.status).to.equal(404);
      // A hidden record answers exactly as a missing one: its existence is confidential too.
      expect(res.json).to.deep.equal({ error: { code: 'not_found', message: 'No such record' } });
      expect(res.text).not.to.include('Exampleton');
      const missing = await get('/patients/pat-999', as(USERS.gp, 'direct-care'));
      expect(missing.json).to.deep.equal(res.json);
    });

    it('passes on an upstream 404 without its body', async () => {
      const { get } = await setup();
      const res = await get('/patients/pat-999', as(USERS.gp, 'direct-care'));
      expect(res.status).to.equal(404);
      expect(res.json.error.code).to.equal('not_found');
    });

    it('refuses a flow past its review date', async () => {
      const { upstream, get } = await setup();
      const res = await get('/patients', as(USERS.auditor, 'legacy-audit-2024'));
      expect(res.status).to.equal(403);
      expect(res.json.error.code).to.equal('purpose_expired');
      expect(upstream.seen).to.have.length(0);
    });
  });

  describe('break-glass', () => {
    it('lets a ward-7 nurse read a ward-9 patient in an emergency, with the reason in the audit trail', async () => {
      const { gw, get } = await setup();
      const reason = 'Patient collapsed in the corridor, ward-9 team unreachable';
      const res = await get('/patients/pat-003', as(USERS.nurse, 'emergency', { 'x-break-glass': reason }));
      expect(res.status).to.equal(200);
      expect(res.json.id).to.equal('pat-003');
      const [event] = await gw.audit.query({ breakGlass: true });
      expect(event?.breakGlass).to.equal(reason);
      expect(event?.decision).to.equal('disclosed');
      expect(event?.requestId).to.equal(res.headers['x-request-id']);
      expect(await gw.audit.pendingReviews()).to.have.length(1);
    });

    it('refuses the emergency purpose without a reason, and a receptionist whatever the reason', async () => {
      const { upstream, get } = await setup();
      const bare = await get('/patients/pat-003', as(USERS.nurse, 'emergency'));
      expect(bare.status).to.equal(403);
      expect(bare.json.error.code).to.equal('break_glass_required');
      const rec = await get(
        '/patients/pat-003',
        as(USERS.receptionist, 'emergency', { 'x-break-glass': 'Patient collapsed at the front desk' }),
      );
      expect(rec.status).to.equal(403);
      expect(upstream.seen).to.have.length(0);
    });
  });
});
