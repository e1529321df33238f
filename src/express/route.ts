import type { PolicySet } from '../engine/policy-set.js';
import type { ListKey } from '../engine/body-shape.js';
import type { QueryDialect } from '../engine/query-dialect.js';
import { isResourceType } from '../fhir/definitions.js';
import type { FhirRouteOptions } from '../fhir/route-options.js';
import { fhirDialect, searchProblems } from '../fhir/search.js';
import { selectableField } from '../http/query.js';

/**
 * A route of `mesh.read()` or `mesh.write()` as checked when it is declared:
 * everything a request on it needs that does not depend on the request.
 *
 * @example
 * const route = meshRoute('read', 'Observation', { fhir: true, list: 'entry.resource' }, policies);
 * route.fhirType; // 'Observation'
 */
export interface MeshRoute {
  /** Where the rows are; null: an array body is a list, an object body one record. */
  list: ListKey | null;
  /** The field each route parameter selects records by. */
  params: Readonly<Record<string, string>>;
  /** The R4 type served, on a FHIR route: its errors are OperationOutcomes (docs/fhir.md). */
  fhirType?: string | undefined;
  /** How the query is read: FHIR search parameters on a FHIR route, json-server's keys otherwise. */
  dialect?: QueryDialect | undefined;
  /** The route's own `markWithheld`; unset, the purpose decides (docs/fhir.md, "Withheld, not absent"). */
  markWithheld?: boolean | undefined;
}

/**
 * Check a route's options once, where it is declared: a route parameter
 * mapped to an undeclared field, an `fhir` type that R4 does not have, a bad
 * `search` mapping, `search` or `markWithheld: true` on a route that is not
 * FHIR are a programmer's mistakes (TypeError). The middleware does not know
 * the path a route serves, so a route is FHIR only when `fhir` says so
 * (`true`: the resource's own name is the R4 type).
 *
 * @example
 * meshRoute('read', 'Patient', { markWithheld: true }, policies); // TypeError: say fhir: true
 */
export function meshRoute(
  kind: 'read' | 'write',
  resource: string,
  options: { list?: string | undefined; params?: Record<string, string> | undefined } & FhirRouteOptions,
  policies: PolicySet,
): MeshRoute {
  const at = `fieldmesh: mesh.${kind}('${resource}')`;
  const params = options.params ?? {};
  for (const [name, field] of Object.entries(params)) {
    if (!selectableField(policies, resource, field))
      throw new TypeError(`${at}: params.${name}: unknown field "${field}" of resource "${resource}"`);
  }
  const fhirType = options.fhir === true ? resource : typeof options.fhir === 'string' ? options.fhir : undefined;
  if (fhirType !== undefined && !isResourceType(fhirType)) {
    throw new TypeError(
      `${at}: fhir: "${fhirType}" is not an R4 resource type; write fhir: '<type>' (such as fhir: 'Patient') when the policy names the resource otherwise`,
    );
  }
  if (options.markWithheld === true && fhirType === undefined) {
    throw new TypeError(
      `${at}: markWithheld: only FHIR routes are marked; say which R4 type the route serves (fhir: true, or fhir: '<type>')`,
    );
  }
  const problems = searchProblems(fhirType, resource, options.search ?? {}, (f) => selectableField(policies, resource, f));
  if (problems.length > 0)
    throw new TypeError(`${at}: ${problems.map((p) => `search${p.name === undefined ? '' : `.${p.name}`}: ${p.message}`).join('; ')}`);
  return {
    list: options.list ?? null,
    params,
    fhirType,
    dialect: fhirType === undefined ? undefined : fhirDialect(fhirType, options.search),
    markWithheld: options.markWithheld,
  };
}
