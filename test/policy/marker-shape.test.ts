import { expect } from 'chai';
import { compileShapeGuard } from '../../src/policy/marker-shape.js';
import { policiesFromSources } from '../../src/engine/policy-set.js';

describe('marker shapes', () => {
  it('flags a marker of another type than the condition compares with', () => {
    const odd = compileShapeGuard({ sealed: true })!;
    expect(odd({ sealed: true })).to.equal(false);
    expect(odd({ sealed: false })).to.equal(false);
    expect(odd({})).to.equal(false);
    expect(odd({ sealed: null })).to.equal(false);
    expect(odd({ sealed: 'true' })).to.equal(true);
    expect(odd({ sealed: 1 })).to.equal(true);
    expect(odd({ sealed: { value: true } })).to.equal(true);
  });

  it('walks arrays as MongoDB does and flags nested arrays', () => {
    const odd = compileShapeGuard({ flags: 'dv-risk' })!;
    expect(odd({ flags: ['dv-risk', 'other'] })).to.equal(false);
    expect(odd({ flags: [['dv-risk']] })).to.equal(true);
    expect(odd({ flags: [{ code: 'dv-risk' }] })).to.equal(true);
    const nested = compileShapeGuard({ 'meta.security.code': 'R' })!;
    expect(nested({ meta: { security: [{ code: 'R' }, { code: 'N' }] } })).to.equal(false);
    expect(nested({ meta: { security: [{ code: 7 }] } })).to.equal(true);
  });

  it('flags a path that passes through something other than JSON data (a class instance, a Date)', () => {
    const nested = compileShapeGuard({ 'meta.security.code': 'R' })!;
    expect(nested({ meta: new Map([['security', [{ code: 'R' }]]]) })).to.equal(true);
    expect(nested({ meta: new Date(0) })).to.equal(true);
    expect(nested({ meta: null })).to.equal(false);
  });

  it('flags a scalar met where the path goes on: the marker sits where an object was expected', () => {
    const nested = compileShapeGuard({ 'meta.security.code': 'R' })!;
    expect(nested({ meta: 'R' })).to.equal(true);
    expect(nested({ meta: { security: 'R' } })).to.equal(true);
    expect(nested({ meta: { security: ['R'] } })).to.equal(true);
    expect(nested({ meta: { security: [{ code: 'R' }] } })).to.equal(false);
    expect(nested({ meta: { security: [] } })).to.equal(false);
    expect(nested({ meta: {} })).to.equal(false);
  });

  it('collects types through operators and logical combinations', () => {
    const odd = compileShapeGuard({ $or: [{ flags: { $in: ['dv-risk', 'hate-crime'] } }, { riskLevel: { $gte: 3 } }] })!;
    expect(odd({ flags: ['hate-crime'], riskLevel: 4 })).to.equal(false);
    expect(odd({ riskLevel: '4' })).to.equal(true);
    expect(odd({ flags: [true] })).to.equal(true);
  });

  it('does not check fields compared with claims, $exists, $size or $elemMatch', () => {
    expect(compileShapeGuard({ careTeam: '${user.team}' })).to.equal(undefined);
    expect(compileShapeGuard({ flags: { $exists: true } })).to.equal(undefined);
    expect(compileShapeGuard({ flags: { $size: 2 } })).to.equal(undefined);
    expect(compileShapeGuard({ flags: { $elemMatch: { $gte: 3 } } })).to.equal(undefined);
    expect(compileShapeGuard({ flags: null })).to.equal(undefined);
  });

  it('checks the fields inside an $elemMatch on records as any other, and accepts objects in a list there', () => {
    const odd = compileShapeGuard({ flags: { $elemMatch: { code: 'x' } } })!;
    expect(odd({ flags: [{ code: 'x' }, { code: 'y' }] })).to.equal(false);
    expect(odd({ flags: [{ code: 7 }] })).to.equal(true);
    expect(odd({})).to.equal(false);
  });

  describe('a field compared with a plain value stays checked whatever else it is compared with', () => {
    const shapes: [string, unknown][] = [
      ['an object', { code: 'dv-risk' }],
      ['a list in a list', [['dv-risk']]],
      ['a number', 7],
      ['a boolean in a list', [true]],
    ];
    const whens: [string, Record<string, unknown>][] = [
      ['and $elemMatch on records', { $or: [{ flags: 'dv-risk' }, { flags: { $elemMatch: { code: 'dv-risk' } } }] }],
      ['and null in $in', { flags: { $in: ['dv-risk', null] } }],
      ['and $size', { $or: [{ flags: 'dv-risk' }, { flags: { $size: 99 } }] }],
      ['and a claim', { $or: [{ flags: 'dv-risk' }, { flags: '${user.watch}' }] }],
      ['and $ne: null', { flags: { $ne: null, $eq: 'dv-risk' } }],
      ['and $exists', { flags: { $exists: true, $eq: 'dv-risk' } }],
      ['and $elemMatch on values', { $or: [{ flags: 'dv-risk' }, { flags: { $elemMatch: { $eq: 3 } } }] }],
    ];
    for (const [form, when] of whens) {
      it(`${form}: flags an object outside a list, a nested list, a number, a boolean`, () => {
        const odd = compileShapeGuard(when)!;
        expect(odd, 'a guard').to.be.a('function');
        for (const [name, flags] of shapes) expect(odd({ flags }), name).to.equal(true);
        expect(odd({ flags: ['dv-risk'] })).to.equal(false);
        expect(odd({ flags: 'other' })).to.equal(false);
        expect(odd({ flags: null })).to.equal(false);
        expect(odd({})).to.equal(false);
      });
    }

    it('widens only as far as the other form implies: objects in a list for $elemMatch on records, its operand types in a list for $elemMatch on values', () => {
      const records = compileShapeGuard({ $or: [{ flags: 'dv-risk' }, { flags: { $elemMatch: { code: 'dv-risk' } } }] })!;
      expect(records({ flags: [{ code: 'dv-risk' }, 'dv-risk'] })).to.equal(false);
      const values = compileShapeGuard({ $or: [{ score: 'high' }, { score: { $elemMatch: { $gte: 3 } } }] })!;
      expect(values({ score: [4, 'high'] })).to.equal(false);
      expect(values({ score: 4 })).to.equal(true);
    });
  });
});

