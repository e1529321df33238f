/**
 * Records every module a process resolves, one URL a line, in the file
 * $FIELDMESH_IMPORT_LOG. Loaded with `node --import`: in the main thread it
 * registers itself as the module hooks; in the hooks thread its `resolve`
 * appends each resolved URL before the import it serves goes on, so the
 * file is complete whenever an `await import()` has settled.
 */
import { appendFileSync } from 'node:fs';
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

if (isMainThread) register(import.meta.url);

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(process.env.FIELDMESH_IMPORT_LOG, `${resolved.url}\n`);
  return resolved;
}
