import { statSync } from 'node:fs';

/**
 * device:inode of the file at `file`, or undefined when there is none. A
 * handle keeps writing to a file that was deleted or moved away (an
 * unmounted volume), and those events would be lost with it: every write
 * first checks that the path still names the file its handle has open.
 *
 * @example
 * fileIdentity('./fieldmesh-audit.db'); // '2049:1311022'
 */
export function fileIdentity(file: string): string | undefined {
  try {
    const st = statSync(file);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}