describe('marker shapes through the engine (policiesFromSources + redact)', () => {
  const NOW = new Date('2026-11-24T12:00:00Z');
  const load = (when: string) =>
    policiesFromSources(
      [
        {
          file: 'p.yaml',
          text: [
            'resources:',
            '  R:',
            '    fields: { id: identifier, address: direct, name: direct }',
            'purposes:',
            '  care:',
            '    lawfulBasis: { article6: x }',
            '    reviewBy: 2030-01-01',
            '    views: { R: { fields: [id, address, name] } }',
            'roles:',
            '  nurse: { grants: [ { purpose: care, resource: R, read: view } ] }',
            'restrictions:',
            '  - name: dv',
            '    resource: R',
            `    when: ${when}`,
            '    withhold: [address]',
            '    because: dv',
            '',
          ].join('\n'),
        },
      ],
      { now: NOW },
    );
  const address = (when: string, record: Record<string, unknown>) =>
    (
      load(when).redact(
        { id: 'a', address: 'SECRET-ADDR', ...record },
        { resource: 'R', purpose: 'care', user: { sub: 'u', roles: ['nurse'], training: '2026-06-01', watch: 'zzz' }, now: NOW },
      ).data as Record<string, unknown>
    )['address'];

  const whens = [
    '{ $or: [ { flags: dv-risk }, { flags: { $elemMatch: { code: dv-risk } } } ] }',
    '{ flags: { $in: [dv-risk, null] } }',
    '{ $or: [ { flags: dv-risk }, { flags: { $size: 99 } } ] }',
    '{ $or: [ { flags: dv-risk }, { flags: "${user.watch}" } ] }',
    '{ flags: { $ne: null, $eq: dv-risk } }',
  ];
  for (const when of whens) {
    it(`withholds the address for odd flags under ${when}`, () => {
      for (const flags of [{ code: 'dv-risk' }, [['dv-risk']], 7])
        expect(address(when, { flags }), JSON.stringify(flags)).to.equal(undefined);
      expect(address(when, { flags: ['other'] })).to.equal('SECRET-ADDR');
    });
  }

  it('withholds when a scalar sits where meta.security.code expects an object', () => {
    const when = '{ meta.security.code: R }';
    for (const meta of ['R', { security: 'R' }, { security: ['R'] }])
      expect(address(when, { meta }), JSON.stringify(meta)).to.equal(undefined);
    expect(address(when, { meta: { security: [{ code: 'N' }] } })).to.equal('SECRET-ADDR');
  });
});
