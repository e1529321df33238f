import { isPlainObject } from '../lib/paths.js';
import { isResourceType } from '../fhir/definitions.js';
import { DEFAULT_PAGING_KEYS } from '../http/query.js';
import { safePath } from './headers.js';
import type { Route, RouteTable } from './routes.js';

/**
 * What the gateway needs to turn a Bundle's URLs into its own (docs/fhir.md,
 * "Paging through the gateway"): where the caller reaches the gateway, where
 * the gateway reached the record API, and which request this answers.
 *
 * @example
 * const ctx: LinkContext = { base: 'https://records.example', upstream: 'http://10.0.0.5:8103/fhir/R4', requested: '/Patient?_count=20', routes, route, query: '_count=20' };
 */
export interface LinkContext {
  /** The gateway's public base (see `publicBase`); `undefined`: every link is dropped and no `fullUrl` is written. */
  base: string | undefined;
  /** The record API's base URL (`--upstream`); `undefined`: every link is dropped. */
  upstream: string | undefined;
  /** Path and query the gateway asked the record API for, below its base: a relative link is read against it. */
  requested: string;
  routes: RouteTable;
  /** The route the request came through: a link is kept only into the same route. */
  route: Route;
  /** The caller's query, as admitted. */
  query: string;
  /** Keys that page rather than filter (default DEFAULT_PAGING_KEYS, what the gateway admits). */
  pagingKeys?: readonly string[] | undefined;
}

// RFC 3986 reg-name as DNS writes it, an IPv4 address, or a bracketed IPv6 address, then an optional port.
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const PLAIN_HOST = new RegExp(`^(?:${LABEL}(?:\\.${LABEL})*|\\[[0-9A-Fa-f:.]{2,45}\\])(?::\\d{1,5})?$`);
/** FHIR R4's id datatype. */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
/** A paging value the record API may write: a number. A token (`_cursor=2-1733…-pt-07`) can carry ids of rows the caller may not see. */
const PAGE_NUMBER = /^\d{1,10}$/;

/**
 * The gateway's base as this caller reaches it: the configured public URL
 * (`--public-url`), else `http://` and the request's `Host` when it is a
 * plain host and port, else `undefined` (no links at all). `https` comes
 * only from the public URL: a forwarded-protocol header is the caller's word.
 *
 * @example
 * publicBase('https://records.example/fhir/', undefined); // 'https://records.example/fhir'
 * publicBase(undefined, '127.0.0.1:8080');                // 'http://127.0.0.1:8080'
 * publicBase(undefined, 'evil.example/x?');               // undefined
 */
export function publicBase(publicUrl: string | undefined, host: string | string[] | undefined): string | undefined {
  if (publicUrl !== undefined) {
    const u = new URL(publicUrl);
    return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
  }
  if (typeof host !== 'string' || !PLAIN_HOST.test(host)) return undefined;
  const port = /:(\d+)$/.exec(host)?.[1];
  if (port !== undefined && Number(port) > 65_535) return undefined;
  let u: URL;
  try {
    u = new URL(`http://${host}`);
  } catch {
    return undefined;
  }
  // A host the URL parser rewrites (`0x7f.1`, `1.2.3`) is not plain: the link would name another host than the one asked.
  const written = host.toLowerCase();
  return u.host === written || `${u.host}:80` === written ? u.origin : undefined;
}

/**
 * A link the record API wrote, read as it meant it (a relative one against
 * the URL it answered), when it is under the record API's URL and its path,
 * re-rooted at the gateway, is one the gateway forwards through the same
 * route the request came through; `undefined` otherwise.
 */
function sameRouteUrl(url: unknown, ctx: LinkContext): { path: string; search: string } | undefined {
  if (typeof url !== 'string' || ctx.upstream === undefined) return undefined;
  const upstream = new URL(ctx.upstream);
  const prefix = upstream.pathname.replace(/\/+$/, '');
  let u: URL;
  try {
    u = new URL(url, `${upstream.origin}${prefix}${ctx.requested}`);
  } catch {
    return undefined;
  }
  if (u.origin !== upstream.origin || u.username !== '' || u.password !== '') return undefined;
  if (!u.pathname.startsWith(`${prefix}/`)) return undefined;
  const path = safePath(u.pathname.slice(prefix.length));
  if (path === undefined || ctx.routes.find(path)?.route !== ctx.route) return undefined;
  return { path, search: u.search };
}

/**
 * Where to ask the record API for the page a `next` link names, below its
 * base (what `upstream.send` takes), when the link stays on the same route;
 * `undefined` otherwise. Only the gateway follows it (see `wholeResult` in
 * src/gateway/exchange.ts): the query is the record API's own and never reaches the caller.
 *
 * @example
 * upstreamPage('http://10.0.0.5:8103/fhir/R4/Patient?_count=20&_offset=20', ctx); // '/Patient?_count=20&_offset=20'
 */
