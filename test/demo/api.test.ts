import { join } from 'node:path';
import { expect } from 'chai';
import { startDemoApi } from '../../src/demo/api.js';
import { call, ROOT } from '../gateway/helpers.js';

describe('gateway › demo record API', () => {
  async function setup() {
    return startDemoApi(join(ROOT, 'fixtures', 'records'));
  }

  it('serves whole records, filters by equality (arrays by membership) and pages', async () => {
    const api = await setup();
    try {
      const one = await call(`${api.url}/patients/pat-002`);
      expect(one.json).to.include({ id: 'pat-002', nhsNumber: '9990000026' });
      expect(one.json.flags).to.deep.equal(['dv-risk']);
      const byPractice = await call(`${api.url}/patients?gp=B86001`);
      expect((byPractice.json as { gp: string }[]).every((p) => p.gp === 'B86001')).to.equal(true);
      const flagged = await call(`${api.url}/patients?flags=dv-risk`);
      expect((flagged.json as { id: string }[]).map((p) => p.id)).to.include('pat-002');
      const page = await call(`${api.url}/concerns?_limit=2&_page=2`);
      expect(page.json).to.have.length(2);
      expect((await call(`${api.url}/patients/nope`)).status).to.equal(404);
      expect((await call(`${api.url}/elsewhere`)).status).to.equal(404);
      expect(api.hits).to.equal(6);
    } finally {
      await api.close();
    }
  });

  it('merges a PATCH and adds a POSTed record', async () => {
    const api = await setup();
    try {
      const patched = await call(`${api.url}/patients/pat-001`, { method: 'PATCH', body: { ward: 'Ward 8', id: 'other' } });
      expect(patched.json).to.include({ id: 'pat-001', ward: 'Ward 8', nhsNumber: '9990000018' });
      const created = await call(`${api.url}/notes`, { method: 'POST', body: { kind: 'clinical' } });
      expect(created.status).to.equal(201);
      expect((await call(`${api.url}/notes/${created.json.id as string}`)).json.kind).to.equal('clinical');
      expect((await call(`${api.url}/notes`, { method: 'POST', body: '[1]' })).status).to.equal(400);
    } finally {
      await api.close();
    }
  });
});
