import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AccessError } from '../engine/access-error.js';
import { breakGlassReasonRefusal, trainingRefusal } from '../engine/plan.js';
import type { User } from './claims.js';

/**
 * Request headers as node and express give them (names in any case here).
 *
 * @example
 * const headers: RequestHeaders = req.headers;
 */
export type RequestHeaders = Record<string, string | string[] | undefined>;

/**
 * What one request declares, checked: the purpose, any break-glass reason, and who acts.
 *
 * @example
 * const { purpose, breakGlass, user } = readDeclaredContext(req.headers, verified.user);
 */
export interface DeclaredContext {
  purpose: string;
  breakGlass?: string;
  /** The role named by `X-Acting-Role`, when the user chose to act in one role only. */
  actingRole?: string;
  /** The user, with `roles` narrowed to the acting role when one was named. */
  user: User;
}

const PURPOSE = /^[a-z0-9][a-z0-9._-]{0,63}$/i;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

const contextOptionsSchema = z
  .object({
    /** Confidentiality training older than this many days withholds all personal data. */
    trainingMaxAgeDays: z.number().int().positive().default(365),
    /** The clock (tests inject one). */
    now: z.custom<() => Date>((v) => typeof v === 'function', 'must be a function returning a Date').optional(),
    /** The purpose the token's purpose of use selected (src/http/purpose-of-use.ts): then X-Purpose may be left out. */
    purpose: z.string().min(1).optional(),
  })
  .strict();
/**
 * Options of `readDeclaredContext`.
 */
export type ContextOptions = z.input<typeof contextOptionsSchema>;

/**
 * The options as `contextOptionsSchema` reads them. Both shells pass the
 * same well-formed options on every request: those are taken as they are,
 * anything else goes through the schema, which fills the default or says what is wrong.
 */
function contextOptions(opts: ContextOptions): {
  trainingMaxAgeDays: number;
  now?: (() => Date) | undefined;
  purpose?: string | undefined;
} {
  const { trainingMaxAgeDays: days, now, purpose } = opts;
  const known = Object.keys(opts).every((k) => k === 'trainingMaxAgeDays' || k === 'now' || k === 'purpose');
  if (
    known &&
    typeof days === 'number' &&
    Number.isSafeInteger(days) &&
    days > 0 &&
    (now === undefined || typeof now === 'function') &&
    (purpose === undefined || (typeof purpose === 'string' && purpose !== ''))
  ) {
    return { trainingMaxAgeDays: days, now, purpose };
  }
  const parsed = contextOptionsSchema.safeParse(opts);
  if (!parsed.success) throw new TypeError(`Invalid request context options: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/**
 * A declared header's value, trimmed: node joins repeated headers with ", "
 * (an array can only come from a hand-built object, and is joined the same
 * way). Anything but text is refused.
 */
function declaredHeader(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value.trim();
  if (Array.isArray(value) && Array.from(value, (v) => typeof v === 'string').every(Boolean)) return value.join(', ').trim();
  throw new AccessError('bad_request', 'Request headers must be strings');
}

/**
 * Read and check what a request declares about itself (Caldicott principles
 * 1, 4, 5 and 7): why it wants the data, whether it breaks glass and why,
 * which of the user's roles it acts in, and whether the user's
 * confidentiality training is current. Refusals are AccessErrors; messages
 * never repeat header values.
 *
 * @example
 * const ctx = readDeclaredContext(req.headers, verified.user, { trainingMaxAgeDays: 365 });
 * policies.redact(rows, { resource: 'Patient', purpose: ctx.purpose, user: ctx.user, breakGlass: ctx.breakGlass });
 */
export function readDeclaredContext(headers: RequestHeaders, user: User, opts: ContextOptions = {}): DeclaredContext {
  const { trainingMaxAgeDays, now, purpose: fromToken } = contextOptions(opts);
  const h = {
    'x-purpose': declaredHeader(headerAt(headers, 'x-purpose')),
    'x-break-glass': declaredHeader(headerAt(headers, 'x-break-glass')),
    'x-acting-role': declaredHeader(headerAt(headers, 'x-acting-role')),
  };

  const header = h['x-purpose'];
  // A purpose the token selected needs no header; one sent beside it was checked against it (tokenPurposeRefusal).
  if (fromToken === undefined && (header === undefined || header === '')) {
    throw new AccessError(
      'purpose_required',
      'Declare why you need this data in the X-Purpose header (for example X-Purpose: direct-care)',
    );
  }
  if (header !== undefined && header !== '' && !isPurposeName(header)) {
    throw new AccessError('purpose_malformed', "X-Purpose must be a purpose name: letters, digits, '.', '_' or '-', at most 64 characters");
  }
  const purpose = fromToken ?? (header as string);

  const reason = h['x-break-glass'];
  const badReason = reason === undefined ? undefined : breakGlassReasonRefusal(reason);
  if (badReason) throw new AccessError(badReason.code, badReason.message);

  const actingRole = h['x-acting-role'];
  if (actingRole !== undefined && !user.roles.includes(actingRole)) {
    const held = user.roles.length > 0 ? user.roles.join(', ') : 'none';
    throw new AccessError('role_not_held', `X-Acting-Role names a role you do not hold (you hold: ${held})`);
  }

  const badTraining = trainingRefusal(user.training, now?.() ?? new Date(), trainingMaxAgeDays);
  if (badTraining) throw new AccessError(badTraining.code, badTraining.message);

  return {
    purpose,
    ...(reason === undefined ? {} : { breakGlass: reason }),
    ...(actingRole === undefined ? {} : { actingRole }),
    // A new object: the verifier's user (perhaps cached) is never narrowed in place.
    user: { ...user, roles: actingRole === undefined ? [...user.roles] : [actingRole] },
  };
}

/**
 * Whether a declared X-Purpose is a purpose name: letters, digits, `.`, `_`
 * or `-`, at most 64 characters. Only such a name is ever recorded, even
 * for a request refused before its purpose was checked any further.
 *
 * @example
 * isPurposeName('direct-care'); // true
 * isPurposeName('direct care; DROP'); // false
 */
export function isPurposeName(value: string): boolean {
  return PURPOSE.test(value);
}

/**
 * The request's id: the caller's `X-Request-Id` when it is a safe token
 * (it is echoed in headers, logs and the audit trail), otherwise a new UUID.
 *
 * @example
 * const requestId = requestIdFrom(req.headers); // 'b1946ac9-…' or the caller's id
 */
export function requestIdFrom(headers: RequestHeaders): string {
  const value = headerAt(headers, 'x-request-id');
  return typeof value === 'string' && REQUEST_ID.test(value) ? value : randomUUID();
}

/**
 * The value of a header named in any case; of several spellings, the last
 * (as a copy with lower-cased names would keep it). Node and express give
 * lower-case names: then no copy of the headers is made per request.
 */
export function headerAt(headers: RequestHeaders, name: string): string | string[] | undefined {
  let value: string | string[] | undefined;
  for (const key of Object.keys(headers)) if (key === name || key.toLowerCase() === name) value = headers[key];
  return value;
}
