import { randomBytes } from 'node:crypto';
import { lstat, open, readFile, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditEvent } from './event.js';
import type { AuditStore } from './types.js';

/*
 * Streaming the trail out in pages, resumable from the last position
 * exported. The order of the two writes is the whole guarantee:
 *
 *   1. a page's lines are written, and the write has been handed to the
 *      operating system (its callback has fired);
 *   2. only then the position of the page's last line is saved (a new file,
 *      fsynced, renamed over the old one, the directory fsynced).
 *
 * A position is therefore never saved before its line was written: a resumed
 * export never leaves a gap. A process killed between 1 and 2 has written
 * lines the saved position does not cover yet, and sends them again when
 * resumed: at-least-once, at most one page again, each line identical (same
 * id, chain, seq, hash), so a reader can drop what it has by id or seq. An
 * export that stops itself (its range done, or a stop signal: it finishes
 * the page it is writing, saves, returns) resumes exactly once.
 */

/**
 * Where an export stands: the chain, and the seq and hash of the last event
 * written (or looked at). The hash is what a resumed export checks the trail
 * still holds at that seq: a cursor from another trail, or from this trail
 * before it was rolled back (a failover that lost its newest events, which
 * new events then replaced under the same seqs), names an event the trail
 * does not hold, and resuming from it would skip events unseen.
 *
 * @example
 * const pos: ExportPosition = { chain: 'main', seq: 5000, hash: '9f2c…' };
 */
export interface ExportPosition {
  chain: string;
  seq: number;
  hash: string;
  /** The trail's id (`AuditStore.trailId`), when it records one. */
  trail?: string | undefined;
}

/**
 * A cursor file as read: a position, whose hash is missing when an earlier
 * version wrote it (the caller decides what to do with such a file).
 */
export type SavedPosition = Omit<ExportPosition, 'hash'> & { hash?: string | undefined };

/**
 * What `exportEvents` walks and where it writes.
 */
export interface ExportRun {
  store: AuditStore;
  /** The trail's chain; the walk reads only it. */
  chain: string;
  /** Start after this seq (0: from the first event). */
  after: number;
  /** Stop at this seq (the head when the export began); undefined with `follow`. */
  through?: number | undefined;
  since?: string | undefined;
  until?: string | undefined;
  /** Events per page (read, written, then the position saved). */
  pageSize: number;
  /** After the range, keep polling for new events until `signal` aborts. */
  follow?: boolean | undefined;
  /** Wait between polls when following. */
  pollMs?: number | undefined;
  /** One event as one line, without its newline. */
  render: (event: AuditEvent) => string;
  /** Writes a chunk of lines; resolves once it is handed to the operating system. */
  write: (chunk: string) => Promise<void>;
  /** Saves the position after its lines were written (`saveCursor`, or nothing). */
  save: (position: ExportPosition) => Promise<void>;
  /** Stops the walk after the page being written (a stop signal). */
  signal?: AbortSignal | undefined;
  onPage?: (exported: number, position: ExportPosition) => void;
}

/**
 * How a walk ended: the events written, the seq it stands at (the position
 * saved last, or `after` when nothing was saved), and whether it covered its
 * whole range (false when stopped by the signal before).
 */
export interface ExportResult {
  exported: number;
  seq: number;
  complete: boolean;
}

/**
 * Walks the chain after `after` in seq order, a page at a time (never the
 * whole trail in memory), writing each page and then saving its position.
 * With `through`, the walk ends there, and the position saved last is
 * `through` itself even when the time filter left its last events out (they
 * were looked at). With `follow` it then polls every `pollMs` for new events
 * until `signal` aborts.
 *
 * @example
 * await exportEvents({ store, chain: 'main', after: 0, through: head, pageSize: 500, render: JSON.stringify, write, save });
 */
