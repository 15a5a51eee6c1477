/**
 * The client side of rate limits, against real HTTP servers on 127.0.0.1 with a FakeClock: the
 * connection holds every caller until the time the server named, and no request goes out early.
 * While the FakeClock stands still no timer of the client can fire, so "nothing arrived during a
 * real pause" proves nothing was sent before the hold ended.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { connection, type Connection, type ConnectionOptions, HTTP_ATTEMPT_CHANNEL, type HttpAttemptDiagnostic } from '../../src/http/index.js';
import type { AuditEntry } from '../../src/store/audit.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { seededRandom } from '../../src/testing/seeded-random.js';
import { type Handler, realDelay, reply, type TestServer, testServer, track, until } from './helpers.js';

const T0 = Date.UTC(2026, 0, 1);
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).toReversed()) await c();
});

async function setup(handler: Handler, options: Partial<ConnectionOptions> = {}) {
  const clock = new FakeClock(T0);
  const server = await testServer(handler, { clock });
  const entries: AuditEntry[] = [];
  const conn = connection({
    name: 'api',
    baseUrl: server.url,
    clock,
    audit: { record: (e) => entries.push(e) },
    ...options,
    policy: { retry: { attempts: 3, backoff: () => 0 }, deadlineMs: 7_200_000, ...options.policy },
  });
  cleanups.push(() => server.close(), () => conn.close());
  return { clock, server, conn, entries };
}

/** 429 with `retryAfter` on the first request, 200 after. */
function limitedOnce(retryAfter: (now: number) => string, status = 429): Handler {
  return (_req, res, a) => (a.seq === 1 ? reply(res, status, { error: 'slow down' }, { 'retry-after': retryAfter(a.at) }) : reply(res, 200, { seq: a.seq }));
}

async function expectHeldUntil(t: { clock: FakeClock; server: TestServer; conn: Connection }, heldUntil: number, arrivedBefore: number): Promise<void> {
  expect(t.conn.state().limits.heldUntil).toBe(heldUntil);
  await t.clock.advance(heldUntil - t.clock.now() - 1);
  await realDelay(30);
  expect(t.server.arrivals).toHaveLength(arrivedBefore);
}

describe('Retry-After', () => {
  it('delay-seconds: the retry and every other caller wait until the named time, not a millisecond less', async () => {
    const t = await setup(limitedOnce(() => '30'));
    const first = track(t.conn.get('/a').json());
    await until(() => t.entries.length === 1);
    const others = [t.conn.get('/b'), t.conn.post('/c', { x: 1 }, { idempotencyKey: 'k-c' }), t.conn.delete('/d')].map(track);
    await expectHeldUntil(t, T0 + 30_000, 1);
    expect(first.settled).toBe(false);
    expect(others.every((o) => !o.settled)).toBe(true);
    await t.clock.advance(1);
    await t.server.waitFor(5);
    expect(await first.promise).toEqual({ seq: expect.any(Number) });
    for (const o of others) expect((await o.promise).status).toBe(200);
    for (const a of t.server.arrivals.slice(1)) expect(a.at).toBeGreaterThanOrEqual(T0 + 30_000);
    expect(t.conn.state().limits.heldUntil).toBe(0);
  });

  it.each([
    ['IMF-fixdate', (at: number) => new Date(at + 20_000).toUTCString()],
    ['RFC 850', (at: number) => rfc850(at + 20_000)],
    ['asctime', (at: number) => asctime(at + 20_000)],
  ])('HTTP-date as %s: held 20 s, measured from the server Date', async (_form, format) => {
    const t = await setup(limitedOnce(format, 503));
    const call = track(t.conn.get('/a'));
    await until(() => t.entries.length === 1);
    await expectHeldUntil(t, T0 + 20_000, 1);
    await t.clock.advance(1);
    await t.server.waitFor(2);
    expect((await call.promise).status).toBe(200);
    expect(t.server.arrivals[1]?.at).toBe(T0 + 20_000);
  });

  it('an HTTP-date in the past holds nothing: the retry goes at once', async () => {
    const t = await setup(limitedOnce((at) => new Date(at - 60_000).toUTCString()));
    const res = await t.conn.get('/a');
    expect(res.status).toBe(200);
    expect(t.server.arrivals.map((a) => a.at)).toEqual([T0, T0]);
    expect(t.conn.state().limits.heldUntil).toBe(0);
  });

  it.each(['soon', '-5', '1.5', 'Wed, 31 Feb 2026 00:00:00 GMT'])('a malformed value (%s) is ignored: no hold, the backoff decides', async (value) => {
    const t = await setup(limitedOnce(() => value), { policy: { retry: { attempts: 2, backoff: () => 1_000 } } });
    const call = track(t.conn.get('/a'));
    await until(() => t.entries.length === 1);
    expect(t.conn.state().limits.heldUntil).toBe(0);
    await t.clock.advance(1_000);
    await t.server.waitFor(2);
    expect((await call.promise).status).toBe(200);
    expect(t.server.arrivals[1]?.at).toBe(T0 + 1_000);
  });

  it('a huge value is capped at maxHoldMs: the call fails fast with retryAfterMs, later calls are refused locally and audited', async () => {
    const t = await setup(limitedOnce(() => '999999999999'), { policy: { deadlineMs: 30_000, retry: { attempts: 3, backoff: () => 0 } } });
    const err = await t.conn.get('/a').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WEIR_HTTP_STATUS', status: 429, classification: 'rate_limited', retryAfterMs: 3_600_000, attempts: 1 });
    expect(t.conn.state().limits).toMatchObject({ heldUntil: T0 + 3_600_000, capped: true, holdSource: 'retry-after' });

    const refused = await t.conn.get('/b').catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'WEIR_RATE_LIMITED', retryAfterMs: 3_600_000 });
    await realDelay(20);
    expect(t.server.arrivals).toHaveLength(1);
    expect(t.entries.map((e) => [e.path, e.status, e.outcome])).toEqual([
      ['/a', 429, 'http_error'],
      ['/b', null, 'rejected'],
    ]);
  });
});

