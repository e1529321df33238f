import { expect } from 'chai';
import { fieldmesh } from './cli/run.js';

describe('the example policy set and its fixture cases', () => {
  it('checks clean (the one warning is the deliberately expired legacy-audit-2024 flow)', () => {
    const r = fieldmesh(['check', '--now', '2026-11-24']);
    expect(r.code).to.equal(0, r.stdout + r.stderr);
    expect(r.stdout).to.include('purposes.legacy-audit-2024.reviewBy');
  });

  it('passes every case in fixtures/cases, at least 40 of them', () => {
    const r = fieldmesh(['test', '--quiet']);
    const summary = r.stdout.trim().split('\n').pop() ?? '';
    expect(r.code).to.equal(0, r.stdout);
    const [, passed, failed] = /^(\d+) passed, (\d+) failed$/.exec(summary) ?? [];
    expect(Number(failed)).to.equal(0);
    expect(Number(passed)).to.be.at.least(40);
  });
});
