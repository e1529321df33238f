/**
 * A separate process appending to a shared trail, for the tests where two
 * processes write at once. Usage: append-worker.ts TARGET SCHEMA|- LABEL COUNT
 * Prints the number of events appended.
 */
import { openAuditStore } from '../../src/audit/open.js';
import { sampleEntry } from './entries.js';

const [target, schema, label, count] = process.argv.slice(2);
if (target === undefined || schema === undefined || label === undefined || count === undefined) {
  throw new Error('usage: append-worker.ts TARGET SCHEMA|- LABEL COUNT');
}
const store = await openAuditStore(target, schema === '-' ? {} : { schema });
const n = Number(count);
let appended = 0;
// Waves of concurrent appends, so batches from both processes interleave.
for (let i = 0; i < n; i += 10) {
  const wave = Array.from({ length: Math.min(10, n - i) }, (_, j) => store.append(sampleEntry({ requestId: `${label}-${i + j}` })));
  appended += (await Promise.all(wave)).length;
}
await store.close();
process.stdout.write(`${appended}\n`);
