import { userInfo } from 'node:os';
import { Option } from 'commander';
import type { AuditEvent } from '../audit/event.js';
import { trailReadEntry, type TrailRead } from '../audit/trail-read.js';
import type { AuditStore } from '../audit/types.js';
import { withStore } from './audit-common.js';
import { CliExit, EXIT } from './common.js';

/**
 * `--by NAME`: who reads the trail, recorded in it (default: the operating-system user).
 *
 * @example
 * cmd.addOption(byOption());
 */
export function byOption(): Option {
  return new Option('--by <name>', 'who is reading the trail, recorded in it (default: your operating-system user name)');
}

/** The reader's name: `--by`, else the operating-system user; neither is a usage error (2). */
export function readerName(by: string | undefined): string {
  if (by !== undefined) {
    if (by.trim() === '') throw new Error('--by needs a name');
    return by;
  }
  try {
    const name = userInfo().username;
    if (name.trim() !== '') return name;
  } catch {
    // No user name for this uid (a container without a passwd entry): say who with --by.
  }
  throw new Error('cannot tell who is reading the trail: pass --by NAME');
}

/**
 * Records a read of the trail before anything read is shown: no disclosure
 * without a record. The event goes into the chain the trail is written in
 * (its latest event's, found with `reader`), through a store opened for
 * writing. When it cannot be written (a read-only file or database, the
 * trail unreachable, a record-id or chain key the trail was not started
 * with) the read is refused: exit 3, and nothing is printed.
 *
 * @example
 * const own = await recordRead(opts.audit, 'report', store, { action: 'report', by: 'dr-g', recordId: 'p-1002', scope: {} });
 */
export async function recordRead(target: string | undefined, command: string, reader: AuditStore, read: TrailRead): Promise<AuditEvent> {
  const [latest] = await reader.query({ limit: 1 });
  let event: AuditEvent | undefined;
  try {
    await withStore(
      target,
      'write',
      async (store) => {
        event = await store.append(trailReadEntry(read));
      },
      latest?.chain,
    );
  } catch (err) {
    throw new CliExit(
      EXIT.refused,
      `fieldmesh audit ${command}: refused: reading the trail is recorded in it, and this read could not be recorded, so nothing is shown (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  return event as AuditEvent;
}
