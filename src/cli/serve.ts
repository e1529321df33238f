import type { Command } from 'commander';
import { CONFIG_OPTIONS, resolveConfig, type ConfigFlags } from '../config.js';
import { onSignals } from '../gateway/server.js';
import { startGateway } from '../gateway/start.js';

const HELP = `
Every option can also come from the environment (shown in brackets); a flag
wins over its variable. Secrets belong in the environment, not on the command
line: FIELDMESH_JWT_SECRET, FIELDMESH_PSEUDONYM_KEY, FIELDMESH_UPSTREAM_AUTHORIZATION.

Example:
  FIELDMESH_JWT_SECRET=… FIELDMESH_PSEUDONYM_KEY=… \\
    fieldmesh serve --upstream http://127.0.0.1:3000 --routes routes.yaml --policies ./policies

Operations: GET /healthz (up), GET /readyz (policies loaded, audit writable).
SIGHUP or a change in the policy directory reloads the policies (the last good
set is kept if the new one fails); SIGTERM/SIGINT finish requests in flight and stop.`;

/**
 * `fieldmesh serve`: the gateway, need-to-know in front of any record API.
 *
 * @example
 * registerServe(program); // fieldmesh serve --upstream http://127.0.0.1:3000 --routes routes.yaml
 */
export function registerServe(program: Command): void {
  const cmd = program.command('serve').description('run the gateway: a reverse proxy that redacts and audits every answer of a record API');
  for (const [flags, help] of CONFIG_OPTIONS) cmd.option(flags, help);
  cmd.addHelpText('after', HELP).action(async (opts: ConfigFlags) => {
    const config = resolveConfig(opts, process.env, { requireUpstream: true });
    const gateway = await startGateway(config);
    onSignals(gateway);
  });
}
