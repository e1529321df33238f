import { expect } from 'chai';
import { as, call, records, startJsonServer, startTestGateway, token, USERS } from './helpers.js';

describe('gateway › audit trail', () => {
  async function setup() {
    const upstream = await startJsonServer();
    const gw = await startTestGateway(upstream.url);
    return {
      gw,
      get: (path: string, headers: Record<string, string>) => call(`${gw.url}${path}`, { headers }),
      close: async () => {
        await gw.close();
        await upstream.close();
      },
    };
  }

  it('records one event per request, before answering, with field names and never values', async () => {
    const { gw, get, close } = await setup();
    try {
      const answers = [
        await get('/patients/pat-001', as(USERS.gp, 'direct-care')),
        await get('/patients/pat-001', as(USERS.receptionist, 'administration')),
        await get('/patients', as(USERS.analyst, 'service-planning')),
        await get('/patients?diagnoses.code=J45', as(USERS.receptionist, 'administration')),
        await get('/patients/pat-003', as(USERS.gp, 'direct-care')),
        await get('/patients/pat-001', { 'x-purpose': 'direct-care' }),
        await get('/patients/pat-001', {
          authorization: `Bearer ${token({ ...USERS.gp, training: '2024-01-01' })}`,
          'x-purpose': 'direct-care',
        }),
      ];
      const events = await gw.audit.query();
      expect(events.map((e) => e.requestId)).to.deep.equal(answers.map((a) => a.headers['x-request-id']));
      expect(events.map((e) => [e.decision, e.status, e.code ?? null])).to.deep.equal([
        ['disclosed', 200, null],
        ['disclosed', 200, null],
        ['disclosed', 200, null],
        ['refused', 403, 'filter_forbidden'],
        ['refused', 404, 'record_withheld'],
        ['refused', 401, 'unauthenticated'],
        ['refused', 403, 'training_expired'],
      ]);
      const [gp, receptionist, analyst] = events;
      expect(gp).to.include({ user: 'gp-1', purpose: 'direct-care', resource: 'Patient', action: 'read' });
      expect(gp!.recordIds).to.deep.equal(['pat-001']);
      expect(gp!.fieldsDisclosed).to.include.members(['name', 'diagnoses', 'address']);
      expect(receptionist!.fieldsWithheld).to.include('diagnoses');
      expect(receptionist!.transforms).to.deep.equal({ nhsNumber: 'mask' });
      expect(analyst!.transforms).to.include({ id: 'pseudonym' });
      expect(analyst!.withheldRecordIds.length).to.be.greaterThan(0);
      expect(events[5]!.user).to.equal('anonymous');
      // Field names, never values: no name, number, phone or diagnosis of any record is in the trail.
      const trail = JSON.stringify(events);
      for (const p of records('Patient')) {
        for (const value of [p['nhsNumber'], (p['telecom'] as { value?: string }[] | undefined)?.[0]?.value]) {
          if (typeof value === 'string' && value !== '') expect(trail).not.to.include(value);
        }
      }
      expect(trail).not.to.include('Testwood');
      expect(trail).not.to.include('J45');
      expect(await gw.audit.verify()).to.deep.include({ ok: true, events: 7 });
    } finally {
      await close();
    }
  });

  it('names the record a route selects by id in refusals that came before any record was read', async () => {
    const { gw, get, close } = await setup();
    try {
      await get('/patients/pat-017', as(USERS.receptionist, 'nonsense'));
      await get('/patients/pat-002', { 'x-purpose': 'direct-care' });
      await get('/patients/pat-019', as(USERS.receptionist, 'direct-care'));
      const events = await gw.audit.query();
      expect(events.map((e) => [e.decision, e.code, e.recordIds, e.withheldRecordIds])).to.deep.equal([
        ['refused', 'purpose_unknown', [], ['pat-017']],
        ['refused', 'unauthenticated', [], ['pat-002']],
        ['refused', 'purpose_not_granted', [], ['pat-019']],
      ]);
      expect((await gw.audit.query({ recordId: 'pat-019' })).map((e) => e.code)).to.deep.equal(['purpose_not_granted']);
    } finally {
      await close();
    }
  });

  it('logs one line per request without tokens, paths or record values', async () => {
    const { gw, get, close } = await setup();
    try {
      const headers = as(USERS.gp, 'direct-care');
      await get('/patients/pat-001', headers);
      await get('/patients?gp=B86001', headers);
      const lines = gw.logs.filter((l) => l['msg'] === 'request');
      expect(lines.map((l) => [l['route'], l['status'], l['outcome']])).to.deep.equal([
        ['/patients/:id', 200, 'disclosed'],
        ['/patients', 200, 'disclosed'],
      ]);
      const text = gw.logText();
      expect(text).not.to.include(headers.authorization!.slice(7));
      expect(text).not.to.include('pat-001');
      expect(text).not.to.include('B86001');
      expect(text).not.to.include('Testwood');
    } finally {
      await close();
    }
  });
});
