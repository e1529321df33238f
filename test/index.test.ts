import { expect } from 'chai';
import * as api from '../src/index.js';

describe('public surface', () => {
  it('exports exactly the documented names', () => {
    expect(Object.keys(api).sort()).to.deep.equal(['AccessError', 'FieldmeshError', 'PolicyError', 'PolicySet', 'entryFromDecision', 'fieldmesh', 'formatIssue', 'formatIssues', 'loadPolicies', 'openAuditStore', 'policiesFromSources', 'redactBody', 'withBreakGlassAlert']);
  });
});
