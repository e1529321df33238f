import { r4 } from './definitions.js';

/**
 * What a FHIR search parameter filters by: the field paths it reads, or why
 * it is refused whatever the policy says.
 */
export type SearchFields = { fields: readonly string[] } | { refused: string };

/**
 * The search parameters of an R4 resource type as a route accepts them
 * (docs/fhir.md, "Searches"): the R4 table's mapping of each parameter's
 * FHIRPath expression to field paths, with the route's own `search`
 * mappings added or overriding (`false` refuses one). A parameter the table
 * could not read as fields is refused unless the route maps it. Built once,
 * where the route is loaded.
 *
 * @example
 * searchParamsFor('Patient').get('birthdate');                    // { fields: ['birthDate'] }
 * searchParamsFor('Patient', { deceased: ['deceasedBoolean', 'deceasedDateTime'] }).get('deceased');
 */
export function searchParamsFor(
  type: string,
  overrides: Readonly<Record<string, readonly string[] | false>> = {},
): ReadonlyMap<string, SearchFields> {
  const out = new Map<string, SearchFields>();
  for (const [name, param] of Object.entries(r4().search[type] ?? {})) {
    out.set(
      name,
      param.paths.length > 0
        ? { fields: param.paths }
        : {
            refused: `the search parameter "${name}" cannot be read as fields (${param.unmapped ?? 'unmapped'}); a route may map it under search`,
          },
    );
  }
  for (const [name, fields] of Object.entries(overrides)) {
    out.set(name, fields === false ? { refused: `this route refuses the search parameter "${name}"` } : { fields: [...fields] });
  }
  return out;
}
