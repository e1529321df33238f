import { join } from 'node:path';
import { expect } from 'chai';
import request from 'supertest';
import { loadPolicies } from '../../src/engine/policy-set.js';
import { fieldmesh } from '../../src/express/index.js';
import { cleanup, NOW, setup, token } from './harness.js';

const POLICIES = join(import.meta.dirname, '..', 'fixtures', 'policies', 'fhir-purpose');
const REASON = 'Unconscious patient brought to A&E, no registered GP known';
const PATIENTS = [
  {
    resourceType: 'Patient',
    id: 'pt-01',
    name: [{ family: 'One' }],
    telecom: [{ value: '1' }],
    generalPractitioner: [{ reference: 'Organization/A' }],
  },
  {
    resourceType: 'Patient',
    id: 'pt-02',
    name: [{ family: 'Two' }],
    telecom: [{ value: '2' }],
    generalPractitioner: [{ reference: 'Organization/B' }],
  },
];
const clinicianA = { sub: 'clin-a', roles: ['clinician'], practice: 'A', training: '2026-06-01' };

describe('middleware › purposeClaim option', () => {
  afterEach(cleanup);
  async function app() {
    const h = await setup(
      (a, mesh) => {
        a.get('/Patient', mesh.read('Patient'), (_req, res) => {
          res.json(PATIENTS);
        });
      },
      { policies: await loadPolicies(POLICIES, { now: NOW }), purposeClaim: 'purpose_of_use' },
    );
    return h;
  }
  const auth = (claims: Record<string, unknown>) => `Bearer ${token({ ...clinicianA, ...claims })}`;

  it('selects the purpose from the token claim, and records it', async () => {
    const h = await app();
    const res = await request(h.app)
      .get('/Patient')
      .set('authorization', auth({ purpose_of_use: ['TREAT'] }));
    expect(res.status).to.equal(200);
    expect((res.body as { id: string }[]).map((p) => p.id)).to.deep.equal(['pt-01']);
    expect((await h.events()).at(-1)).to.include({ purpose: 'direct-care', decision: 'disclosed' });
  });

  it('refuses a disagreeing X-Purpose, and ETREAT without a reason; answers ETREAT with one as break-glass', async () => {
    const h = await app();
    const conflict = await request(h.app)
      .get('/Patient')
      .set('authorization', auth({ purpose_of_use: 'TREAT' }))
      .set('x-purpose', 'administration');
    expect([conflict.status, conflict.body.error.code]).to.deep.equal([403, 'purpose_conflict']);
    const noReason = await request(h.app)
      .get('/Patient')
      .set('authorization', auth({ purpose_of_use: 'ETREAT' }));
    expect([noReason.status, noReason.body.error.code]).to.deep.equal([403, 'break_glass_required']);
    const glass = await request(h.app)
      .get('/Patient')
      .set('authorization', auth({ purpose_of_use: 'ETREAT' }))
      .set('x-break-glass', REASON);
    expect(glass.status).to.equal(200);
    expect((glass.body as { id: string }[]).map((p) => p.id)).to.deep.equal(['pt-01', 'pt-02']);
    expect((await h.events()).at(-1)).to.include({ purpose: 'emergency-care', breakGlass: REASON });
  });

  it('refuses a purposeClaim that is not a claim name when the mesh is created', async () => {
    let message = '';
    try {
      await fieldmesh({
        policies: POLICIES,
        jwt: { secret: 'a-test-secret-that-is-at-least-32-bytes-long' },
        purposeClaim: 'purpose of use',
      });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).to.include('purposeClaim must be a claim name or a dotted path');
  });
});
