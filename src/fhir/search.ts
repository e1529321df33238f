import { DEFAULT_PAGING_KEYS } from '../engine/query-check.js';
import type { KeyReading, QueryDialect } from '../engine/query-dialect.js';
import { isResourceType, r4 } from './definitions.js';
import { searchParamsFor, type SearchFields } from './search-params.js';

/**
 * FHIR's query keys, read for the filter rule (docs/fhir.md, "Searches"):
 * a search parameter is the field paths its expression reads, and every one
 * must be a field the user may filter by, since a match in any of them picks
 * the row. What cannot be read as fields of the route's own resource is
 * refused with the reason: deny by default.
 */

/** Keys that page without reading a field: what FHIR clients send and a FHIR server's own `next` links carry. */
const FHIR_PAGING_KEYS: readonly string[] = ['_count', '_offset'];

/** `_format` values that still ask for JSON: any other format is one fieldmesh cannot redact. */
const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json']);

/** `_total` values: the count is set to the entries returned anyway (src/engine/body-shape.ts). */
const TOTALS = new Set(['none', 'estimate', 'accurate']);

/** Modifiers that narrow how a value matches but not which fields are read (R4 3.1.1.5.5). */
const MODIFIERS = new Set(['exact', 'missing', 'not', 'above', 'below', 'text', 'contains', 'of-type', 'identifier', 'in', 'not-in']);

/**
 * Control parameters refused whatever the policy says, and why: each reads,
 * or adds to the answer, something the route's policy does not check.
 */
const REFUSED: Readonly<Record<string, string>> = {
  _has: 'selects by fields of other resources that refer to these (reverse chaining), which this route does not check',
  _include: 'adds other resources to the answer, which this route does not check',
  _revinclude: 'adds other resources to the answer, which this route does not check',
  _elements: 'asks the server to cut each resource itself; the policy decides what is withheld',
  _summary: 'asks for a summary instead of the resources (`_summary=count` would count rows hidden from you)',
  _contained: 'searches inside contained resources, whose fields the policy does not declare',
  _containedType: 'returns contained resources, whose fields the policy does not declare',
  _filter: 'is an expression over any field, which cannot be checked',
  _query: 'runs a named query, whose fields cannot be known',
  _text: "searches the narrative, which may repeat any field's value",
  _content: "searches the whole resource's text, every field included",
  _list: 'selects by membership of a List, another resource',
  _type: 'searches across resource types; this route serves one',
  _cursor: "positions a page by values of the server's own order, which this route does not check",
};

/**
 * Parameter names a route may not map under `search`: the keys that page or
 * shape the answer, and those refused above, keep their meaning.
 *
 * @example
 * RESERVED_SEARCH_NAMES.has('_sort'); // true
 */
export const RESERVED_SEARCH_NAMES: ReadonlySet<string> = new Set([
  ...FHIR_PAGING_KEYS,
  '_sort',
  '_format',
  '_pretty',
  '_total',
  ...Object.keys(REFUSED),
]);

/**
 * The query dialect of a FHIR route serving `type`, built once where the
 * route is loaded: its R4 search parameters with the route's `search`
 * mappings added or overriding (`false` refuses one). Each key
 * `name[:modifier]` reads the parameter's fields whatever the modifier or
 * value prefix (`birthdate=ge1980`, `name:exact=Ng`); `_sort` reads the
 * fields of the parameters it names; `_count` and `_offset` page; `_pretty`,
 * `_total` and a JSON `_format` read nothing. Chained parameters
 * (`subject.name`, `subject:Patient.birthdate`), `_has`, `_include`,
 * `_revinclude`, `_elements`, `_summary` and the other keys in REFUSED,
 * unknown parameters and unknown modifiers are refused, each with its reason.
 *
 * @example
 * const dialect = fhirDialect('Observation');
 * dialect.fieldsOf('date', ['ge2024-01-01']); // [{ name: 'date', fields: ['effectiveDateTime', 'effectiveInstant', 'effectivePeriod', 'effectiveTiming'] }]
 * dialect.fieldsOf('_sort', ['-date,code']);  // [{ name: '_sort=date', … }, { name: '_sort=code', fields: ['code'] }]
 */
