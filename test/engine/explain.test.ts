import { expect } from 'chai';
import { FieldmeshError } from '../../src/lib/errors.js';
import { explainView } from '../../src/engine/explain.js';
import { validPolicies } from '../helpers.js';

function setup() {
  const { compiled } = validPolicies();
  const explain = (roles: string[], purpose: string, resource = 'Patient') => explainView(compiled, { roles, purpose, resource });
  const field = (roles: string[], purpose: string, name: string) => explain(roles, purpose).fields.find((f) => f.field === name)!;
  return { explain, field };
}

describe('engine/explain', () => {
  describe('explainView', () => {
    it('explains every declared field of the resource, in declared-path order', () => {
      const fields = setup()
        .explain(['gp'], 'direct-care')
        .fields.map((f) => f.field);
      expect(fields).to.deep.equal([...fields].sort());
      expect(fields).to.include.members(['id', 'address', 'address.postcode', 'telecom.value', 'diagnoses']);
    });

    it('names the rule that withholds: the purpose view first, then the grants', () => {
      const { field } = setup();
      expect(field(['analyst'], 'service-planning', 'name')).to.deep.include({
        status: 'withheld',
        rule: 'not in the view of purpose service-planning',
      });
      expect(field(['nurse'], 'direct-care', 'diagnoses')).to.deep.include({
        class: 'special',
        status: 'withheld',
        rule: 'not granted to nurse for direct-care',
      });
      expect(field([], 'direct-care', 'id').rule).to.equal('not granted to these roles for direct-care');
    });

    it('names the granting rule and the view transform', () => {
      const { field } = setup();
      expect(field(['analyst'], 'service-planning', 'id')).to.deep.include({
        status: 'transformed',
        transform: 'pseudonym',
        rule: 'grant analyst#0, view transform pseudonym',
      });
      expect(field(['gp', 'nurse'], 'direct-care', 'name')).to.deep.include({ status: 'disclosed', rule: 'grant gp#0, nurse#0' });
    });

    it('lists the row conditions a field depends on: grant conditions, field and whole-record restrictions', () => {
      const address = setup().field(['nurse'], 'direct-care', 'address');
      expect(address.conditions).to.deep.equal([
        'disclosed only when {"careTeam":"${user.team}"} (grant nurse#0)',
        'withheld when {"flags":"dv-risk"} (restriction dv-address: Disclosing where a person at risk of domestic violence lives can put them in danger)',
        'whole record withheld when {"$or":[{"sealed":true},{"meta.security.code":"R"}]} (restriction sealed)',
      ]);
    });

    it('shows a restriction as exempt only when every granting role is exempt', () => {
      const { field } = setup();
      const lead = field(['safeguarding-lead'], 'direct-care', 'address').conditions;
      expect(lead.some((c) => c.includes('dv-address'))).to.equal(false);
      const both = field(['safeguarding-lead', 'nurse'], 'direct-care', 'address').conditions;
      expect(both.some((c) => c.includes('dv-address'))).to.equal(true);
      expect(field(['gp'], 'direct-care', 'id').conditions.some((c) => c.includes('sealed'))).to.equal(false);
    });

    it('notes the purpose facts that apply to every field', () => {
      const { explain } = setup();
      expect(explain(['gp'], 'direct-care').notes).to.deep.equal(['review by 2027-03-31', 'identifiable']);
      expect(explain(['analyst'], 'research').notes).to.include('consent required: rows without granted consent are withheld');
      expect(explain(['analyst'], 'service-planning').notes).to.include('national data opt-out respected: opted-out rows are withheld');
      expect(explain(['nurse'], 'emergency').notes).to.include('break-glass only: needs a reason, flagged for review');
    });

    it('refuses an unknown resource, purpose or role by code, suggesting the near name', () => {
      const { explain } = setup();
      const codeOf = (fn: () => unknown) => {
        try {
          fn();
        } catch (e) {
          expect(e).to.be.instanceOf(FieldmeshError);
          return [(e as FieldmeshError).code, (e as Error).message];
        }
        throw new Error('expected a refusal');
      };
      expect(codeOf(() => explain(['gp'], 'direct-care', 'Patinet'))).to.deep.equal([
        'resource_unknown',
        'unknown resource "Patinet" (did you mean "Patient"?)',
      ]);
      expect(codeOf(() => explain(['gp'], 'direct care'))[0]).to.equal('purpose_unknown');
      expect(codeOf(() => explain(['toString'], 'direct-care'))[0]).to.equal('role_unknown');
    });
  });
});
