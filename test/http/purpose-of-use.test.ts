import { join } from 'node:path';
import { expect } from 'chai';
import { AccessError } from '../../src/engine/access-error.js';
import { loadPolicies } from '../../src/engine/policy-set.js';
import { admit, type AdmissionDeps } from '../../src/http/admit.js';
import { refusalEntry } from '../../src/http/audit-entry.js';
import { createVerifier } from '../../src/http/identity.js';
import { purposeClaimProblem, purposeFromToken, tokenPurposeRefusal } from '../../src/http/purpose-of-use.js';
import { NOW, ROOT, SECRET, token } from '../gateway/helpers.js';

const POLICIES = join(ROOT, 'test', 'fixtures', 'policies', 'fhir-purpose');
const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
const REASON = 'Unconscious patient brought to A&E, no registered GP known';

async function setup() {
  const policies = await loadPolicies(POLICIES, { now: NOW });
  const config = { claim: 'purpose_of_use', compiled: policies.compiled };
  /** The rule's answer, or the code it refused with: the selection, then its check beside X-Purpose. */
  const select = (value: unknown, declaredPurpose?: string, claim = 'purpose_of_use') => {
    try {
      const got = purposeFromToken({ sub: 'u', [claim]: value }, config);
      const refusal = got === undefined ? undefined : tokenPurposeRefusal(got, policies.compiled, declaredPurpose);
      return refusal === undefined ? got : { refused: refusal.code, message: refusal.message };
    } catch (e) {
      if (!(e instanceof AccessError)) throw e;
      return { refused: e.code, message: e.message };
    }
  };
  return { policies, config, select };
}

