/**
 * `weir/observability/otel` against a real OpenTelemetry SDK (BasicTracerProvider + in-memory
 * exporter, AsyncLocalStorage context, the W3C propagator of @opentelemetry/core), a real local
 * HTTP server that records the `traceparent` of each attempt, and a queue on a SQLite file.
 */
import { context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connection, type Connection } from '../../src/http/index.js';
import { otelTracing, w3cTraceContext } from '../../src/observability/otel/index.js';
import type { Message } from '../../src/queue/index.js';
import { receiver } from '../../src/webhooks/index.js';
import { sqliteQueue, waitFor } from '../queue/harness.js';
import { ESP_SECRET, espDelivery, espScheme } from '../webhooks/receiver-helpers.js';
import { testServer, type TestServer } from '../http/helpers.js';

const TOKEN = 'Bearer s3cr3t-token-0123456789';
const API_KEY = 'k3y-SUPERSECRET-42';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = provider.getTracer('otel-test');
const tracing = otelTracing({ tracer, propagator: new W3CTraceContextPropagator() });

let server: TestServer;
/** Statuses the server answers with, in order; 200 once they run out. */
let script: number[] = [];
const open: Array<{ close(): Promise<void> }> = [];

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  server = await testServer((_req, res) => {
    const status = script.shift() ?? 200;
    if (status === 0) return; // never answers
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status }));
  });
});

afterAll(async () => {
  await server.close();
  await provider.shutdown();
  context.disable();
});

beforeEach(() => {
  exporter.reset();
  script = [];
  server.arrivals.length = 0;
});

afterEach(async () => {
  for (const o of open.splice(0).toReversed()) await o.close();
});

function conn(options: { tracing?: typeof tracing | boolean } = { tracing }): Connection {
  const c = connection({
    name: 'esp',
    baseUrl: `${server.url}/v3`,
    headers: { authorization: TOKEN },
    policy: { retry: { maxAttempts: 3, backoff: () => 1 }, breaker: false },
    ...options,
  });
  open.push(c);
  return c;
}

const clientSpans = (): ReadableSpan[] => exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT);
const consumerSpans = (): ReadableSpan[] => exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CONSUMER);
const traceparentOf = (s: ReadableSpan): string => `00-${s.spanContext().traceId}-${s.spanContext().spanId}-01`;

/** Runs `fn` inside a new active span, ends it, and returns the span's ids. */
async function inSpan(name: string, fn: () => Promise<unknown>): Promise<{ traceId: string; spanId: string }> {
  return tracer.startActiveSpan(name, async (span: Span) => {
    try {
      await fn();
    } finally {
      span.end();
    }
    return { traceId: span.spanContext().traceId, spanId: span.spanContext().spanId };
  });
}

