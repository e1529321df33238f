import { expect } from 'chai';
import { NOW, patient, refusal, user, validPolicies } from './helpers.js';

function setup() {
  const policies = validPolicies();
  const write = (body: unknown, roles: string[], action: 'update' | 'create', existing?: unknown) =>
    policies.checkWrite(body, { resource: 'Patient', purpose: 'direct-care', user: user(roles), now: NOW, action, existing });
  return { write, code: refusal };
}

describe('checkWrite', () => {
  it('lets a ward nurse update the ward of a patient in her care team', () => {
    const { write } = setup();
    const decision = write({ ward: 'W9' }, ['nurse'], 'update', patient());
    expect(decision.written).to.deep.equal(['ward']);
    expect(decision.grants).to.deep.equal(['nurse#0']);
  });

  it('refuses the whole body naming every field the user may not write', () => {
    const { write, code } = setup();
    const e = code(() => write({ ward: 'W9', name: [{ family: 'X' }], nhsNumber: '1' }, ['nurse'], 'update', patient()));
    expect(e.code).to.equal('write_forbidden');
    expect(e.status).to.equal(403);
    expect(e.message).to.include('"name"').and.include('"nhsNumber"').and.not.include('W9');
  });

  it('refuses an update of a record outside the care team, and one whose record was not provided', () => {
    const { write, code } = setup();
    expect(code(() => write({ ward: 'W9' }, ['nurse'], 'update', patient({ careTeam: 'ward-9' }))).code).to.equal('write_forbidden');
    expect(code(() => write({ ward: 'W9' }, ['nurse'], 'update')).message).to.include('not provided');
  });

  it('refuses roles without write grants and hostile or malformed bodies', () => {
    const { write, code } = setup();
    expect(code(() => write({ ward: 'W9' }, ['gp'], 'update', patient())).code).to.equal('purpose_not_granted');
    expect(code(() => write(JSON.parse('{"ward":"W9","__proto__":{"x":1}}'), ['nurse'], 'update', patient())).code).to.equal('write_forbidden');
    expect(code(() => write(['ward'], ['nurse'], 'update', patient())).code).to.equal('invalid_body');
    expect(code(() => write({ ward: 'W9' }, ['nurse'], 'create')).code).to.equal('purpose_not_granted');
  });
});
