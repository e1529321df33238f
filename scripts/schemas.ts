/**
 * `npm run schemas`: writes the JSON Schemas that editors validate policy and
 * case files against (schemas/*.schema.json, shipped in the package) from
 * the zod schemas. Run it after changing src/policy/schema.ts or
 * src/testing/cases.ts; test/schemas.test.ts fails until the files agree.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { policyJsonSchema } from '../src/policy/json-schema.js';
import { caseJsonSchema } from '../src/testing/json-schema.js';

export const SCHEMAS_DIR = fileURLToPath(new URL('../schemas/', import.meta.url));

/** File name → text, exactly as committed. */
export function schemaFiles(): Record<string, string> {
  const text = (schema: unknown) => `${JSON.stringify(schema, null, 2)}\n`;
  return { 'policy.schema.json': text(policyJsonSchema()), 'cases.schema.json': text(caseJsonSchema()) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const [name, text] of Object.entries(schemaFiles())) {
    writeFileSync(join(SCHEMAS_DIR, name), text);
    process.stdout.write(`wrote schemas/${name}\n`);
  }
}
