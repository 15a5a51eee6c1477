import { describe, expect, it } from 'vitest';
import { Deadline } from '../policy/deadline.js';
import { FakeClock } from '../testing/fake-clock.js';
import { connectionLimits, mayCarryLimits } from './limits.js';

const T0 = Date.UTC(2026, 0, 1);

function tracked<T>(p: Promise<T>) {
  const s = { done: false, value: undefined as T | undefined, error: undefined as unknown };
  p.then(
    (v) => ((s.done = true), (s.value = v)),
    (e: unknown) => ((s.done = true), (s.error = e)),
  );
  return s;
}

describe('connectionLimits', () => {
  it('with no bucket and no hold, runs at once', async () => {
    const limits = connectionLimits({ clock: new FakeClock(T0) });
    expect(await limits.execute(() => 7)).toBe(7);
    expect(limits.state()).toMatchObject({ heldUntil: 0, perSecond: undefined, remaining: undefined });
  });

  it('a Retry-After holds every call until the named time; holds only move later', async () => {
    const clock = new FakeClock(T0);
    const limits = connectionLimits({ clock });
    const holds: number[] = [];
    limits.onHold(({ until }) => holds.push(until));
    limits.learn(429, { 'retry-after': '10' });
    limits.learn(503, { 'retry-after': '3' });
    expect(holds).toEqual([T0 + 10_000]);
    const calls = [tracked(limits.execute(() => 'a')), tracked(limits.execute(() => 'b'))];
    await clock.advance(9_999);
    expect(calls.some((c) => c.done)).toBe(false);
    await clock.advance(1);
    expect(calls.map((c) => c.value)).toEqual(['a', 'b']);
    expect(limits.state().heldUntil).toBe(0);
  });

  it('rejects at once with WEIR_RATE_LIMITED when the hold outlasts the deadline or maxWaitMs', async () => {
    const clock = new FakeClock(T0);
    const limits = connectionLimits({ clock, maxWaitMs: 5_000 });
    limits.holdUntil(T0 + 8_000);
    await expect(limits.execute(() => 1)).rejects.toMatchObject({ code: 'WEIR_RATE_LIMITED', retryAfterMs: 8_000 });
    const roomy = connectionLimits({ clock });
    roomy.holdUntil(T0 + 8_000);
    await expect(roomy.execute(() => 1, { deadline: new Deadline(T0 + 7_999, clock) })).rejects.toMatchObject({ code: 'WEIR_RATE_LIMITED' });
    const ok = tracked(roomy.execute(() => 1, { deadline: new Deadline(T0 + 8_000, clock) }));
    await clock.advance(8_000);
    expect(ok.value).toBe(1);
  });

  it('an abort while held rejects with WEIR_CANCELLED and leaves no timer', async () => {
    const clock = new FakeClock(T0);
    const limits = connectionLimits({ clock });
    limits.holdUntil(T0 + 60_000);
    const ac = new AbortController();
    const call = tracked(limits.execute(() => 1, { signal: ac.signal }));
    ac.abort();
    await clock.advance(0);
    expect(call.error).toMatchObject({ code: 'WEIR_CANCELLED' });
    expect(clock.pendingTimers).toBe(0);
  });

  it('paces to the reported quota until its reset, then goes back to no bucket', async () => {
    const clock = new FakeClock(T0);
    const limits = connectionLimits({ clock });
    limits.learn(200, { 'x-ratelimit-limit': '100', 'x-ratelimit-remaining': '3', 'x-ratelimit-reset': '30' });
    expect(limits.state()).toMatchObject({ remaining: 3, limit: 100, resetAt: T0 + 30_000, perSecond: 0.1, tokens: 3 });
    const calls = [1, 2, 3, 4].map((i) => tracked(limits.execute(() => i)));
    await clock.advance(0);
    expect(calls.map((c) => c.done)).toEqual([true, true, true, false]);
    await clock.advance(10_000);
    expect(calls[3]?.value).toBe(4);
    await clock.advance(20_000);
    await limits.execute(() => 0);
    expect(limits.state().perSecond).toBeUndefined();
  });

  it('never paces faster than a configured rate, and returns to it after the reset', async () => {
    const clock = new FakeClock(T0);
    const limits = connectionLimits({ clock, perSecond: 2, burst: 4 });
    limits.learn(200, { ratelimit: 'limit=1000, remaining=900, reset=10' });
    expect(limits.state().perSecond).toBe(2);
    limits.learn(200, { ratelimit: 'limit=1000, remaining=5, reset=10' });
    expect(limits.state()).toMatchObject({ perSecond: 0.5, tokens: 4 });
    await clock.advance(10_000);
    await limits.execute(() => 0);
    expect(limits.state().perSecond).toBe(2);
  });

  it('ignores cached responses and stays cheap for responses without rate-limit headers', () => {
    const limits = connectionLimits({ clock: new FakeClock(T0) });
    expect(limits.learn(429, { 'retry-after': '5', age: '10' })).toEqual({ source: 'retry-after', ignored: 'age' });
    expect(limits.state().heldUntil).toBe(0);
    expect(mayCarryLimits({ 'content-type': 'application/json', 'x-request-id': 'a' })).toBe(false);
    expect(mayCarryLimits({ 'X-RateLimit-Remaining': '1' })).toBe(true);
    expect(mayCarryLimits(new Headers({ RateLimit: '"a";r=1' }))).toBe(true);
  });

  it('validates options by name', () => {
    expect(() => connectionLimits({ perSecond: 0 })).toThrow(expect.objectContaining({ option: 'limits.perSecond' }));
    expect(() => connectionLimits({ maxHoldMs: -1 })).toThrow(expect.objectContaining({ option: 'limits.maxHoldMs' }));
    expect(() => connectionLimits().holdUntil(Number.NaN)).toThrow(expect.objectContaining({ option: 'limits.holdUntil.epochMs' }));
  });
});
