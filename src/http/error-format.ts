import type { IncomingHttpHeaders } from 'node:http';

/**
 * How a request's errors are answered: fieldmesh's JSON, or a FHIR R4
 * OperationOutcome naming fields on `resourceType` when the route serves one
 * (docs/fhir.md, "Errors: OperationOutcome").
 */
export type ErrorFormat = { readonly fhir: false } | { readonly fhir: true; readonly resourceType: string | undefined };

/**
 * fieldmesh's own JSON errors (docs/errors.md): what every request gets that is not FHIR.
 *
 * @example
 * sendError(res, err, requestId, JSON_ERRORS);
 */
export const JSON_ERRORS: ErrorFormat = { fhir: false };

/** FHIR's JSON media type, and the one DSTU2 clients still send. */
const FHIR_JSON = new Set(['application/fhir+json', 'application/json+fhir']);

/**
 * The one rule both shells follow for the form of an error: an
 * OperationOutcome on a FHIR route (the gateway's `route.fhirType`, the
 * middleware's `fhir` option), or when the request's `Accept` or
 * `Content-Type` names `application/fhir+json`, since that caller is a FHIR
 * client whatever path it asked for (a path no route matches included);
 * otherwise JSON. Read from the request as it arrived, before anything
 * rewrites its `Accept` for the record source.
 *
 * @example
 * fhirAnswer('Patient', {});                                  // { fhir: true, resourceType: 'Patient' }
 * fhirAnswer(undefined, { accept: 'application/fhir+json' }); // { fhir: true, resourceType: undefined }
 * fhirAnswer(undefined, { accept: 'application/json' });      // { fhir: false }
 */
export function fhirAnswer(fhirType: string | undefined, headers: IncomingHttpHeaders): ErrorFormat {
  if (fhirType !== undefined) return { fhir: true, resourceType: fhirType };
  return namesFhirJson(headers.accept) || namesFhirJson(headers['content-type']) ? { fhir: true, resourceType: undefined } : JSON_ERRORS;
}

/** Whether a header's media types name FHIR JSON, other than as refused (`;q=0`, RFC 9110 §12.4.2). */
function namesFhirJson(header: string | string[] | undefined): boolean {
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  return text.split(',').some((range) => {
    const [type = '', ...params] = range.split(';');
    return FHIR_JSON.has(type.trim().toLowerCase()) && !params.some((p) => /^\s*q\s*=\s*0(?:\.0{0,3})?\s*$/i.test(p));
  });
}
