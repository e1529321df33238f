import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { expect } from 'chai';
import { pino } from 'pino';
import request from 'supertest';
import { resolveConfig } from '../../src/gateway/config.js';
import { inSpan, inSpanSync } from '../../src/http/spans.js';
import { startGateway } from '../../src/gateway/start.js';
import * as mw from '../express/harness.js';
import { as, call, NOW, POLICIES, PSEUDONYM_KEY, ROUTES, SECRET, startJsonServer, USERS } from '../gateway/helpers.js';

const REASON = 'Patient collapsed in clinic, care team unreachable';

/** Every attribute value of every span, for the checks that nothing personal is in them. */
function attributeText(spans: ReadableSpan[]): string {
  return JSON.stringify(spans.map((s) => ({ name: s.name, attributes: s.attributes, status: s.status })));
}

function named(spans: ReadableSpan[], name: string): ReadableSpan[] {
  return spans.filter((s) => s.name === name);
}

describe('http › spans without an SDK', () => {
  it("are the API's no-op spans: nothing recorded, nothing to pay for", async () => {
    const recording = await inSpan('fieldmesh.plan', { 'fieldmesh.resource': 'Patient' }, async (span) => span.isRecording());
    expect(recording).to.equal(false);
    expect(inSpanSync('fieldmesh.redact', {}, (span) => span.spanContext().traceId)).to.equal('00000000000000000000000000000000');
  });
});

