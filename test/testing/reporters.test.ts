import { expect } from 'chai';
import { jsonReport, junitReport, type ReportedCase } from '../../src/testing/index.js';
import { parseXml } from './xml.js';

const HOSTILE = 'a <b> & "c" \'d\' ]]> \u0001\u0008\u001b end\ttab';

function setup(): ReportedCase[] {
  return [
    { file: 'cases/a.yaml', name: 'passes', kind: 'read', passed: true, durationMs: 1.5 },
    {
      file: 'cases/a.yaml',
      name: HOSTILE,
      kind: 'write',
      passed: false,
      message: `line one ${HOSTILE}\nline two </failure>`,
      durationMs: 2,
    },
    { file: 'cases/<b>.yaml', name: 'filter', kind: 'filter', passed: false, message: 'refused', durationMs: 0 },
  ];
}

describe('testing/reporters', () => {
  it('junit: one suite per file, one case per case, failures with their message, all escaped', () => {
    const root = parseXml(junitReport(setup()));
    expect(root.name).to.equal('testsuites');
    expect(root.attrs).to.include({ tests: '3', failures: '2' });
    const [a, b] = root.children;
    expect(a!.attrs).to.include({ name: 'cases/a.yaml', tests: '2', failures: '1' });
    expect(b!.attrs['name']).to.equal('cases/<b>.yaml');
    const [ok, hostile] = a!.children;
    expect(ok!.attrs).to.deep.equal({ classname: 'cases/a.yaml', name: 'passes', time: '0.002' });
    expect(ok!.children).to.deep.equal([]);
    // Control characters XML cannot hold become U+FFFD; everything else arrives as written.
    const shown = HOSTILE.replace(/[\u0001\u0008\u001b]/g, '\uFFFD');
    expect(hostile!.attrs['name']).to.equal(shown);
    const failure = hostile!.children[0]!;
    expect(failure.name).to.equal('failure');
    expect(failure.attrs).to.deep.equal({ message: `line one ${shown}`, type: 'write' });
    expect(failure.text).to.equal(`line one ${shown}\nline two </failure>`);
  });

  it('junit: an empty run is still a document', () => {
    expect(parseXml(junitReport([])).attrs).to.include({ tests: '0', failures: '0' });
  });

  it('json: every result with its kind and duration, and the summary', () => {
    const doc = JSON.parse(jsonReport(setup(), { coverage: { percent: 50 } })) as Record<string, unknown>;
    expect(doc['summary']).to.deep.equal({ passed: 1, failed: 2, total: 3 });
    expect(doc['coverage']).to.deep.equal({ percent: 50 });
    expect((doc['results'] as unknown[])[0]).to.deep.equal({
      file: 'cases/a.yaml',
      name: 'passes',
      kind: 'read',
      passed: true,
      durationMs: 1.5,
    });
    expect((doc['results'] as { name: string }[])[1]!.name).to.equal(HOSTILE);
  });
});
