import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, open, stat, unlink } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { userInfo } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { canonicalJson } from '../lib/canonical-json.js';
import { parameters } from './dialect.js';
import { prepareEntry, trailEntry, type ArchiveRecord, type AuditEntry, type AuditEvent } from './event.js';
import type { TrailReader } from './trail-reader.js';
import { COLUMNS, fromRow, toRow, type AuditRow } from './row.js';
import type { Batch } from './seal.js';
import { genesisHash, type TrailMode } from './trail-mode.js';
import type { ArchiveOptions, ArchiveOutcome, ChainHead, VerifyResult } from './types.js';
import { verifyRows } from './verify.js';

/*
 * Archiving moves the oldest events of the chain (a beginning of it, in seq
 * order) into a file that verifies by itself, and leaves a checkpoint in the
 * chain: an `archive` event listing every archive the chain now depends on
 * (range, the hashes it starts from and ends at, the file's SHA-256). The
 * live chain then starts after the last archived event, and `verify` starts
 * there. Nothing is deleted until the file is durable, verified and in place.
 */

/** The first line of an archive file says what it is. */
export const ARCHIVE_FORMAT = 'fieldmesh-audit-archive';

/**
 * An archive file's first line: what it is, whose trail, which range. The
 * lines after it are the events, one canonical JSON object each, as the
 * chain holds them.
 */
export interface ArchiveHeader {
  format: typeof ARCHIVE_FORMAT;
  version: 1;
  /** The trail's id and chain, as its record (`fieldmesh_audit_trail`) holds them. */
  trail: { id: string | null; chain: string; keyed: boolean };
  /** The event before the first one in the file (seq 0 and the genesis hash for the first archive). */
  from: ChainHead;
  /** The last event in the file. */
  to: ChainHead;
  events: number;
}

/**
 * The state an archive was planned on; the checkpoint's transaction checks
 * it still holds (see `checkpointSql`) before it deletes anything.
 */
export interface CheckpointPlan {
  chain: string;
  from: ChainHead;
  to: ChainHead;
  /** seq of the chain's latest checkpoint when planned (0: none). */
  latest: number;
}

/**
 * What a store lends archiving: its reads, and the one write, made in one
 * transaction under the trail's write lock (SQLite `BEGIN IMMEDIATE`,
 * PostgreSQL the chain's advisory lock): check the plan still holds
 * (`checkpointSql`, `assertPlan`, throwing `TrailMoved` when it does not),
 * seal `entry` after the chain's head as it is before anything is deleted
 * (so it chains after the last event even when every event is archived),
 * then delete the archived rows.
 */
export interface ArchiveAccess {
  reader: TrailReader;
  chain: string;
  chainKey: string | Buffer | undefined;
  verify(): Promise<VerifyResult>;
  pendingReviews(): Promise<AuditEvent[]>;
  checkpoint(plan: CheckpointPlan, entry: Batch[number]): Promise<AuditEvent>;
  /**
   * The chain's checkpoints, newest first, read once no write of the chain
   * is in flight (PostgreSQL: holding the chain's advisory lock, so a
   * checkpoint whose COMMIT is still on its way has landed or is gone).
   */
  checkpoints(): Promise<AuditEvent[]>;
}

/** The trail changed between planning an archive and its checkpoint: nothing was changed. */
export class TrailMoved extends Error {}

/**
 * The checkpoint's COMMIT was sent and no answer came (the connection
 * dropped): the transaction may have committed. `cause` says why.
 */
export class CommitUnknown extends Error {}

/** Rows per page when reading the events to archive. */
const PAGE = 1000;

/** Why an archive whose trail moved under it changed nothing. */
const MOVED = 'another archive ran, or the events to archive changed, while this one was written: nothing was archived';

