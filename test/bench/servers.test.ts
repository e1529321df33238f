import { expect } from 'chai';
import { copyWithoutHostileKeys, routeOf } from '../../bench/baselines/scenario.js';
import { canonical, freePort, type LoadResult, median, perSecond } from '../../bench/lib/servers.js';

describe('bench helpers', () => {
  it('canonical: the same answer whatever the key order, a different one for any other value', () => {
    expect(canonical({ b: 1, a: [{ d: 2, c: 3 }] })).to.equal(canonical({ a: [{ c: 3, d: 2 }], b: 1 }));
    expect(canonical({ a: [1, 2] })).not.to.equal(canonical({ a: [2, 1] }));
    expect(canonical({ a: 1 })).not.to.equal(canonical({ a: 1, b: null }));
  });

  it('median of odd and even lists; completed requests per second over the whole run', () => {
    expect(median([3, 1, 2])).to.equal(2);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
    const run = (total: number, duration: number) => ({ duration, requests: { total } }) as unknown as LoadResult;
    expect(perSecond(run(300, 1.5))).to.equal(200);
    expect(perSecond(run(10, 0))).to.equal(0);
  });

  it('finds a port nobody listens on', async () => {
    const port = await freePort();
    expect(port).to.be.within(1, 65535);
  });

  it('the baselines copy values without prototype-polluting keys, as fieldmesh does', () => {
    const hostile = JSON.parse(
      '[{"__proto__":{"x":1},"constructor":{"prototype":{"p":1}},"ok":{"prototype":2,"v":[{"__proto__":3,"w":4}]}}]',
    );
    expect(canonical(copyWithoutHostileKeys(hostile))).to.equal(canonical([{ ok: { v: [{ w: 4 }] } }]));
  });

  it('the baselines route the list and one record, and nothing else', () => {
    expect(routeOf('/patients')).to.deep.equal({ kind: 'list' });
    expect(routeOf('/patients?gp=B86001')).to.deep.equal({ kind: 'list' });
    expect(routeOf('/patients/pat%2D002')).to.deep.equal({ kind: 'one', id: 'pat-002' });
    expect(routeOf('/patients/a/b')).to.equal(undefined);
    expect(routeOf('/concerns')).to.equal(undefined);
  });
});
