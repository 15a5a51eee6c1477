import { parseList } from 'structured-headers';
import { describe, expect, it } from 'vitest';
import { parseRateLimitSignal } from '../http/rate-limit-headers.js';
import { FakeClock } from '../testing/fake-clock.js';
import { seededRandom } from '../testing/seeded-random.js';
import { handle } from './compose.js';
import { type RateLimitRule, slidingWindow, tokenBucket } from './rate-limit-algorithms.js';
import { memoryRateLimitStore } from './rate-limit-memory.js';
import { rateLimit, type RateLimitOptions } from './rate-limit.js';

const ok = async () => new Response('ok');

function limiter(options: Partial<RateLimitOptions> = {}) {
  const clock = new FakeClock();
  const mw = rateLimit({
    policies: [{ name: 'default', limit: 5, windowMs: 10_000 }],
    key: (ctx) => ctx.header('x-client') ?? 'anonymous',
    clock,
    random: seededRandom(7),
    ...options,
  });
  const call = (client = 'a') => handle(new Request('http://x/', { headers: { 'x-client': client } }), [mw], ok);
  return { clock, call };
}

/** One policy's parameters from a `RateLimit` or `RateLimit-Policy` field, via an independent RFC 9651 parser. */
function params(field: string | null, name = 'default'): Record<string, unknown> {
  expect(field).not.toBeNull();
  const list = parseList(field as string);
  const member = list.find(([value]) => value === name);
  expect(member).toBeDefined();
  return Object.fromEntries((member as [unknown, Map<string, unknown>])[1]);
}

describe('rateLimit', () => {
  it('emits RateLimit-Policy and RateLimit as RFC 9651 structured fields', async () => {
    const { call } = limiter({ policies: [{ name: 'default', limit: 5, windowMs: 10_000 }, { name: 'hourly', limit: 100, windowMs: 3_600_000, algorithm: 'sliding-window' }] });
    const res = await call();
    expect(res.status).toBe(200);
    expect(params(res.headers.get('ratelimit-policy'))).toEqual({ q: 5, w: 10 });
    expect(params(res.headers.get('ratelimit-policy'), 'hourly')).toEqual({ q: 100, w: 3600 });
    expect(params(res.headers.get('ratelimit'))).toEqual({ r: 4, t: 2 });
    expect(params(res.headers.get('ratelimit'), 'hourly')).toMatchObject({ r: 99 });
    expect(res.headers.get('x-ratelimit-limit')).toBeNull();
  });

  it('decreases r by one per request, then answers 429 with Retry-After >= t and a problem naming the policy', async () => {
    const { call } = limiter();
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) seen.push(params((await call()).headers.get('ratelimit')).r as number);
    expect(seen).toEqual([4, 3, 2, 1, 0]);
    const denied = await call();
    expect(denied.status).toBe(429);
    expect(denied.headers.get('content-type')).toBe('application/problem+json');
    const t = params(denied.headers.get('ratelimit')).t as number;
    expect(params(denied.headers.get('ratelimit')).r).toBe(0);
    expect(Number(denied.headers.get('retry-after'))).toBeGreaterThanOrEqual(t);
    expect(t).toBeGreaterThanOrEqual(2);
    expect(await denied.json()).toMatchObject({ status: 429, code: 'WEIR_RATE_LIMITED', policy: 'default', limit: 5, windowSeconds: 10 });
  });

  it('refills the token bucket over time (fake clock)', async () => {
    const { clock, call } = limiter();
    for (let i = 0; i < 5; i++) await call();
    expect((await call()).status).toBe(429);
    await clock.advance(2000); // one token per 2 s
    expect((await call()).status).toBe(200);
    expect((await call()).status).toBe(429);
  });

  it('keeps partitions independent', async () => {
    const { call } = limiter();
    for (let i = 0; i < 5; i++) await call('a');
    expect((await call('a')).status).toBe(429);
    const b = await call('b');
    expect(b.status).toBe(200);
    expect(params(b.headers.get('ratelimit')).r).toBe(4);
  });

  it('jitters Retry-After across clients, never below the reset', async () => {
    const { call } = limiter({ policies: [{ name: 'default', limit: 1, windowMs: 10_000 }], jitterMs: 5000 });
    const values = new Set<number>();
    for (let c = 0; c < 20; c++) {
      await call(`c${c}`);
      const denied = await call(`c${c}`);
      const t = params(denied.headers.get('ratelimit')).t as number;
      const after = Number(denied.headers.get('retry-after'));
      expect(after).toBeGreaterThanOrEqual(t);
      expect(after).toBeLessThanOrEqual(t + 5);
      values.add(after);
    }
    expect(values.size).toBeGreaterThan(2);
  });

  it('sends legacy X-RateLimit-* headers on request', async () => {
    const { call } = limiter({ legacyHeaders: true });
    const res = await call();
    expect(res.headers.get('x-ratelimit-limit')).toBe('5');
    expect(res.headers.get('x-ratelimit-remaining')).toBe('4');
    expect(Number(res.headers.get('x-ratelimit-reset'))).toBeGreaterThan(0);
  });

  it('consumes nothing from any policy when one denies', async () => {
    const store = memoryRateLimitStore();
    const { call } = limiter({ store, policies: [{ name: 'small', limit: 1, windowMs: 10_000 }, { name: 'big', limit: 10, windowMs: 10_000 }] });
    await call();
    const denied = await call();
    expect(denied.status).toBe(429);
    expect(params(denied.headers.get('ratelimit'), 'big').r).toBe(9);
    expect(((await denied.json()) as { policy: string }).policy).toBe('small');
  });

  it('is read by weir/http’s own rate-limit parser', async () => {
    const { call } = limiter();
    for (let i = 0; i < 5; i++) await call();
    const denied = await call();
    const signal = parseRateLimitSignal(denied.status, denied.headers, { now: Date.UTC(2026, 0, 1) });
    expect(signal).toBeDefined();
    expect(signal!.remaining).toBe(0);
  });

  it('exempts requests whose key is undefined, and fails open when the store fails', async () => {
    const exempt = limiter({ key: () => undefined, policies: [{ name: 'default', limit: 1, windowMs: 1000 }] });
    expect((await exempt.call()).status).toBe(200);
    expect((await exempt.call()).status).toBe(200);
    const broken = { consume: () => Promise.reject(new Error('down')) };
    expect((await limiter({ store: broken }).call()).status).toBe(200);
    expect((await limiter({ store: broken, onStoreError: 'deny' }).call()).status).toBe(503);
  });

  it('validates its options eagerly, naming them', () => {
    expect(() => rateLimit({ policies: [] })).toThrow(expect.objectContaining({ option: 'rateLimit.policies' }));
    expect(() => rateLimit({ policies: [{ name: 'a', limit: 0, windowMs: 1000 }] })).toThrow(expect.objectContaining({ option: 'rateLimit.policies[0].limit' }));
    expect(() => rateLimit({ policies: [{ name: 'a', limit: 1, windowMs: 10 }] })).toThrow(expect.objectContaining({ option: 'rateLimit.policies[0].windowMs' }));
    expect(() => rateLimit({ policies: [{ name: 'a', limit: 1, windowMs: 1000 }, { name: 'a', limit: 1, windowMs: 1000 }] })).toThrow(
      expect.objectContaining({ option: 'rateLimit.policies[1].name' }),
    );
  });
});