describe('RateLimit / RateLimit-Policy', () => {
  it('several policies split across header lines: the exhausted one holds everyone until its reset', async () => {
    const t = await setup((_req, res, a) => {
      if (a.seq > 1) return reply(res, 200, {});
      res.setHeader('RateLimit-Policy', ['"burst";q=100;w=60', '"daily";q=1000;w=86400']);
      res.setHeader('RateLimit', ['"burst";r=40;t=10', '"daily";r=0;t=1800']);
      reply(res, 200, {});
    });
    expect((await t.conn.get('/a')).status).toBe(200);
    expect(t.conn.state().limits).toMatchObject({ remaining: 0, limit: 1000, resetAt: T0 + 1_800_000, heldUntil: T0 + 1_800_000, holdSource: 'ratelimit' });

    const short = await t.conn.get('/b', { deadline: 10_000 }).catch((e: unknown) => e);
    expect(short).toMatchObject({ code: 'WEIR_RATE_LIMITED', retryAfterMs: 1_800_000 });

    const patient = track(t.conn.get('/c'));
    await expectHeldUntil(t, T0 + 1_800_000, 1);
    expect(patient.settled).toBe(false);
    await t.clock.advance(1);
    await t.server.waitFor(2);
    expect((await patient.promise).status).toBe(200);
    expect(t.server.arrivals.map((a) => a.path)).toEqual(['/a', '/c']);
  });

  it('quota left paces the bucket: burst = remaining, refilled to last until the reset', async () => {
    const t = await setup((_req, res) => reply(res, 200, {}, { RateLimit: '"burst";r=2;t=10' }));
    await t.conn.get('/first');
    expect(t.conn.state().limits).toMatchObject({ remaining: 2, resetAt: T0 + 10_000, perSecond: 0.2, tokens: 2 });
    const calls = ['/x', '/y', '/z'].map((p) => track(t.conn.get(p)));
    await t.server.waitFor(3);
    await realDelay(30);
    expect(t.server.arrivals).toHaveLength(3);
    await t.clock.advance(4_999);
    await realDelay(30);
    expect(t.server.arrivals).toHaveLength(3);
    await t.clock.advance(1);
    await t.server.waitFor(4);
    for (const c of calls) expect((await c.promise).status).toBe(200);
    expect(t.server.arrivals[3]?.at).toBe(T0 + 5_000);
  });
});