/**
 * Archives the beginning of the chain up to the first event at or after
 * `before` into `out` (see the module comment for the order of steps), then
 * checkpoints the trail. Refusals are data (`ok: false`); an I/O failure
 * (a full disk) throws, with the trail unchanged and no file left. When the
 * checkpoint's transaction fails, the trail is checked before the file is
 * withdrawn: a checkpoint that did commit (the connection lost after COMMIT)
 * is success, and when the outcome cannot be known the file is kept
 * (`unknown`), never deleted with the events it may be the only copy of.
 *
 * @example
 * const outcome = await archiveTrail(access, { before: new Date('2026-01-01T00:00:00Z'), out: 'audit-2025.jsonl' });
 */
export async function archiveTrail(access: ArchiveAccess, options: ArchiveOptions): Promise<ArchiveOutcome> {
  const before = options.before;
  if (Number.isNaN(before.getTime()) || before.getTime() > Date.now()) {
    return { ok: false, kind: 'before', reason: 'the date to archive before must be a valid date, not in the future' };
  }
  const out = resolve(options.out);
  if (await exists(out)) return { ok: false, kind: 'exists', reason: `${options.out} exists: an archive never replaces a file` };
  const verified = await access.verify();
  if (!verified.ok) return { ok: false, kind: 'broken', reason: 'the trail does not verify: it is not archived', verify: verified };
  const { reader, chain } = access;
  const mode = (await reader.mode()) ?? { chain, keyed: false, keyCheck: null, trailId: null };
  const from = verified.archived ?? { seq: 0, hash: genesisHash(mode, access.chainKey) };
  const previous = verified.archived?.archives ?? [];
  const head = verified.heads.find((h) => h.chain === chain)?.seq ?? 0;
  const { p, params } = parameters(reader.dialect);
  const [first] = await reader.all<{ s: number | string | null; latest: number | string | null }>(
    `SELECT (SELECT MIN(seq) FROM ${reader.table} WHERE chain = ${p(chain)} AND seq > ${p(from.seq)} AND time >= ${reader.dialect.time(p(before.toISOString()))}) AS s,
    (SELECT MAX(seq) FROM ${reader.table} WHERE chain = ${p(chain)} AND action = 'archive') AS latest`,
    params,
  );
  const last = first?.s === null || first?.s === undefined ? head : Number(first.s) - 1;
  if (last <= from.seq) {
    return {
      ok: false,
      kind: 'nothing',
      reason: `the live chain's first event (seq ${from.seq + 1}) is not before ${before.toISOString()}`,
    };
  }
  const pending = (await access.pendingReviews()).filter((e) => e.chain === chain && e.seq > from.seq && e.seq <= last);
  if (pending.length > 0 && options.includeUnreviewed !== true) {
    const oldest = pending[0] as AuditEvent;
    const reason =
      `${pending.length} break-glass event${pending.length === 1 ? '' : 's'} in seq ${from.seq + 1} to ${last} await${pending.length === 1 ? 's' : ''} review, ` +
      `the oldest ${oldest.id} (seq ${oldest.seq}, ${oldest.time}): acknowledge ${pending.length === 1 ? 'it' : 'them'} (audit review --ack), ` +
      'archive before an earlier date, or pass --include-unreviewed (archived events leave the review queue)';
    return { ok: false, kind: 'unreviewed', reason };
  }
  const at = parameters(reader.dialect);
  const [end] = await reader.all<{ hash: string }>(
    `SELECT hash FROM ${reader.table} WHERE chain = ${at.p(chain)} AND seq = ${at.p(last)}`,
    at.params,
  );
  if (end === undefined) return { ok: false, kind: 'changed', reason: MOVED };
  const header: ArchiveHeader = {
    format: ARCHIVE_FORMAT,
    version: 1,
    trail: { id: mode.trailId ?? null, chain, keyed: mode.keyed },
    from: { seq: from.seq, hash: from.hash },
    to: { seq: last, hash: end.hash },
    events: last - from.seq,
  };
  const tmp = join(dirname(out), `.${basename(out)}.${randomUUID()}.tmp`);
  let record: ArchiveRecord;
  try {
    const sha256 = await writeArchive(tmp, header, rowsOf(reader, chain, from.seq, last));
    if (sha256 === undefined) return { ok: false, kind: 'changed', reason: MOVED };
    record = { file: basename(out), from: header.from, to: header.to, events: header.events, sha256 };
    // Archived unreviewed, they leave the review queue: the checkpoint names them so the guardian can still find them.
    if (pending.length > 0) record.unreviewed = pending.map((e) => e.id);
    // What is on disk, read back, must verify as the archive it is meant to be before anything is deleted.
    const check = await checkArchive(tmp, { mode, chainKey: access.chainKey, known: [...previous, record] });
    if (!check.ok) throw new Error(`the archive written does not verify (${check.reason}): nothing was archived`);
    try {
      await link(tmp, out); // never replaces: EEXIST when the file appeared meanwhile
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        return { ok: false, kind: 'exists', reason: `${options.out} exists: an archive never replaces a file` };
      }
      throw err;
    }
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  await syncDirectory(dirname(out));
  const by = options.by ?? osUser();
  try {
    const entry = prepareEntry(checkpointEntry(record, [...previous, record], by), { checkpoint: true });
    const plan = { chain, from: header.from, to: record.to, latest: Number(first?.latest ?? 0) };
    const checkpoint = await access.checkpoint(plan, entry);
    return { ok: true, file: out, record, checkpoint };
  } catch (err) {
    // The file is withdrawn (so that a retry can write it again) only when the trail is known to hold every event.
    const withdraw = async (): Promise<void> => {
      await unlink(out).catch(() => undefined);
      await syncDirectory(dirname(out)).catch(() => undefined);
    };
    if (err instanceof TrailMoved) {
      await withdraw();
      return { ok: false, kind: 'changed', reason: err.message };
    }
    let found: AuditEvent | undefined;
    try {
      found = (await access.checkpoints()).find((e) => e.archives?.[e.archives.length - 1]?.sha256 === record.sha256);
    } catch {
      if (err instanceof CommitUnknown) {
        const reason =
          `the archive ${options.out} is kept: the checkpoint's transaction was sent but its outcome is unknown (${err.message}) ` +
          `and the trail could not be checked; run \`audit verify --archive ${options.out}\` when it is back`;
        return { ok: false, kind: 'unknown', file: out, reason };
      }
      // It failed before its COMMIT was sent: nothing was deleted.
      await withdraw();
      throw err;
    }
    if (found !== undefined) {
      const note = `the connection was lost after the checkpoint was sent (${(err as Error).message}); the trail holds it: the archive is in place`;
      return { ok: true, file: out, record, checkpoint: found, note };
    }
    await withdraw();
    throw err;
  }
}

