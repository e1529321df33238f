/**
 * Module hooks for a process installed without the optional SQLite driver:
 * resolving `better-sqlite3` fails as it does when npm left the package out
 * (`npm install --omit=optional`, or its native build failed). Loaded with
 * `node --import`: in the main thread it registers itself as the hooks.
 */
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

if (isMainThread) register(import.meta.url);

export async function resolve(specifier, context, next) {
  if (specifier === 'better-sqlite3' || specifier.startsWith('better-sqlite3/')) {
    const err = new Error(`Cannot find package '${specifier}' imported from ${context.parentURL}`);
    err.code = 'ERR_MODULE_NOT_FOUND';
    throw err;
  }
  return next(specifier, context);
}
