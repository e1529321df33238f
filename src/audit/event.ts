import { createHash, createHmac } from 'node:crypto';
import { z } from 'zod';
import type { Decision } from '../engine/decision.js';
import { canonicalJson } from '../lib/canonical-json.js';
import { printable } from '../lib/text.js';

/**
 * prevHash of the first event of a chain: nothing comes before it.
 *
 * @example
 * events[0].prevHash === GENESIS_HASH; // '000…0' (64 zeros)
 */
export const GENESIS_HASH = '0'.repeat(64);

const names = z.array(z.string());
const seqHash = z.strictObject({ seq: z.number().int().nonnegative(), hash: z.string() });

/**
 * One archive a chain depends on, as its checkpoint event lists it: the
 * file's name (no directory), the range it holds (`from` is the event before
 * its first one, seq 0 and the genesis hash for the first archive; `to` its
 * last), how many events and the SHA-256 of the file's bytes. See archive.ts.
 */
export const archiveRecordSchema = z.strictObject({
  file: z.string(),
  from: seqHash,
  to: seqHash,
  events: z.number().int().positive(),
  sha256: z.string(),
  /** Break-glass events archived while still awaiting review (`--include-unreviewed`): their ids, so the guardian can find them. */
  unreviewed: z.array(z.string()).min(1).optional(),
});
const isoTime = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO date-time');

/**
 * What a caller hands to `AuditStore.append`: one decision about one request.
 * Names of fields only, never their values (Caldicott 3: nothing more is
 * recorded than is needed to account for the disclosure).
 */
export const auditEntrySchema = z.strictObject({
  /** When the decision was made; the store fills in now when absent. */
  time: isoTime.optional(),
  requestId: z.string(),
  /** The user's `sub`, or the reviewer's name for a review event. */
  user: z.string(),
  roles: names,
  purpose: z.string(),
  resource: z.string(),
  /**
   * What was done: a record API's `read`, `create` or `update`; a guardian's
   * `review`; a read of the trail itself (`query`, `report`, `export`),
   * recorded because showing who saw a record is itself a disclosure; or an
   * `archive` checkpoint (written only by the store's archive step).
   */
  action: z.enum(['read', 'create', 'update', 'review', 'query', 'report', 'export', 'archive']),
  decision: z.enum(['disclosed', 'refused']),
  /** The refusal's error code. */
  code: z.string().optional(),
  /** The HTTP status answered. */
  status: z.number().int(),
  recordIds: names,
  withheldRecordIds: names,
  /** Ids of the people the records disclosed are about (the resource's `subject` path); absent when none. */
  subjectIds: names.optional(),
  /** Ids of the people the records withheld (or refused) are about; absent when none. */
  withheldSubjectIds: names.optional(),
  fieldsDisclosed: names,
  fieldsWithheld: names,
  /** Field path → transform applied (pseudonym, year, …). */
  transforms: z.record(z.string(), z.string()),
  /** Names of the restrictions that fired. */
  restrictions: names,
  /** Grants that matched, as `role#index`. */
  grants: names,
  /** The break-glass reason the user declared. */
  breakGlass: z.string().optional(),
  /** Hash of the policy set that decided. */
  policyVersion: z.string(),
  /** A guardian's acknowledgement of an earlier (break-glass) event. */
  review: z.strictObject({ of: z.string(), by: z.string(), note: z.string() }).optional(),
  /** On an `archive` event (a checkpoint): every archive the chain now depends on, oldest first. */
  archives: z.array(archiveRecordSchema).optional(),
});

/**
 * One archive a chain depends on (see `archiveRecordSchema`).
 *
 * @example
 * const a: ArchiveRecord = { file: 'audit-2025.jsonl', from: { seq: 0, hash: GENESIS_HASH }, to: { seq: 1200, hash: '9f2c…' }, events: 1200, sha256: '…' };
 */
export type ArchiveRecord = z.infer<typeof archiveRecordSchema>;

