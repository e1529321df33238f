import { pino } from 'pino';
import { FieldmeshError, PolicyError } from '../lib/errors.js';
import { printable } from '../lib/text.js';
import { gatewayLogger } from '../gateway/log.js';
import { CliExit, exitCodeOf } from './common.js';

/**
 * A gateway that cannot start says why in the form its logs take. The
 * gateway logs JSON lines (pino); under a supervisor or a container runtime
 * stderr is no terminal and the reason must be one JSON line among them
 * (level, msg, code, the problems), not a plain line a log shipper splits
 * or drops. On a terminal, a person is reading: the error is left to `main`
 * to print as text. Either way the exit code is the one `main` would give.
 *
 * @example
 * try { gateway = await startGateway(config) } catch (e) { throw startupError(e) }
 */
export function startupError(e: unknown, stderr: { isTTY?: boolean } = process.stderr): unknown {
  if (stderr.isTTY === true || e instanceof CliExit) return e;
  const { msg, problems } = describe(e);
  // Synchronous, and at a fixed level: the line must be written before the exit, whatever LOG_LEVEL says.
  const logger = gatewayLogger({ level: 'info', destination: pino.destination({ fd: 2, sync: true }) });
  logger.error(
    { event: 'startup_failed', code: e instanceof FieldmeshError ? e.code : 'startup_failed', problems },
    // Messages quote paths and names: no control character may reach a log viewer raw.
    printable(msg),
  );
  return new CliExit(exitCodeOf(e));
}

/** The first line of the message, and each problem below it on its own. */
function describe(e: unknown): { msg: string; problems: string[] | undefined } {
  const text = e instanceof Error ? e.message : String(e);
  const [first = '', ...rest] = text.split('\n');
  const problems = (e instanceof PolicyError ? e.format().split('\n') : rest).map((l) => printable(l.trim())).filter((l) => l !== '');
  return { msg: first.replace(/:$/, ''), problems: problems.length > 0 ? problems : undefined };
}
