import { expect } from 'chai';
import { demo } from '../../examples/fhir/demo.js';

describe('examples › fhir demo (docs/fhir.md, "Try it")', () => {
  it('runs as the docs show: searches answered and redacted, a hidden filter refused as an OperationOutcome', async function () {
    this.timeout(60_000);
    const lines = await demo(() => undefined);
    expect(lines[0]).to.match(/^clinician, Patient\?birthdate=ge1960: [1-9]\d* patients of their own practice$/);
    expect(lines[1]).to.match(/^clinician, observations of pt-\d+: [1-9]\d* since 2025, [1-9]\d* heart rates$/);
    // The clerk's purpose shows names and contacts, never birth dates or identifiers, and marks what it withheld.
    expect(lines[2]).to.match(/fields address, generalPractitioner, id, meta, name, resourceType, telecom$/);
    expect(lines[3]).to.equal('clerk, security labels: REDACTED');
    expect(lines[4]).to.equal('clerk, Patient?birthdate=ge1960: refused, 403 forbidden filter_forbidden');
    expect(lines[5]).to.match(/^\/metadata: 502 exception upstream_invalid/);
  });
});
