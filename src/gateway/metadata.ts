import type { IncomingHttpHeaders } from 'node:http';
import { AccessError } from '../engine/access-error.js';
import type { PolicySet } from '../engine/policy-set.js';
import { restrictCapability, type CapabilityInteraction, type CapabilityScope, type RestrictedCapability } from '../fhir/capability.js';
import { searchParamsFor } from '../fhir/search-params.js';
import { upstreamInvalid } from '../http/answer-status.js';
import { selectableField } from '../http/query.js';
import { fhirRestPath } from './fhir-base.js';
import { upstreamHeaders } from './headers.js';
import { fieldOf, type Route } from './routes.js';
import type { Upstream } from './upstream.js';

/** The values of `_format` that ask for what the gateway answers anyway: JSON. */
const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json', 'application/fhir json']);

/**
 * What the routes under one FHIR base let a client do, type by type
 * (docs/fhir.md, "CapabilityStatement"): `read` for GET on a single-record
 * route that selects by the resource's id, `update`/`patch` for PUT/PATCH
 * there; `search-type` for GET on a list route of Bundles, `create` for POST
 * there. The search parameters are those of the list route that the
 * gateway maps to fields (its `search` overrides included, none refused)
 * whose every field the resource declares: a parameter on an undeclared
 * field could never pass the filter rule, for anyone.
 *
 * @example
 * capabilityScope(routes, policies).get('Patient'); // { interactions: Set {'search-type', 'read'}, searchParams: Set {'gender', …} }
 */
export function capabilityScope(routes: readonly Route[], policies: PolicySet): CapabilityScope {
  const out = new Map<string, { interactions: Set<CapabilityInteraction>; searchParams: Set<string> }>();
  // Routes are matched in file order: of two with one shape (`/Patient/:id`, `/Patient/:pid`) the first serves.
  const shapes = new Set<string>();
  for (const route of routes) {
    const type = route.fhirType;
    const at = type === undefined ? undefined : fhirRestPath(route.path, type);
    if (type === undefined || at === undefined) continue;
    const shape = `${at.base}/${type}${at.param === undefined ? '' : '/:'}`;
    if (shapes.has(shape)) continue;
    shapes.add(shape);
    const entry = out.get(type) ?? { interactions: new Set(), searchParams: new Set() };
    out.set(type, entry);
    if (at.param !== undefined) {
      const idPath = policies.compiled.resources.get(route.resource)?.def.id;
      // A FHIR read names the logical id: a parameter that selects by another field is not one.
      if (route.list !== undefined || (fieldOf(route, at.param) ?? idPath) !== idPath) continue;
      if (route.methods.includes('GET')) entry.interactions.add('read');
      if (route.methods.includes('PUT')) entry.interactions.add('update');
      if (route.methods.includes('PATCH')) entry.interactions.add('patch');
    } else if (route.list === 'entry.resource') {
      // A search answers a Bundle: a list route with another list key could not redact one.
      if (route.methods.includes('POST')) entry.interactions.add('create');
      if (!route.methods.includes('GET')) continue;
      entry.interactions.add('search-type');
      for (const [name, found] of searchParamsFor(type, route.search)) {
        if ('fields' in found && found.fields.every((f) => selectableField(policies, route.resource, f))) entry.searchParams.add(name);
      }
    }
  }
  return out;
}

/**
 * Check a `<base>/metadata` request's query: nothing but `_format` asking
 * for JSON, once. Anything else is refused rather than dropped: the
 * gateway would otherwise answer a question it was not asked.
 *
 * @example
 * metadataQueryProblem('_format=json');  // undefined
 * metadataQueryProblem('_summary=true'); // AccessError bad_request
 */
export function metadataQueryProblem(search: string): AccessError | undefined {
  const entries = [...new URLSearchParams(search)];
  const ok = entries.every(([key, value]) => key === '_format' && JSON_FORMATS.has(value.trim().toLowerCase()));
  if (ok && entries.length <= 1) return undefined;
  return new AccessError(
    'bad_request',
    'The CapabilityStatement takes no query but _format asking for JSON (json, application/fhir+json), once',
  );
}

/**
 * The upstream's CapabilityStatement at `base`, restricted to `scope`:
 * fetched through the upstream module (its credential, JSON Accept,
 * deadline and body limit). An unreachable upstream is `upstream_unreachable`
 * (502) or `upstream_timeout` (504); any answer but a 2xx CapabilityStatement
 * it can restrict is `upstream_invalid` (502), and nothing of it is passed on.
 *
 * @example
 * const statement = await fetchCapability(upstream, '/fhir', scope, req.headers, requestId);
 */
export async function fetchCapability(
  upstream: Upstream,
  base: string,
  scope: CapabilityScope,
  headers: IncomingHttpHeaders,
  requestId: string,
): Promise<RestrictedCapability> {
  const answer = await upstream.send({ method: 'GET', path: `${base}/metadata`, headers: upstreamHeaders(headers, requestId) });
  // Even a 404 is the upstream's fault here: it serves these routes, so it has a statement to give.
  if (answer.status < 200 || answer.status >= 300 || answer.body === undefined)
    throw upstreamInvalid(
      `the record API answered ${answer.status}${answer.body === undefined ? ' without a body' : ''} for its CapabilityStatement`,
    );
  const restricted = restrictCapability(answer.body, scope);
  if (!restricted.ok) throw upstreamInvalid(restricted.reason);
  return restricted.statement;
}
