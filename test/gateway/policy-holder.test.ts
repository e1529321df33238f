import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { FieldmeshError, PolicyError } from '../../src/lib/errors.js';
import { holdPolicies, type PolicyHolder } from '../../src/gateway/policy-holder.js';

const POLICIES = fileURLToPath(new URL('../../policies', import.meta.url));
const OPTS = { pseudonymKey: 'holder-test-pseudonym-key', now: new Date('2026-11-24T12:00:00Z') };

/** What the holder reported, as the gateway's pino logger would receive it. */
interface Logged {
  level: 'info' | 'error';
  obj: Record<string, unknown>;
  msg: string;
}

describe('gateway/policy-holder', () => {
  const holders: PolicyHolder[] = [];
  afterEach(() => {
    for (const h of holders.splice(0)) h.close();
  });

  /** A holder over a fresh copy of the example policies. */
  async function setup(check?: (set: { resourceNames(): string[] }) => string[]) {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-holder-'));
    cpSync(POLICIES, dir, { recursive: true });
    const logged: Logged[] = [];
    const waiting: ((l: Logged) => void)[] = [];
    const push = (l: Logged) => {
      logged.push(l);
      for (const w of waiting.splice(0)) w(l);
    };
    const logger = {
      info: (obj: object, msg: string) => push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
      error: (obj: object, msg: string) => push({ level: 'error', obj: obj as Record<string, unknown>, msg }),
    };
    const holder = await holdPolicies(dir, OPTS, { logger, ...(check ? { check } : {}) });
    holders.push(holder);
    const edit = (file: string, change: (text: string) => string) =>
      writeFileSync(join(dir, file), change(readFileSync(join(dir, file), 'utf8')));
    const nextLog = () => new Promise<Logged>((resolve) => waiting.push(resolve));
    return { dir, holder, logged, edit, nextLog };
  }

  it('holds the loaded set', async () => {
    const { holder } = await setup();
    expect(holder.current.resourceNames()).to.deep.equal(['Patient', 'SafeguardingConcern', 'CaseNote']);
  });

  it('refuses to start with a set that fails the check, naming every problem', async () => {
    try {
      await setup(() => ['route /encounters names resource "Encounter", which the policies do not declare']);
      expect.fail('expected a refusal');
    } catch (e) {
      expect(e).to.be.instanceOf(FieldmeshError);
      expect((e as FieldmeshError).code).to.equal('policy_rejected');
      expect((e as Error).message).to.include('route /encounters names resource "Encounter"');
    }
  });

  it('refuses to start with a broken set', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-holder-'));
    writeFileSync(join(dir, 'roles.yaml'), 'roles:\n  gp: { grants: [{ purpose: nowhere, resource: Patient, read: view }] }\n');
    const logger = { info: () => undefined, error: () => undefined };
    try {
      await holdPolicies(dir, OPTS, { logger });
      expect.fail('expected a PolicyError');
    } catch (e) {
      expect(e).to.be.instanceOf(PolicyError);
    }
  });

  it('replaces the set whole on reload and says whether it changed', async () => {
    const { holder, logged, edit } = await setup();
    const before = holder.current;
    expect(await holder.reload('signal')).to.equal(true);
    expect(logged.at(-1)).to.deep.include({ level: 'info', msg: 'policies reloaded (unchanged)' });
    expect(logged.at(-1)!.obj).to.include({ event: 'policy_reload', why: 'signal', changed: false });
    edit('roles.yaml', (t) => t.replace('General practitioner at a registered practice', 'GP at a registered practice'));
    expect(await holder.reload('signal')).to.equal(true);
    expect(holder.current).to.not.equal(before);
    expect(holder.current.version).to.not.equal(before.version);
    expect(logged.at(-1)!.obj).to.include({ changed: true, policyVersion: holder.current.version });
  });

  it('keeps the last good set when a reload finds a broken file, and logs where, never the set', async () => {
    const { dir, holder, logged, edit } = await setup();
    const good = holder.current;
    edit('roles.yaml', (t) => t.replace('purpose: direct-care', 'purpose: dirct-care'));
    expect(await holder.reload('file change')).to.equal(false);
    expect(holder.current).to.equal(good);
    const last = logged.at(-1)!;
    expect(last).to.deep.include({ level: 'error', msg: 'policy reload failed: keeping the last good policy set' });
    expect(last.obj).to.include({ event: 'policy_reload_failed', policyVersion: good.version });
    // Where the edit is: the line and column of the misspelt value.
    const lines = readFileSync(join(dir, 'roles.yaml'), 'utf8').split('\n');
    const line = lines.findIndex((l) => l.includes('purpose: dirct-care')) + 1;
    const col = lines[line - 1]!.indexOf('dirct-care') + 1;
    expect(last.obj['problems']).to.deep.equal([
      `${join(dir, 'roles.yaml')}:${line}:${col} › roles.gp.grants[0].purpose: unknown purpose "dirct-care" (did you mean "direct-care"?)`,
    ]);
  });

  it('keeps the last good set when a reload finds an alias bomb or a hidden line, naming the file and line', async () => {
    const { dir, holder, logged, edit } = await setup();
    const good = holder.current;
    const aliases = Array.from({ length: 120 }, (_, i) => `  copy${i}: *base\n`).join('');
    writeFileSync(join(dir, 'zz.yaml'), `roles:\n  base: &base\n    grants: []\n${aliases}`);
    expect(await holder.reload('signal')).to.equal(false);
    expect(holder.current).to.equal(good);
    expect(logged.at(-1)!.obj['problems']).to.deep.equal([
      `${join(dir, 'zz.yaml')}:4:10 › line 4: the YAML expands its aliases (*name) more than 100 times, which is refused as a resource exhaustion attack: write the repeated parts out, or use fewer aliases`,
    ]);
    writeFileSync(join(dir, 'zz.yaml'), 'roles: {}\n');
    edit('roles.yaml', (t) => t.replace('own practice.\n', 'own practice.\r'));
    expect(await holder.reload('signal')).to.equal(false);
    expect(holder.current).to.equal(good);
    const problems = logged.at(-1)!.obj['problems'] as string[];
    expect(problems).to.have.length(1);
    expect(problems[0]).to.match(/roles\.yaml:\d+:\d+ › line \d+: a carriage return without a line feed/);
  });

  it('keeps the last good set when a reload fails the check', async () => {
    let fail = false;
    const { holder } = await setup(() => (fail ? ['the pseudonym key is missing'] : []));
    const good = holder.current;
    fail = true;
    expect(await holder.reload('signal')).to.equal(false);
    expect(holder.current).to.equal(good);
  });

  it('runs reloads one after another, so the last requested is the one that holds', async () => {
    const { holder, edit } = await setup();
    edit('roles.yaml', (t) => t.replace('General practitioner at a registered practice', 'GP one'));
    const first = holder.reload('a');
    edit('roles.yaml', (t) => t.replace('GP one', 'GP two'));
    const second = holder.reload('b');
    expect(await Promise.all([first, second])).to.deep.equal([true, true]);
    const expected = await setup();
    expected.edit('roles.yaml', (t) => t.replace('General practitioner at a registered practice', 'GP two'));
    await expected.holder.reload('compare');
    expect(holder.current.version).to.equal(expected.holder.current.version);
  });

  it('reloads when a policy file changes while watched', async () => {
    const { holder, edit, nextLog } = await setup();
    const before = holder.current.version;
    holder.watch(20);
    const logged = nextLog();
    edit('roles.yaml', (t) => t.replace('General practitioner at a registered practice', 'GP, watched'));
    const line = await logged;
    expect(line.obj).to.include({ event: 'policy_reload', why: 'file change', changed: true });
    expect(holder.current.version).to.not.equal(before);
    holder.close();
  });
});
