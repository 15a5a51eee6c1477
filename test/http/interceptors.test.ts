/**
 * Each interceptor on its own, composed onto a plain undici Agent: the connection is one
 * composition of them, not the only way to use them.
 */
import { Agent, type Dispatcher } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import {
  audit,
  auth,
  connectionLimits,
  type HttpAuth,
  idempotencyKey,
  rateLimit,
  requestId,
  retry,
  timeout,
  type WeirDispatchOptions,
} from '../../src/http/index.js';
import type { AuditEntry } from '../../src/store/audit.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { type Handler, realDelay, reply, type TestServer, testServer, track } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).toReversed()) await c();
});

async function compose(handler: Handler, interceptors: Dispatcher.DispatcherComposeInterceptor[], clock?: FakeClock): Promise<{ server: TestServer; d: Dispatcher }> {
  const server = await testServer(handler, clock === undefined ? {} : { clock });
  const agent = new Agent();
  cleanups.push(() => server.close(), () => agent.close());
  return { server, d: agent.compose(interceptors) };
}

function send(d: Dispatcher, server: TestServer, o: Partial<WeirDispatchOptions> & { path?: string } = {}): Promise<Dispatcher.ResponseData> {
  return d.request({ origin: server.url, path: '/x', method: 'GET', ...o } as Dispatcher.RequestOptions);
}

describe('retry()', () => {
  it('retries a retryable status on a GET and delivers the success', async () => {
    let n = 0;
    const { server, d } = await compose((_req, res) => (n++ < 2 ? reply(res, 503) : reply(res, 200, { ok: 1 })), [retry({ attempts: 3, backoff: () => 0 })]);
    const res = await send(d, server);
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toEqual({ ok: 1 });
    expect(server.arrivals).toHaveLength(3);
  });

  it('delivers a non-retryable status as a response, and gives up with WEIR_HTTP_STATUS', async () => {
    const { server, d } = await compose((_req, res, a) => reply(res, a.path === '/missing' ? 404 : 502), [retry({ attempts: 2, backoff: () => 0 })]);
    const missing = await send(d, server, { path: '/missing' });
    expect(missing.statusCode).toBe(404);
    await missing.body.dump();
    await expect(send(d, server)).rejects.toMatchObject({ code: 'WEIR_HTTP_STATUS', status: 502, attempts: 2 });
  });

  it('does not repeat a POST without a key; does with opts.weir.idempotencyKey below idempotencyKey()', async () => {
    const { server, d } = await compose((_req, res) => reply(res, 503), [idempotencyKey(), retry({ attempts: 2, backoff: () => 0 })]);
    await expect(send(d, server, { method: 'POST', body: '{}' })).rejects.toMatchObject({ status: 503, attempts: 1 });
    expect(server.arrivals).toHaveLength(1);
    await expect(send(d, server, { method: 'POST', body: '{}', weir: { idempotencyKey: 'op-1' } })).rejects.toMatchObject({ status: 503, attempts: 2 });
    expect(server.arrivals.slice(1).map((a) => a.headers['idempotency-key'])).toEqual(['op-1', 'op-1']);
  });
});

describe('timeout()', () => {
  it('aborts an exchange without headers in time with WEIR_TIMEOUT', async () => {
    const { server, d } = await compose(() => undefined, [timeout(50)]);
    await expect(send(d, server)).rejects.toMatchObject({ code: 'WEIR_TIMEOUT' });
  });

  it('below retry() it limits each attempt', async () => {
    let n = 0;
    const { server, d } = await compose((_req, res) => (n++ === 0 ? undefined : reply(res, 200)), [timeout(50), retry({ attempts: 2, backoff: () => 0 })]);
    expect((await send(d, server)).statusCode).toBe(200);
    expect(server.arrivals).toHaveLength(2);
  });
});

describe('rateLimit()', () => {
  it('holds every later request until Retry-After, then lets them through', async () => {
    const clock = new FakeClock();
    const limited = rateLimit(connectionLimits({ clock }));
    const { server, d } = await compose((_req, res, a) => (a.seq === 1 ? reply(res, 429, {}, { 'retry-after': '5' }) : reply(res, 200)), [limited], clock);
    expect((await send(d, server)).statusCode).toBe(429);
    expect(limited.limits.state().heldUntil).toBe(clock.now() + 5_000);
    const next = track(send(d, server));
    await clock.advance(4_999);
    await realDelay(20);
    expect(server.arrivals).toHaveLength(1);
    await clock.advance(1);
    expect((await next.promise).statusCode).toBe(200);
  });

  it('paces to a client-side rate', async () => {
    const clock = new FakeClock();
    const { server, d } = await compose((_req, res) => reply(res, 200), [rateLimit({ perSecond: 1, burst: 1, clock })], clock);
    await (await send(d, server)).body.dump();
    const second = track(send(d, server));
    await realDelay(20);
    expect(server.arrivals).toHaveLength(1);
    await clock.advance(1_000);
    expect((await second.promise).statusCode).toBe(200);
  });
});

describe('idempotencyKey(), requestId(), auth(), audit()', () => {
  it('idempotencyKey() keeps a key the request already carries, and sets one from opts.weir', async () => {
    const { server, d } = await compose((_req, res) => reply(res, 200), [idempotencyKey({ header: 'X-Idempotency-Key' })]);
    await (await send(d, server, { method: 'POST', headers: { 'X-Idempotency-Key': 'mine' } })).body.dump();
    await (await send(d, server, { method: 'POST', weir: { idempotencyKey: 'given' } })).body.dump();
    await (await send(d, server, { method: 'POST' })).body.dump();
    expect(server.arrivals.map((a) => a.headers['x-idempotency-key'])).toEqual(['mine', 'given', undefined]);
  });

  it('requestId() stamps a fresh id per request, with a custom header and generator', async () => {
    let i = 0;
    const { server, d } = await compose((_req, res) => reply(res, 200), [requestId({ header: 'X-Correlation-Id', generate: () => `id-${++i}` })]);
    for (let k = 0; k < 2; k++) await (await send(d, server)).body.dump();
    expect(server.arrivals.map((a) => a.headers['x-correlation-id'])).toEqual(['id-1', 'id-2']);
  });

  it('auth() applies the credential to each request', async () => {
    const scheme: HttpAuth = { kind: 'key', apply: (r) => void (r.headers['x-api-key'] = 'k1') };
    const { server, d } = await compose((_req, res) => reply(res, 200), [auth(scheme)]);
    await (await send(d, server)).body.dump();
    expect(server.arrivals[0]?.headers['x-api-key']).toBe('k1');
  });

  it('audit() records one entry per exchange with the request id stamped above it', async () => {
    const entries: AuditEntry[] = [];
    const { server, d } = await compose((_req, res) => reply(res, 201), [audit({ system: 'svc', sink: { record: (e) => entries.push(e) } }), requestId()]);
    await (await send(d, server, { method: 'POST', path: '/items?api_key=s3cr3t&page=2', weir: { correlationId: 'op-7' } })).body.dump();
    expect(entries).toEqual([
      expect.objectContaining({
        direction: 'outbound',
        system: 'svc',
        method: 'POST',
        path: '/items?api_key=[REDACTED]&page=2',
        status: 201,
        outcome: 'ok',
        attempt: 1,
        correlationId: 'op-7',
        requestId: server.arrivals[0]?.headers['x-request-id'],
      }),
    ]);
  });
});