export function upstreamPage(url: unknown, ctx: LinkContext): string | undefined {
  const u = sameRouteUrl(url, ctx);
  return u === undefined ? undefined : `${u.path}${u.search}`;
}

/**
 * A Bundle link as the gateway writes it, or `undefined` when it is dropped.
 * Kept only when it is under the record API's URL (same origin, under its
 * base path), its path re-rooted at the gateway is a safe path that matches
 * the route the request came through, and its query adds nothing the caller
 * did not send but page numbers of paging keys (`_count`, `_offset`): a link
 * is the record API's text, and text in a URL can say anything. The query is
 * re-encoded; the result is absolute, under `ctx.base`.
 *
 * @example
 * gatewayLink('http://10.0.0.5:8103/fhir/R4/Patient?_count=20&_offset=20', ctx); // 'https://records.example/Patient?_count=20&_offset=20'
 * gatewayLink('http://10.0.0.5:8103/fhir/R4?_getpages=7f3a', ctx);             // undefined: no route
 */
export function gatewayLink(url: unknown, ctx: LinkContext): string | undefined {
  if (ctx.base === undefined) return undefined;
  const u = sameRouteUrl(url, ctx);
  if (u === undefined) return undefined;
  const path = u.path;
  const query = new URLSearchParams(u.search);
  if (!onlyCallersQuery(query, new URLSearchParams(ctx.query), ctx.pagingKeys ?? DEFAULT_PAGING_KEYS)) return undefined;
  const search = query.toString();
  return `${ctx.base}${path}${search === '' ? '' : `?${search}`}`;
}

/** Every parameter of the link is one the caller sent, or a paging key with a number. */
function onlyCallersQuery(link: URLSearchParams, caller: URLSearchParams, pagingKeys: readonly string[]): boolean {
  for (const [key, value] of link) {
    if (pagingKeys.includes(key) && PAGE_NUMBER.test(value)) continue;
    if (!caller.getAll(key).includes(value)) return false;
  }
  return true;
}

/**
 * A redacted answer with its URLs made the gateway's: a Bundle's links
 * rewritten by `gatewayLink` (those it drops are gone, and `link` with them
 * when none is left), and on a FHIR route each entry's `fullUrl` rebuilt as
 * `<base><route base>/<resourceType>/<id>` from the redacted resource's own
 * `resourceType` and `id`, when both were disclosed and the id is a plain
 * FHIR id. `fullUrls: false` (ids transformed, or a de-identified answer)
 * writes none: a pseudonym is not an address. Anything else is returned as
 * it is. The input is not mutated.
 *
 * @example
 * outcome.body = gatewayUrls(outcome.body, ctx, { fullUrls: outcome.entry.transforms[idPath] === undefined });
 */
export function gatewayUrls(body: unknown, ctx: LinkContext, opts: { fullUrls: boolean }): unknown {
  if (!isPlainObject(body) || body['resourceType'] !== 'Bundle') return body;
  const out: Record<string, unknown> = { ...body };
  if (Object.hasOwn(body, 'link')) {
    const links = (Array.isArray(body['link']) ? body['link'] : []).flatMap((l) => {
      const url = isPlainObject(l) ? gatewayLink(l['url'], ctx) : undefined;
      return url === undefined ? [] : [{ relation: (l as Record<string, unknown>)['relation'], url }];
    });
    if (links.length > 0) out['link'] = links;
    else delete out['link'];
  }
  const routeBase = routeBaseOf(ctx.route);
  if (
    opts.fullUrls &&
    ctx.base !== undefined &&
    routeBase !== undefined &&
    ctx.route.list === 'entry.resource' &&
    Array.isArray(body['entry'])
  ) {
    const base = `${ctx.base}${routeBase}`;
    out['entry'] = body['entry'].map((e) => withFullUrl(e, base, ctx.route.fhirType!));
  }
  return out;
}

/** The element, `fullUrl` first, when its resource names itself plainly. */
function withFullUrl(element: unknown, base: string, type: string): unknown {
  if (!isPlainObject(element) || !isPlainObject(element['resource'])) return element;
  const { resourceType, id } = element['resource'];
  if (resourceType !== type || !isResourceType(type) || typeof id !== 'string' || !FHIR_ID.test(id)) return element;
  return { fullUrl: `${base}/${type}/${id}`, ...element };
}

/**
 * The path a FHIR route's resources live under: the route's path before the
 * segment naming its type (`/fhir` for `/fhir/Patient`), when that part is
 * plain (no parameter to fill); `undefined` otherwise.
 */
function routeBaseOf(route: Route): string | undefined {
  if (route.fhirType === undefined) return undefined;
  const segments = route.path.split('/');
  const at = segments.lastIndexOf(route.fhirType);
  if (at < 1) return undefined;
  const base = segments.slice(0, at).join('/');
  return /^(?:\/[A-Za-z0-9\-._~]+)*$/.test(base) ? base : undefined;
}
