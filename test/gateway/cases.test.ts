import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { parse } from 'yaml';
import { ACCESS_STATUS, type AccessCode } from '../../src/errors.js';
import { call, NOW, ROOT, startJsonServer, startTestGateway, token, type TestGateway, type TestUpstream } from './helpers.js';

/**
 * The example policies' fixture cases, played through the gateway in front of
 * a real json-server: every case that reads one stored record (`ref:`) must
 * come back exactly as the engine's expected output, or refused with the
 * expected code. Same semantics in the shell as in the engine.
 */
const COLLECTION: Record<string, string> = { Patient: 'patients', SafeguardingConcern: 'concerns', CaseNote: 'notes' };

interface Case {
  name: string;
  resource: string;
  purpose: string;
  user?: Record<string, unknown>;
  breakGlass?: string;
  now?: string;
  ref?: string;
  expect?: unknown;
  expectRefusal?: string;
}

function cases(): { file: string; c: Case; user: Record<string, unknown> }[] {
  const dir = join(ROOT, 'fixtures', 'cases');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((file) => {
      const doc = parse(readFileSync(join(dir, file), 'utf8')) as { now?: string; user?: Record<string, unknown>; cases: Case[] };
      return doc.cases
        .filter((c) => c.ref !== undefined && (c.now ?? doc.now) !== undefined && new Date(String(c.now ?? doc.now)).getTime() === NOW.getTime())
        .map((c) => ({ file, c, user: { ...(doc.user ?? {}), ...(c.user ?? {}) } }));
    });
}

describe('gateway › fixture cases through json-server', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startJsonServer();
    gw = await startTestGateway(upstream.url);
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  const all = cases();
  it('plays a substantial share of the fixture cases', () => {
    expect(all.length).to.be.greaterThan(60);
  });

  for (const { file, c, user } of all) {
    it(`${file} › ${c.name}`, async () => {
      const [resource, id] = c.ref!.split('/') as [string, string];
      const headers: Record<string, string> = {
        // A token always names a subject; cases without one act as an anonymous-looking user.
        authorization: `Bearer ${token({ sub: 'case-user', ...user, ...(user['training'] === undefined ? { training: undefined } : {}) })}`,
        'x-purpose': c.purpose,
      };
      if (c.breakGlass !== undefined) headers['x-break-glass'] = c.breakGlass;
      const res = await call(`${gw.url}/${COLLECTION[resource]}/${encodeURIComponent(id)}`, { headers });
      if (c.expectRefusal !== undefined) {
        // Over HTTP a withheld record answers exactly as a missing one.
        expect(res.json?.error?.code, res.text).to.equal(c.expectRefusal === 'record_withheld' ? 'not_found' : c.expectRefusal);
        expect(res.status).to.equal(ACCESS_STATUS[c.expectRefusal as AccessCode]);
      } else {
        expect(res.status, res.text).to.equal(200);
        expect(res.json).to.deep.equal(c.expect);
      }
    });
  }
});
