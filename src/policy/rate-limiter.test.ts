import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { Deadline } from './deadline.js';
import { rateLimiter, type RateLimiterOptions } from './rate-limiter.js';

function setup(options: Omit<RateLimiterOptions, 'clock'>) {
  const clock = new FakeClock();
  const t0 = clock.now();
  const limiter = rateLimiter({ ...options, clock });
  const starts: Record<string, number> = {};
  /** Runs a call that records when (ms after t0) it started. */
  const call = (name: string, opts?: Parameters<typeof limiter.execute>[1]) =>
    limiter.execute(() => {
      starts[name] = clock.now() - t0;
      return name;
    }, opts);
  return { clock, t0, limiter, starts, call };
}

async function rejection(p: Promise<unknown>): Promise<{ code?: string; retryAfterMs?: number }> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: { code?: string; retryAfterMs?: number }) => err,
  );
}

describe('rateLimiter: token bucket', () => {
  it('allows a burst, then refills lazily at the rate', async () => {
    const { clock, limiter } = setup({ perSecond: 10 });
    for (let i = 0; i < 10; i++) expect(limiter.tryAcquire()).toBe(0);
    expect(limiter.tryAcquire()).toBe(100);
    await clock.advance(40);
    expect(limiter.tryAcquire()).toBe(60);
    await clock.advance(60);
    expect(limiter.tryAcquire()).toBe(0);
    await clock.advance(250);
    expect(limiter.state().tokens).toBeCloseTo(2.5, 9);
    expect(clock.pendingTimers).toBe(0); // refill needs no timer
  });

  it('never holds more than burst tokens', async () => {
    const { clock, limiter } = setup({ perSecond: 1, burst: 3 });
    await clock.advance(60_000);
    expect(limiter.state()).toMatchObject({ tokens: 3, burst: 3, perSecond: 1 });
    for (let i = 0; i < 3; i++) expect(limiter.tryAcquire()).toBe(0);
    expect(limiter.tryAcquire()).toBe(1000);
  });

  it('defaults burst to max(1, perSecond)', () => {
    expect(setup({ perSecond: 0.5 }).limiter.burst).toBe(1);
    expect(setup({ perSecond: 25 }).limiter.burst).toBe(25);
  });

  it('rejects at once by default with WEIR_RATE_LIMITED and the right retryAfterMs, and emits onReject', async () => {
    const { limiter, call } = setup({ perSecond: 2, burst: 1 });
    const events: unknown[] = [];
    limiter.onReject((e) => events.push(e));
    expect(await call('a')).toBe('a');
    expect(await call('a2', { key: 'k' })).toBe('a2');
    const err = await rejection(call('b', { key: 'k' }));
    expect(err.code).toBe('WEIR_RATE_LIMITED');
    expect(err.retryAfterMs).toBe(500);
    expect(await rejection(call('c'))).toMatchObject({ code: 'WEIR_RATE_LIMITED', retryAfterMs: 500 });
    expect(events).toEqual([{ key: 'k', retryAfterMs: 500 }, { key: undefined, retryAfterMs: 500 }]);
  });

  it('keeps partitions independent (ctx.key by default, or the key option)', async () => {
    const byCtx = setup({ perSecond: 1, burst: 1 });
    expect(await byCtx.call('a1', { key: 'a' })).toBe('a1');
    expect((await rejection(byCtx.call('a2', { key: 'a' }))).code).toBe('WEIR_RATE_LIMITED');
    expect(await byCtx.call('b1', { key: 'b' })).toBe('b1');
    expect(await byCtx.call('shared')).toBe('shared');
    expect(byCtx.limiter.state('a').tokens).toBe(0);
    expect(byCtx.limiter.state('c').tokens).toBe(1);

    const byFn = setup({ perSecond: 1, burst: 1, key: (ctx) => ctx.key?.split('/')[0] });
    expect(await byFn.call('x', { key: 'tenant1/a' })).toBe('x');
    expect((await rejection(byFn.call('y', { key: 'tenant1/b' }))).code).toBe('WEIR_RATE_LIMITED');
    expect(await byFn.call('z', { key: 'tenant2/a' })).toBe('z');
  });

  it('a throwing task or key function counts as a rejection', async () => {
    const boom = new Error('boom');
    const { limiter } = setup({ perSecond: 1, key: () => { throw boom; } });
    await expect(limiter.execute(() => 1)).rejects.toBe(boom);
    const plain = setup({ perSecond: 1 }).limiter;
    await expect(plain.execute(() => { throw boom; })).rejects.toBe(boom);
  });
});

