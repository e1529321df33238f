import { expect } from 'chai';
import {
  FIELD_CLASSES,
  grantSchema,
  KNOWN_KEYS,
  policyFileSchema,
  purposeSchema,
  resourceSchema,
  restrictionSchema,
  TRANSFORMS,
} from '../../src/policy/schema.js';

const purpose = { lawfulBasis: { article6: '6(1)(e)' }, reviewBy: '2099-01-01', views: {} };

describe('policy/schema', () => {
  it('refuses an unknown key everywhere, so a typo never silently widens or narrows access', () => {
    expect(policyFileSchema.safeParse({ role: {} }).success).to.equal(false);
    expect(resourceSchema.safeParse({ fields: {}, feilds: {} }).success).to.equal(false);
    expect(grantSchema.safeParse({ purpose: 'a', resource: 'B', wher: {} }).success).to.equal(false);
    expect(purposeSchema.safeParse({ ...purpose, lawfulBasis: { article6: 'x', article10: 'y' } }).success).to.equal(false);
  });

  it('defaults a resource id to "id" and a purpose to identifiable, implied consent, opt-out ignored, no break-glass', () => {
    expect(resourceSchema.parse({ fields: {} }).id).to.equal('id');
    expect(purposeSchema.parse(purpose)).to.include({ identifiable: true, consent: 'implied', optOut: 'ignore', breakGlass: false });
  });

  it('takes a review date only when it is a real calendar date, and a YAML date as its ISO day', () => {
    expect(purposeSchema.safeParse({ ...purpose, reviewBy: '2026-02-30' }).success).to.equal(false);
    expect(purposeSchema.safeParse({ ...purpose, reviewBy: '2026-99-99' }).success).to.equal(false);
    expect(purposeSchema.parse({ ...purpose, reviewBy: new Date('2027-03-31T00:00:00Z') }).reviewBy).to.equal('2027-03-31');
  });

  it('takes names and dotted field paths of letters, digits and a few marks only', () => {
    expect(grantSchema.safeParse({ purpose: 'direct-care', resource: 'Patient', read: ['address.postcode', 'meta_$x'] }).success).to.equal(
      true,
    );
    expect(grantSchema.safeParse({ purpose: 'direct care', resource: 'Patient' }).success).to.equal(false);
    expect(grantSchema.safeParse({ purpose: 'a', resource: 'Patient', read: ['address..postcode'] }).success).to.equal(false);
    expect(grantSchema.safeParse({ purpose: 'a', resource: 'Patient', read: ['address[0]'] }).success).to.equal(false);
  });

  it('takes a read grant as "view" or a list of fields, nothing else', () => {
    expect(grantSchema.safeParse({ purpose: 'a', resource: 'B', read: 'view' }).success).to.equal(true);
    expect(grantSchema.safeParse({ purpose: 'a', resource: 'B', read: 'all' }).success).to.equal(false);
  });

  it('requires a restriction to say why, and to withhold the record or at least one field', () => {
    const r = { name: 'dv', resource: 'Patient', withhold: ['address'], because: 'danger' };
    expect(restrictionSchema.safeParse(r).success).to.equal(true);
    const noReason = restrictionSchema.safeParse({ ...r, because: undefined });
    expect(noReason.success).to.equal(false);
    expect(noReason.error?.issues[0]?.message).to.match(/^say why/);
    expect(restrictionSchema.safeParse({ ...r, because: '' }).success).to.equal(false);
    expect(restrictionSchema.safeParse({ ...r, withhold: [] }).success).to.equal(false);
    expect(restrictionSchema.safeParse({ ...r, withhold: 'record' }).success).to.equal(true);
  });

  it('knows the five field classes and transforms, and every key of the language for suggestions', () => {
    expect(FIELD_CLASSES).to.deep.equal(['identifier', 'direct', 'quasi', 'special', 'operational']);
    expect(TRANSFORMS).to.deep.equal(['pseudonym', 'year', 'district', 'mask', 'age-band']);
    for (const key of ['where', 'withhold', 'because', 'lawfulBasis', 'breakGlass', 'transform']) expect(KNOWN_KEYS).to.include(key);
  });
});
