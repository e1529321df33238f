import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parse, stringify } from 'yaml';
import { planRequest, type RequestContext } from '../../src/engine/plan.js';
import { PLAN_CACHE_SIZE, planCacheFor } from '../../src/engine/plan-cache.js';
import { policiesFromSources, type PolicySet } from '../../src/engine/policy-set.js';
import { NOW, patient, refusal, user, VALID_POLICY } from '../helpers.js';

/** The valid fixture policy, plus a role reading a nested claim and a restriction reading a quoted one. */
function policies(): PolicySet {
  const doc = parse(readFileSync(VALID_POLICY, 'utf8')) as {
    roles: Record<string, unknown>;
    restrictions: unknown[];
  };
  doc.roles['org-nurse'] = {
    grants: [{ purpose: 'direct-care', resource: 'Patient', read: ['id', 'name', 'careTeam'], where: { careTeam: '${user.org.team}' } }],
  };
  doc.restrictions.push({
    name: 'own-record',
    resource: 'Patient',
    when: { nhsNumber: '${user["https://idp.example/nhs"]}' },
    withhold: ['diagnoses'],
    because: 'Staff do not read their own record at work',
  });
  return policiesFromSources([{ file: 'policy.yaml', text: stringify(doc) }], { pseudonymKey: 'test-pseudonym-key', now: NOW });
}

const ctx = (roles: string[], extra: Record<string, unknown> = {}, more: Partial<RequestContext> = {}): RequestContext => ({
  resource: 'Patient',
  purpose: 'direct-care',
  user: user(roles, extra),
  now: NOW,
  ...more,
});
const opts = { trainingMaxAgeDays: 365 };

