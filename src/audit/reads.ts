import { setImmediate as nextTurn } from 'node:timers/promises';
import { FieldmeshError } from '../lib/errors.js';
import { parameters } from './dialect.js';
import type { AuditEvent } from './event.js';
import { whereClause } from './filter.js';
import { pendingReviewsSql } from './review.js';
import { fromRow, type AuditRow } from './row.js';
import { latestCheckpoint, verifyArchiveFiles } from './archive.js';
import { CHAIN_NAME, recordKeyCheck, recordKeyProblem } from './trail-mode.js';
import type { TrailReader } from './trail-reader.js';
import type { AuditFilter, VerifyOptions, VerifyResult } from './types.js';
import { verifyRows, type StoredRows } from './verify.js';

export type { TrailReader } from './trail-reader.js';

/** Rows per page of the verify walk. */
const PAGE = 1000;

/**
 * `AuditStore.query`: the most recent matching events, listed oldest first.
 * A search by record id on a trail that stores ids under another record-id
 * key would find nothing and say so as if there were nothing to find: it is
 * refused (`audit_record_key`) instead.
 */
export async function queryEvents(
  reader: TrailReader,
  filter: AuditFilter,
  recordIdKey: string | Buffer | undefined,
): Promise<AuditEvent[]> {
  await refuseUnkeyedRecordSearch(reader, filter, recordIdKey);
  const { where, params } = whereClause(filter, reader.dialect, recordIdKey);
  const limit = filter.limit === undefined ? '' : ` LIMIT ${filter.limit}`;
  // A page of a walk (afterSeq) takes the first events after the position; a listing, the latest.
  if (filter.afterSeq !== undefined) {
    const rows = await reader.all<AuditRow>(`SELECT * FROM ${reader.table} ${where} ORDER BY chain, seq${limit}`, params);
    return rows.map(fromRow);
  }
  const rows = await reader.all<AuditRow>(
    `SELECT * FROM ${reader.table} ${where} ORDER BY time DESC, chain DESC, seq DESC${limit}`,
    params,
  );
  return rows.map(fromRow).reverse();
}

/**
 * `AuditStore.count`: how many events match the filter (its `limit` aside),
 * refused as `queryEvents` is for a record search under another key.
 */