/**
 * One event as a caller hands it to the trail, before it is sealed into the chain.
 *
 * @example
 * const entry: AuditEntry = entryFromDecision(decision, { requestId, user: 'u1', status: 200 });
 */
export type AuditEntry = z.infer<typeof auditEntrySchema>;

/**
 * An event as stored: the entry plus its place in a hash chain.
 *
 * @example
 * const event: AuditEvent = await store.append(entry);
 * event.seq; // 42
 */
export type AuditEvent = Omit<AuditEntry, 'time'> & {
  id: string;
  chain: string;
  /** 1-based position within its chain. */
  seq: number;
  time: string;
  /** `hash` of the previous event of the chain, GENESIS_HASH for the first. */
  prevHash: string;
  /** SHA-256 hex (HMAC-SHA256 with the chain key, when the trail is keyed) of the canonical JSON of every other field. */
  hash: string;
};

/**
 * The hash an event must carry: SHA-256 over every field except `hash`, or
 * HMAC-SHA256 under the chain key when the trail is keyed, so that someone
 * who can write the database but does not hold the key cannot forge an
 * event that verifies.
 *
 * @example
 * hashEvent(event) === event.hash; // true unless the event was changed
 * hashEvent(event, process.env.FIELDMESH_AUDIT_CHAIN_KEY); // on a keyed trail
 */
export function hashEvent(event: Omit<AuditEvent, 'hash'> & { hash?: string }, chainKey?: string | Buffer): string {
  const { hash: _ignored, ...rest } = event;
  const h = chainKey === undefined ? createHash('sha256') : createHmac('sha256', chainKey);
  return h.update(canonicalJson(rest)).digest('hex');
}

/**
 * A keyed pseudonym of a record id, so the trail can answer "who saw record
 * X" (given the key) without itself being a list of who is under care.
 * Domain-separated so reusing the transform key never yields the same value.
 *
 * @example
 * pseudonymiseRecordId('p-123', process.env.FIELDMESH_AUDIT_RECORD_KEY!); // '5f1c…' (32 hex)
 */
export function pseudonymiseRecordId(id: string, key: string | Buffer): string {
  return createHmac('sha256', key).update(`fieldmesh-audit-record-id\u0000${id}`).digest('hex').slice(0, 32);
}

/**
 * Validates an entry at the store's boundary, normalises its time, makes
 * every text printable (a break-glass reason or a review note cannot carry
 * control characters into the trail, see `printable`) and pseudonymises
 * record ids when a key is configured. This runs before the event is
 * hashed; events already stored are never rewritten, so they still verify.
 */