/**
 * A chain's checkpoints (`archive` events), newest first: what
 * `ArchiveAccess.checkpoints` reads, in whichever transaction the store holds.
 */
export function checkpointsSql(table: string, dialect: TrailReader['dialect'], chain: string): { sql: string; params: unknown[] } {
  const { p, params } = parameters(dialect);
  return { sql: `SELECT * FROM ${table} WHERE chain = ${p(chain)} AND action = 'archive' ORDER BY seq DESC`, params };
}

/**
 * The statements a checkpoint's transaction runs: `check` reads the state
 * the plan was made on (one row: rows at or before `to`, the hash at `to`,
 * the latest checkpoint's seq), `remove` deletes the archived rows.
 */
export function checkpointSql(
  table: string,
  dialect: TrailReader['dialect'],
  plan: CheckpointPlan,
): { check: { sql: string; params: unknown[] }; remove: { sql: string; params: unknown[] } } {
  const c = parameters(dialect);
  const check = `SELECT (SELECT COUNT(*) FROM ${table} WHERE chain = ${c.p(plan.chain)} AND seq <= ${c.p(plan.to.seq)}) AS n,
  (SELECT hash FROM ${table} WHERE chain = ${c.p(plan.chain)} AND seq = ${c.p(plan.to.seq)}) AS hash,
  (SELECT MAX(seq) FROM ${table} WHERE chain = ${c.p(plan.chain)} AND action = 'archive') AS latest`;
  const r = parameters(dialect);
  const remove = `DELETE FROM ${table} WHERE chain = ${r.p(plan.chain)} AND seq <= ${r.p(plan.to.seq)}`;
  return { check: { sql: check, params: c.params }, remove: { sql: remove, params: r.params } };
}