describe('purposeFromToken', () => {
  describe('a claim the token does not carry', () => {
    it('answers undefined: X-Purpose says the purpose, as without a claim configured', async () => {
      const { config } = await setup();
      expect(purposeFromToken({ sub: 'u' }, config)).to.equal(undefined);
    });
  });

  describe('the shapes a claim may take', () => {
    it('takes a code', async () => {
      const { select } = await setup();
      expect(select('TREAT')).to.deep.equal({ purpose: 'direct-care', codes: ['TREAT'], breakGlass: false });
    });

    it('takes a Coding of v3 ActReason, by URL, by OID, or without a system', async () => {
      const { select } = await setup();
      expect(select({ system: ACT_REASON, code: 'TREAT', display: 'treatment' })).to.include({ purpose: 'direct-care' });
      expect(select({ system: 'urn:oid:2.16.840.1.113883.5.8', code: 'PATADMIN' })).to.include({ purpose: 'administration' });
      expect(select({ code: 'TREAT' })).to.include({ purpose: 'direct-care' });
    });

    it('takes a list of codes and Codings, each code once', async () => {
      const { select } = await setup();
      expect(select(['TREAT', { system: ACT_REASON, code: 'TREAT' }])).to.deep.equal({
        purpose: 'direct-care',
        codes: ['TREAT'],
        breakGlass: false,
      });
    });

    it('reads a nested claim by its dotted path', async () => {
      const { config } = await setup();
      const claims = { sub: 'u', ext: { purpose_of_use: 'TREAT' } };
      expect(purposeFromToken(claims, { ...config, claim: 'ext.purpose_of_use' })).to.include({ purpose: 'direct-care' });
    });

    for (const [what, value] of [
      ['a Coding of another system', { system: 'http://example.org/local-purposes', code: 'TREAT' }],
      ['a Coding whose system is not text', { system: 7, code: 'TREAT' }],
      ['a Coding without a code', { system: ACT_REASON }],
      ['a number', 7],
      ['null', null],
      ['an empty list', []],
      ['a list of lists', [['TREAT']]],
      ['a code with spaces', 'TREAT ETREAT'],
      ['a code with a line break', 'TREAT\nX'],
      ['a code of 65 characters', 'T'.repeat(65)],
      ['a list of 17 codes', Array.from({ length: 17 }, () => 'TREAT')],
      ['a list with one malformed entry', ['TREAT', { system: 'urn:oid:1.2.3', code: 'TREAT' }]],
    ] as const) {
      it(`refuses ${what} (purpose_claim_invalid), never echoing it`, async () => {
        const { select } = await setup();
        const got = select(value);
        expect(got).to.have.property('refused', 'purpose_claim_invalid');
        expect((got as { message: string }).message)
          .to.include('"purpose_of_use"')
          .and.not.include('example.org');
        expect((got as { message: string }).message).not.to.include('TREAT ');
      });
    }
  });

  describe('selecting the purpose', () => {
    it('refuses a code no purpose declares, even beside one that does, naming only it (purpose_unknown)', async () => {
      const { select } = await setup();
      const got = select(['TREAT', 'HRESCH']);
      expect(got).to.deep.include({ refused: 'purpose_unknown' });
      expect((got as { message: string }).message).to.include('(HRESCH)');
    });

    it('names at most three codes in a message', async () => {
      const { select } = await setup();
      const got = select(['HRESCH', 'PUBHLTH', 'HMARKT', 'HPAYMT']);
      expect((got as { message: string }).message)
        .to.include('(HRESCH, PUBHLTH, HMARKT, …)')
        .and.not.include('HPAYMT');
    });

    it('refuses codes that select more than one purpose (purpose_ambiguous), naming the purposes', async () => {
      const { select } = await setup();
      const one = select('HOPERAT');
      expect(one).to.have.property('refused', 'purpose_ambiguous');
      expect((one as { message: string }).message).to.include('administration, service-planning');
      expect(select(['TREAT', 'PATADMIN'])).to.have.property('refused', 'purpose_ambiguous');
    });

    it('accepts codes that all select the same purpose', async () => {
      const { select } = await setup();
      expect(select(['PATADMIN', 'PATADMIN'])).to.include({ purpose: 'administration' });
    });
  });

  describe('beside X-Purpose', () => {
    it('accepts an X-Purpose naming the same purpose', async () => {
      const { select } = await setup();
      expect(select('TREAT', 'direct-care')).to.include({ purpose: 'direct-care' });
    });

    it('refuses an X-Purpose naming another purpose (purpose_conflict), without repeating the header', async () => {
      const { select } = await setup();
      const got = select('TREAT', 'administration');
      expect(got).to.have.property('refused', 'purpose_conflict');
      expect((got as { message: string }).message)
        .to.include('"direct-care"')
        .and.not.include('administration');
    });

    it('takes an empty X-Purpose as none', async () => {
      const { select } = await setup();
      expect(select('TREAT', '')).to.include({ purpose: 'direct-care' });
    });
  });

  describe('break-glass codes (ETREAT, BTG)', () => {
    it('selects the purpose declaring the code, as a break-glass request', async () => {
      const { select } = await setup();
      expect(select('ETREAT')).to.deep.equal({ purpose: 'emergency-care', codes: ['ETREAT'], breakGlass: true });
      expect(select({ system: ACT_REASON, code: 'BTG' })).to.include({ purpose: 'emergency-care', breakGlass: true });
    });

    it('lets a break-glass code declared by a purpose win over the other codes', async () => {
      const { select } = await setup();
      expect(select(['TREAT', 'ETREAT'])).to.include({ purpose: 'emergency-care' });
    });

    it('lets it win over a code that is ambiguous alone (HOPERAT: administration and service-planning)', async () => {
      const { select } = await setup();
      expect(select('HOPERAT')).to.have.property('refused', 'purpose_ambiguous');
      expect(select(['HOPERAT', 'ETREAT'])).to.include({ purpose: 'emergency-care', breakGlass: true });
    });

    it('refuses a break-glass code that selects a purpose that is not break-glass (purpose_conflict)', async () => {
      const { policies } = await setup();
      // No purpose declares BTG here: the other code selects direct-care, which is not break-glass.
      const compiled = { ...policies.compiled, purposeOfUse: new Map([['TREAT', ['direct-care']]]) };
      const selected = purposeFromToken({ pou: ['TREAT', 'BTG'] }, { claim: 'pou', compiled });
      expect(selected).to.deep.equal({ purpose: 'direct-care', codes: ['TREAT', 'BTG'], breakGlass: true });
      const refusal = tokenPurposeRefusal(selected!, compiled, undefined);
      expect(refusal).to.have.property('code', 'purpose_conflict');
      expect(refusal?.message).to.include('(BTG)').and.include('"direct-care"');
    });

    it('refuses a break-glass code alone that no purpose declares (purpose_unknown)', async () => {
      const { policies } = await setup();
      const compiled = { ...policies.compiled, purposeOfUse: new Map([['TREAT', ['direct-care']]]) };
      expect(() => purposeFromToken({ pou: 'BTG' }, { claim: 'pou', compiled }))
        .to.throw(AccessError)
        .with.property('code', 'purpose_unknown');
    });
  });
});

describe('purposeClaimProblem', () => {
  it('takes a claim name, a dotted path and a namespaced URL', () => {
    for (const name of ['purpose_of_use', 'ext.purpose_of_use', 'https://idp.example/purpose_of_use'])
      expect(purposeClaimProblem(name)).to.equal(undefined);
  });

  it('refuses an empty name, spaces, control characters and an overlong name', () => {
    for (const name of ['', 'purpose of use', 'purpose\u0000', 'x'.repeat(201), 7]) expect(purposeClaimProblem(name)).to.be.a('string');
  });

  it('refuses a dotted path with an empty segment', () => {
    for (const name of ['a..b', '.a', 'a.', '.', 'https://idp.example/pou.'])
      expect(purposeClaimProblem(name), name).to.include('empty segment');
  });
});

