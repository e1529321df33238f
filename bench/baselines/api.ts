/**
 * The in-memory JSON record API every proxy of the gateway bench sits in
 * front of: src/demo/api.ts over fixtures/records, in a process of its own.
 * `node --import tsx bench/baselines/api.ts [port]`; prints `READY <url>` when it listens.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDemoApi } from '../../src/demo/api.js';

const port = Number(process.argv[2] ?? 0);
const api = await startDemoApi(join(fileURLToPath(new URL('../../', import.meta.url)), 'fixtures', 'records'), { port });
process.stdout.write(`READY ${api.url}\n`);
