import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { openAuditStore } from '../../src/audit/open.js';
import { fieldmeshAsync } from '../cli/run.js';
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

describe('gateway › subject access across resources (the built CLI)', () => {
  const RK = 'subject-record-key-0123456789';
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** A gateway over Patient and CaseNote with the example policies, writing a trail that stores ids as keyed pseudonyms. */
  async function serve() {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-subject-'));
    dirs.push(dir);
    const file = join(dir, 'audit.db');
    const store = await openAuditStore(file, { recordIdKey: RK });
    const upstream = await startJsonServer();
    const gw = await startTestGateway(upstream.url, {}, { audit: store });
    return {
      file,
      get: (path: string, headers: Record<string, string>) => call(`${gw.url}${path}`, { headers }),
      close: async () => {
        await gw.close();
        await upstream.close();
        await store.close();
      },
    };
  }

  it('lists every disclosure and refusal about pat-001, its case notes included, oldest first; needs the record-id key', async () => {
    const { file, get, close } = await serve();
    try {
      const statuses = [
        (await get('/patients/pat-001', as(USERS.nurse, 'direct-care'))).status,
        // The GP's clinical and referral notes: cn-001 and cn-004 are about pat-001.
        (await get('/notes', as(USERS.gp, 'direct-care'))).status,
        (await get('/notes/cn-004', as(USERS.nurse, 'direct-care'))).status,
        // A social worker reads safeguarding notes only: the clinical note about pat-001 is withheld.
        (await get('/notes/cn-001', as(USERS.socialWorker, 'safeguarding'))).status,
        // Refused before any record was read: the route's id is the person's, so the refusal is theirs too.
        (await get('/patients/pat-001', as(USERS.receptionist, 'research'))).status,
        // About someone else: not in the report.
        (await get('/notes/cn-003', as(USERS.gp, 'direct-care'))).status,
        (await get('/patients/pat-002', as(USERS.nurse, 'direct-care'))).status,
      ];
      expect(statuses).to.deep.equal([200, 200, 200, 404, 403, 200, 200]);
      const env = { FIELDMESH_AUDIT_RECORD_KEY: RK, FIELDMESH_AUDIT_CHAIN_KEY: undefined, NO_COLOR: '1' };
      const json = await fieldmeshAsync(['audit', 'report', '--audit', file, '--subject', 'pat-001', '--json'], { env });
      expect(json.code, json.stderr).to.equal(0);
      const report = JSON.parse(json.stdout) as {
        subject: string;
        events: { resource: string; user: string; purpose: string; outcome: string; code?: string; fields: string[] }[];
      };
      expect(report.subject).to.equal('pat-001');
      expect(report.events.map((e) => [e.resource, e.user, e.purpose, e.outcome, e.code ?? null])).to.deep.equal([
        ['Patient', 'nurse-1', 'direct-care', 'disclosed', null],
        ['CaseNote', 'gp-1', 'direct-care', 'disclosed', null],
        ['CaseNote', 'nurse-1', 'direct-care', 'disclosed', null],
        ['CaseNote', 'sw-1', 'safeguarding', 'refused', 'record_withheld'],
        ['Patient', 'rec-1', 'research', 'refused', 'purpose_not_granted'],
      ]);
      expect(report.events[1]!.fields).to.include.members(['subjectId', 'text']);
      expect(report.events[3]!.fields).to.deep.equal([]);
      // By record, the person's own record only: the notes are other records. The report by subject just made is
      // listed too: a read of the trail about pat-001, whichever way it asked.
      const byRecord = await fieldmeshAsync(['audit', 'report', '--audit', file, '--record', 'pat-001', '--json'], { env });
      expect((JSON.parse(byRecord.stdout) as { events: { resource: string }[] }).events.map((e) => e.resource)).to.deep.equal([
        'Patient',
        'Patient',
        'AuditEvent',
      ]);
      const text = await fieldmeshAsync(['audit', 'report', '--audit', file, '--subject', 'pat-001'], { env });
      const lines = text.stdout.trimEnd().split('\n');
      // The five, and the two reports before this one (by one reader).
      expect(lines[0]).to.match(/^Access to records about pat-001: 7 events by 5 users, /);
      expect(
        lines.slice(-2).every((l) => / +audit +AuditEvent +report +disclosed/.test(l)),
        text.stdout,
      ).to.equal(true);
      expect(lines[1]).to.match(/^TIME +USER +ROLES +PURPOSE +RESOURCE +ACTION +OUTCOME +FIELDS +NOTE$/);
      expect(lines[3], text.stdout).to.match(/gp-1 +gp +direct-care +CaseNote +read +disclosed +.*subjectId/);
      expect(lines[6]).to.match(/rec-1 +receptionist +research +Patient +read +refused \(purpose_not_granted\)$/);
      expect(text.stdout).not.to.include('cn-003');
      // Without the key the trail cannot be searched: exit 2, saying so, rather than an empty report.
      const unkeyed = await fieldmeshAsync(['audit', 'report', '--audit', file, '--subject', 'pat-001'], {
        env: { ...env, FIELDMESH_AUDIT_RECORD_KEY: undefined },
      });
      expect(unkeyed.code).to.equal(2);
      expect(unkeyed.stdout).to.equal('');
      expect(unkeyed.stderr).to.include('Cannot search the trail by subject').and.include('set FIELDMESH_AUDIT_RECORD_KEY');
      // The trail itself names no one: subjects are pseudonyms, as record ids are.
      expect(readFileSync(file).toString('latin1')).not.to.include('pat-001');
    } finally {
      await close();
    }
  });
});
