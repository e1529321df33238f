import type { IncomingHttpHeaders } from 'node:http';
import type { AuditStore } from '../audit/types.js';
import { NO_SUCH_RECORD } from '../lib/errors.js';
import { AccessError } from '../engine/access-error.js';
import type { Admitted } from '../http/admit.js';
import { upstreamInvalid as invalid, upstreamStatus } from '../http/answer-status.js';
import { answerContentType } from '../http/media-type.js';
import { readOutcome, writeOutcome, type Outcome, type RefusedOutcome, type SourceAnswer } from '../http/outcome.js';
import { recordFirst } from '../http/refuse.js';
import { redactSpan, type SpanFacts } from '../http/spans.js';
import { checkWrite } from '../http/write-check.js';
import type { PolicySet } from '../engine/policy-set.js';
import { recordIdsOf } from '../engine/redact.js';
import { markFor } from '../fhir/withheld.js';
import { upstreamHeaders, writeContentType } from './headers.js';
import { gatewayUrls, upstreamPage, type LinkContext } from './links.js';
import { isPlainObject } from '../lib/paths.js';
import type { Route, RouteMethod } from './routes.js';
import type { Upstream, UpstreamAnswer } from './upstream.js';

/**
 * One admitted request on its way to the upstream.
 */
export interface Call {
  policies: PolicySet;
  upstream: Upstream;
  audit: AuditStore;
  admitted: Admitted;
  route: Route;
  method: RouteMethod;
  /** Path and query as checked, forwarded as is. */
  path: string;
  headers: IncomingHttpHeaders;
  /** A write's parsed body. */
  body?: unknown;
  /** How a Bundle's links and `fullUrl`s are made the gateway's (src/gateway/links.ts). */
  links: LinkContext;
}

/**
 * A read: forward, then redact the answer with the request's read plan. A
 * Bundle's links then point at the gateway, or are dropped, and its entries
 * get a `fullUrl` of the gateway's (see `gatewayUrls`): never the record API's address.
 */
export async function readThrough(call: Call): Promise<Outcome | RefusedOutcome> {
  const answer = await wholeResult(
    call,
    await call.upstream.send({ method: 'GET', path: call.path, headers: upstreamHeaders(call.headers, call.admitted.requestId) }),
  );
  const input = {
    policies: call.policies,
    admitted: call.admitted,
    answer: sourceAnswer(answer),
    list: call.route.list,
    mark: markOf(call),
  };
  const outcome = redactSpan(call.policies, spanFacts(call), () => readOutcome(input));
  if (outcome.kind === 'answer' && outcome.body !== undefined) {
    const { plan } = call.admitted;
    // A transformed id (a pseudonym) or a de-identified row is not the record's address: no fullUrl is made of it.
    const fullUrls = !plan.deidentified && outcome.entry.transforms[plan.resource.def.id] === undefined;
    outcome.body = gatewayUrls(outcome.body, call.links, { fullUrls });
  }
  return outcome;
}

/** The most rows, and pages, the gateway gathers for one search (see `wholeResult`). */
export const MAX_GATHERED_ROWS = 10_000;
const MAX_GATHERED_PAGES = 200;

/**
 * The whole result of a search the record API paged by itself, when the
 * caller may not be given a page of it: rows may be hidden from them, or
 * their purpose is de-identified (`pagedAnswerAllowed`). Where a page is cut
 * before hidden rows are removed, a short or empty page, or whether the
 * record API paged at all, depends on rows the caller may not see: an answer
 * made of one page, or a refusal because there was more than one, would
 * tell them (how many hidden rows matched, where they sit in the record
 * API's order). So the gateway follows the `next` links itself (only along
 * the same route of the same record API) and redacts the result whole. Past
 * MAX_GATHERED_ROWS rows it refuses (403 `filter_forbidden`): what that tells
 * is only that more than that many records matched the search.
 */
async function wholeResult(call: Call, first: UpstreamAnswer): Promise<UpstreamAnswer> {
  if (call.admitted.pagedAnswerAllowed || !isPagedBundle(first)) return first;
  const bundle = first.body as Record<string, unknown>;
  const entries: unknown[] = Array.isArray(bundle['entry']) ? [...bundle['entry']] : [];
  let page: UpstreamAnswer = first;
  for (let pages = 1, next = nextLink(bundle); next !== undefined; pages++, next = nextLink(page.body as Record<string, unknown>)) {
    const path = upstreamPage(next, call.links);
    if (entries.length > MAX_GATHERED_ROWS || pages >= MAX_GATHERED_PAGES) throw tooManyRows();
    // A next page the gateway cannot follow along this route (another path, another host) leaves the result
    // unknown: nothing is answered rather than a part.
    if (path === undefined) throw invalid('the record API paged this search with a link the gateway cannot follow along its route');
    page = await call.upstream.send({ method: 'GET', path, headers: upstreamHeaders(call.headers, call.admitted.requestId) });
    if (page.status !== 200 || !isPlainObject(page.body) || page.body['resourceType'] !== 'Bundle')
      throw page.status >= 400 ? upstreamStatus(page.status, false) : invalid('a page of the search is not a Bundle');
    const more = page.body['entry'];
    if (more !== undefined && !Array.isArray(more)) throw invalid('a page of the search has an entry that is not a list');
    entries.push(...(more ?? []));
  }
  if (entries.length > MAX_GATHERED_ROWS) throw tooManyRows();
  // Only `previous` (a page past the first, which such a caller cannot ask for): not the whole result.
  if (nextLink(bundle) === undefined) throw invalid('the record API answered a later page of this search');
  const links = Array.isArray(bundle['link']) ? bundle['link'].filter((l) => isPlainObject(l) && l['relation'] === 'self') : [];
  return { ...first, body: { ...bundle, link: links, entry: entries } };
}

