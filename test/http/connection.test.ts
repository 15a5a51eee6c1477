import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { request as undiciRequest } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { connection, type ConnectionOptions, type HttpAuth } from '../../src/http/index.js';
import { memoryMeter } from '../../src/observability/metrics.js';
import type { AuditEntry } from '../../src/store/audit.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { type Handler, realDelay, reply, testServer, track, until } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).toReversed()) await c();
});

async function setup(handler: Handler, options: Partial<ConnectionOptions> = {}) {
  const server = await testServer(handler, options.clock === undefined ? {} : { clock: options.clock });
  const entries: AuditEntry[] = [];
  const conn = connection({
    name: 'crm',
    baseUrl: `${server.url}/v1`,
    audit: { record: (e) => entries.push(e) },
    ...options,
    policy: { retry: { backoff: () => 0 }, ...options.policy },
  });
  cleanups.push(() => server.close(), () => conn.close());
  return { server, conn, entries };
}

const echo: Handler = (_req, res, a) => reply(res, 200, { method: a.method, path: a.path, headers: a.headers, body: a.body });

describe('requests', () => {
  it('joins the base path, encodes the query, sends JSON, merges headers, parses JSON', async () => {
    const { conn } = await setup(echo, { headers: { 'User-Agent': 'weir-test', Accept: 'application/json' } });
    const got = await conn.post('/customers', { name: 'Ada' }, { query: { a: 1, tag: ['x', 'y'], skip: undefined }, headers: { accept: 'text/plain' } }).json<{
      method: string;
      path: string;
      headers: Record<string, string>;
      body: string;
    }>();
    expect(got.method).toBe('POST');
    expect(got.path).toBe('/v1/customers?a=1&tag=x&tag=y');
    expect(JSON.parse(got.body)).toEqual({ name: 'Ada' });
    expect(got.headers).toMatchObject({ 'content-type': 'application/json', 'user-agent': 'weir-test', accept: 'text/plain' });
  });

  it('has get/head/put/patch/delete and request(); text, bytes and an empty body as undefined JSON', async () => {
    const { conn, server } = await setup((_req, res, a) => {
      if (a.method !== 'DELETE') return reply(res, 200, { m: a.method });
      res.statusCode = 204;
      res.end();
    });
    expect(await conn.get('/x').json()).toEqual({ m: 'GET' });
    expect((await conn.head('/x')).status).toBe(200);
    expect(await conn.put('/x', 'raw text').text()).toBe('{"m":"PUT"}');
    expect(await conn.patch('/x', Buffer.from('{}')).json()).toEqual({ m: 'PATCH' });
    expect(await conn.delete('/x').json()).toBeUndefined();
    expect(await conn.request({ method: 'OPTIONS', path: 'x' }).json()).toEqual({ m: 'OPTIONS' });
    expect(await conn.post('/x', undefined, { json: 'a string as JSON' }).json()).toEqual({ m: 'POST' });
    expect(server.arrivals.at(-1)?.body).toBe('"a string as JSON"');
  });

  it('streams a response body', async () => {
    const { conn } = await setup((_req, res) => {
      res.write('one,');
      setTimeout(() => res.end('two'), 5);
    });
    const res = await conn.get('/stream');
    let text = '';
    for await (const chunk of res.body) text += String(chunk);
    expect(text).toBe('one,two');
  });

  it('gives every attempt its own X-Request-Id and sends the remaining deadline in ms', async () => {
    const clock = new FakeClock();
    let n = 0;
    const { conn, server, entries } = await setup((_req, res) => (n++ === 0 ? reply(res, 503) : reply(res, 200)), { clock });
    const res = await conn.get('/a', { deadline: 2_500 });
    await res.dump();
    const ids = server.arrivals.map((a) => a.headers['x-request-id']);
    expect(new Set(ids).size).toBe(2);
    expect(entries.map((e) => e.requestId)).toEqual(ids);
    expect(server.arrivals.map((a) => a.headers['x-weir-deadline'])).toEqual(['2500', '2500']);
    await (await conn.get('/b')).dump();
    expect(server.arrivals[2]?.headers['x-weir-deadline']).toBe('10000'); // the per-attempt timeout
  });

  it('sends a W3C traceparent with tracing: one trace per call, one span per attempt, the caller’s trace continued', async () => {
    let n = 0;
    const { conn, server } = await setup((_req, res) => (n++ % 2 === 0 ? reply(res, 503) : reply(res, 200)), { tracing: true });
    await (await conn.get('/a')).dump();
    const [a, b] = server.arrivals.map((x) => String(x.headers.traceparent));
    expect(a).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(a?.slice(3, 35)).toBe(b?.slice(3, 35));
    expect(a?.slice(36, 52)).not.toBe(b?.slice(36, 52));
    const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00';
    await (await conn.get('/b', { traceparent: parent })).dump();
    expect(String(server.arrivals.at(-1)?.headers.traceparent)).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-00$/);
  });
});

