import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { loadPolicies } from '../../src/engine/policy-set.js';
import { BREAK_GLASS_CODES, PURPOSE_OF_USE_CODES } from '../../src/policy/purpose-of-use.js';
import { fieldmesh, ROOT } from '../cli/run.js';

const WARNINGS = join(ROOT, 'test', 'fixtures', 'policies', 'fhir-purpose-warnings');
const NOW = new Date('2026-11-24T12:00:00Z');

interface Concept {
  code: string;
  concept?: Concept[];
}
/** The codes under PurposeOfUse in v3 ActReason, as the published R4 definitions hold them. */
function publishedPurposeOfUse(): string[] {
  const file = join(ROOT, 'node_modules', '@medplum', 'definitions', 'dist', 'fhir', 'r4', 'v3-codesystems.json');
  const bundle = JSON.parse(readFileSync(file, 'utf8')) as { entry: { resource: { url?: string; concept?: Concept[] } }[] };
  const actReason = bundle.entry.find((e) => e.resource.url === 'http://terminology.hl7.org/CodeSystem/v3-ActReason')!.resource;
  const out: string[] = [];
  const walk = (concepts: Concept[], inside: boolean): void => {
    for (const c of concepts) {
      if (inside) out.push(c.code);
      walk(c.concept ?? [], inside || c.code === 'PurposeOfUse');
    }
  };
  walk(actReason.concept ?? [], false);
  return out;
}

describe('purposeOfUse codes', () => {
  it('knows exactly the v3 PurposeOfUse codes the R4 definitions publish', () => {
    expect([...PURPOSE_OF_USE_CODES].sort()).to.deep.equal(publishedPurposeOfUse().sort());
  });

  it('takes ETREAT and BTG as the break-glass codes, both PurposeOfUse codes', () => {
    expect([...BREAK_GLASS_CODES]).to.deep.equal(['ETREAT', 'BTG']);
    for (const code of BREAK_GLASS_CODES) expect(PURPOSE_OF_USE_CODES.has(code)).to.equal(true);
  });

  it('compiles each code to the purposes declaring it, and warns (not errors) about duplicates, repeats, unknown codes and break-glass codes', async () => {
    const policies = await loadPolicies(WARNINGS, { now: NOW });
    expect(policies.compiled.purposeOfUse.get('TREAT')).to.deep.equal(['direct-care', 'continuity']);
    expect(policies.compiled.purposeOfUse.get('TRAET')).to.deep.equal(['continuity']);
    const warnings = policies.warnings.map((w) => `${w.path}: ${w.message}`);
    expect(warnings).to.include.members([
      'purposes.direct-care.purposeOfUse[0]: code "TREAT" is also declared by purpose "continuity": a token carrying it selects both, and is refused as ambiguous',
      'purposes.continuity.purposeOfUse[1]: "TRAET" is not an HL7 v3 PurposeOfUse code (did you mean "TRAIN"?): only a token carrying exactly this code selects the purpose',
      'purposes.direct-care.purposeOfUse[1]: "ETREAT" asks for break-glass access, but this purpose is not break-glass (breakGlass: true): a token carrying it is always refused',
      'purposes.continuity.purposeOfUse[2]: code "TREAT" is repeated (first at purposeOfUse[0]): declare each code once',
    ]);
    // The repeat is named once, at the repeat: not again as a code two purposes declare.
    expect(warnings.filter((w) => w.startsWith('purposes.continuity.purposeOfUse[2]'))).to.have.length(1);
  });

  it('refuses a code that is not a plain code, and an empty list, as errors', async () => {
    const { policiesFromSources } = await import('../../src/engine/policy-set.js');
    const text = (codes: string) =>
      `resources: { P: { fields: { id: identifier } } }\npurposes:\n  p:\n    lawfulBasis: { article6: "6(1)(e)" }\n    reviewBy: 2027-01-01\n    purposeOfUse: ${codes}\n    views: { P: { fields: [id] } }\n`;
    for (const codes of ['["TREAT ETREAT"]', '[]', '["<b>"]'])
      expect(() => policiesFromSources([{ file: 'p.yaml', text: text(codes) }], { now: NOW })).to.throw(/purposeOfUse/);
  });
});

describe('fieldmesh check (built binary) › purposeOfUse warnings', () => {
  it('prints each warning with its place and exits 0; --strict fails on them', () => {
    const run = fieldmesh(['check', '--policies', WARNINGS]);
    expect(run.code).to.equal(0);
    expect(run.stdout + run.stderr).to.match(
      /purposes\.yaml:\d+:\d+ › purposes\.continuity\.purposeOfUse\[1\]: "TRAET" is not an HL7 v3 PurposeOfUse code/,
    );
    expect(run.stdout + run.stderr).to.include('code "TREAT" is also declared by purpose "direct-care"');
    expect(run.stdout + run.stderr).to.include('code "TREAT" is repeated (first at purposeOfUse[0])');
    expect(run.stdout + run.stderr).to.include('5 warnings');
    expect(fieldmesh(['check', '--strict', '--policies', WARNINGS]).code).to.equal(1);
  });
});
