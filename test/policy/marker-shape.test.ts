import { expect } from 'chai';
import { compileShapeGuard } from '../../src/policy/marker-shape.js';

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
    expect(nested({ meta: 'text' })).to.equal(false);
    expect(nested({ meta: null })).to.equal(false);
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
    expect(compileShapeGuard({ flags: { $elemMatch: { code: 'x' } } })).to.equal(undefined);
  });
});