describe('errors', () => {
  it('a 4xx is WEIR_HTTP_STATUS, permanent, not retried, with a bounded and redacted body excerpt', async () => {
    const long = { error: 'bad', access_token: 'tok-123', text: 'x'.repeat(5_000) };
    const { conn, server } = await setup((_req, res) => reply(res, 422, long), { maxErrorBodyBytes: 200 });
    const err = (await conn.post('/x', {}, { idempotencyKey: 'k' }).catch((e: unknown) => e)) as Record<string, unknown>;
    expect(err).toMatchObject({ code: 'WEIR_HTTP_STATUS', status: 422, classification: 'permanent', method: 'POST', path: '/v1/x', system: 'crm' });
    expect(server.arrivals).toHaveLength(1);
    const body = err.body as string;
    expect(body.length).toBeLessThanOrEqual(201);
    expect(body).toContain('"access_token":"[REDACTED]"');
    expect(body).not.toContain('tok-123');
  });

  it('accept turns statuses into responses', async () => {
    const { conn } = await setup((_req, res) => reply(res, 404, { error: 'not_found' }));
    const res = await conn.get('/customers/1', { accept: [404] });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'not_found' });
  });

  it('an unanswered attempt times out (WEIR_TIMEOUT), a GET is retried, each attempt is audited as a timeout', async () => {
    const clock = new FakeClock();
    const { conn, server, entries } = await setup(() => undefined, { clock, timeoutMs: 1_000, policy: { retry: { attempts: 2, backoff: () => 0 } } });
    const call = track(conn.get('/slow'));
    await server.waitFor(1);
    await clock.advance(1_000);
    await server.waitFor(2);
    await clock.advance(1_000);
    await expect(call.promise).rejects.toMatchObject({ code: 'WEIR_TIMEOUT' });
    await until(() => entries.length === 2);
    expect(entries.map((e) => [e.attempt, e.status, e.outcome])).toEqual([
      [1, null, 'timeout'],
      [2, null, 'timeout'],
    ]);
  });

  it('a refused connection is WEIR_NETWORK with sent=false, retried, then given up with attempts set', async () => {
    const port = await freePort();
    const conn = connection({ name: 'down', baseUrl: `http://127.0.0.1:${port}`, policy: { retry: { attempts: 3, backoff: () => 0 } } });
    cleanups.push(() => conn.close());
    const err = await conn.post('/x', {}).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WEIR_NETWORK', sent: false, errorCode: 'ECONNREFUSED', attempts: 3, classification: 'transient' });
  });

  it('the caller’s signal cancels in flight and while held, and nothing more is sent', async () => {
    const clock = new FakeClock();
    const { conn, server } = await setup((_req, res, a) => (a.seq === 1 ? reply(res, 429, {}, { 'retry-after': '60' }) : undefined), {
      clock,
      policy: { deadlineMs: 600_000, retry: { attempts: 1 } },
    });
    await conn.get('/first').catch(() => undefined);
    expect(conn.state().limits.heldUntil).toBeGreaterThan(clock.now());
    const held = new AbortController();
    const waiting = track(conn.get('/held', { signal: held.signal }));
    await realDelay(10);
    held.abort();
    await expect(waiting.promise).rejects.toMatchObject({ code: 'WEIR_CANCELLED' });
    expect(server.arrivals).toHaveLength(1);

    await clock.advance(60_000);
    const inFlight = new AbortController();
    const hanging = track(conn.get('/hang', { signal: inFlight.signal }));
    await server.waitFor(2);
    inFlight.abort(new Error('caller gave up'));
    await expect(hanging.promise).rejects.toMatchObject({ code: 'WEIR_CANCELLED' });
  });
});

