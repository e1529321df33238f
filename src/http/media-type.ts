import type { IncomingHttpHeaders } from 'node:http';

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * Whether a Content-Type names JSON: `application/json` or any `+json`
 * type such as `application/fhir+json` (RFC 6839 §3.1).
 *
 * @example
 * isJsonType('application/fhir+json; charset=utf-8'); // true
 */
export function isJsonType(contentType: string | undefined): contentType is string {
  return contentType !== undefined && JSON_TYPE.test(contentType.trim());
}

/**
 * Whether a Content-Type names a charset other than UTF-8: JSON read as
 * UTF-8 from such bytes would be checked as other text than the sender meant.
 *
 * @example
 * foreignCharset('application/json; charset=latin1'); // true
 */
export function foreignCharset(contentType: string): boolean {
  return /charset=(?!"?utf-8)/i.test(contentType);
}

/**
 * What fieldmesh asks a record source for (the gateway's upstream, the
 * middleware's handler), whatever the caller's `Accept` says: JSON, the only thing it can redact.
 * A record API that negotiates content (a FHIR server answers `Accept: application/fhir+xml` in XML)
 * would otherwise answer an existing record in a form the gateway refuses
 * (502) and a missing one 404: a hidden record would not look missing.
 * FHIR servers take `application/fhir+json`, plain JSON APIs `application/json`.
 */
export const UPSTREAM_ACCEPT = 'application/fhir+json, application/json';

/**
 * The Content-Type of a redacted answer: the record source's JSON media type
 * (`application/fhir+json` stays FHIR), always UTF-8 since the body is
 * serialised anew. Nothing else of the source's headers describes the new
 * body: length, ETag, digests, encoding and dates are dropped or recomputed.
 *
 * @example
 * answerContentType({ 'content-type': 'application/fhir+json;charset=UTF-8' }); // 'application/fhir+json; charset=utf-8'
 */
export function answerContentType(headers: IncomingHttpHeaders): string {
  const type = headers['content-type'];
  // Two media types only: a vendor subtype (`application/vnd.<anything>+json`) is free text the upstream chose.
  const media =
    typeof type === 'string' && type.split(';')[0]!.trim().toLowerCase() === 'application/fhir+json'
      ? 'application/fhir+json'
      : 'application/json';
  return `${media}; charset=utf-8`;
}