function tooManyRows(): AccessError {
  return new AccessError(
    'filter_forbidden',
    `This search matches more than ${MAX_GATHERED_ROWS} records: some rows are hidden from you (or de-identified), so it is answered whole or not at all. Narrow the search.`,
  );
}

/** A Bundle that links to another page (`next`, or only `previous`: a page the caller asked for past the first). */
function isPagedBundle(answer: UpstreamAnswer): boolean {
  const body = answer.body;
  if (answer.status !== 200 || !isPlainObject(body) || body['resourceType'] !== 'Bundle' || !Array.isArray(body['link'])) return false;
  return body['link'].some((l) => isPlainObject(l) && ['next', 'previous', 'prev'].includes(l['relation'] as string));
}

function nextLink(bundle: Record<string, unknown>): unknown {
  const links = Array.isArray(bundle['link']) ? bundle['link'] : [];
  return (links.find((l) => isPlainObject(l) && l['relation'] === 'next') as Record<string, unknown> | undefined)?.['url'];
}

/**
 * A write: check it with the engine before the upstream sees it (refused →
 * never forwarded), record the permitted write, forward it, and redact the
 * answer as a read of one record, recorded as the write it is. An update
 * (PUT, PATCH) first GETs the record as the upstream holds it now: a
 * missing record, or one the caller may not see, answers alike (404 "No
 * such record") and nothing is forwarded; update grants with a row
 * condition and field restrictions are evaluated on it.
 *
 * @example
 * const outcome = await writeThrough({ ...call, method: 'PATCH', body: { ward: 'Ward 9' } });
 */
export async function writeThrough(call: Call): Promise<Outcome | RefusedOutcome> {
  const { admitted, policies } = call;
  const existing = call.method === 'POST' ? undefined : await fetchExisting(call);
  const checked = checkWrite({ policies, admitted, body: call.body, existing, replace: call.method === 'PUT' });
  if (checked.kind === 'refusal') return checked;
  // No change without a record: the write is in the trail before the upstream can perform it.
  await recordFirst(call.audit, checked.entry);
  const json = Buffer.from(JSON.stringify(call.body), 'utf8');
  const headers = upstreamHeaders(call.headers, admitted.requestId, writeContentType(call.headers) ?? 'application/json');
  const answer = await call.upstream.send({ method: call.method, path: call.path, headers, body: json });
  const input = { policies, admitted, answer: sourceAnswer(answer), list: undefined, mark: markOf(call) };
  return redactSpan(policies, spanFacts(call), () => writeOutcome(input));
}

/** Withheld markers (docs/fhir.md): on a FHIR route that asks for them, or whose caller's purpose does. */
function markOf(call: Call): ReturnType<typeof markFor> {
  return markFor(call.route.fhirType, call.route.markWithheld, call.admitted.plan.purpose.def.markWithheld);
}

/** What the redact span says of a call. */
function spanFacts(call: Call): SpanFacts {
  return { resource: call.route.resource, purpose: call.admitted.ctx.purpose, route: call.route.path };
}

/** The record as the upstream holds it now: every update is checked against it. */
async function fetchExisting(call: Call): Promise<unknown> {
  const path = call.path.split('?')[0]!;
  const answer = await call.upstream.send({ method: 'GET', path, headers: upstreamHeaders(call.headers, call.admitted.requestId) });
  // A success without a record (204, 205, an empty body, `null`) is a miss, as it is for a read.
  const success = answer.status >= 200 && answer.status < 300;
  if (answer.body === undefined || (success && answer.body === null)) {
    throw success ? new AccessError('not_found', NO_SUCH_RECORD.message) : upstreamStatus(answer.status, true);
  }
  const record = answer.body;
  if (record === null || typeof record !== 'object' || Array.isArray(record)) throw invalid('the record to update is not a JSON object');
  // The record read must be the one the write names: one record of the route's resource, with the id the path gives.
  const { resource } = call.admitted.plan;
  const type = (record as Record<string, unknown>)['resourceType'];
  if (type !== undefined && type !== resource.name) throw invalid(`the record to update is not a ${resource.name}`);
  const ids = recordIdsOf(record, resource.def.id);
  // Another record than the path names (`/patients/0004` read as record 4) is, for this write, no such record:
  // answered before visibility is checked, it must look like a missing record whether or not the caller may see it.
  for (const id of call.admitted.targetIds ?? []) if (!ids.includes(id)) throw new AccessError('not_found', NO_SUCH_RECORD.message);
  return record;
}

/** The upstream's answer as the lifecycle reads it. */
function sourceAnswer(answer: UpstreamAnswer): SourceAnswer {
  return { origin: 'upstream', status: answer.status, body: answer.body, contentType: answerContentType(answer.headers) };
}