export function prepareEntry(
  entry: AuditEntry,
  opts: { recordIdKey?: string | Buffer | undefined; checkpoint?: boolean } = {},
): AuditEntry & { time: string } {
  const parsed = auditEntrySchema.safeParse(entry);
  if (!parsed.success) {
    throw new TypeError(`Invalid audit entry: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  // A checkpoint tells verify where the live chain starts: only the archive step writes one (see archive.ts).
  if ((parsed.data.action === 'archive' || parsed.data.archives !== undefined) && opts.checkpoint !== true) {
    throw new TypeError('Invalid audit entry: archive events are written only by archiving the trail (fieldmesh audit archive)');
  }
  const e = printableTexts(parsed.data);
  const key = opts.recordIdKey;
  const ids = (list: string[]): string[] => (key === undefined ? list : list.map((id) => pseudonymiseRecordId(id, key)));
  // A subject id is a record id (a Patient's): stored the same way, so a search by either finds it. Absent when empty,
  // so an event without subjects hashes as events did before subjects were recorded.
  const subjects = (list: string[] | undefined): string[] | undefined =>
    list === undefined || list.length === 0 ? undefined : ids([...new Set(list)]);
  return {
    ...e,
    time: new Date(e.time ?? Date.now()).toISOString(),
    recordIds: ids(e.recordIds),
    withheldRecordIds: ids(e.withheldRecordIds),
    subjectIds: subjects(e.subjectIds),
    withheldSubjectIds: subjects(e.withheldSubjectIds),
  };
}

/** Every string in an entry (list items, map keys and values included) through `printable`. */
function printableTexts<T>(value: T): T {
  if (typeof value === 'string') return printable(value) as T;
  if (Array.isArray(value)) return value.map(printableTexts) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [printable(k), printableTexts(v)])) as T;
  }
  return value;
}

/**
 * Places prepared entries after `head` in `chain`: the one step both stores
 * run inside their write transaction, after reading the chain's last event.
 * An empty chain starts from `genesis` (see `genesisHash`: a keyed trail's own).
 *
 * @example
 * const events = sealEntries([entry], 'main', { seq: 41, hash: 'ab…' }, randomUUID);
 */
export function sealEntries(
  entries: (AuditEntry & { time: string })[],
  chain: string,
  head: { seq: number; hash: string } | undefined,
  newId: () => string,
  chainKey?: string | Buffer,
  genesis: string = GENESIS_HASH,
): AuditEvent[] {
  let seq = head?.seq ?? 0;
  let prevHash = head?.hash ?? genesis;
  return entries.map((entry) => {
    seq += 1;
    const unsealed = { ...dropUndefined(entry), id: newId(), chain, seq, prevHash };
    const event = { ...unsealed, hash: hashEvent(unsealed, chainKey) } as AuditEvent;
    prevHash = event.hash;
    return event;
  });
}

function dropUndefined<T extends object>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T;
}

/**
 * An event the trail writes about itself (a review, a read of the trail, an
 * archive checkpoint): no role took part, no field was disclosed, withheld
 * or transformed, no restriction fired, no grant matched. The caller names
 * the rest; a field it gives wins.
 *
 * @example
 * trailEntry({ requestId, user: 'dr-g', purpose: 'audit', resource: 'AuditEvent', action: 'report', status: 200, policyVersion: '' });
 */
export function trailEntry(
  entry: Pick<AuditEntry, 'requestId' | 'user' | 'purpose' | 'resource' | 'action' | 'status' | 'policyVersion'> & Partial<AuditEntry>,
): AuditEntry {
  return {
    roles: [],
    decision: 'disclosed',
    recordIds: [],
    withheldRecordIds: [],
    fieldsDisclosed: [],
    fieldsWithheld: [],
    transforms: {},
    restrictions: [],
    grants: [],
    ...entry,
  };
}

/**
 * Maps the engine's Decision to an audit entry. The caller adds what only
 * the HTTP layer knows: request id, user, the status it answered.
 *
 * @example
 * await store.append(entryFromDecision(decision, { requestId: req.id, user: claims.sub, status: 200 }));
 */
export function entryFromDecision(
  decision: Decision,
  extra: { requestId: string; user: string; status: number; breakGlass?: string | undefined; time?: string | undefined },
): AuditEntry {
  return {
    time: extra.time,
    requestId: extra.requestId,
    user: extra.user,
    roles: [...decision.roles],
    purpose: decision.purpose,
    resource: decision.resource,
    action: decision.action,
    decision: decision.outcome,
    code: decision.code,
    status: extra.status,
    recordIds: [...decision.recordIds],
    withheldRecordIds: [...decision.withheldRecordIds],
    subjectIds: decision.subjectIds.length > 0 ? [...decision.subjectIds] : undefined,
    withheldSubjectIds: decision.withheldSubjectIds.length > 0 ? [...decision.withheldSubjectIds] : undefined,
    fieldsDisclosed: [...decision.disclosed],
    fieldsWithheld: [...decision.withheld],
    transforms: { ...decision.transforms },
    restrictions: [...decision.restrictions],
    grants: [...decision.grants],
    breakGlass: extra.breakGlass ?? decision.breakGlass,
    policyVersion: decision.policyVersion,
  };
}
