import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parse, stringify } from 'yaml';
import { canonicalJson } from '../../src/lib/canonical-json.js';
import { compilePolicies, grantKey } from '../../src/engine/compile.js';
import { policiesFromSources } from '../../src/engine/policy-set.js';
import { NOW, VALID_POLICY } from '../helpers.js';

describe('compile', () => {
  describe('grants of many roles', () => {
    const text = (roles: string) => `
resources:
  Patient: { fields: { id: identifier, name: direct, ward: operational, team: operational } }
purposes:
  care: { lawfulBasis: { article6: "6(1)(e)" }, reviewBy: 2099-01-01, views: { Patient: { fields: [id, name, ward, team] } } }
roles:
${roles}`;

    it('share one compiled condition and one mask where they grant the same, and keep their own label and role', () => {
      const grant = '{ purpose: care, resource: Patient, read: [id, ward], where: { team: "${user.team}" } }';
      const policies = policiesFromSources([{ file: 'p.yaml', text: text(`  a: { grants: [${grant}] }\n  b: { grants: [${grant}] }\n`) }], {
        now: NOW,
      });
      const [a] = policies.compiled.grants.get(grantKey('a', 'care', 'Patient'))!;
      const [b] = policies.compiled.grants.get(grantKey('b', 'care', 'Patient'))!;
      expect(a!.where).to.not.equal(undefined);
      expect(a!.where).to.equal(b!.where);
      expect(a!.read).to.equal(policies.maskOf('Patient', ['id', 'ward']));
      expect(b!.read).to.equal(a!.read);
      expect([a!.label, a!.role, b!.label, b!.role]).to.deep.equal(['a#0', 'a', 'b#0', 'b']);
      expect(a!.where!.resolve({ team: 't1' })).to.deep.equal({ team: 't1' });
    });

    it('never share between conditions that differ in type, and share where only the writing differs', () => {
      const values = ['1', '"1"', 'null', '"null"', 'true', '"true"', '~'];
      const roles = values.map((v, i) => `  r${i}: { grants: [{ purpose: care, resource: Patient, read: [id], where: { ward: ${v} } }] }`);
      const policies = policiesFromSources([{ file: 'p.yaml', text: text(`${roles.join('\n')}\n`) }], { now: NOW });
      const where = (i: number) => policies.compiled.grants.get(grantKey(`r${i}`, 'care', 'Patient'))![0]!.where!;
      const distinct = values.slice(0, 6).map((_, i) => where(i));
      expect(new Set(distinct).size).to.equal(6);
      expect(distinct.map((t) => JSON.stringify(t.resolve({})))).to.deep.equal([
        '{"ward":1}',
        '{"ward":"1"}',
        '{"ward":null}',
        '{"ward":"null"}',
        '{"ward":true}',
        '{"ward":"true"}',
      ]);
      expect(where(6)).to.equal(where(2)); // `~` is null, written otherwise
    });
  });

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