describe('protection', () => {
  it('an open breaker refuses locally: WEIR_CIRCUIT_OPEN, nothing sent, audited as rejected, circuit state exported', async () => {
    const meter = memoryMeter();
    const { conn, server, entries } = await setup((_req, res) => reply(res, 500), {
      metrics: meter,
      policy: { retry: false, breaker: { strategy: { consecutive: 2 }, openMs: 60_000 } },
    });
    for (let i = 0; i < 2; i++) await conn.get('/x').catch(() => undefined);
    expect(conn.state().breaker).toBe('open');
    const err = await conn.get('/x').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WEIR_CIRCUIT_OPEN' });
    expect(server.arrivals).toHaveLength(2);
    expect(entries.map((e) => [e.status, e.outcome])).toEqual([
      [500, 'http_error'],
      [500, 'http_error'],
      [null, 'rejected'],
    ]);
    expect(entries[2]?.detail).toMatchObject({ error: 'WEIR_CIRCUIT_OPEN' });
    expect(meter.last('weir_circuit_state', { system: 'crm' })).toBe(1);
    expect(meter.total('weir_http_rejected_total', { system: 'crm', reason: 'WEIR_CIRCUIT_OPEN' })).toBe(1);
  });

  it('a full bulkhead refuses locally: WEIR_BULKHEAD_FULL, audited as rejected', async () => {
    const held: Array<() => void> = [];
    const { conn, server, entries } = await setup((_req, res) => void held.push(() => reply(res, 200)), { policy: { bulkhead: { maxConcurrent: 1 } } });
    const first = conn.get('/slow');
    await server.waitFor(1);
    await expect(conn.get('/other')).rejects.toMatchObject({ code: 'WEIR_BULKHEAD_FULL' });
    held[0]?.();
    await (await first).dump();
    expect(entries.map((e) => [e.path, e.outcome])).toEqual([
      ['/v1/other', 'rejected'],
      ['/v1/slow', 'ok'],
    ]);
  });

  it('records metrics: requests by status class, durations, retries, budget exhaustion', async () => {
    const meter = memoryMeter();
    let n = 0;
    const { conn } = await setup((_req, res) => (n++ % 2 === 0 ? reply(res, 503) : reply(res, 200)), {
      metrics: meter,
      policy: { budget: { ratio: 0, minRetriesPerSecond: 0.1, windowMs: 10_000 } },
    });
    await (await conn.get('/a')).dump(); // 503, retried, 200
    await conn.get('/b').catch(() => undefined); // 503, budget spent: no retry
    expect(meter.total('weir_api_requests_total', { system: 'crm', status_class: '5xx' })).toBe(2);
    expect(meter.total('weir_api_requests_total', { system: 'crm', status_class: '2xx' })).toBe(1);
    expect(meter.total('weir_http_retries_total')).toBe(1);
    expect(meter.total('weir_http_retry_budget_exhausted_total')).toBe(1);
    expect(meter.values('weir_http_attempt_duration_seconds')).toHaveLength(3);
    await until(() => meter.values('weir_http_call_duration_seconds').length === 2);
    expect(meter.values('weir_http_call_duration_seconds', { outcome: 'ok' })).toHaveLength(1);
    expect(meter.values('weir_http_call_duration_seconds', { outcome: 'http_error' })).toHaveLength(1);
  });
});