/**
 * Throws `TrailMoved` unless the row `checkpointSql`'s check read shows the
 * trail as the plan found it: the archived rows all there, the last one
 * with the hash archived, no other checkpoint since.
 */
export function assertPlan(
  row: { n: number | string; hash: string | null; latest: number | string | null } | undefined,
  plan: CheckpointPlan,
): void {
  const same =
    row !== undefined &&
    Number(row.n) === plan.to.seq - plan.from.seq &&
    row.hash === plan.to.hash &&
    Number(row.latest ?? 0) === plan.latest;
  if (!same) throw new TrailMoved(MOVED);
}

/**
 * The latest checkpoint of `chain`, read before the verify walk so the walk
 * can start where the live chain does. The walk checks it like any event:
 * a changed or removed checkpoint breaks the chain.
 */
export async function latestCheckpoint(reader: TrailReader, chain: string): Promise<ArchiveRecord[] | undefined> {
  const { p, params } = parameters(reader.dialect);
  const [row] = await reader.all<AuditRow>(
    `SELECT * FROM ${reader.table} WHERE chain = ${p(chain)} AND action = 'archive' ORDER BY seq DESC LIMIT 1`,
    params,
  );
  if (row === undefined) return undefined;
  try {
    const list = fromRow(row).archives;
    return list !== undefined && list.length > 0 ? list : undefined;
  } catch {
    return undefined; // unreadable: the walk, starting from the genesis, names what broke
  }
}

/**
 * Checks archive files against the live trail's record of its archives
 * (`known`, from a verify that passed): each file must be of this trail,
 * verify from the event it starts after to the one it ends at, and be the
 * very file archived (its SHA-256); every recorded archive must be given.
 * The whole chain, genesis to live head, then verifies.
 *
 * @example
 * const result = await verifyArchiveFiles(['audit-2025.jsonl'], { mode, chainKey, known: live.archived.archives });
 */
export async function verifyArchiveFiles(
  files: string[],
  ctx: ArchiveCheck,
): Promise<{ ok: true; verified: string[] } | Exclude<VerifyResult, { ok: true }>> {
  const covered = new Set<ArchiveRecord>();
  const verified: string[] = [];
  for (const file of files) {
    const result = await checkArchive(file, ctx);
    if (!result.ok) return result;
    covered.add(result.record);
    verified.push(file);
  }
  const missing = ctx.known.filter((a) => !covered.has(a));
  if (missing.length > 0) {
    const list = missing.map((a) => `seq ${a.from.seq + 1} to ${a.to.seq} (archived as ${a.file}, ending at hash ${a.to.hash})`).join('; ');
    const reason = `missing archive${missing.length === 1 ? '' : 's'}: ${list}: pass every archive of the trail with --archive`;
    return { ok: false, chain: ctx.mode.chain, kind: 'archive', reason };
  }
  return { ok: true, verified };
}

/** What checking an archive file needs: the live trail's record and key, and the archives it records. */
interface ArchiveCheck {
  mode: TrailMode;
  chainKey: string | Buffer | undefined;
  known: ArchiveRecord[];
  expectHead?: ChainHead | undefined;
}

/** A file that is not an archive as written, found while reading it. */
class NotAnArchive extends Error {}

/**
 * One archive file: of this trail, its events a chain from `from` to `to`
 * (verified by the walk every trail is verified by), recorded by the trail
 * as archived, and the same bytes (SHA-256) as were archived. An edited
 * event is named (with the file); a file edited elsewhere fails on its hash.
 * Read as a stream, a page of events at a time.
 */
