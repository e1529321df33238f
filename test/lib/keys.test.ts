import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { ConfigError, resolveConfig } from '../../src/gateway/config.js';
import { fieldmesh, loadPolicies, openAuditStore, type MeshOptions } from '../../src/index.js';
import { keyProblem } from '../../src/lib/keys.js';
import { fieldmesh as cli } from '../cli/run.js';
import { POLICIES, PSEUDONYM_KEY, SECRET } from '../express/harness.js';

/**
 * One rule for every secret key (src/lib/keys.ts): the same text is accepted or
 * refused the same way by the engine, the middleware, the gateway's
 * configuration, the audit stores and the CLI.
 */
const SHORT = 'short-key';
const PADDED = ' a-key-of-more-than-16-characters ';

describe('secret keys', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'fieldmesh-keys-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses short keys and keys with surrounding whitespace, and accepts the rest', () => {
    expect(keyProblem(SHORT)).to.equal('must be at least 16 characters');
    expect(keyProblem(PADDED)).to.match(/must not begin or end with whitespace/);
    expect(keyProblem('a-key-of-more-than-16-characters')).to.equal(undefined);
    expect(keyProblem(Buffer.alloc(16, 1))).to.equal(undefined);
    expect(keyProblem(Buffer.alloc(15, 1))).to.equal('must be at least 16 characters');
  });

  for (const [name, key] of [
    ['a short key', SHORT],
    ['a key with surrounding whitespace', PADDED],
  ] as const) {
    describe(name, () => {
      it('is refused by the engine as a pseudonym key', async () => {
        const err = await loadPolicies(POLICIES, { pseudonymKey: key }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).to.be.instanceOf(TypeError);
        expect((err as Error).message).to.match(/^loadPolicies: pseudonymKey must/);
      });

      it('is refused by the middleware as pseudonym, record-id and chain key', async () => {
        for (const option of ['pseudonymKey', 'auditRecordIdKey', 'auditChainKey']) {
          const options = {
            policies: POLICIES,
            jwt: { secret: SECRET },
            audit: join(dir, 'a.db'),
            pseudonymKey: PSEUDONYM_KEY,
            [option]: key,
          } as MeshOptions;
          const err = await fieldmesh(options).then(
            async (m) => void (await m.close()),
            (e: unknown) => e,
          );
          expect(err, option).to.be.instanceOf(TypeError);
          expect((err as Error).message, option).to.include(option);
        }
      });

      it("is refused by the gateway's configuration, naming the variable and never the key", () => {
        for (const variable of ['FIELDMESH_PSEUDONYM_KEY', 'FIELDMESH_AUDIT_RECORD_KEY', 'FIELDMESH_AUDIT_CHAIN_KEY']) {
          let err: unknown;
          try {
            resolveConfig({ upstream: 'http://127.0.0.1:3000', routes: 'routes.yaml' }, { [variable]: key });
          } catch (e) {
            err = e;
          }
          expect(err, variable).to.be.instanceOf(ConfigError);
          expect((err as Error).message).to.include(variable);
          expect((err as Error).message).not.to.include(key.trim());
        }
      });

      it('is refused by the audit store as a record-id key', async () => {
        const err = await openAuditStore(join(dir, 'a.db'), { recordIdKey: key }).then(
          async (s) => void (await s.close()),
          (e: unknown) => e,
        );
        expect(err).to.be.instanceOf(TypeError);
        expect((err as Error).message).to.match(/recordIdKey must/);
      });

      it('is refused by the CLI (exit 2), for the audit record-id key and the pseudonym key', async () => {
        const trail = join(dir, 'trail.db');
        await (await openAuditStore(trail)).close();
        const audit = cli(['audit', 'query', '--audit', trail], { env: { FIELDMESH_AUDIT_RECORD_KEY: key } });
        expect(audit.code).to.equal(2);
        // A padded key is stopped as it is read from the environment (src/lib/env-file.ts), a short one by the store.
        expect(audit.stderr).to.match(/recordIdKey must|^FIELDMESH_AUDIT_RECORD_KEY: the value begins or ends with whitespace/);
        const redact = cli(['redact', '--role', 'gp', '--purpose', 'direct-care', '--resource', 'Patient', '-'], {
          input: '{"id":"p1"}',
          env: { FIELDMESH_PSEUDONYM_KEY: key },
        });
        expect(redact.code).to.equal(2);
        expect(redact.stderr).to.match(/FIELDMESH_PSEUDONYM_KEY: (must|the value begins or ends with whitespace)/);
        expect(audit.stderr + redact.stderr).not.to.include(key.trim());
      });
    });
  }
});