describe('auth', () => {
  it('renews on 401 and sends once more, with a new X-Request-Id; both exchanges are audited', async () => {
    const scheme = rotatingBearer(['old-token', 'new-token']);
    const { conn, server, entries } = await setup(
      (req, res) => (req.headers.authorization === 'Bearer new-token' ? reply(res, 201, { ok: true }) : reply(res, 401, { error: 'token_expired' })),
      { auth: scheme },
    );
    const res = await conn.post('/contacts', { email: 'a@b.c' });
    expect(res.status).toBe(201);
    await res.dump();
    expect(scheme.renewals).toBe(1);
    expect(server.arrivals.map((a) => a.headers.authorization)).toEqual(['Bearer old-token', 'Bearer new-token']);
    expect(server.arrivals.map((a) => a.body)).toEqual(['{"email":"a@b.c"}', '{"email":"a@b.c"}']);
    expect(new Set(server.arrivals.map((a) => a.headers['x-request-id'])).size).toBe(2);
    expect(entries.map((e) => [e.status, e.outcome, e.attempt])).toEqual([
      [401, 'http_error', 1],
      [201, 'ok', 1],
    ]);
  });

  it('a 401 the scheme cannot fix is WEIR_HTTP_STATUS 401, permanent, sent once', async () => {
    const scheme = rotatingBearer(['only']);
    const { conn, server } = await setup((_req, res) => reply(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' }), { auth: scheme });
    await expect(conn.get('/x')).rejects.toMatchObject({ code: 'WEIR_HTTP_STATUS', status: 401, classification: 'permanent' });
    expect(server.arrivals).toHaveLength(1);
  });

  it('waits for an asynchronous credential, and an abort cuts the wait short', async () => {
    const pending: Array<(token: string) => void> = [];
    const scheme: HttpAuth = {
      kind: 'slow',
      async apply(req) {
        req.headers.authorization = `Bearer ${await new Promise<string>((r) => pending.push(r))}`;
      },
    };
    const { conn, server } = await setup(echo, { auth: scheme });
    const ac = new AbortController();
    const aborted = conn.get('/x', { signal: ac.signal });
    await until(() => pending.length === 1);
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'WEIR_CANCELLED' });
    const ok = conn.get('/y');
    await until(() => pending.length === 2);
    pending[1]?.('t1');
    pending[0]?.('late'); // the cancelled call's token arrives too late to send anything
    expect((await ok.json<{ headers: Record<string, string> }>()).headers.authorization).toBe('Bearer t1');
    await realDelay(10);
    expect(server.arrivals.map((a) => a.path)).toEqual(['/v1/y']);
  });
});

describe('composition and options', () => {
  it('exposes the composed dispatcher to undici’s own request()', async () => {
    const { conn, server, entries } = await setup(echo);
    const res = await undiciRequest(`${server.url}/v1/raw`, { dispatcher: conn.dispatcher });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(server.arrivals[0]?.headers['x-request-id']).toBeDefined();
    expect(entries).toHaveLength(1);
  });

  it('validates options eagerly, naming them', () => {
    const bad: Array<[Partial<ConnectionOptions>, string]> = [
      [{ name: '' }, 'connection.name'],
      [{ baseUrl: 'ftp://x' }, 'connection.baseUrl'],
      [{ baseUrl: 'http://x/?token=1' }, 'connection.baseUrl'],
      [{ policy: { deadlineMs: -1 } }, 'resilience.deadlineMs'],
      [{ policy: { retry: { attempts: 0 } } }, 'retry.attempts'],
      [{ idempotency: { header: 'bad header' } }, 'idempotency.header'],
    ];
    for (const [o, option] of bad) {
      expect(() => connection({ name: 'x', baseUrl: 'http://127.0.0.1:1', ...o })).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION', option }));
    }
    // `maxAttempts` (the architecture's name) replaces the preset's default `attempts`.
    expect(connection({ name: 'x', baseUrl: 'http://127.0.0.1:1', policy: { retry: { maxAttempts: 2 } } }).policies.retry?.attempts).toBe(2);
  });

  it('validates call options: a bad Idempotency-Key or path rejects before anything is sent', async () => {
    const { conn, server } = await setup(echo);
    await expect(conn.post('/x', {}, { idempotencyKey: 'ünïcode' })).rejects.toMatchObject({ code: 'WEIR_INVALID_OPTION', option: 'idempotencyKey' });
    await expect(conn.get('https://elsewhere.example/x')).rejects.toMatchObject({ code: 'WEIR_INVALID_OPTION', option: 'path' });
    expect(server.arrivals).toHaveLength(0);
  });
});

/** A static bearer token that rotates once on a 401, as an inline HttpAuth. */
function rotatingBearer(tokens: string[]): HttpAuth & { renewals: number } {
  let i = 0;
  const scheme = {
    kind: 'static-bearer',
    renewals: 0,
    apply(req: { headers: Record<string, string> }) {
      req.headers.authorization = `Bearer ${tokens[i]}`;
    },
    onUnauthorized(failure: { error: string | undefined; request?: { headers: Record<string, string> } | undefined }) {
      if (failure.error !== 'token_expired' || i + 1 >= tokens.length) return false;
      // The refused credential is the one the attempt carried.
      if (failure.request?.headers.authorization !== `Bearer ${tokens[i]}`) return false;
      i++;
      scheme.renewals++;
      return true;
    },
  };
  return scheme;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
