import { expect } from 'chai';
import fc from 'fast-check';
import { escapeData, escapeProperty, githubAnnotation } from '../../src/cli/annotations.js';

/** GitHub's own unescaping of a workflow command value. */
const readBack = (s: string) =>
  s.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%3A/g, ':').replace(/%2C/g, ',').replace(/%25/g, '%');

describe('cli/annotations', () => {
  it('escapes a message so that it stays on one line and reads back as written', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', '%', ':', ',', '\r', '\n', '2', '5', 'A', '0', 'D') }), (text) => {
        const data = escapeData(text);
        expect(data).to.not.match(/[\r\n]/);
        expect(readBack(data)).to.equal(text);
        const prop = escapeProperty(text);
        expect(prop).to.not.match(/[\r\n:,]/);
        expect(readBack(prop)).to.equal(text);
      }),
    );
  });

  it('writes an error or a warning, with line and col only when the issue has a place', () => {
    expect(githubAnnotation({ file: 'p.yaml', path: 'roles', message: 'a, b: c', severity: 'warning', line: 2, col: 1 })).to.equal(
      '::warning file=p.yaml,line=2,col=1,title=fieldmesh check::roles: a, b: c',
    );
    expect(githubAnnotation({ file: 'p.yaml', path: '(file)', message: 'empty', severity: 'error' })).to.equal(
      '::error file=p.yaml,title=fieldmesh check::(file): empty',
    );
  });
});
