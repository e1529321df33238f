/*
 * The bounded values logs, metrics and spans may carry for what a caller
 * names: a purpose or resource is kept only when the policy set declares it.
 * Admission labels the purpose once (RequestFacts.purposeLabel) for the
 * gateway's request log, metrics (src/http/metrics.ts) and spans (src/http/spans.ts).
 */

/** The label of a purpose or resource the policy set does not declare (or a request that named none). */
export const UNKNOWN_LABEL = '(unknown)';

/**
 * A purpose or resource as a label: its name when the policy set declares
 * it, `(unknown)` otherwise (a header's text never becomes a label).
 *
 * @example
 * declared('dirct-care', policies.compiled.purposes); // '(unknown)'
 */
export function declared(name: string | undefined, names: ReadonlyMap<string, unknown>): string {
  return name !== undefined && names.has(name) ? name : UNKNOWN_LABEL;
}