describe('rateLimiter: waiting', () => {
  it('waits in FIFO order up to maxWaitMs, then rejects with the wait it would have needed', async () => {
    const { clock, starts, call } = setup({ perSecond: 2, burst: 1, maxWaitMs: 1000 });
    const results = [call('a'), call('b'), call('c')];
    const d = rejection(call('d'));
    expect(await d).toMatchObject({ code: 'WEIR_RATE_LIMITED', retryAfterMs: 1500 });
    await clock.advance(499);
    expect(starts).toEqual({ a: 0 });
    await clock.advance(2000);
    expect(await Promise.all(results)).toEqual(['a', 'b', 'c']);
    expect(starts).toEqual({ a: 0, b: 500, c: 1000 });
    expect(clock.pendingTimers).toBe(0);
  });

  it('bounds the wait by ctx.deadline', async () => {
    const { clock, call } = setup({ perSecond: 2, burst: 1, maxWaitMs: Number.POSITIVE_INFINITY });
    await call('a');
    const err = await rejection(call('b', { deadline: Deadline.after(300, clock) }));
    expect(err).toMatchObject({ code: 'WEIR_RATE_LIMITED', retryAfterMs: 500 });
    const ok = call('c', { deadline: Deadline.after(600, clock) });
    await clock.advance(500);
    expect(await ok).toBe('c');
  });

  it('new callers queue behind waiters instead of taking their token', async () => {
    const { clock, limiter, starts, call } = setup({ perSecond: 1, burst: 1, maxWaitMs: 10_000 });
    await call('a');
    const b = call('b');
    await clock.advance(999);
    // One ms later a token exists, but it is b's: tryAcquire must not take it.
    expect(limiter.tryAcquire()).toBe(1001);
    const c = call('c');
    await clock.advance(2000);
    await Promise.all([b, c]);
    expect(starts).toEqual({ a: 0, b: 1000, c: 2000 });
  });

  it('an aborted waiter leaves at once, leaves no listener or timer, and the next waiter moves up', async () => {
    const { clock, limiter, starts, call } = setup({ perSecond: 1, burst: 1, maxWaitMs: 10_000 });
    await call('a');
    const controller = new AbortController();
    const b = rejection(call('b', { signal: controller.signal }));
    const c = call('c');
    expect(limiter.state().waiting).toBe(2);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    controller.abort();
    expect(limiter.state().waiting).toBe(1);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect((await b).code).toBe('WEIR_CANCELLED');
    await clock.advance(1000);
    expect(await c).toBe('c');
    expect(starts).toEqual({ a: 0, c: 1000 });

    // The last waiter aborting clears the partition timer too.
    const controller2 = new AbortController();
    const d = rejection(call('d', { signal: controller2.signal }));
    expect(clock.pendingTimers).toBe(1);
    controller2.abort();
    expect((await d).code).toBe('WEIR_CANCELLED');
    expect(clock.pendingTimers).toBe(0);
  });

  it('removes the abort listener of a waiter once it starts', async () => {
    const { clock, call } = setup({ perSecond: 1, burst: 1, maxWaitMs: 5000 });
    await call('a');
    const controller = new AbortController();
    const b = call('b', { signal: controller.signal });
    await clock.advance(1000);
    expect(await b).toBe('b');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('rejects an already aborted call without taking a token', async () => {
    const { limiter, call } = setup({ perSecond: 1, burst: 1 });
    expect((await rejection(call('a', { signal: AbortSignal.abort() }))).code).toBe('WEIR_CANCELLED');
    expect(limiter.state().tokens).toBe(1);
  });
});

describe('rateLimiter: holdUntil', () => {
  it('starts nothing before the hold, even with tokens, and rejects with the time left', async () => {
    const { clock, t0, limiter, call } = setup({ perSecond: 10 });
    limiter.holdUntil(t0 + 1000);
    expect(limiter.state()).toMatchObject({ tokens: 10, heldUntil: t0 + 1000 });
    expect(limiter.tryAcquire()).toBe(1000);
    expect(await rejection(call('a'))).toMatchObject({ code: 'WEIR_RATE_LIMITED', retryAfterMs: 1000 });
    await clock.advance(400);
    expect(await rejection(call('b', { key: 'any-partition' }))).toMatchObject({ retryAfterMs: 600 });
    await clock.advance(600);
    expect(limiter.state().heldUntil).toBe(0);
    expect(await call('c')).toBe('c');
  });

  it('holds waiters until the named time, then lets them through in order at the rate', async () => {
    const { clock, t0, limiter, starts, call } = setup({ perSecond: 1, burst: 2, maxWaitMs: 10_000 });
    limiter.holdUntil(t0 + 5000);
    const calls = [call('a'), call('b'), call('c')];
    await clock.advance(4999);
    expect(starts).toEqual({});
    await clock.advance(2000);
    await Promise.all(calls);
    // Tokens accrued during the hold are capped at burst (2); the third waits for a refill.
    expect(starts).toEqual({ a: 5000, b: 5000, c: 6000 });
  });

  it('re-times waiters when a hold arrives, rejecting those that can no longer start in time', async () => {
    const { clock, t0, limiter, starts, call } = setup({ perSecond: 1, burst: 1, maxWaitMs: 3000 });
    await call('a');
    const b = call('b'); // due at 1000
    const c = call('c', { deadline: Deadline.after(1500, clock) }); // due at 2000 > 1500: rejected now
    expect(await rejection(c)).toMatchObject({ code: 'WEIR_RATE_LIMITED' });
    await clock.advance(500);
    limiter.holdUntil(t0 + 2500); // b waited 500, may wait until 3000
    const d = rejection(call('d', { deadline: Deadline.after(2200, clock) })); // would start at 3500 > 2700
    expect(await d).toMatchObject({ retryAfterMs: 3000 });
    await clock.advance(1999);
    expect(starts).toEqual({ a: 0 });
    await clock.advance(1);
    expect(await b).toBe('b');
    expect(starts).toEqual({ a: 0, b: 2500 });

    // A hold beyond a waiter's limit rejects it with retryAfterMs = the time left.
    const signal = new AbortController().signal;
    const e = call('e', { signal }); // may wait until 2500 + 3000 = 5500
    limiter.holdUntil(t0 + 6000);
    expect(await rejection(e)).toMatchObject({ code: 'WEIR_RATE_LIMITED', retryAfterMs: 3500 });
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a keyed hold holds only its partition; holds only move later', async () => {
    const { t0, limiter, call } = setup({ perSecond: 10 });
    limiter.holdUntil(t0 + 1000, 'slow');
    expect(limiter.tryAcquire('slow')).toBe(1000);
    expect(limiter.tryAcquire('other')).toBe(0);
    expect(await call('shared')).toBe('shared');
    limiter.holdUntil(t0 + 200, 'slow');
    expect(limiter.state('slow').heldUntil).toBe(t0 + 1000);
  });
});

describe('rateLimiter: setRate', () => {
  it('changes rate and burst at run time, keeping accrued tokens capped at the new burst', async () => {
    const { clock, limiter } = setup({ perSecond: 10 });
    for (let i = 0; i < 10; i++) limiter.tryAcquire();
    await clock.advance(300); // 3 tokens at the old rate
    limiter.setRate(1);
    expect(limiter.state()).toMatchObject({ perSecond: 1, burst: 1, tokens: 1 });
    limiter.tryAcquire();
    expect(limiter.tryAcquire()).toBe(1000);
    limiter.setRate(100, 50);
    expect(limiter.state().burst).toBe(50);
    limiter.setRate(200); // an explicit burst sticks
    expect(limiter.state().burst).toBe(50);
    expect(limiter.tryAcquire()).toBe(5);
  });

  it('refills at the old rate up to the change', async () => {
    const { clock, limiter } = setup({ perSecond: 10, burst: 100 });
    for (let i = 0; i < 100; i++) limiter.tryAcquire();
    await clock.advance(1000);
    limiter.setRate(1);
    expect(limiter.state().tokens).toBeCloseTo(10, 9);
  });

  it('re-times waiters: a faster rate starts them sooner', async () => {
    const { clock, limiter, starts, call } = setup({ perSecond: 1, burst: 1, maxWaitMs: 10_000 });
    await call('a');
    const b = call('b');
    const c = call('c');
    await clock.advance(100);
    limiter.setRate(10, 1);
    await clock.advance(1000);
    await Promise.all([b, c]);
    expect(starts).toEqual({ a: 0, b: 190, c: 290 }); // 0.1 token accrued at the old rate
  });

  it('rejects waiters that a slower rate would keep past their limit', async () => {
    const { limiter, call } = setup({ perSecond: 10, burst: 1, maxWaitMs: 500 });
    await call('a');
    const b = call('b');
    limiter.setRate(1);
    expect(await rejection(b)).toMatchObject({ code: 'WEIR_RATE_LIMITED', retryAfterMs: 1000 });
  });
});

describe('rateLimiter: memory', () => {
  it('evicts idle full partitions lazily, keeps busy or held ones', async () => {
    const { clock, t0, limiter } = setup({ perSecond: 1, burst: 1, idleMs: 1000 });
    for (const key of ['a', 'b', 'c']) limiter.tryAcquire(key);
    limiter.holdUntil(t0 + 60_000, 'held');
    expect(limiter.partitionCount).toBe(4);
    await clock.advance(1000);
    limiter.tryAcquire('d'); // a, b, c are full and idle for 1000 ms now
    expect(limiter.partitionCount).toBe(2);
    await clock.advance(1000);
    limiter.tryAcquire('e'); // d is full again and idle
    expect(limiter.partitionCount).toBe(2);
    expect(limiter.state('a').tokens).toBe(1); // an evicted partition reads as full
  });

  it('keeps a partition that has not refilled yet', async () => {
    const { clock, limiter } = setup({ perSecond: 1, burst: 10, idleMs: 1000 });
    for (let i = 0; i < 10; i++) limiter.tryAcquire('a');
    await clock.advance(5000);
    limiter.tryAcquire('b');
    expect(limiter.partitionCount).toBe(2);
    await clock.advance(5000);
    limiter.tryAcquire('c');
    // a was only half full at 5 s, so it was kept; at 10 s a and b are both full and idle: evicted.
    expect(limiter.partitionCount).toBe(1);
    expect(limiter.state('a').tokens).toBe(10);
  });
});

describe('rateLimiter: options', () => {
  it.each([
    [{ perSecond: 0 }, 'rateLimiter.perSecond'],
    [{ perSecond: -1 }, 'rateLimiter.perSecond'],
    [{ perSecond: Number.POSITIVE_INFINITY }, 'rateLimiter.perSecond'],
    [{ perSecond: 1, burst: 0.5 }, 'rateLimiter.burst'],
    [{ perSecond: 1, maxWaitMs: -1 }, 'rateLimiter.maxWaitMs'],
    [{ perSecond: 1, maxWaitMs: Number.NaN }, 'rateLimiter.maxWaitMs'],
    [{ perSecond: 1, idleMs: 0 }, 'rateLimiter.idleMs'],
    [{ perSecond: 1, key: 'tenant' }, 'rateLimiter.key'],
  ])('rejects %j naming %s', (options, option) => {
    expect(() => rateLimiter(options as RateLimiterOptions)).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION', option }));
  });

  it('validates setRate and holdUntil arguments', () => {
    const { limiter } = setup({ perSecond: 1 });
    expect(() => limiter.setRate(0)).toThrow(expect.objectContaining({ option: 'rateLimiter.setRate.perSecond' }));
    expect(() => limiter.setRate(1, 0)).toThrow(expect.objectContaining({ option: 'rateLimiter.setRate.burst' }));
    expect(() => limiter.holdUntil(Number.NaN)).toThrow(expect.objectContaining({ option: 'rateLimiter.holdUntil.epochMs' }));
  });
});
