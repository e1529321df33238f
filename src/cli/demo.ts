import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { pino } from 'pino';
import { resolveConfig } from '../gateway/config.js';
import { startDemoApi } from '../demo/api.js';
import { DEMO_JWT_SECRET, DEMO_PSEUDONYM_KEY, demoGuide } from '../demo/guide.js';
import { gatewayLogger } from '../gateway/log.js';
import { startGateway } from '../gateway/start.js';
import { CliExit, EXIT } from './common.js';
import { untilStopped } from './serve.js';

/** The package root: two levels above this file, in src/cli and in dist/cli alike. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface DemoOptions {
  port?: string;
  host?: string;
  audit?: string;
}

/**
 * `fieldmesh demo` (what `npm start` runs): a demo record API over the
 * fixture records, the gateway in front of it with the example policies,
 * and ready-to-paste curl commands with demo tokens for several roles and
 * purposes. Runs until Ctrl-C.
 *
 * @example
 * registerDemo(program); // fieldmesh demo --port 0
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run a demo record API with the gateway in front of it, and print requests to try')
    .option('--port <n>', 'gateway port, 0 for any free port (PORT, default 8080)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--audit <path>', 'SQLite audit file', './fieldmesh-audit.db')
    .action(async (opts: DemoOptions) => {
      const records = join(ROOT, 'fixtures', 'records');
      const routes = join(ROOT, 'examples', 'gateway', 'routes.yaml');
      const policies = join(ROOT, 'policies');
      for (const needed of [records, routes, policies]) {
        if (!existsSync(needed))
          throw new CliExit(EXIT.usage, `fieldmesh demo needs ${needed}: run it from a checkout of the fieldmesh repository`);
      }
      const api = await startDemoApi(records, { host: opts.host ?? '127.0.0.1' });
      let gateway: Awaited<ReturnType<typeof startGateway>>;
      let config: ReturnType<typeof resolveConfig>;
      try {
        config = resolveConfig(
          { upstream: api.url, routes, policies, jwtSecret: DEMO_JWT_SECRET, port: opts.port, host: opts.host, audit: opts.audit },
          { PORT: process.env['PORT'], FIELDMESH_PSEUDONYM_KEY: DEMO_PSEUDONYM_KEY },
        );
        // Logs go to stderr so the guide on stdout stays readable.
        const logger = gatewayLogger({ destination: pino.destination(2) });
        gateway = await startGateway(config, { logger });
      } catch (e) {
        // The demo API would keep the process alive: a demo that cannot start stops whole.
        await api.close();
        throw e;
      }
      // Signals are wired before the guide says Ctrl-C stops it, so a Ctrl-C at once still stops it cleanly.
      const stopped = untilStopped(gateway);
      process.stdout.write(demoGuide({ gatewayUrl: gateway.url, apiUrl: api.url, audit: config.audit }));
      try {
        await stopped;
      } finally {
        await api.close();
      }
    });
}