async function checkArchive(
  file: string,
  ctx: ArchiveCheck,
): Promise<{ ok: true; record: ArchiveRecord } | Exclude<VerifyResult, { ok: true }>> {
  const chain = ctx.mode.chain;
  const fail = (reason: string): Exclude<VerifyResult, { ok: true }> => ({ ok: false, chain, kind: 'archive', archive: file, reason });
  const sha = createHash('sha256');
  let lastByte = -1;
  const stream = createReadStream(file);
  stream.on('data', (chunk) => {
    const bytes = chunk as Buffer;
    sha.update(bytes);
    if (bytes.length > 0) lastByte = bytes[bytes.length - 1] as number;
  });
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })[Symbol.asyncIterator]();
  let header: ArchiveHeader;
  try {
    const first = await lines.next();
    header = JSON.parse(first.done === true ? '' : first.value) as ArchiveHeader;
  } catch (err) {
    stream.destroy();
    const code = (err as NodeJS.ErrnoException).code;
    return fail(
      code === undefined ? `${file} is not an archive: its first line is not JSON` : `cannot read ${file}: ${(err as Error).message}`,
    );
  }
  if (
    header?.format !== ARCHIVE_FORMAT ||
    header.version !== 1 ||
    typeof header.from?.seq !== 'number' ||
    typeof header.to?.seq !== 'number'
  ) {
    stream.destroy();
    return fail(`${file} is not a fieldmesh audit archive (version 1)`);
  }
  if (header.trail?.id !== (ctx.mode.trailId ?? null) || header.trail?.chain !== chain) {
    stream.destroy();
    return fail(
      `${file} is an archive of another trail (trail ${String(header.trail?.id)}, chain ${String(header.trail?.chain)}): refused`,
    );
  }
  let count = 0;
  let lineNo = 1;
  async function* pages(): AsyncGenerator<AuditRow[]> {
    let page: AuditRow[] = [];
    for (;;) {
      const next = await lines.next();
      if (next.done === true) break;
      lineNo += 1;
      let e: unknown;
      try {
        e = JSON.parse(next.value);
      } catch {
        throw new NotAnArchive(`${file} line ${lineNo} is not JSON: it was changed after it was archived`);
      }
      const row = eventRow(e);
      if (row === undefined) {
        const id = typeof (e as { id?: unknown })?.id === 'string' ? ` (event ${(e as { id: string }).id})` : '';
        throw new NotAnArchive(`${file} line ${lineNo}${id} is not an event as the store writes it: it was changed after it was archived`);
      }
      count += 1;
      page.push(row);
      if (page.length >= PAGE) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  }
  let walked: VerifyResult;
  try {
    walked = await verifyRows(pages(), {
      mode: ctx.mode,
      chainKey: ctx.chainKey,
      counts: { [chain]: header.events },
      expectHead: ctx.expectHead,
      uniqueSeq: true,
      // The walk saw every line: no row can hide beside it in a file.
      stored: async () => ({ placed: count, unplaced: 0, duplicateSeq: undefined }),
      start: header.from,
      archives: ctx.known,
    });
  } catch (err) {
    stream.destroy();
    if (err instanceof NotAnArchive) return fail(err.message);
    return fail(`cannot read ${file}: ${(err as Error).message}`);
  }
  stream.destroy();
  if (!walked.ok) {
    // An expected head beyond this file is checked by a later one, or by the live trail.
    if (walked.kind !== 'truncated') return { ...walked, archive: file };
  } else {
    const end = walked.heads[0];
    if (end === undefined || end.seq !== header.to.seq || end.hash !== header.to.hash || walked.events !== header.events) {
      return fail(`${file} does not end at seq ${header.to.seq} as its first line says: events were removed or changed`);
    }
  }
  if (lastByte !== 0x0a) return fail(`${file} does not end with a line break: it was cut short or changed`);
  const record = ctx.known.find((a) => a.from.seq === header.from.seq && a.to.seq === header.to.seq);
  if (record === undefined) {
    return fail(`${file} holds seq ${header.from.seq + 1} to ${header.to.seq}, which this trail does not record as archived`);
  }
  if (record.from.hash !== header.from.hash || record.to.hash !== header.to.hash) {
    return fail(`${file} is not the archive of seq ${header.from.seq + 1} to ${header.to.seq} this trail recorded: its hashes differ`);
  }
  const sha256 = sha.digest('hex');
  if (sha256 !== record.sha256) {
    return fail(`${file} is not the file archived as ${record.file}: its SHA-256 is ${sha256}, the trail recorded ${record.sha256}`);
  }
  return { ok: true, record };
}

