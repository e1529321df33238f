/**
 * What fieldmesh knows of FHIR R4, generated once from the published
 * definitions (`npm run fhir-definitions`, scripts/fhir-definitions.ts) so
 * that nothing is parsed per request and no FHIR library is loaded at run
 * time. test/fhir/definitions.test.ts fails until the committed table equals
 * what the definitions give.
 */
export interface R4Definitions {
  /** The FHIR version the table was generated from. */
  fhirVersion: string;
  /** Every concrete R4 resource type, sorted. */
  resourceTypes: string[];
  /** Per resource type, its search parameters by name (the Resource and DomainResource ones included). */
  search: Record<string, Record<string, R4SearchParam>>;
  /** Per type (a resource, a backbone element such as `ObservationComponent`, a complex datatype): its elements as JSON names. */
  types: Record<string, R4Type>;
}

/**
 * One search parameter of a resource type: the field paths its FHIRPath
 * expression reads (a choice element expanded to every JSON name it can
 * take: `effectiveDateTime`, `effectivePeriod`…), or none when the
 * expression could not be read as field paths (`unmapped` says why): such a
 * parameter is refused unless a route maps it.
 */
export interface R4SearchParam {
  type: 'number' | 'date' | 'string' | 'token' | 'reference' | 'composite' | 'quantity' | 'uri' | 'special';
  paths: string[];
  /** The resource types a reference parameter points at. */
  targets?: string[];
  unmapped?: string;
}

/** A type's elements: the required ones, and the type of each complex one. */
export interface R4Type {
  /** Elements with a minimum cardinality of 1 or more; a choice element lists every JSON name it can take. */
  required: { names: string[]; primitive: boolean }[];
  /** JSON name → type key in `types`, for elements of a complex type (a datatype or a backbone element). */
  complex: Record<string, string>;
}
