/**
 * What these functions read of a route (src/gateway/routes.ts `Route`), named here so that
 * routes.ts can check its file with them without an import circle.
 */
export interface RoutePath {
  path: string;
  /** The R4 type the route serves, when it is a FHIR route. */
  fhirType?: string | undefined;
  /** The route's matcher: anything but `false` is a match. */
  matches(path: string): unknown;
}

/** A path segment the pattern matches literally: no parameter, wildcard, group or escape. */
const STATIC = /^[A-Za-z0-9\-._~!$&'()+,;=@%]+$/;
const PARAM = /^:([A-Za-z_$][A-Za-z0-9_$]*)$/;

/**
 * Where a FHIR route sits in FHIR's RESTful API: `[base]/[type]` (a list
 * route) or `[base]/[type]/:param` (a single-record route), with every
 * segment of the base literal. Any other shape (`/gp-patients` with `fhir:
 * Patient`, `/Patient/:id/_history/:v`) is not a URL a FHIR client builds
 * from a base, so no CapabilityStatement announces it.
 *
 * @example
 * fhirRestPath('/fhir/Patient/:id', 'Patient'); // { base: '/fhir', param: 'id' }
 * fhirRestPath('/Observation', 'Observation');  // { base: '' }
 * fhirRestPath('/gp-patients', 'Patient');      // undefined
 */
export function fhirRestPath(path: string, type: string): { base: string; param?: string } | undefined {
  const segments = path.split('/').slice(1);
  const last = segments.at(-1) ?? '';
  const param = PARAM.exec(last)?.[1];
  const typeAt = param === undefined ? segments.length - 1 : segments.length - 2;
  if (typeAt < 0 || segments[typeAt] !== type) return undefined;
  const base = segments.slice(0, typeAt);
  if (!base.every((s) => STATIC.test(s))) return undefined;
  const at = base.length === 0 ? '' : `/${base.join('/')}`;
  return param === undefined ? { base: at } : { base: at, param };
}

/**
 * The `<base>/metadata` paths the gateway answers itself, each with the FHIR
 * routes under that base (docs/fhir.md, "CapabilityStatement"): one per base
 * the FHIR routes share (`/Patient/:id` → `/metadata`, `/fhir/Patient` →
 * `/fhir/metadata`). Found once, where the routes are loaded.
 *
 * @example
 * metadataEndpoints(table.routes).get('/fhir/metadata'); // the routes under /fhir
 */
export function metadataEndpoints<R extends RoutePath>(routes: readonly R[]): ReadonlyMap<string, readonly R[]> {
  const out = new Map<string, R[]>();
  for (const route of routes) {
    if (route.fhirType === undefined) continue;
    const at = fhirRestPath(route.path, route.fhirType);
    if (at === undefined) continue;
    const path = `${at.base}/metadata`;
    out.set(path, [...(out.get(path) ?? []), route]);
  }
  return out;
}

/**
 * Routes that would answer a `<base>/metadata` the gateway answers itself,
 * as problems of the routes file. The gateway's answer comes first whatever
 * the file says, so such a route could never be reached: it is refused when
 * the file loads rather than left to surprise (`/fhir/metadata` as a route,
 * or `/fhir/:id` matching it).
 *
 * @example
 * metadataProblems(table.routes); // ['routes.2.path: "/metadata" would answer /metadata, …']
 */
export function metadataProblems(routes: readonly RoutePath[]): string[] {
  const paths = [...metadataEndpoints(routes).keys()];
  const problems: string[] = [];
  routes.forEach((route, i) => {
    const taken = paths.find((p) => route.matches(p) !== false);
    if (taken !== undefined)
      problems.push(
        `routes.${i}.path: "${route.path}" would answer ${taken}, which the gateway answers itself (the upstream's CapabilityStatement, restricted to these routes); choose another path`,
      );
  });
  return problems;
}
