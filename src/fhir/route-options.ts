import { z } from 'zod';

/**
 * What a route says of its FHIR side, the same in the gateway's routes file
 * and in the options of `mesh.read()`/`mesh.write()` (docs/fhir.md).
 *
 * @example
 * routeSchema.extend(FHIR_ROUTE_OPTIONS);
 */
export const FHIR_ROUTE_OPTIONS = {
  /**
   * Whether the route serves a FHIR resource type: `true`, `false`, or the R4 type when the policy names the
   * resource otherwise. Unset in a routes file: FHIR when the resource is an R4 type that the path names (`/Patient/:id`).
   */
  fhir: z.union([z.boolean(), z.string().min(1)]).optional(),
  /**
   * Search parameters mapped to the field paths they read, adding to or overriding the R4 table
   * (`birthdate: [birthDate]`), or `false` to refuse one.
   */
  search: z.record(z.string().min(1), z.union([z.array(z.string().min(1)).min(1), z.literal(false)])).optional(),
  /** Mark what was withheld (a REDACTED security label, data-absent-reason `masked` on required elements). Default false. */
  markWithheld: z.boolean().optional(),
};

/** The FHIR options of a route, as checked. */
export type FhirRouteOptions = z.output<z.ZodObject<typeof FHIR_ROUTE_OPTIONS>>;
