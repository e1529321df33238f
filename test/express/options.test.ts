import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { openAuditStore } from '../../src/audit/open.js';
import { fieldmesh } from '../../src/express/mesh.js';
import type { MeshOptions } from '../../src/express/options.js';
import { cleanup, examplePolicies, onCleanup, POLICIES, PSEUDONYM_KEY, SECRET } from './harness.js';

/** The TypeError fieldmesh() throws for `options`. */
async function typeError(options: unknown): Promise<TypeError> {
  try {
    const mesh = await fieldmesh(options as MeshOptions);
    await mesh.close();
  } catch (err) {
    expect(err).to.be.instanceOf(TypeError);
    return err as TypeError;
  }
  return expect.fail('the options were accepted');
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-opt-'));
  onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('fieldmesh() options', () => {
  afterEach(cleanup);

  it('loads a policy directory, with the pseudonym key its purposes need', async () => {
    const mesh = await fieldmesh({
      policies: POLICIES,
      jwt: { secret: SECRET },
      audit: join(tempDir(), 'a.db'),
      pseudonymKey: PSEUDONYM_KEY,
    });
    onCleanup(() => mesh.close());
    expect(mesh.policies.resourceNames()).to.include.members(['Patient', 'CaseNote', 'SafeguardingConcern']);
  });

  it('refuses unknown option keys, naming them', async () => {
    const err = await typeError({ policies: POLICIES, jwt: { secret: SECRET }, pseudonymKey: PSEUDONYM_KEY, trainingMaxAgeDay: 30 });
    expect(err.message).to.include('unknown option "trainingMaxAgeDay"');
  });

  it('refuses a missing jwt configuration', async () => {
    const err = await typeError({ policies: await examplePolicies() });
    expect(err.message).to.match(/jwt is required/);
  });

  it('refuses identity options the verifier would refuse, with their reason', async () => {
    const err = await typeError({ policies: await examplePolicies(), jwt: { secret: 'short' } });
    expect(err.message).to.match(/^fieldmesh: jwt: .*at least 32 bytes/s);
  });

  it('refuses policies that pseudonymise without a pseudonym key, and opens no trail', async () => {
    const file = join(tempDir(), 'never.db');
    const err = await typeError({ policies: POLICIES, jwt: { secret: SECRET }, audit: file });
    expect(err.message).to.include('pseudonymKey');
    expect(existsSync(file)).to.equal(false);
  });

  it('refuses a pseudonym key given beside a loaded PolicySet (it would be ignored)', async () => {
    const err = await typeError({ policies: await examplePolicies(), jwt: { secret: SECRET }, pseudonymKey: PSEUDONYM_KEY });
    expect(err.message).to.include('loadPolicies');
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['an audit target of the wrong type', { audit: 42 }, /audit must be/],
    ['a webhook that is not http(s)', { breakGlassWebhook: 'ftp://guardian.example/hook' }, /breakGlassWebhook/],
    ['a negative body limit', { maxBodyBytes: -1 }, /maxBodyBytes/],
    ['a training age of NaN days', { trainingMaxAgeDays: Number.NaN }, /trainingMaxAgeDays must be a whole number of days from 1 to 3650/],
    [
      'a training age of Infinity days',
      { trainingMaxAgeDays: Number.POSITIVE_INFINITY },
      /trainingMaxAgeDays must be a whole number of days from 1 to 3650/,
    ],
    ['a training age over ten years', { trainingMaxAgeDays: 3651 }, /trainingMaxAgeDays must be a whole number of days from 1 to 3650/],
    ['a policies value that is neither a path nor a PolicySet', { policies: { dir: './policies' } }, /policies must be/],
  ];
  for (const [what, extra, message] of bad) {
    it(`refuses ${what}`, async () => {
      const err = await typeError({ policies: await examplePolicies(), jwt: { secret: SECRET }, audit: join(tempDir(), 'a.db'), ...extra });
      expect(err.message).to.match(message);
    });
  }

  describe('routes', () => {
    async function mesh() {
      const m = await fieldmesh({ policies: await examplePolicies(), jwt: { secret: SECRET }, audit: join(tempDir(), 'a.db') });
      onCleanup(() => m.close());
      return m;
    }
    it('refuses an unknown resource when the route is declared, suggesting the right one', async () => {
      const m = await mesh();
      expect(() => m.read('Patinet')).to.throw(TypeError, /unknown resource "Patinet" \(did you mean "Patient"\?\)/);
      expect(() => m.write('Nope')).to.throw(TypeError, /known: Patient/);
    });
    it('refuses unknown route options and list keys that are not plain dotted names', async () => {
      const m = await mesh();
      expect(() => m.read('Patient', { lists: 'items' } as never)).to.throw(TypeError, /lists/);
      expect(() => m.read('Patient', { list: 'entry.__proto__' })).to.throw(TypeError, /dotted key/);
      expect(() => m.write('Patient', { load: 'db.get' } as never)).to.throw(TypeError, /load must be a function/);
    });
  });

  it('closes a trail it opened, and leaves a store it was given open', async () => {
    const file = join(tempDir(), 'given.db');
    const store = await openAuditStore({ sqlite: file });
    onCleanup(() => store.close());
    const m = await fieldmesh({ policies: await examplePolicies(), jwt: { secret: SECRET }, audit: store });
    await m.close();
    expect(await store.healthy()).to.equal(true);
    const owned = await fieldmesh({ policies: await examplePolicies(), jwt: { secret: SECRET }, audit: join(tempDir(), 'owned.db') });
    await owned.close();
    expect(await owned.audit.healthy()).to.equal(false);
  });
});