export async function countEvents(reader: TrailReader, filter: AuditFilter, recordIdKey: string | Buffer | undefined): Promise<number> {
  await refuseUnkeyedRecordSearch(reader, filter, recordIdKey);
  const { where, params } = whereClause({ ...filter, limit: undefined }, reader.dialect, recordIdKey);
  const [row] = await reader.all<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${reader.table} ${where}`, params);
  return Number(row?.n ?? 0);
}

async function refuseUnkeyedRecordSearch(
  reader: TrailReader,
  filter: AuditFilter,
  recordIdKey: string | Buffer | undefined,
): Promise<void> {
  if (filter.recordId !== undefined || filter.subject !== undefined) {
    const problem = recordKeyProblem((await reader.mode())?.recordKey, recordKeyCheck(recordIdKey));
    const by = filter.recordId !== undefined ? 'record id' : 'subject';
    if (problem !== undefined) throw new FieldmeshError('audit_record_key', `Cannot search the trail by ${by}: ${problem}`);
  }
  if (filter.subject !== undefined) await assertSubjectColumns(reader);
}

/**
 * A trail written before events recorded subjects, read by a store that may
 * not upgrade it (a read-only one, as the CLI's), has no subject columns: a
 * search by subject is refused saying so, never answered as if nobody had
 * seen anything about the person. (Upgraded, its earlier events name no
 * subject: they are found by record id.)
 */
async function assertSubjectColumns(reader: TrailReader): Promise<void> {
  try {
    await reader.all(`SELECT subject_ids, withheld_subject_ids FROM ${reader.table} WHERE 1 = 0`);
  } catch (err) {
    await reader.all(`SELECT 1 FROM ${reader.table} WHERE 1 = 0`); // unreachable or no trail at all: that error, as any read gives it
    const refusal = new FieldmeshError(
      'audit_unavailable',
      'The audit trail cannot be searched by subject: it was written before events recorded subjects and has not been upgraded yet (a writer of this version upgrades it when it opens the trail)',
    );
    refusal.cause = err;
    throw refusal;
  }
}

/**
 * `AuditStore.pendingReviews`. Trusts the rows as stored: verify the trail first (`audit review` does).
 */
export async function pendingReviewEvents(reader: TrailReader): Promise<AuditEvent[]> {
  return (await reader.all<AuditRow>(pendingReviewsSql(reader.table))).map(fromRow);
}

/**
 * `AuditStore.verify`: gathers what `verifyRows` needs (the trail's record,
 * events per chain, the constraint, the rows counted apart from the walk)
 * and walks the events in (chain, seq) order. A trail with no record yet is
 * taken as this store's chain, not keyed.
 */
export async function verifyTrail(
  reader: TrailReader,
  own: { chain: string; chainKey: string | Buffer | undefined },
  options: VerifyOptions,
  onProgress?: (done: number, total: number) => void,
): Promise<VerifyResult> {
  // One consistent view for the whole walk: an archive deleting rows meanwhile is then seen entirely or not at all.
  if (reader.snapshot !== undefined) return reader.snapshot((view) => verifyView(view, own, options, onProgress));
  return verifyView(reader, own, options, onProgress);
}

async function verifyView(
  reader: TrailReader,
  own: { chain: string; chainKey: string | Buffer | undefined },
  options: VerifyOptions,
  onProgress?: (done: number, total: number) => void,
): Promise<VerifyResult> {
  const t = reader.table;
  const counts = await reader.all<{ chain: string; n: number | string }>(`SELECT chain, COUNT(*) AS n FROM ${t} GROUP BY chain`);
  const mode = (await reader.mode()) ?? { chain: own.chain, keyed: false, keyCheck: null };
  const uniqueSeq = await reader.uniqueSeq();
  const stored = async (chain: string, upTo: number): Promise<StoredRows> => {
    const { p, params } = parameters(reader.dialect);
    const [row] = await reader.all<{ placed: number | string; unplaced: number | string; dup: number | string | null }>(
      `SELECT
      (SELECT COUNT(*) FROM ${t} WHERE chain = ${p(chain)} AND seq <= ${p(upTo)}) AS placed,
      (SELECT COUNT(*) FROM ${t} WHERE chain IS NULL OR seq IS NULL) AS unplaced,
      (SELECT seq FROM ${t} WHERE chain = ${p(chain)} AND seq <= ${p(upTo)} GROUP BY seq HAVING COUNT(*) > 1 ORDER BY seq LIMIT 1) AS dup`,
      params,
    );
    return {
      placed: Number(row?.placed),
      unplaced: Number(row?.unplaced),
      duplicateSeq: row?.dup === null || row?.dup === undefined ? undefined : Number(row.dup),
    };
  };
  // Where the live chain starts when its beginning was archived: the walk checks the checkpoint this comes from.
  const archives = CHAIN_NAME.test(mode.chain) ? await latestCheckpoint(reader, mode.chain) : undefined;
  const last = archives?.[archives.length - 1]?.to;
  const expect = options.expectHead;
  const files = options.archives ?? [];
  const ctx = {
    mode,
    chainKey: own.chainKey,
    counts: Object.fromEntries(counts.map((r) => [r.chain, Number(r.n)])),
    // An archived head is checked in its archive file, when given: never against the live chain.
    expectHead: expect !== undefined && last !== undefined && expect.seq <= last.seq ? undefined : expect,
    uniqueSeq,
    stored,
    start: last,
    archives,
    reachCheckpoint: true,
  };
  const live = await verifyRows(pages(reader), ctx, onProgress);
  if (!live.ok) return live;
  if (files.length === 0) {
    if (expect !== undefined && last !== undefined && expect.seq <= last.seq && !(expect.seq === last.seq && expect.hash === last.hash)) {
      const reason =
        `the expected head at seq ${expect.seq} is archived (the live chain starts at seq ${last.seq + 1}): ` +
        'pass the archives with --archive to check it';
      return { ok: false, chain: mode.chain, kind: 'archived', reason };
    }
    return live;
  }
  if (live.archived === undefined) {
    return {
      ok: false,
      chain: mode.chain,
      kind: 'archive',
      reason: 'this trail records no archive: none of the files given can be one of it',
    };
  }
  const checked = await verifyArchiveFiles(files, {
    mode,
    chainKey: own.chainKey,
    known: live.archived.archives,
    expectHead: ctx.expectHead === undefined ? expect : undefined,
  });
  if (!checked.ok) return checked;
  return { ...live, archived: { ...live.archived, verified: checked.verified } };
}

/** Keyset pages in chain order, yielding between pages so a long verify does not hold the event loop. */
async function* pages(reader: TrailReader): AsyncGenerator<AuditRow[]> {
  const select = `SELECT ${reader.verifyColumns} FROM ${reader.table}`;
  let after: AuditRow | undefined;
  for (;;) {
    let rows: AuditRow[];
    if (after === undefined) rows = await reader.all<AuditRow>(`${select} ORDER BY chain, seq LIMIT ${PAGE}`);
    else {
      const { p, params } = parameters(reader.dialect);
      rows = await reader.all<AuditRow>(
        `${select} WHERE (chain, seq) > (${p(after.chain)}, ${p(after.seq)}) ORDER BY chain, seq LIMIT ${PAGE}`,
        params,
      );
    }
    if (rows.length === 0) return;
    yield rows;
    after = rows[rows.length - 1];
    await nextTurn();
  }
}
