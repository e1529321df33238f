import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { parse } from 'yaml';
import { statusOf, type AccessCode } from '../../src/lib/error-codes.js';
import type { PolicySet } from '../../src/engine/policy-set.js';
import { fieldProblems, kindOf, matcherOf, type FixtureCase } from '../../src/testing/index.js';
import { examplePolicies } from '../express/harness.js';
import { call, NOW, ROOT, startJsonServer, startTestGateway, token, type TestGateway, type TestUpstream } from './helpers.js';

/**
 * The example policies' fixture cases, played through the gateway in front of
 * a real json-server: every case that reads one stored record (`ref:`) must
 * come back exactly as the engine's expected output, or refused with the
 * expected code. Same semantics in the shell as in the engine.
 *
 * A user who may not read the id untransformed (a purpose that pseudonymises
 * it, a role that is not granted it) may not look a record up by it: a path
 * parameter is a filter. Such a case is refused on `/:id` with
 * `filter_forbidden` and is played through the list instead, where the row
 * must be among the rows, or withheld, as the audit event of the list says.
 */
const COLLECTION: Record<string, string> = { Patient: 'patients', SafeguardingConcern: 'concerns', CaseNote: 'notes' };

/** Whether the engine lets this user look records up by id for this purpose (false when the plan itself is refused). */
async function mayLookUp(resource: string, purpose: string, user: Record<string, unknown>): Promise<boolean> {
  const policies = await examplePolicies();
  try {
    const plan = policies.plan({ resource, purpose, user: { sub: 'case-user', roles: [], ...user } as never, now: NOW }, 'read');
    return policies.mayFilterBy(plan, plan.resource.def.id);
  } catch {
    return true;
  }
}

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
  expectFields?: string[];
  absent?: string[];
}

/**
 * The expected output with each `{ pseudonymOf: v }` matcher replaced by the
 * pseudonym the engine gives `v` for this purpose, so the gateway's answer is
 * compared value for value. Cases with `{ pseudonym: any }` are not played
 * here (no value to compare with).
 */
function concrete(expected: unknown, policies: PolicySet, purpose: string): unknown {
  const m = matcherOf(expected);
  if (m !== undefined) {
    if (m.kind !== 'pseudonymOf') throw new Error('a case with { pseudonym: any } cannot be compared value for value');
    return policies.pseudonymOf(purpose, m.of);
  }
  if (Array.isArray(expected)) return expected.map((e) => concrete(e, policies, purpose));
  if (expected !== null && typeof expected === 'object')
    return Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, concrete(v, policies, purpose)]));
  return expected;
}

const partial = (c: Case) => c.expect === undefined && c.expectRefusal === undefined;

function cases(): { file: string; c: Case; user: Record<string, unknown> }[] {
  const dir = join(ROOT, 'fixtures', 'cases');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((file) => {
      const doc = parse(readFileSync(join(dir, file), 'utf8')) as { now?: string; user?: Record<string, unknown>; cases: Case[] };
      return doc.cases
        .filter(
          (c) =>
            kindOf(c as unknown as FixtureCase) === 'read' &&
            c.ref !== undefined &&
            (c.now ?? doc.now) !== undefined &&
            new Date(String(c.now ?? doc.now)).getTime() === NOW.getTime(),
        )
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
      const policies = await examplePolicies();
      const expected = c.expect === undefined ? undefined : concrete(c.expect, policies, c.purpose);
      const [resource, id] = c.ref!.split('/') as [string, string];
      const headers: Record<string, string> = {
        // A token always names a subject; cases without one act as an anonymous-looking user.
        authorization: `Bearer ${token({ sub: 'case-user', ...user, ...(user['training'] === undefined ? { training: undefined } : {}) })}`,
        'x-purpose': c.purpose,
      };
      if (c.breakGlass !== undefined) headers['x-break-glass'] = c.breakGlass;
      const res = await call(`${gw.url}/${COLLECTION[resource]}/${encodeURIComponent(id)}`, { headers });
      if (!(await mayLookUp(resource, c.purpose, user)) && (c.expectRefusal === undefined || c.expectRefusal === 'record_withheld')) {
        expect(res.json?.error?.code, res.text).to.equal('filter_forbidden');
        // The expected output agrees: it never shows this user the id as stored.
        if (expected !== undefined) expect((expected as Record<string, unknown>)['id']).not.to.equal(id);
        const list = await call(`${gw.url}/${COLLECTION[resource]}`, { headers });
        expect(list.status, list.text).to.equal(200);
        const [event] = (await gw.audit.query({ limit: 1 })).slice(-1);
        if (c.expectRefusal === undefined) {
          if (expected !== undefined) expect(list.json).to.deep.include(expected);
          expect(event?.recordIds).to.include(id);
        } else {
          expect(event?.withheldRecordIds).to.include(id);
          expect(event?.recordIds).not.to.include(id);
        }
        return;
      }
      if (c.expectRefusal !== undefined) {
        // Over HTTP a withheld record answers exactly as a missing one.
        expect(res.json?.error?.code, res.text).to.equal(c.expectRefusal === 'record_withheld' ? 'not_found' : c.expectRefusal);
        expect(res.status).to.equal(statusOf(c.expectRefusal as AccessCode));
      } else {
        expect(res.status, res.text).to.equal(200);
        if (partial(c)) {
          const declared = policies.compiled.resources.get(resource)!.paths;
          const stored = await call(`${upstream.url}/${COLLECTION[resource]}/${encodeURIComponent(id)}`);
          expect(fieldProblems(c, res.json, declared, stored.json)).to.deep.equal([]);
        } else expect(res.json).to.deep.equal(expected);
      }
    });
  }
});