export async function exportEvents(run: ExportRun): Promise<ExportResult> {
  let seq = run.after;
  let exported = 0;
  const stopped = (): boolean => run.signal?.aborted === true;
  while (!stopped()) {
    const page = await run.store.query({
      chain: run.chain,
      afterSeq: seq,
      throughSeq: run.follow === true ? undefined : run.through,
      since: run.since,
      until: run.until,
      limit: run.pageSize,
    });
    if (page.length > 0) {
      await run.write(page.map((e) => `${run.render(e)}\n`).join(''));
      const last = page[page.length - 1] as AuditEvent;
      const position = { chain: run.chain, seq: last.seq, hash: last.hash };
      seq = last.seq;
      exported += page.length;
      await run.save(position);
      run.onPage?.(exported, position);
    }
    if (page.length === run.pageSize) continue;
    if (run.follow !== true) {
      if (run.through !== undefined && seq < run.through) {
        // The time filter left the range's last events out: the position is still the end of the range, with its hash.
        const [end] = await run.store.query({ chain: run.chain, afterSeq: run.through - 1, throughSeq: run.through, limit: 1 });
        if (end === undefined) throw new Error(`the event at seq ${run.through}, the end of the range, is no longer in the trail`);
        seq = run.through;
        await run.save({ chain: run.chain, seq, hash: end.hash });
      }
      return { exported, seq, complete: true };
    }
    await sleep(run.pollMs ?? 1000, undefined, { signal: run.signal }).catch(() => undefined);
  }
  return { exported, seq, complete: false };
}

/**
 * The position a cursor file holds, undefined when there is no file yet (the
 * first run). A file that is there but not a position is an error: starting
 * over from the first event would send the whole trail again. A symbolic
 * link is refused: the save renames a new file over the cursor, which would
 * replace the link rather than write where it points.
 *
 * @example
 * const pos = await readCursor('./siem.cursor'); // { chain: 'main', seq: 5000, hash: '9f2c…' } | undefined
 */
export async function readCursor(file: string): Promise<SavedPosition | undefined> {
  if (await isSymbolicLink(file)) throw new Error(symlinkRefusal(file));
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const v = value as Partial<ExportPosition> | undefined;
  if (
    typeof v?.chain !== 'string' ||
    !Number.isSafeInteger(v.seq) ||
    (v.seq as number) < 0 ||
    (v.hash !== undefined && (typeof v.hash !== 'string' || !/^[0-9a-f]{64}$/.test(v.hash))) ||
    (v.trail !== undefined && (typeof v.trail !== 'string' || !/^[0-9A-Za-z-]{1,64}$/.test(v.trail)))
  ) {
    throw new Error(
      `the cursor file ${file} does not hold a position ({"chain":"main","seq":N,"hash":"…"}); remove it to start from the first event`,
    );
  }
  const position: SavedPosition = { chain: v.chain, seq: v.seq as number };
  if (v.hash !== undefined) position.hash = v.hash;
  if (v.trail !== undefined) position.trail = v.trail;
  return position;
}

/**
 * Checks, before anything is exported, that a position can be saved to the
 * cursor file: not a symbolic link, and its directory there and writable (a
 * file is created in it and removed). Otherwise the export would write its
 * first page and only then fail to save it.
 *
 * @example
 * await assertCursorWritable('./siem.cursor'); // throws: "cannot save the cursor …: ENOENT …"
 */
export async function assertCursorWritable(file: string): Promise<void> {
  if (await isSymbolicLink(file)) throw new Error(symlinkRefusal(file));
  const probe = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.probe`);
  try {
    const handle = await open(probe, 'wx', 0o600);
    await handle.close();
    await unlink(probe);
  } catch (err) {
    throw new Error(
      `cannot save the cursor ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)} (its directory must exist and be writable)`,
    );
  }
}

async function isSymbolicLink(file: string): Promise<boolean> {
  try {
    return (await lstat(file)).isSymbolicLink();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

function symlinkRefusal(file: string): string {
  return `the cursor ${file} is a symbolic link: saving it would replace the link, not write where it points; give the file itself`;
}

/**
 * Saves a position atomically: a new file beside the cursor is written and
 * fsynced, renamed over it, and the directory fsynced, so after a crash the
 * cursor holds either the old position or the new one, never a torn write.
 * A cursor that is (now) a symbolic link is refused, as `readCursor` does.
 *
 * @example
 * await saveCursor('./siem.cursor', { chain: 'main', seq: 5000, hash: '9f2c…' });
 */
export async function saveCursor(file: string, position: ExportPosition): Promise<void> {
  if (await isSymbolicLink(file)) throw new Error(symlinkRefusal(file));
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(tmp, 'w', 0o600);
    try {
      const { chain, seq, hash, trail } = position;
      await handle.writeFile(`${JSON.stringify(trail === undefined ? { chain, seq, hash } : { chain, seq, hash, trail })}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
