import type { IncomingHttpHeaders } from 'node:http';

/**
 * What fieldmesh asks of a record source, whatever the caller's `Accept`
 * says: JSON, the only thing it can redact. The gateway sends it to its
 * upstream; the middleware sets it on the request its handler sees. A
 * record API that negotiates content (a FHIR server answers `Accept:
 * application/fhir+xml` in XML, an express handler calls `res.format`)
 * would otherwise answer an existing record in a form fieldmesh refuses
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
  const media = typeof type === 'string' && type.split(';')[0]!.trim().toLowerCase() === 'application/fhir+json' ? 'application/fhir+json' : 'application/json';
  return `${media}; charset=utf-8`;
}
