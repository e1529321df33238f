import type { Command } from 'commander';
import { CONFIG_OPTIONS, resolveConfig, type ConfigFlags } from '../gateway/config.js';
import { onSignals, type Gateway } from '../gateway/server.js';
import { startGateway } from '../gateway/start.js';
import { CliExit, EXIT } from './common.js';
import { startupError } from './startup-error.js';

const HELP = `
Every option can also come from the environment (shown in brackets); a flag
wins over its variable. Secrets belong in the environment, not on the command
line: FIELDMESH_JWT_SECRET, FIELDMESH_PSEUDONYM_KEY, FIELDMESH_UPSTREAM_AUTHORIZATION,
FIELDMESH_BREAK_GLASS_WEBHOOK. Each secret variable may instead name a file that
holds it (Docker and Kubernetes secrets): FIELDMESH_JWT_SECRET_FILE=/run/secrets/jwt.

A gateway that cannot start exits 2 (1 for invalid policies); when stderr is not
a terminal, the reason is one JSON log line (level, msg, code, problems).

Example:
  FIELDMESH_JWT_SECRET_FILE=/run/secrets/jwt FIELDMESH_PSEUDONYM_KEY=… \\
  FIELDMESH_BREAK_GLASS_WEBHOOK=https://guardian.example/hooks/break-glass \\
    fieldmesh serve --upstream http://127.0.0.1:3000 --routes routes.yaml --policies ./policies

Operations: GET /healthz (up), GET /readyz (policies loaded, audit writable),
GET /metrics (Prometheus text format; no personal data, see docs/operations.md).
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
    let gateway: Gateway;
    try {
      gateway = await startGateway(resolveConfig(opts, process.env, { requireUpstream: true }), { processMetrics: true });
    } catch (e) {
      throw startupError(e);
    }
    await untilStopped(gateway);
  });
}

/**
 * Resolves once SIGTERM or SIGINT has closed the gateway (requests in flight
 * finished, the trail closed), so the command returns and `main` gives the
 * exit code, rather than the process being ended from inside a command. A
 * close that failed is exit 1: the supervisor should hear that the stop was
 * not clean.
 *
 * @example
 * await untilStopped(await startGateway(config)); // returns after Ctrl-C
 */
export function untilStopped(gateway: Gateway): Promise<void> {
  return new Promise((resolve, reject) => {
    const unwire = onSignals(gateway, (code) => {
      unwire();
      if (code === 0) resolve();
      else reject(new CliExit(EXIT.failed, 'fieldmesh: the gateway did not stop cleanly'));
    });
  });
}
