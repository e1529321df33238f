import { STATUS_CODES } from 'node:http';
import { FieldmeshError, NO_SUCH_RECORD, handlerStatusError } from '../lib/errors.js';
import { AccessError } from '../engine/access-error.js';

/**
 * An upstream answer that cannot be redacted. The reason is for logs (the
 * public message of `upstream_invalid` is fixed); it never quotes the body.
 *
 * @example
 * throw upstreamInvalid('the body is not JSON');
 */
export function upstreamInvalid(reason: string): AccessError {
  return new AccessError('upstream_invalid', `upstream answer rejected: ${reason}`);
}

/**
 * An upstream error status, passed on without the upstream's body (which may
 * hold record data or internals). 401 and 407 concern the gateway's own
 * credential, not the caller's token: they become 502. A redirect for one
 * record (`single`) is a missing record: a record API that redirects a lookup
 * only for records it has (by NHS number to the canonical URL, say) would
 * otherwise tell a hidden record from none; for a list it is 502.
 *
 * @example
 * throw upstreamStatus(404); // 404 not_found
 */
export function upstreamStatus(status: number, single = false): FieldmeshError {
  if (status === 404 || (single && status >= 300 && status < 400)) return new AccessError('not_found', NO_SUCH_RECORD.message);
  if (status === 401 || status === 407 || status < 400 || status > 599) return upstreamInvalid(`the record API answered ${status}`);
  return new FieldmeshError('upstream_error', `The record API answered ${status}: nothing was disclosed`, { status });
}

/**
 * A handler's own 4xx or 5xx, as the generic error sent in place of its body
 * (which may carry record data): the same status, a code and message that
 * say nothing the status does not (a 5xx's message is never shown).
 *
 * @example
 * handlerStatus(409); // 409 conflict "Conflict"
 */
export function handlerStatus(status: number): FieldmeshError {
  return handlerStatusError(status, status === 404 ? NO_SUCH_RECORD.message : (STATUS_CODES[status] ?? 'Error'));
}
