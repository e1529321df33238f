/**
 * `fieldmesh/gateway`: the reverse proxy that redacts and audits every
 * answer of a record API, to embed in a process of your own (what
 * `fieldmesh serve` runs).
 *
 * @example
 * import { onSignals, resolveConfig, startGateway } from 'fieldmesh/gateway';
 * const gateway = await startGateway(resolveConfig({ upstream: 'http://127.0.0.1:3000', routes: 'routes.yaml' }, process.env, { requireUpstream: true }));
 * onSignals(gateway); // SIGTERM/SIGINT finish requests in flight, then exit
 */
export { startGateway } from './start.js';
export type { StartOptions } from './start.js';
export { onSignals } from './server.js';
export type { Gateway } from './server.js';
export { resolveConfig, ConfigError, CONFIG_OPTIONS } from './config.js';
export type { Config, ConfigFlags } from './config.js';