describe('admit › purpose of use from the token', () => {
  async function admitSetup(purposeClaim: string | undefined) {
    const policies = await loadPolicies(POLICIES, { now: NOW });
    const deps: AdmissionDeps = {
      policies,
      verifier: createVerifier({ secret: SECRET, now: () => NOW }),
      now: () => NOW,
      purposeClaim,
    };
    const clinician = { sub: 'clin-a', roles: ['clinician'], practice: 'A' };
    const run = (claims: Record<string, unknown>, headers: Record<string, string> = {}) =>
      admit({ headers: { authorization: `Bearer ${token({ ...clinician, ...claims })}`, ...headers } }, 'Patient', 'read', deps);
    return { run };
  }

  it('admits with the purpose the token selects, no X-Purpose needed, and labels it', async () => {
    const { run } = await admitSetup('purpose_of_use');
    const a = await run({ purpose_of_use: 'TREAT' });
    if (!a.ok) return expect.fail(String(a.error));
    expect(a.ctx.purpose).to.equal('direct-care');
    expect(a.purposeLabel).to.equal('direct-care');
    expect(a.purposeFromToken).to.equal(true);
  });

  it('records the token purpose in the refusal when a later check refuses (training)', async () => {
    const { run } = await admitSetup('purpose_of_use');
    const a = await run({ purpose_of_use: 'TREAT', training: '2001-01-01' });
    if (a.ok) return expect.fail('admitted');
    expect(a.error).to.have.property('code', 'training_expired');
    expect(refusalEntry(a.error, a)).to.include({ purpose: 'direct-care' });
  });

  it('records the token purpose, not the header one, when X-Purpose names another (purpose_conflict)', async () => {
    const { run } = await admitSetup('purpose_of_use');
    const a = await run({ purpose_of_use: 'TREAT' }, { 'x-purpose': 'administration' });
    if (a.ok) return expect.fail('admitted');
    expect(a.error).to.have.property('code', 'purpose_conflict');
    expect(a.purposeLabel).to.equal('direct-care');
    expect(refusalEntry(a.error, a)).to.include({ purpose: 'direct-care' });
  });

  it('refuses ETREAT without a reason by the break-glass purpose rule, in its words, recording the purpose', async () => {
    const { run } = await admitSetup('purpose_of_use');
    const byToken = await run({ purpose_of_use: 'ETREAT' });
    const byHeader = await run({}, { 'x-purpose': 'emergency-care' });
    if (byToken.ok || byHeader.ok) return expect.fail('admitted');
    expect(byToken.error).to.have.property('code', 'break_glass_required');
    expect((byToken.error as AccessError).message).to.equal((byHeader.error as AccessError).message);
    expect(byToken.purposeLabel).to.equal('emergency-care');
    expect(refusalEntry(byToken.error, byToken)).to.include({ purpose: 'emergency-care' });
  });

  it('admits an ETREAT request with its reason as a break-glass request', async () => {
    const { run } = await admitSetup('purpose_of_use');
    const a = await run({ purpose_of_use: 'ETREAT' }, { 'x-break-glass': REASON });
    if (!a.ok) return expect.fail(String(a.error));
    expect(a.ctx).to.include({ purpose: 'emergency-care', breakGlass: REASON });
  });

  it('refuses an ETREAT request with a reason under 10 characters by the reason rule (break_glass_refused)', async () => {
    const { run } = await admitSetup('purpose_of_use');
    const a = await run({ purpose_of_use: 'ETREAT' }, { 'x-break-glass': 'urgent' });
    expect(a.ok).to.equal(false);
    expect((a as { error: AccessError }).error.code).to.equal('break_glass_refused');
  });

  it('refuses a malformed X-Purpose beside the claim', async () => {
    const { run } = await admitSetup('purpose_of_use');
    const a = await run({ purpose_of_use: 'TREAT' }, { 'x-purpose': 'direct care!' });
    expect((a as { error: AccessError }).error.code).to.equal('purpose_conflict');
  });

  it('uses X-Purpose when the token lacks the claim, and requires it then', async () => {
    const { run } = await admitSetup('purpose_of_use');
    const a = await run({}, { 'x-purpose': 'direct-care' });
    expect(a.ok).to.equal(true);
    expect((a as { purposeFromToken?: true }).purposeFromToken).to.equal(undefined);
    const b = await run({});
    expect((b as { error: AccessError }).error.code).to.equal('purpose_required');
  });

  it('ignores the claim when none is configured: X-Purpose alone, as before', async () => {
    const { run } = await admitSetup(undefined);
    const a = await run({ purpose_of_use: 'PATADMIN' }, { 'x-purpose': 'direct-care' });
    if (!a.ok) return expect.fail(String(a.error));
    expect(a.ctx.purpose).to.equal('direct-care');
    const b = await run({ purpose_of_use: 'TREAT' });
    expect((b as { error: AccessError }).error.code).to.equal('purpose_required');
  });
});
