import { expect } from 'chai';
import { AccessError } from '../../src/engine/access-error.js';
import { examplePolicies, NOW, patient } from '../express/harness.js';
import { as, call, startJsonServer, startTestGateway } from '../gateway/helpers.js';
import { fieldmesh as cli } from '../cli/run.js';

/**
 * A restriction's `unless: { roles }` exempts a row only through a role
 * whose grant let the caller see that row. A person holding two roles must
 * not combine one role's grant with the other role's exemption: a ward nurse
 * who is also a GP elsewhere does not see a sealed record that only its own
 * GP may see, and a GP who is also a safeguarding lead does not read a dv-risk
 * address for direct care, which the lead's role has no grant for.
 */
describe('security › several roles at once', () => {
  const TRAINED = '2026-06-01';
  const read = async (record: Record<string, unknown>, purpose: string, user: Record<string, unknown>) => {
    const policies = await examplePolicies();
    try {
      return policies.redact(record, { resource: 'Patient', purpose, user: { sub: 'u1', training: TRAINED, ...user }, now: NOW });
    } catch (e) {
      if (e instanceof AccessError) return e.code;
      throw e;
    }
  };

  it("does not let one role's exemption follow another role's grant (sealed record, engine)", async () => {
    // pat-004 is sealed and registered at B86001; this GP works at another practice, and is a ward-7 nurse too.
    const sealed = patient('pat-004');
    expect(await read(sealed, 'direct-care', { roles: ['gp'], practice: 'B86002' })).to.equal('record_withheld');
    expect(await read(sealed, 'direct-care', { roles: ['ward-nurse'], team: 'ward-7' })).to.equal('record_withheld');
    expect(await read(sealed, 'direct-care', { roles: ['gp', 'ward-nurse'], practice: 'B86002', team: 'ward-7' })).to.equal(
      'record_withheld',
    );
    // Its own GP still sees it.
    const own = await read(sealed, 'direct-care', { roles: ['gp'], practice: 'B86001' });
    expect(own).to.be.an('object').with.nested.property('data.id', 'pat-004');
  });

  it('does not exempt through a role that has no grant for the purpose (dv-risk address, engine)', async () => {
    const dv = patient('pat-002');
    const both = await read(dv, 'direct-care', { roles: ['gp', 'safeguarding-lead'], practice: 'B86001' });
    expect(both).to.be.an('object');
    const data = (both as { data: Record<string, unknown> }).data;
    expect(data).not.to.have.property('address');
    expect(data).not.to.have.property('telecom');
    expect((both as { decision: { restrictions: string[] } }).decision.restrictions).to.include('dv-address');
  });

  it('shows in explain a restriction that one of the roles is not exempt from (the built CLI and the library)', async () => {
    const policies = await examplePolicies();
    const both = policies.explain({ roles: ['gp', 'ward-nurse'], purpose: 'direct-care', resource: 'Patient' });
    expect(JSON.stringify(both)).to.include('sealed-record');
    const gpOnly = policies.explain({ roles: ['gp'], purpose: 'direct-care', resource: 'Patient' });
    expect(JSON.stringify(gpOnly)).not.to.include('sealed-record');
    const cliRun = cli(['explain', '--role', 'gp,ward-nurse', '--purpose', 'direct-care', '--resource', 'Patient']);
    expect(cliRun.code).to.equal(0);
    expect(cliRun.stdout).to.include('restriction sealed-record');
  });

  it('holds through the gateway, and for an update', async () => {
    const upstream = await startJsonServer();
    const gw = await startTestGateway(upstream.url);
    try {
      const twoRoles = { sub: 'gp-nurse', roles: ['gp', 'ward-nurse'], practice: 'B86002', team: 'ward-7' };
      const sealed = await call(`${gw.url}/patients/pat-004`, { headers: as(twoRoles, 'direct-care') });
      const missing = await call(`${gw.url}/patients/pat-999`, { headers: as(twoRoles, 'direct-care') });
      expect(sealed.status).to.equal(404);
      expect([sealed.status, sealed.json]).to.deep.equal([missing.status, missing.json]);
      const patch = await call(`${gw.url}/patients/pat-004`, {
        method: 'PATCH',
        headers: as(twoRoles, 'direct-care'),
        body: { allergies: [] },
      });
      expect(patch.status).to.equal(404);
      expect(upstream.seen.filter((s) => s.method === 'PATCH')).to.have.length(0);
      const dv = await call(`${gw.url}/patients/pat-002`, {
        headers: as({ sub: 'gp-lead', roles: ['gp', 'safeguarding-lead'], practice: 'B86001' }, 'direct-care'),
      });
      expect(dv.status).to.equal(200);
      expect(dv.json).not.to.have.property('address');
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});