describe('http › spans', function () {
  this.timeout(60000);
  const exporter = new InMemorySpanExporter();
  const open: (() => Promise<void>)[] = [];
  let manager: AsyncLocalStorageContextManager;

  // An application that registers an SDK: a tracer provider and a context manager (for nesting across awaits).
  before(() => {
    manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  });
  after(() => {
    trace.disable();
    context.disable();
  });
  afterEach(async () => {
    exporter.reset();
    for (const close of open.splice(0).reverse()) await close();
    await mw.cleanup();
  });

  async function gateway() {
    const upstream = await startJsonServer();
    open.push(() => upstream.close());
    const config = resolveConfig(
      {
        upstream: upstream.url,
        routes: ROUTES,
        policies: POLICIES,
        port: '0',
        audit: join(mkdtempSync(join(tmpdir(), 'fieldmesh-spans-')), 'audit.db'),
        jwtSecret: SECRET,
      },
      { FIELDMESH_PSEUDONYM_KEY: PSEUDONYM_KEY },
    );
    const gw = await startGateway(config, { logger: pino({ level: 'silent' }), watch: false, now: () => NOW });
    open.push(() => gw.close());
    return gw;
  }

  it('gateway: a request span with plan, upstream, redact and audit commit nested under it, saying what was decided', async () => {
    const gw = await gateway();
    expect(
      (await call(`${gw.url}/patients/pat-003`, { headers: as(USERS.nurse, 'emergency', { 'x-break-glass': REASON }) })).status,
    ).to.equal(200);
    const spans = exporter.getFinishedSpans();
    const [root] = named(spans, 'fieldmesh.request');
    expect(root, 'one request span').to.not.equal(undefined);
    expect(named(spans, 'fieldmesh.request')).to.have.length(1);
    for (const name of ['fieldmesh.plan', 'fieldmesh.upstream', 'fieldmesh.redact', 'fieldmesh.audit.commit']) {
      const [span] = named(spans, name);
      expect(span, name).to.not.equal(undefined);
      expect(span?.spanContext().traceId, name).to.equal(root?.spanContext().traceId);
      expect(span?.parentSpanContext?.spanId, `${name} under the request`).to.equal(root?.spanContext().spanId);
    }
    expect(root?.attributes).to.deep.equal({
      'http.route': '/patients/:id',
      'fieldmesh.resource': 'Patient',
      'fieldmesh.purpose': 'emergency',
      'fieldmesh.outcome': 'disclosed',
    });
    expect(named(spans, 'fieldmesh.plan')[0]?.attributes).to.include({ 'fieldmesh.purpose': 'emergency', 'fieldmesh.outcome': 'admitted' });
    expect(named(spans, 'fieldmesh.redact')[0]?.attributes).to.include({ 'http.route': '/patients/:id', 'fieldmesh.outcome': 'disclosed' });
    expect(named(spans, 'fieldmesh.audit.commit')[0]?.attributes).to.include({
      'fieldmesh.resource': 'Patient',
      'fieldmesh.outcome': 'disclosed',
    });
    const text = attributeText(spans);
    for (const leak of ['nurse-1', REASON, 'pat-003', 'ward-7', '/patients/pat']) expect(text, leak).to.not.include(leak);
  });

  it('gateway: a refused request says its code; an unknown purpose is (unknown); an unreachable upstream fails its span', async () => {
    const gw = await gateway();
    expect((await call(`${gw.url}/patients/pat-001`, { headers: as(USERS.nurse, 'zzjunk-purpose-4711') })).status).to.equal(403);
    let spans = exporter.getFinishedSpans();
    expect(named(spans, 'fieldmesh.request')[0]?.attributes).to.include({
      'fieldmesh.purpose': '(unknown)',
      'fieldmesh.outcome': 'refused',
      'fieldmesh.code': 'purpose_unknown',
    });
    expect(named(spans, 'fieldmesh.plan')[0]?.attributes).to.include({
      'fieldmesh.outcome': 'refused',
      'fieldmesh.code': 'purpose_unknown',
    });
    expect(named(spans, 'fieldmesh.upstream'), 'never forwarded').to.deep.equal([]);
    expect(attributeText(spans)).to.not.include('zzjunk');

    exporter.reset();
    await open.splice(0, 1)[0]?.(); // the upstream goes away
    expect((await call(`${gw.url}/patients`, { headers: as(USERS.nurse, 'direct-care') })).status).to.equal(502);
    spans = exporter.getFinishedSpans();
    const [up] = named(spans, 'fieldmesh.upstream');
    expect(up?.status.code).to.equal(2); // SpanStatusCode.ERROR
    expect(up?.attributes).to.include({ 'fieldmesh.code': 'upstream_unreachable' });
    expect(up?.status.message).to.equal('upstream_unreachable');
  });

  it('middleware: plan, redact and audit commit spans, nested under the span the app was in', async () => {
    const outer: string[] = [];
    const h = await mw.setup((a, mesh) => {
      // What an application's HTTP instrumentation does: a span per request, active while the route runs.
      a.use((_req, res, next) =>
        trace.getTracer('app').startActiveSpan('app.request', (span) => {
          outer.push(span.spanContext().spanId);
          res.on('finish', () => span.end());
          next();
        }),
      );
      a.get('/patients/:id', mesh.read('Patient'), mw.patientsHandler);
    });
    const server = h.app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    open.push(
      () =>
        new Promise((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await request(url).get('/patients/pat-001').set(mw.as(mw.USERS.receptionist, 'administration')).expect(200);
    const spans = exporter.getFinishedSpans();
    const [app] = named(spans, 'app.request');
    expect(outer).to.deep.equal([app?.spanContext().spanId]);
    for (const name of ['fieldmesh.plan', 'fieldmesh.redact', 'fieldmesh.audit.commit']) {
      expect(named(spans, name), name).to.have.length(1);
      expect(named(spans, name)[0]?.spanContext().traceId, name).to.equal(app?.spanContext().traceId);
    }
    expect(named(spans, 'fieldmesh.plan')[0]?.parentSpanContext?.spanId).to.equal(app?.spanContext().spanId);
    // The audit commit runs inside the redacted answer's send: under the app's request span, in the same trace.
    expect(named(spans, 'fieldmesh.audit.commit')[0]?.parentSpanContext?.spanId).to.equal(app?.spanContext().spanId);
    expect(named(spans, 'fieldmesh.redact')[0]?.attributes).to.deep.equal({
      'fieldmesh.resource': 'Patient',
      'fieldmesh.purpose': 'administration',
      'http.route': '/patients/:id',
      'fieldmesh.outcome': 'disclosed',
    });
    expect(attributeText(spans)).to.not.include('rec-1');
    expect(attributeText(spans)).to.not.include('pat-001');
  });
});