describe('GitHub', () => {
  it('403 with x-ratelimit-remaining 0 is a rate limit: held until x-ratelimit-reset, then retried', async () => {
    const reset = Math.floor(T0 / 1000) + 60;
    const t = await setup((_req, res, a) =>
      a.seq === 1
        ? reply(res, 403, { message: 'API rate limit exceeded' }, { 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) })
        : reply(res, 200, {}, { 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '4999', 'x-ratelimit-reset': String(reset + 3600) }),
    );
    const call = track(t.conn.get('/repos/x/y'));
    await until(() => t.entries.length === 1);
    expect(t.conn.state().limits).toMatchObject({ heldUntil: reset * 1000, holdSource: 'github', remaining: 0, limit: 5000 });
    await expectHeldUntil(t, reset * 1000, 1);
    await t.clock.advance(1);
    await t.server.waitFor(2);
    expect((await call.promise).status).toBe(200);
    expect(t.conn.state().limits.remaining).toBe(4999);
  });

  it('a 403 with quota left is an ordinary 403: permanent, not retried', async () => {
    const t = await setup((_req, res) => reply(res, 403, { message: 'forbidden' }, { 'x-ratelimit-remaining': '4000', 'x-ratelimit-reset': '1767225600' }));
    const err = await t.conn.get('/a').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WEIR_HTTP_STATUS', status: 403, classification: 'permanent' });
    expect(t.server.arrivals).toHaveLength(1);
    expect(t.conn.state().limits.heldUntil).toBe(0);
  });
});

describe('no request is sent early, ever', () => {
  it('hundreds of concurrent calls against a server that rate-limits at random: every send comes after every hold learnt before it', async () => {
    const random = seededRandom(42);
    const t = await setup((_req, res, a) => {
      const r = random();
      if (r < 0.2) return reply(res, 429, {}, { 'retry-after': String(1 + Math.floor(random() * 3)) });
      if (r < 0.3) return reply(res, 503, {}, { 'retry-after': new Date(a.at + 1_000 + Math.floor(random() * 2) * 1_000).toUTCString() });
      if (r < 0.4) return reply(res, 200, {}, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.floor(a.at / 1000) + 2) });
      reply(res, 200, {});
    }, { policy: { retry: { attempts: 5, backoff: () => 0 }, breaker: false } });

    const log: Array<{ kind: 'hold'; until: number } | { kind: 'send'; at: number }> = [];
    t.conn.limits.onHold((h) => log.push({ kind: 'hold', until: h.until }));
    const onAttempt = (m: unknown): void => {
      if ((m as HttpAttemptDiagnostic).type === 'start') log.push({ kind: 'send', at: t.clock.now() });
    };
    subscribe(HTTP_ATTEMPT_CHANNEL, onAttempt);
    cleanups.push(async () => void unsubscribe(HTTP_ATTEMPT_CHANNEL, onAttempt));

    const total = 300;
    const progress = { started: 0, finished: 0 };
    const worker = async (): Promise<void> => {
      while (progress.started < total) {
        progress.started++;
        await t.conn.get(`/item/${progress.started}`).then((r) => r.dump(), () => undefined);
        progress.finished++;
      }
    };
    const workers = Array.from({ length: 20 }, worker);
    while (progress.finished < total) {
      await realDelay(1);
      await t.clock.advance(200);
    }
    await Promise.all(workers);

    let hold = 0;
    let sends = 0;
    let holds = 0;
    for (const e of log) {
      if (e.kind === 'hold') {
        hold = Math.max(hold, e.until);
        holds++;
      } else {
        sends++;
        expect(e.at).toBeGreaterThanOrEqual(hold);
      }
    }
    expect(holds).toBeGreaterThan(10);
    expect(sends).toBe(t.server.arrivals.length);
    expect(t.entries.filter((e) => e.outcome !== 'rejected')).toHaveLength(sends);
  });
});

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number): string => String(n).padStart(2, '0');
const time = (d: Date): string => `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;

function rfc850(ms: number): string {
  const d = new Date(ms);
  return `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${two(d.getUTCFullYear() % 100)} ${time(d)} GMT`;
}

function asctime(ms: number): string {
  const d = new Date(ms);
  return `${DAYS[d.getUTCDay()]?.slice(0, 3)} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${time(d)} ${d.getUTCFullYear()}`;
}