/**
 * The row an event of an archive file would be in the events table, or
 * undefined when the event is not exactly as the store writes events (a
 * field added, missing or of another shape): the walk then checks it as it
 * checks a stored row.
 */
function eventRow(e: unknown): AuditRow | undefined {
  if (e === null || typeof e !== 'object' || Array.isArray(e)) return undefined;
  try {
    const values = toRow(e as AuditEvent);
    const row = Object.fromEntries(COLUMNS.map((c, i) => [c, values[i] ?? null])) as AuditRow;
    return canonicalJson(fromRow(row)) === canonicalJson(e) ? row : undefined;
  } catch {
    return undefined;
  }
}

/** The events to archive, in seq order, in pages. */
async function* rowsOf(reader: TrailReader, chain: string, after: number, last: number): AsyncGenerator<AuditEvent> {
  let seq = after;
  while (seq < last) {
    const { p, params } = parameters(reader.dialect);
    const rows = await reader.all<AuditRow>(
      `SELECT * FROM ${reader.table} WHERE chain = ${p(chain)} AND seq > ${p(seq)} AND seq <= ${p(last)} ORDER BY seq LIMIT ${PAGE}`,
      params,
    );
    if (rows.length === 0) return;
    for (const row of rows) {
      const event = fromRow(row);
      yield event;
      seq = event.seq;
    }
  }
}

/**
 * Writes the archive to `tmp` (created, never opened if there): the header,
 * then one line per event, fsyncs it and gives its SHA-256; undefined when
 * the events read are not seq `from + 1` to `to` in order, ending at the
 * hash the header names.
 */
async function writeArchive(tmp: string, header: ArchiveHeader, events: AsyncIterable<AuditEvent>): Promise<string | undefined> {
  const handle = await open(tmp, 'wx', 0o600);
  const sha = createHash('sha256');
  try {
    let chunk: string[] = [`${canonicalJson(header)}\n`];
    const flush = async (): Promise<void> => {
      const bytes = Buffer.from(chunk.join(''), 'utf8');
      chunk = [];
      sha.update(bytes);
      let written = 0;
      while (written < bytes.length) written += (await handle.write(bytes, written)).bytesWritten;
    };
    let seq = header.from.seq;
    let hash = header.from.hash;
    for await (const event of events) {
      if (event.seq !== seq + 1) return undefined;
      seq = event.seq;
      hash = event.hash;
      chunk.push(`${canonicalJson(event)}\n`);
      if (chunk.length >= PAGE) await flush();
    }
    if (seq !== header.to.seq || hash !== header.to.hash) return undefined;
    await flush();
    await handle.sync();
    return sha.digest('hex');
  } finally {
    await handle.close();
  }
}

/** The checkpoint event: an `archive` action naming no records, listing every archive the chain depends on. */
function checkpointEntry(record: ArchiveRecord, archives: ArchiveRecord[], by: string): AuditEntry {
  return trailEntry({
    requestId: `archive-${record.sha256.slice(0, 16)}`,
    user: by,
    purpose: 'retention',
    resource: 'audit-trail',
    action: 'archive',
    status: 0,
    policyVersion: 'none',
    archives,
  });
}

/** A new name in a directory survives a crash only once the directory itself is synced. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

function osUser(): string {
  try {
    return userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}
