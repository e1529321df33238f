import { expect } from 'chai';
import * as audit from '../../src/audit/index.js';
import { openAuditStore } from '../../src/audit/open.js';

describe('fieldmesh/audit (src/audit/index.ts)', () => {
  it("exports exactly the names of the audit trail's public surface", () => {
    expect(Object.keys(audit).sort()).to.deep.equal(['entryFromDecision', 'openAuditStore', 'withBreakGlassAlert']);
  });

  it('is the factory that loads the driver on demand, not a copy of it', () => {
    expect(audit.openAuditStore).to.equal(openAuditStore);
  });
});
