import { createHmac } from 'node:crypto';
import { expect } from 'chai';
import { DROP, isPseudonym, makeTransform } from '../../src/engine/transforms.js';

const ctx = { purpose: 'research', pseudonymKey: 'k', now: new Date('2026-11-24T00:00:00Z') };

describe('transforms', () => {
  it('pseudonym: HMAC-SHA256 keyed per purpose, 32 hex characters, stable', () => {
    const p = makeTransform('pseudonym', ctx);
    const k = createHmac('sha256', 'k').update('fieldmesh:pseudonym:research').digest();
    expect(p('pat-001')).to.equal(createHmac('sha256', k).update('pat-001').digest('hex').slice(0, 32));
    expect(p('pat-001')).to.equal(p('pat-001'));
    expect(p('pat-001')).to.not.equal(p('pat-002'));
    expect(makeTransform('pseudonym', { ...ctx, purpose: 'service-planning' })('pat-001')).to.not.equal(p('pat-001'));
    expect(makeTransform('pseudonym', { ...ctx, pseudonymKey: 'other' })('pat-001')).to.not.equal(p('pat-001'));
    expect(p(9990000018)).to.equal(p('9990000018'));
  });

  it('isPseudonym: true for what the pseudonym transform writes, false for anything else', () => {
    const p = makeTransform('pseudonym', ctx);
    expect(isPseudonym(p('pat-001'))).to.equal(true);
    expect(isPseudonym(p(42))).to.equal(true);
    for (const other of [
      'pat-001',
      String(p('pat-001')).toUpperCase(),
      `${String(p('pat-001'))}0`,
      String(p('pat-001')).slice(1),
      42,
      null,
    ]) {
      expect(isPseudonym(other), String(other)).to.equal(false);
    }
  });

  it('pseudonym: refuses to build without a key', () => {
    expect(() => makeTransform('pseudonym', { ...ctx, pseudonymKey: undefined })).to.throw(TypeError);
    expect(() => makeTransform('pseudonym', { ...ctx, pseudonymKey: '' })).to.throw(TypeError);
  });

  it('year: the year of a date as a number; anything else is dropped', () => {
    const y = makeTransform('year', ctx);
    expect(y('1984-02-29')).to.equal(1984);
    expect(y('1984-07-01T10:00:00Z')).to.equal(1984);
    for (const bad of ['1984-02-30', '02/03/1984', 'unknown', 1984, '', '0087-05-12', '0001-01-01', '1799-12-31', '1984-07-01Tlater'])
      expect(y(bad), String(bad)).to.equal(DROP);
    expect(y('1800-01-01')).to.equal(1800);
  });

  it('district: the outward code of a UK postcode, uppercased', () => {
    const d = makeTransform('district', ctx);
    expect(d('LS1 4AP')).to.equal('LS1');
    expect(d('ls1 4ap')).to.equal('LS1');
    expect(d('SW1A1AA')).to.equal('SW1A');
    expect(d('M1 1AE')).to.equal('M1');
    expect(d('EC1A 1BB')).to.equal('EC1A');
    expect(d('LS1')).to.equal('LS1');
    for (const bad of ['not a postcode', '12345', 42, 'LS1 4APX']) expect(d(bad)).to.equal(DROP);
  });

  it('mask: all but the last four characters hidden, short values hidden whole', () => {
    const m = makeTransform('mask', ctx);
    expect(m('9990000018')).to.equal('******0018');
    expect(m('12345')).to.equal('*2345');
    expect(m('1234')).to.equal('****');
    expect(m('ab')).to.equal('**');
    expect(m(9990000018)).to.equal('******0018');
  });

  it('age-band: five-year bands at the given date, 90+ at the top', () => {
    const a = makeTransform('age-band', ctx);
    expect(a('1980-11-24')).to.equal('45-49');
    expect(a('1981-11-25')).to.equal('40-44');
    expect(a('2026-01-01')).to.equal('0-4');
    expect(a('1936-11-24')).to.equal('90+');
    for (const bad of ['2027-01-01', 'soon', null, '0087-05-12', '0001-01-01', '1987-02-30']) expect(a(bad), String(bad)).to.equal(DROP);
  });
  it('knows the form of its own pseudonyms and nothing else', () => {
    const pseudonym = String(makeTransform('pseudonym', { purpose: 'research', pseudonymKey: 'k'.repeat(16), now: new Date() })('pat-001'));
    expect(isPseudonym(pseudonym)).to.equal(true);
    for (const other of ['pat-001', pseudonym.toUpperCase(), `${pseudonym}0`, pseudonym.slice(1), 42, null]) {
      expect(isPseudonym(other), String(other)).to.equal(false);
    }
  });
});
