import { isResourceType } from '../fhir/definitions.js';
import type { FhirRouteOptions } from '../fhir/route-options.js';

/**
 * What the answer of a route needs of its FHIR side to mark what was
 * withheld (docs/fhir.md, "Withheld, not absent"): the R4 type it serves
 * and its own `markWithheld`, unset when the purpose decides.
 *
 * @example
 * const fhir: AnswerFhir = { fhirType: 'Observation', markWithheld: true };
 */
export interface AnswerFhir {
  fhirType?: string | undefined;
  markWithheld?: boolean | undefined;
}

/**
 * A route's FHIR side, checked when the route is declared. Middleware does
 * not know the path a route serves, so a route is FHIR only when `fhir`
 * says so (`true`: the resource's own name is the R4 type). Markers asked
 * of a route that is not FHIR would never come: a TypeError, as is an
 * `fhir` type R4 does not have.
 *
 * @example
 * answerFhir('read', 'Observation', { fhir: true, markWithheld: true }); // { fhirType: 'Observation', markWithheld: true }
 * answerFhir('read', 'Patient', { markWithheld: true });                 // TypeError: say fhir: true
 */
export function answerFhir(kind: 'read' | 'write', resource: string, options: FhirRouteOptions): AnswerFhir {
  const type = options.fhir === true ? resource : typeof options.fhir === 'string' ? options.fhir : undefined;
  const at = `fieldmesh: mesh.${kind}('${resource}')`;
  if (type !== undefined && !isResourceType(type))
    throw new TypeError(
      `${at}: fhir: "${type}" is not an R4 resource type; write fhir: '<type>' when the policy names the resource otherwise`,
    );
  if (options.markWithheld === true && type === undefined)
    throw new TypeError(
      `${at}: markWithheld: only FHIR routes are marked; say which R4 type the route serves (fhir: true, or fhir: '<type>')`,
    );
  return { fhirType: type, markWithheld: options.markWithheld };
}
