import { editorSchema, type JsonSchema } from '../lib/json-schema.js';
import { caseFileSchema } from './cases.js';

/**
 * What an editor says about each key of a case file, from fixtures/README.md
 * and docs/testing.md. A path that no longer names a key fails
 * `npm run schemas` (and its test).
 */
const DESCRIPTIONS: Record<string, string> = {
  now: 'The clock of every case (an ISO date or timestamp) for review dates, training age and age bands. Set it, so cases never rot.',
  pseudonymKey: 'The pseudonym key these cases are redacted with (a test key, never a real one).',
  user: 'Claims merged into each case’s user (the case wins).',
  cases: 'The cases: a record, a user, a purpose, and what is expected.',
  'cases[]': 'One case. Give exactly one of ref, refs, record, records, and one expectation (checked when the file is read).',
  'cases[].name': 'What the case shows, as a sentence: it names the case in reports.',
  'cases[].resource': 'The resource the record is (a key of the policies’ resources).',
  'cases[].purpose': 'The purpose the request declares.',
  'cases[].user': 'The user’s claims: sub, roles, training, and whatever the grants’ conditions read.',
  'cases[].breakGlass': 'A break-glass reason (at least 10 characters).',
  'cases[].now': 'This case’s clock, instead of the file’s.',
  'cases[].ref': 'One record from the records directory: Resource/id.',
  'cases[].refs': 'Several records from the records directory: the output is the permitted rows, in order.',
  'cases[].record': 'One record, inline.',
  'cases[].records': 'Several records, inline.',
  'cases[].expect': 'The exact redacted output (deep equality).',
  'cases[].expectRefusal': 'The error code of the expected refusal, such as record_withheld or purpose_not_granted.',
  'cases[].expectDecision': 'Keys of the decision that must equal these (lists compared as sets), such as { restrictions: [dv-address] }.',
};

/**
 * The JSON Schema of a fixture case file, for editors; shipped as
 * `fieldmesh/schemas/cases.schema.json` (docs/testing.md). The rules across
 * keys (exactly one input, one expectation) are checked when the file is read.
 *
 * @example
 * writeFileSync('cases.schema.json', JSON.stringify(caseJsonSchema(), null, 2));
 */
export function caseJsonSchema(): JsonSchema {
  return editorSchema(caseFileSchema, {
    title: 'fieldmesh case file',
    description: 'Fixture cases for `fieldmesh test` and runCases: records, users and purposes, with the output or refusal expected.',
    descriptions: DESCRIPTIONS,
  });
}