describe('outbound HTTP', () => {
  it('gives every attempt its own CLIENT span, child of the active span, and sends its traceparent', async () => {
    script = [503];
    const esp = conn();
    const root = await inSpan('job', () => esp.get('/contacts', { query: { api_key: API_KEY, page: 2 }, correlationId: 'msg-1' }).json());

    const spans = clientSpans();
    expect(spans).toHaveLength(2);
    expect(server.arrivals).toHaveLength(2);
    spans.forEach((span, i) => {
      expect(span.name).toBe('HTTP GET');
      expect(span.spanContext().traceId).toBe(root.traceId);
      expect(span.parentSpanContext?.spanId).toBe(root.spanId);
      // The server saw this attempt's own span in traceparent, and its X-Request-Id is on the span.
      const arrival = server.arrivals[i];
      expect(arrival?.headers.traceparent).toBe(traceparentOf(span));
      expect(span.attributes['weir.request_id']).toBe(arrival?.headers['x-request-id']);
      expect(span.attributes).toMatchObject({
        'http.request.method': 'GET',
        'server.address': '127.0.0.1',
        'server.port': server.port,
        'weir.system': 'esp',
        'weir.attempt': i + 1,
        'weir.correlation_id': 'msg-1',
      });
      expect(span.attributes['url.full']).toMatch(new RegExp(`^${server.url}/v3/contacts\\?api_key=[^&]+&page=2$`));
    });
    const [first, second] = spans as [ReadableSpan, ReadableSpan];
    expect(first.spanContext().spanId).not.toBe(second.spanContext().spanId);
    expect(first.attributes['http.response.status_code']).toBe(503);
    expect(first.attributes['error.type']).toBe('503');
    expect(first.status.code).toBe(SpanStatusCode.ERROR);
    expect(second.attributes['http.response.status_code']).toBe(200);
    expect(second.attributes['http.request.resend_count']).toBe(1);
    expect(second.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('marks a failing attempt with error status, and records no secret anywhere', async () => {
    script = [503];
    const esp = conn();
    const error = await esp.post('/contacts', { email: 'a@example.com' }, { query: { api_key: API_KEY }, retry: false }).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('WEIR_HTTP_STATUS');

    const [span, ...more] = clientSpans();
    expect(more).toHaveLength(0);
    expect(span?.name).toBe('HTTP POST');
    expect(span?.status).toMatchObject({ code: SpanStatusCode.ERROR, message: '503' });
    expect(span?.attributes['http.response.status_code']).toBe(503);
    expect(span?.parentSpanContext).toBeUndefined(); // no active span: a trace of its own
    expect(server.arrivals[0]?.headers.traceparent).toBe(traceparentOf(span as ReadableSpan));
    const everything = JSON.stringify(exporter.getFinishedSpans().map((s) => ({ name: s.name, attributes: s.attributes, status: s.status, events: s.events })));
    expect(everything).not.toContain(API_KEY);
    expect(everything).not.toContain('s3cr3t');
    expect(everything.toLowerCase()).not.toContain('authorization');
  });

  it('ends the span with the error code of a transport failure', async () => {
    const dead = connection({ name: 'dead', baseUrl: 'http://127.0.0.1:1', tracing, policy: { retry: false, breaker: false } });
    open.push(dead);
    const error = await dead.get('/x').catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('WEIR_NETWORK');
    const [span] = clientSpans();
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(span?.attributes['error.type']).toBe('ECONNREFUSED'); // the transport's own code, as it reached the wire
    expect(span?.attributes['http.response.status_code']).toBeUndefined();
  });

  it('ends the span of an attempt that timed out', async () => {
    script = [0];
    const slow = connection({ name: 'slow', baseUrl: server.url, tracing, policy: { retry: false, breaker: false, attemptTimeoutMs: 50 } });
    open.push(slow);
    const error = await slow.get('/slow').catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('WEIR_TIMEOUT');
    const [span] = clientSpans();
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(span?.attributes['error.type']).toBe('WEIR_TIMEOUT');
  });

  it('continues an explicit traceparent option instead of the active context', async () => {
    const esp = conn();
    const given = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await inSpan('other', () => esp.get('/x', { traceparent: given }).text());
    const [span] = clientSpans();
    expect(span?.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(span?.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
  });

  it('changes nothing without a tracing hook: no span, no traceparent', async () => {
    const plain = conn({});
    await inSpan('job', () => plain.get('/x').text());
    expect(clientSpans()).toHaveLength(0);
    expect(server.arrivals[0]?.headers.traceparent).toBeUndefined();
    expect(() => connection({ name: 'x', baseUrl: server.url, tracing: {} as never })).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION' }));
  });
});

describe('messages', () => {
  it('carries the producer trace through enqueue into a CONSUMER span, and the handler call is its child', async () => {
    const h = await sqliteQueue({ tracing });
    open.push({ close: h.cleanup });
    const esp = conn();
    const seen: Message[] = [];
    await h.queue.handle('contacts', async (m) => {
      seen.push(m);
      await esp.put(`/contacts/${String((m.payload as { id: string }).id)}`, { ok: true }, { correlationId: m.id }).text();
    });

    const producer = await inSpan('request', () => h.queue.enqueue('contacts', { id: 'c1' }, { key: 'c1' }));
    await waitFor(() => clientSpans().length === 1 && consumerSpans().length === 1, h.clock);

    expect(seen[0]?.headers.traceparent).toMatch(new RegExp(`^00-${producer.traceId}-${producer.spanId}-01$`));
    const [consumer] = consumerSpans() as [ReadableSpan];
    expect(consumer.name).toBe('process contacts');
    expect(consumer.spanContext().traceId).toBe(producer.traceId);
    expect(consumer.parentSpanContext?.spanId).toBe(producer.spanId);
    expect(consumer.attributes).toMatchObject({
      'messaging.system': 'weir',
      'messaging.operation.type': 'process',
      'messaging.destination.name': 'contacts',
      'messaging.message.id': seen[0]?.id,
      'weir.delivery': 1,
      'weir.attempt': 1,
    });
    const [client] = clientSpans() as [ReadableSpan];
    expect(client.spanContext().traceId).toBe(producer.traceId);
    expect(client.parentSpanContext?.spanId).toBe(consumer.spanContext().spanId);
    expect(server.arrivals[0]?.headers.traceparent).toBe(traceparentOf(client));
  });

  it('starts a new trace for a message enqueued without an active context, and marks a failing handler', async () => {
    const h = await sqliteQueue({ tracing });
    open.push({ close: h.cleanup });
    const esp = conn();
    let calls = 0;
    const got: Message[] = [];
    await h.queue.handle(
      'jobs',
      async (m) => {
        got.push(m);
        calls++;
        await esp.get('/job').text();
        if (calls === 1) throw Object.assign(new Error('boom'), { code: 'JOB_FAILED' });
      },
      { retry: { immediate: 1, schedule: [] } },
    );

    const traced = await inSpan('request', () => h.queue.enqueue('jobs', { n: 1 }));
    await waitFor(() => consumerSpans().length === 2, h.clock);
    const untracedId = await h.queue.enqueue('jobs', { n: 2 }, { headers: { 'x-tenant': 't1' } });
    await waitFor(() => consumerSpans().length === 3 && clientSpans().length === 3, h.clock);

    const [failed, retried, fresh] = consumerSpans() as [ReadableSpan, ReadableSpan, ReadableSpan];
    expect(failed.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'JOB_FAILED' });
    expect(failed.attributes['error.type']).toBe('JOB_FAILED');
    expect(retried.status.code).toBe(SpanStatusCode.UNSET);
    expect(retried.attributes['weir.attempt']).toBe(2);
    expect([failed, retried].map((s) => s.spanContext().traceId)).toEqual([traced.traceId, traced.traceId]);

    expect(fresh.attributes['messaging.message.id']).toBe(untracedId);
    expect(fresh.parentSpanContext).toBeUndefined();
    expect(fresh.spanContext().traceId).not.toBe(traced.traceId);
    const last = clientSpans()[2] as ReadableSpan;
    expect(last.spanContext().traceId).toBe(fresh.spanContext().traceId);
    expect(last.parentSpanContext?.spanId).toBe(fresh.spanContext().spanId);
    expect(got[2]?.headers).toEqual({ 'x-tenant': 't1' });
  });

  it("keeps the caller's own traceparent header over the active context", async () => {
    const h = await sqliteQueue({ tracing });
    open.push({ close: h.cleanup });
    const mine = '00-11111111111111111111111111111111-2222222222222222-01';
    const got: Message[] = [];
    await h.queue.handle('t', (m) => void got.push(m));
    await inSpan('request', () => h.queue.enqueue('t', null, { headers: { traceparent: mine } }));
    await waitFor(() => consumerSpans().length === 1, h.clock);
    expect(got[0]?.headers.traceparent).toBe(mine);
    expect(consumerSpans()[0]?.spanContext().traceId).toBe('11111111111111111111111111111111');
  });

  it('changes nothing without a tracing hook: headers as given, no span', async () => {
    const h = await sqliteQueue();
    open.push({ close: h.cleanup });
    const got: Message[] = [];
    await h.queue.handle('plain', (m) => void got.push(m));
    await inSpan('request', () => h.queue.enqueue('plain', 1, { headers: { a: 'b' } }));
    await waitFor(() => got.length === 1, h.clock);
    expect(got[0]?.headers).toEqual({ a: 'b' });
    expect(consumerSpans()).toHaveLength(0);
  });
});

describe('inbound webhooks', () => {
  it('continues the sender trace: webhook → message → outbound HTTP is one trace (keepHeaders)', async () => {
    const h = await sqliteQueue({ tracing });
    open.push({ close: h.cleanup });
    const esp = conn();
    await h.queue.handle('esp-events', async () => {
      await esp.get('/contacts/esp_1').text();
    });
    const hook = receiver({ scheme: espScheme, secret: ESP_SECRET, queue: h.queue, topic: 'esp-events', dedupBy: 'X-ESP-Delivery', keepHeaders: ['traceparent', 'tracestate'] });
    const d = espDelivery('esp_1');
    const sender = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const res = await hook.fetch(new Request('http://localhost/hooks', { method: 'POST', headers: { ...d.headers, traceparent: sender }, body: d.body }));
    expect(res.status).toBe(200);
    await waitFor(() => consumerSpans().length === 1 && clientSpans().length === 1, h.clock);
    const [consumer] = consumerSpans() as [ReadableSpan];
    const [client] = clientSpans() as [ReadableSpan];
    expect(consumer.spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(consumer.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(client.parentSpanContext?.spanId).toBe(consumer.spanContext().spanId);
    expect(server.arrivals[0]?.headers.traceparent).toBe(traceparentOf(client));
  });
});

describe('w3cTraceContext (the default propagator)', () => {
  it('round-trips traceparent and tracestate, and ignores invalid ones', () => {
    const getter = { get: (c: Record<string, string>, k: string) => c[k], keys: (c: Record<string, string>) => Object.keys(c) };
    const setter = { set: (c: Record<string, string>, k: string, v: string) => void (c[k] = v) };
    const carrier = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'vendor=abc,other=x' };
    const ctx = w3cTraceContext.extract(context.active(), carrier, getter);
    expect(trace.getSpanContext(ctx)).toMatchObject({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, isRemote: true });
    const out: Record<string, string> = {};
    w3cTraceContext.inject(ctx, out, setter);
    expect(out).toEqual(carrier);
    for (const bad of ['ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', '00-00000000000000000000000000000000-b7ad6b7169203331-01', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x', 'garbage']) {
      expect(trace.getSpanContext(w3cTraceContext.extract(context.active(), { traceparent: bad }, getter))).toBeUndefined();
    }
  });

  it('is what otelTracing() uses by default, end to end', async () => {
    const esp = connection({ name: 'esp', baseUrl: server.url, tracing: otelTracing({ tracer }), policy: { retry: false } });
    open.push(esp);
    const root = await inSpan('job', () => esp.get('/x').text());
    const [span] = clientSpans();
    expect(span?.spanContext().traceId).toBe(root.traceId);
    expect(server.arrivals[0]?.headers.traceparent).toBe(traceparentOf(span as ReadableSpan));
  });
});