const rule = (algorithm: RateLimitRule['algorithm']): RateLimitRule => ({ name: 'p', limit: 10, windowMs: 10_000, algorithm });

describe('rate-limit algorithms', () => {

  it('token bucket: a burst of limit, then one unit per windowMs/limit', () => {
    let state;
    const T0 = 1_000_000;
    for (let i = 0; i < 10; i++) {
      const [d, s] = tokenBucket(rule('token-bucket'), state, T0, 1);
      expect(d.allowed).toBe(true);
      expect(d.remaining).toBe(9 - i);
      state = s;
    }
    const [denied] = tokenBucket(rule('token-bucket'), state, T0, 1);
    expect(denied).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 1000 });
    expect(tokenBucket(rule('token-bucket'), state, T0 + 999, 1)[0].allowed).toBe(false);
    expect(tokenBucket(rule('token-bucket'), state, T0 + 1000, 1)[0].allowed).toBe(true);
  });

  it('sliding window: the previous window weighs by its overlap, and retryAfter is when the request fits', () => {
    const W = 10_000;
    let state;
    for (let i = 0; i < 10; i++) state = slidingWindow(rule('sliding-window'), state, 5 * W + 9_000, 1)[1];
    // Next window, 10% in: the previous window still counts 90% → 9 used, 1 left.
    const [first, s2] = slidingWindow(rule('sliding-window'), state, 6 * W + 1_000, 1);
    expect(first).toMatchObject({ allowed: true, remaining: 0 });
    const [denied] = slidingWindow(rule('sliding-window'), s2, 6 * W + 1_000, 1);
    expect(denied.allowed).toBe(false);
    const at = 6 * W + 1_000 + denied.retryAfterMs;
    expect(slidingWindow(rule('sliding-window'), s2, at, 1)[0].allowed).toBe(true);
    expect(slidingWindow(rule('sliding-window'), s2, at - 1, 1)[0].allowed).toBe(false);
  });
});