describe('engine/plan-cache', () => {
  it('serves a hit with the same plan core and the same answer as a fresh plan, with the request’s own context', () => {
    const set = policies();
    const first = set.plan(ctx(['nurse']));
    const later = new Date(NOW.getTime() + 60_000);
    const hit = set.plan(ctx(['nurse'], {}, { now: later }));
    expect(hit.ability).to.equal(first.ability); // shared: it was a hit
    expect(hit.now).to.equal(later);
    expect(hit.ctx.now).to.equal(later);
    const record = patient({ careTeam: 'ward-7' });
    const fresh = policies().redact(record, ctx(['nurse']));
    const cached = set.redactWith(hit, record);
    expect(cached).to.deep.equal(fresh);
    expect((cached.data as Record<string, unknown>)['name']).to.deep.equal(record['name']);
  });

  it('never shares a core between different claim values, roles, purposes, actions or policy sets', () => {
    const set = policies();
    const base = set.plan(ctx(['nurse']));
    expect(set.plan(ctx(['nurse'], { team: 'ward-8' })).ability).to.not.equal(base.ability);
    expect(set.plan(ctx(['gp'])).ability).to.not.equal(base.ability);
    expect(set.plan(ctx(['nurse', 'gp'])).ability).to.not.equal(base.ability);
    expect(set.plan(ctx(['analyst'], {}, { purpose: 'service-planning' })).ability).to.not.equal(base.ability);
    expect(set.plan(ctx(['nurse']), 'update').ability).to.not.equal(base.ability);
    // A reload compiles a new set: its plans are its own, even from the same text.
    expect(policies().plan(ctx(['nurse'])).ability).to.not.equal(base.ability);
    // What each one discloses follows its own claims.
    const record = patient({ careTeam: 'ward-8' });
    expect(refusal(() => set.redact(record, ctx(['nurse']))).code).to.equal('record_withheld');
    expect(set.redact(record, ctx(['nurse'], { team: 'ward-8' })).decision.rowsReturned).to.equal(1);
    expect(refusal(() => set.redact(record, ctx(['nurse']))).code).to.equal('record_withheld');
  });

  it('keys on nested and quoted claims that conditions read, and not on claims no condition reads', () => {
    const set = policies();
    const a = set.plan(ctx(['org-nurse'], { org: { team: 'ward-7' } }));
    expect(set.plan(ctx(['org-nurse'], { org: { team: 'ward-9' } })).ability).to.not.equal(a.ability);
    expect(set.plan(ctx(['org-nurse'], { org: { team: 'ward-7' }, 'https://idp.example/nhs': '9990000018' })).ability).to.not.equal(
      a.ability,
    );
    // `sub` and `email` are read by no condition: the same core serves both users.
    expect(set.plan(ctx(['org-nurse'], { org: { team: 'ward-7' }, sub: 'u2', email: 'x@example.org' })).ability).to.equal(a.ability);
    // The quoted claim fires the restriction for the user it names only.
    const own = patient({ careTeam: 'ward-7', nhsNumber: '9990000018' });
    const mine = set.redact(own, ctx(['nurse', 'gp'], { 'https://idp.example/nhs': '9990000018' }));
    const theirs = set.redact(own, ctx(['nurse', 'gp'], { 'https://idp.example/nhs': '9990000026' }));
    expect(mine.decision.restrictions).to.include('own-record');
    expect(theirs.decision.restrictions).to.not.include('own-record');
  });

  it('keeps apart claims that naive concatenation or loose serialisation would collide on', () => {
    const set = policies();
    const cache = planCacheFor(set.compiled);
    const key = (roles: string[], claims: Record<string, unknown>) => cache.keyOf('Patient', 'direct-care', 'read', roles, { ...claims });
    const pairs: [string[], Record<string, unknown>, string[], Record<string, unknown>][] = [
      [['nurse'], { team: '1' }, ['nurse'], { team: 1 }],
      [['nurse'], { team: 'ward-7' }, ['nurse'], { team: ['ward-7'] }],
      [['nurse'], { team: 'a,b' }, ['nurse'], { team: ['a', 'b'] }],
      [['nurse'], { team: null }, ['nurse'], {}],
      [['nurse'], { team: undefined }, ['nurse'], {}],
      [['nurse'], { team: 0 }, ['nurse'], { team: -0 }],
      [['nurse'], { team: 'true' }, ['nurse'], { team: true }],
      [['nurse,gp'], { team: 'x' }, ['nurse', 'gp'], { team: 'x' }],
      [['nurse'], { team: 'x"],["gp' }, ['nurse', 'gp'], { team: 'x' }],
      [['org-nurse'], { org: { team: 'a' } }, ['org-nurse'], { org: { 'team"': 'a' } }],
    ];
    for (const [rolesA, a, rolesB, b] of pairs) {
      const ka = key(rolesA, a);
      const kb = key(rolesB, b);
      expect(ka, JSON.stringify([rolesA, a])).to.be.a('string');
      expect(kb, JSON.stringify([rolesB, b])).to.be.a('string');
      expect(ka).to.not.equal(kb);
    }
    // Type bracketing is kept through the cache: a team claim of 1 never matches a careTeam of "1".
    const record = patient({ careTeam: '1' });
    expect(set.redact(record, ctx(['nurse'], { team: '1' })).decision.rowsReturned).to.equal(1);
    expect(refusal(() => set.redact(record, ctx(['nurse'], { team: 1 }))).code).to.equal('record_withheld');
    expect(set.redact(record, ctx(['nurse'], { team: '1' })).decision.rowsReturned).to.equal(1);
  });

  it('plans afresh, never from the cache, for claims that are not plain data', () => {
    const set = policies();
    const cache = planCacheFor(set.compiled);
    class Claims {
      roles = ['nurse'];
      team = 'ward-7';
    }
    const key = (u: unknown) => cache.keyOf('Patient', 'direct-care', 'read', ['nurse'], u);
    expect(key(new Claims())).to.equal(undefined);
    expect(
      key({
        get team() {
          return 'ward-7';
        },
      }),
    ).to.equal(undefined);
    expect(key({ team: new Date(0) })).to.equal(undefined);
    const holed: unknown[] = [];
    holed[1] = 'x';
    expect(key({ team: holed })).to.equal(undefined); // a hole
    let deep: unknown = 'x';
    for (let i = 0; i < 40; i++) deep = [deep];
    expect(key({ team: deep })).to.equal(undefined);
    expect(key({ team: 'x'.repeat(70_000) })).to.equal(undefined);
    // A class instance reads as no claims (templates.ts): its grant never matches, cached or not.
    const plan = planRequest(
      set.compiled,
      {
        resource: 'Patient',
        purpose: 'direct-care',
        user: Object.assign(new Claims(), { training: '2026-06-01' }) as unknown as Record<string, unknown>,
        now: NOW,
      },
      'read',
      opts,
    );
    expect(refusal(() => set.redactWith(plan, patient({ careTeam: 'ward-7' }))).code).to.equal('record_withheld');
  });

  it('keys on every own property of a nested claim, enumerable or not, so hidden ones never share a plan', () => {
    const set = policies();
    const cache = planCacheFor(set.compiled);
    const org = (team: string) => Object.defineProperty({}, 'team', { value: team, enumerable: false });
    const nurse = (team: string) => user(['org-nurse'], { org: org(team) });
    const key = (u: unknown) => cache.keyOf('Patient', 'direct-care', 'read', ['org-nurse'], u);
    expect(key(nurse('ward-9'))).to.not.equal(key(nurse('ward-7')));
    // A named property beside a list's items is not keyed at all.
    expect(key(user(['org-nurse'], { org: Object.assign(['x'], { team: 'ward-7' }) }))).to.equal(undefined);
    const record = patient({ careTeam: 'ward-9' });
    const ask = (team: string) => set.redact(record, { resource: 'Patient', purpose: 'direct-care', user: nurse(team), now: NOW });
    expect(ask('ward-9').decision.rowsReturned).to.equal(1);
    // The second user, in another team, is refused: the first one's plan is not served to them.
    expect(refusal(() => ask('ward-7')).code).to.equal('record_withheld');
  });

  it('still refuses per request on a cached path: expired training, a bad break-glass reason, a purpose past its review date the next day', () => {
    const set = policies();
    set.plan(ctx(['nurse']));
    expect(refusal(() => set.plan(ctx(['nurse'], { training: '2020-01-01' }))).code).to.equal('training_expired');
    const emergency = { purpose: 'emergency', breakGlass: 'Unconscious patient in A&E, no history' };
    set.plan(ctx(['nurse'], {}, emergency));
    expect(refusal(() => set.plan(ctx(['nurse'], {}, { ...emergency, breakGlass: 'urgent' }))).code).to.equal('break_glass_refused');
    expect(refusal(() => set.plan(ctx(['nurse'], {}, { ...emergency, breakGlass: 'Unconscious\tpatient in A&E' }))).code).to.equal(
      'break_glass_malformed',
    );
    expect(refusal(() => set.plan(ctx(['nurse'], {}, { purpose: 'emergency' }))).code).to.equal('break_glass_required');
    set.plan(ctx(['nurse'], {}, { now: new Date('2027-03-31T23:00:00Z') }));
    const next = refusal(() => set.plan(ctx(['nurse'], {}, { now: new Date('2027-04-01T00:30:00Z') })));
    expect(next.code).to.equal('purpose_expired');
    // A refusal from the cached core (no grant) carries the request's own decision.
    const a = refusal(() => set.plan(ctx(['analyst'])));
    const b = refusal(() => set.plan(ctx(['analyst'], {}, { now: new Date(NOW.getTime() + 1000) })));
    expect(a.code).to.equal('purpose_not_granted');
    expect(b.code).to.equal('purpose_not_granted');
    expect(b.decision).to.not.equal(a.decision);
  });

  it('shares nothing a request could change: the grants and restrictions of a plan are frozen, its ability cannot be updated', () => {
    const set = policies();
    const plan = set.plan(ctx(['nurse']));
    expect(Object.isFrozen(plan.grants)).to.equal(true);
    expect(Object.isFrozen(plan.restrictions)).to.equal(true);
    expect(() => plan.grants.push(plan.grants[0]!)).to.throw(TypeError);
    expect(set.plan(ctx(['nurse'])).grants).to.have.length(1);
    // The request's own part is its own.
    expect(set.plan(ctx(['nurse'])).roles).to.not.equal(plan.roles);
    // The shared ability answers, but its rules cannot be changed under another request.
    expect(plan.ability.can('read', 'Patient')).to.equal(true);
    expect(() => plan.ability.update([{ action: 'manage', subject: 'all' }])).to.throw(TypeError, /shared/);
    expect(set.plan(ctx(['nurse'])).ability.can('manage', 'all')).to.equal(false);
  });

  it('stays bounded: the least recently used core is dropped', () => {
    const set = policies();
    const cache = planCacheFor(set.compiled);
    const first = set.plan(ctx(['nurse'], { team: 'team-0' }));
    for (let i = 1; i <= PLAN_CACHE_SIZE + 10; i++) set.plan(ctx(['nurse'], { team: `team-${i}` }));
    expect(cache.size).to.equal(PLAN_CACHE_SIZE);
    expect(set.plan(ctx(['nurse'], { team: 'team-0' })).ability).to.not.equal(first.ability);
  });
});