export function fhirDialect(type: string, overrides: Readonly<Record<string, readonly string[] | false>> = {}): QueryDialect {
  const params = searchParamsFor(type, overrides);
  const targets = new Map(Object.entries(r4().search[type] ?? {}).map(([name, p]) => [name, p.targets ?? []]));
  const param = (name: string, as: string): KeyReading => {
    const found: SearchFields | undefined = params.get(name);
    if (found === undefined) return { name: as, refused: `is not a search parameter of ${type} (unknown parameters are refused)` };
    return 'refused' in found ? { name: as, refused: found.refused } : { name: as, fields: found.fields };
  };
  return {
    pagingKeys: FHIR_PAGING_KEYS,
    idKey: '_id',
    fieldsOf(key, values) {
      if (key === '_sort') return sortReadings(values, param);
      if (key === '_format')
        return values.every(isJsonFormat)
          ? []
          : [{ name: key, refused: 'asks for a format other than JSON, which fieldmesh cannot redact' }];
      if (key === '_pretty') return [];
      if (key === '_total') return values.every((v) => TOTALS.has(v)) ? [] : [{ name: key, refused: 'takes none, estimate or accurate' }];
      const at = key.indexOf(':');
      const name = at === -1 ? key : key.slice(0, at);
      const modifier = at === -1 ? undefined : key.slice(at + 1);
      const refused = Object.hasOwn(REFUSED, name) ? REFUSED[name] : undefined;
      if (refused !== undefined) return [{ name: key, refused }];
      // `subject.name`, `subject:Patient.birthdate`: the fields read are another resource's, under another plan.
      if (key.includes('.'))
        return [
          { name: key, refused: 'is a chained parameter: it selects by fields of another resource, which this route does not check' },
        ];
      if (modifier !== undefined && !MODIFIERS.has(modifier) && !typeModifier(modifier, targets.get(name) ?? []))
        return [
          { name: key, refused: `has a modifier fieldmesh does not know (${modifier.slice(0, 40)}), so what it reads cannot be checked` },
        ];
      return [param(name, key)];
    },
  };
}

/** `_sort=-birthdate,name`: each parameter named, by the fields it reads. */
function sortReadings(values: readonly string[], param: (name: string, as: string) => KeyReading): KeyReading[] {
  const names = values
    .flatMap((v) => v.split(','))
    .map((n) => n.trim().replace(/^-/, ''))
    .filter((n) => n !== '');
  // A sort that names nothing still asks the server to order rows: it counts as one.
  return names.length === 0 ? [{ name: '_sort', fields: [] }] : names.map((n) => param(n, `_sort=${n}`));
}

/** `subject:Patient`: a reference parameter limited to one of the types it may point at. */
function typeModifier(modifier: string, targets: readonly string[]): boolean {
  return isResourceType(modifier) && targets.includes(modifier);
}

function isJsonFormat(value: string): boolean {
  return JSON_FORMATS.has(value.split(';')[0]!.trim().toLowerCase());
}

/**
 * A problem with a route's `search` mappings: the parameter it is about
 * (none when it is about them all) and what is wrong, without the place,
 * which each shell says its own way.
 */
export interface SearchProblem {
  name?: string | undefined;
  message: string;
}

/**
 * What is wrong with a route's `search` mappings (routes.yaml or the
 * middleware's `search` option): a mapping needs a FHIR route, a plain
 * parameter name (no `.` or `:`, not a key FHIR reserves), and fields the
 * resource declares (`selectable`, the rule route parameters follow).
 *
 * @example
 * searchProblems('Patient', 'Patient', { nhs: ['nhsNumber'] }, (f) => f === 'identifier');
 * // [{ name: 'nhs', message: 'unknown field "nhsNumber" of resource "Patient"' }]
 */
export function searchProblems(
  fhirType: string | undefined,
  resource: string,
  search: Readonly<Record<string, readonly string[] | false>>,
  selectable: ((field: string) => boolean) | undefined,
): SearchProblem[] {
  if (fhirType === undefined && Object.keys(search).length > 0)
    return [
      { message: 'only a FHIR route maps search parameters: say which R4 type it serves (fhir: true, or the type), or leave search out' },
    ];
  const problems: SearchProblem[] = [];
  for (const [name, fields] of Object.entries(search)) {
    if (name.includes('.') || name.includes(':'))
      problems.push({ name, message: 'a search parameter name has no "." or ":" (chains and modifiers are read from the query)' });
    // As FHIR names search parameters: a name no query can carry as a key (`a;b`, `a=b`, a trailing space) could never be used.
    else if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name))
      problems.push({ name, message: 'a search parameter name is letters, digits, "-" and "_" (as FHIR names them)' });
    else if (RESERVED_SEARCH_NAMES.has(name))
      problems.push({ name, message: `"${name}" is a FHIR control parameter and cannot be mapped` });
    // Paging keys of other record APIs (`_page`, `_limit`…): a link carrying one is read as a page number (src/gateway/links.ts).
    else if (DEFAULT_PAGING_KEYS.includes(name)) problems.push({ name, message: `"${name}" pages a search and cannot be mapped` });
    if (fields === false || selectable === undefined) continue;
    for (const field of fields)
      if (!selectable(field)) problems.push({ name, message: `unknown field "${field}" of resource "${resource}"` });
  }
  return problems;
}
