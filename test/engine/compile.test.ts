import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parse, stringify } from 'yaml';
import { canonicalJson } from '../../src/lib/canonical-json.js';
import { compilePolicies } from '../../src/engine/compile.js';
import { policiesFromSources } from '../../src/engine/policy-set.js';
import { NOW, VALID_POLICY } from '../helpers.js';

describe('compile', () => {
  describe('policy version', () => {
    it("is the SHA-256 of the audit trail's canonical JSON of the normalised policy set", () => {
      const policies = policiesFromSources([{ file: 'policy.yaml', text: readFileSync(VALID_POLICY, 'utf8') }], { now: NOW });
      const doc = policies.compiled.document;
      const normal = { resources: doc.resources, purposes: doc.purposes, roles: doc.roles, restrictions: doc.restrictions };
      expect(compilePolicies(doc).version).to.equal(createHash('sha256').update(canonicalJson(normal)).digest('hex').slice(0, 16));
    });

    it('does not change when the files list their keys in another order', () => {
      const raw = parse(readFileSync(VALID_POLICY, 'utf8')) as Record<string, unknown>;
      const reversed = Object.fromEntries(Object.entries(raw).reverse());
      const a = policiesFromSources([{ file: 'a.yaml', text: stringify(raw) }], { now: NOW });
      const b = policiesFromSources(
        [{ file: 'b.yaml', text: stringify(reversed, { sortMapEntries: (x, y) => (String(x.key) < String(y.key) ? 1 : -1) }) }],
        { now: NOW },
      );
      expect(b.version).to.equal(a.version);
    });
  });
});
