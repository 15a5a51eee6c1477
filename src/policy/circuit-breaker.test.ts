import { describe, expect, it } from 'vitest';
import { CancelledError, permanent, RateLimitedError, TimeoutError } from '../errors.js';
import { FakeClock } from '../testing/fake-clock.js';
import { circuitBreaker, type CircuitBreakerPolicy } from './circuit-breaker.js';

const succeed = (): string => 'ok';
const fail = (): never => {
  throw new Error('boom'); // unknown errors are transient
};

/** Runs one call and reports how it ended, without throwing. */
async function run(b: CircuitBreakerPolicy, fn: () => unknown): Promise<'ok' | 'failed' | 'rejected'> {
  const outcome = await b.executeOutcome(fn);
  if (outcome.ok) return 'ok';
  return (outcome.error as { code?: string }).code === 'WEIR_CIRCUIT_OPEN' ? 'rejected' : 'failed';
}

async function runAll(b: CircuitBreakerPolicy, pattern: string): Promise<void> {
  for (const ch of pattern) await run(b, ch === 'F' ? fail : succeed);
}

function deferred<T = string>(): { promise: Promise<T>; resolve(value: T): void; reject(err: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('consecutive mode', () => {
  it('opens exactly at the threshold, and a success resets the count', async () => {
    const clock = new FakeClock();
    const b = circuitBreaker({ consecutive: 3 }, { clock, openMs: 1_000 });
    await runAll(b, 'FFSFF');
    expect(b.state).toBe('closed');
    await runAll(b, 'F');
    expect(b.state).toBe('open');
    const err = await b.execute(succeed).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WEIR_CIRCUIT_OPEN', retryAfterMs: 1_000 });
  });

  it('does not read the clock for a success while closed', async () => {
    const clock = new FakeClock();
    let reads = 0;
    const counting = Object.assign(Object.create(clock) as FakeClock, { now: () => (reads++, clock.now()) });
    const b = circuitBreaker({ consecutive: 3 }, { clock: counting });
    for (let i = 0; i < 10; i++) await b.execute(succeed);
    await b.execute(() => Promise.resolve('later'));
    expect(b.state).toBe('closed');
    expect(reads).toBe(0);
  });

  it('counts a synchronous throw as a failure and still returns a rejected promise', async () => {
    const b = circuitBreaker({ consecutive: 1 }, { clock: new FakeClock() });
    const result = b.execute(fail);
    expect(result).toBeInstanceOf(Promise);
    await expect(result).rejects.toThrow('boom');
    expect(b.state).toBe('open');
  });

  it('does not call the function when the signal is already aborted', async () => {
    const b = circuitBreaker({ consecutive: 1 }, { clock: new FakeClock() });
    let called = false;
    const err = await b.execute(() => (called = true), { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WEIR_CANCELLED' });
    expect(called).toBe(false);
  });
});

describe('failure-rate mode', () => {
  it('count window: opens at the rate once minimumCalls are in the window, not before', async () => {
    const b = circuitBreaker({ failureRate: 0.5, minimumCalls: 4, windowSize: 4 }, { clock: new FakeClock() });
    await runAll(b, 'FFF'); // 100 % but only 3 calls
    expect(b.state).toBe('closed');
    await runAll(b, 'F');
    expect(b.state).toBe('open');
  });

  it('count window: old calls leave the ring', async () => {
    const b = circuitBreaker({ failureRate: 0.5, minimumCalls: 4, windowSize: 4 }, { clock: new FakeClock() });
    await runAll(b, 'FSSSSF'); // the first F has left: 1 of 4
    expect(b.state).toBe('closed');
    await runAll(b, 'S'); // 1 of 4
    expect(b.state).toBe('closed');
    await runAll(b, 'F'); // S S F F → 2 of 4
    expect(b.state).toBe('open');
  });

  it('opens at exactly the rate (no floating-point drift: 3 of 30 is 10 %)', async () => {
    const b = circuitBreaker({ failureRate: 0.1, minimumCalls: 30, windowSize: 30 }, { clock: new FakeClock() });
    await runAll(b, `FF${'S'.repeat(27)}`);
    expect(b.state).toBe('closed');
    await runAll(b, 'F');
    expect(b.state).toBe('open');
  });

  it('time window: forgets old buckets', async () => {
    const clock = new FakeClock();
    const b = circuitBreaker({ failureRate: 0.5, minimumCalls: 2, windowMs: 1_000, buckets: 10 }, { clock });
    await runAll(b, 'F');
    await clock.advance(1_000);
    await runAll(b, 'F'); // the first failure is gone: 1 call
    expect(b.state).toBe('closed');
    await clock.advance(500);
    await runAll(b, 'F'); // 2 of 2
    expect(b.state).toBe('open');
  });

  it('time window: minimumCalls is respected', async () => {
    const b = circuitBreaker({ failureRate: 0.2, minimumCalls: 5 }, { clock: new FakeClock() });
    await runAll(b, 'FFFF');
    expect(b.state).toBe('closed');
    await runAll(b, 'F');
    expect(b.state).toBe('open');
  });

  it('slow calls open the breaker at the slow-call rate', async () => {
    const clock = new FakeClock();
    const b = circuitBreaker({ failureRate: 1, minimumCalls: 2, windowSize: 10, slowCallMs: 100, slowCallRate: 0.5 }, { clock });
    const changes: string[] = [];
    b.onBreak(({ reason }) => changes.push(reason));
    const call = async (ms: number): Promise<void> => {
      const p = b.execute(() => clock.sleep(ms));
      await clock.advance(ms);
      await p;
    };
    await call(10);
    await call(99);
    await call(10);
    expect(b.state).toBe('closed'); // nothing slow yet
    await call(100); // 1 of 4 slow
    expect(b.state).toBe('closed');
    await call(150); // 2 of 5 slow
    expect(b.state).toBe('closed');
    await call(100); // 3 of 6 slow
    expect(b.state).toBe('open');
    expect(changes).toEqual(['slow-call-rate']);
  });
});

describe('classification', () => {
  it('permanent, rate-limited and cancelled outcomes are neither success nor failure', async () => {
    const b = circuitBreaker({ consecutive: 2 }, { clock: new FakeClock() });
    await runAll(b, 'F');
    const neutral: Array<() => unknown> = [
      () => Promise.reject(permanent(new Error('no such customer'))),
      () => Promise.reject(Object.assign(new Error('not found'), { status: 404 })),
      () => Promise.reject(new RateLimitedError(1_000)),
      () => Promise.reject(Object.assign(new Error('429'), { status: 429 })),
      () => Promise.reject(new CancelledError()),
      () => Promise.reject(Object.assign(new Error('aborted'), { name: 'AbortError' })),
    ];
    for (const fn of neutral) await run(b, fn);
    expect(b.toJSON().window).toEqual({ kind: 'consecutive', failures: 1 }); // not reset, not increased
    expect(b.state).toBe('closed');
    await run(b, () => Promise.reject(new TimeoutError(10)));
    expect(b.state).toBe('open');
  });

  it('a failure after the caller aborted is a cancellation', async () => {
    const b = circuitBreaker({ consecutive: 1 }, { clock: new FakeClock() });
    const controller = new AbortController();
    const p = b.execute(
      () =>
        new Promise((_, reject) => {
          controller.signal.addEventListener('abort', () => reject(new Error('socket closed')));
        }),
      { signal: controller.signal },
    );
    controller.abort();
    await expect(p).rejects.toThrow('socket closed');
    expect(b.state).toBe('closed');
  });

  it('neutral outcomes are not counted in a window', async () => {
    const b = circuitBreaker({ failureRate: 0.5, minimumCalls: 2, windowSize: 10 }, { clock: new FakeClock() });
    await run(b, () => Promise.reject(permanent(new Error('x'))));
    await runAll(b, 'S');
    expect(b.toJSON().window).toMatchObject({ kind: 'count', calls: 1, failures: 0 });
  });

  it('uses a custom classifier, once per outcome, and survives one that throws', async () => {
    const seen: unknown[] = [];
    const b = circuitBreaker(
      { consecutive: 2 },
      {
        clock: new FakeClock(),
        classify: (o) => {
          seen.push(o);
          if (o.ok && o.value === 'explode') throw new Error('bad classifier');
          return o.ok && o.value === 'degraded' ? 'transient' : o.ok ? 'success' : 'permanent';
        },
      },
    );
    await run(b, fail); // permanent by this classifier
    await run(b, () => 'degraded');
    await run(b, () => 'explode'); // falls back to the default: a success resets
    await run(b, () => 'degraded');
    expect(b.state).toBe('closed');
    await run(b, () => 'degraded');
    expect(b.state).toBe('open');
    expect(seen).toHaveLength(5);
  });
});

describe('open and half-open', () => {
  it('moves from open to half-open lazily once openMs has passed, with no timer', async () => {
    const clock = new FakeClock();
    const b = circuitBreaker({ consecutive: 1 }, { clock, openMs: '1s' });
    await runAll(b, 'F');
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(999);
    expect(b.state).toBe('open');
    expect(b.retryAfterMs()).toBe(1);
    expect(await run(b, succeed)).toBe('rejected');
    await clock.advance(1);
    expect(b.retryAfterMs()).toBe(0);
    expect(b.state).toBe('half-open');
    expect(await run(b, succeed)).toBe('ok');
    expect(b.state).toBe('closed');
  });

  it('a call (not only a read) triggers the transition', async () => {
    const clock = new FakeClock();
    const b = circuitBreaker({ consecutive: 1 }, { clock, openMs: 1_000 });
    const seen: string[] = [];
    b.onStateChange(({ from, to }) => seen.push(`${from}>${to}`));
    await runAll(b, 'F');
    await clock.advance(1_000);
    expect(await run(b, succeed)).toBe('ok');
    expect(seen).toEqual(['closed>open', 'open>half-open', 'half-open>closed']);
  });

  it('grows the open time with a backoff on re-opens in a row, and starts over after closing', async () => {
    const clock = new FakeClock();
    const calls: Array<[number, number]> = [];
    const openMs = {
      delayMs: (n: number, previousMs: number) => {
        calls.push([n, previousMs]);
        return 1_000 * 2 ** (n - 1);
      },
    };
    const b = circuitBreaker({ consecutive: 1 }, { clock, openMs });
    calls.length = 0; // construction computes the first duration as the isolation hint
    await runAll(b, 'F');
    expect(b.retryAfterMs()).toBe(1_000);
    await clock.advance(1_000);
    await runAll(b, 'F'); // probe fails
    expect([b.state, b.retryAfterMs(), b.reopenCount]).toEqual(['open', 2_000, 1]);
    await clock.advance(2_000);
    await runAll(b, 'F');
    expect([b.retryAfterMs(), b.reopenCount]).toEqual([4_000, 2]);
    await clock.advance(4_000);
    await runAll(b, 'S');
    expect(b.state).toBe('closed');
    await runAll(b, 'F');
    expect(b.retryAfterMs()).toBe(1_000);
    expect(calls).toEqual([
      [1, 0],
      [2, 1_000],
      [3, 2_000],
      [1, 0],
    ]);
  });

  it('lets N probes through at once and rejects the rest immediately with retryAfterMs', async () => {
    const clock = new FakeClock();
    const b = circuitBreaker({ consecutive: 1 }, { clock, openMs: 1_000, halfOpenProbes: 2, halfOpenMaxWaitMs: 5_000 });
    await runAll(b, 'F');
    await clock.advance(1_000);
    const [d1, d2] = [deferred(), deferred()];
    const p1 = b.execute(() => d1.promise);
    const p2 = b.execute(() => d2.promise);
    let ran = false;
    const rejected = await b.execute(() => (ran = true)).catch((e: unknown) => e);
    expect(ran).toBe(false);
    expect(rejected).toMatchObject({ code: 'WEIR_CIRCUIT_OPEN', retryAfterMs: 5_000, details: { state: 'half-open' } });
    d1.resolve('a');
    await p1;
    expect(b.state).toBe('half-open'); // one of two
    expect(await run(b, succeed)).toBe('rejected'); // one running, one done: no slot
    expect(b.retryAfterMs()).toBeGreaterThan(0);
    d2.resolve('b');
    await p2;
    expect(b.state).toBe('closed');
  });

  it('any probe failure re-opens; the other probe, finishing later, is ignored', async () => {
    const clock = new FakeClock();
    const b = circuitBreaker({ consecutive: 1 }, { clock, openMs: 1_000, halfOpenProbes: 2 });
    await runAll(b, 'F');
    await clock.advance(1_000);
    const [d1, d2] = [deferred(), deferred()];
    const p1 = b.executeOutcome(() => d1.promise);
    const p2 = b.executeOutcome(() => d2.promise);
    d1.reject(new Error('still down'));
    await p1;
    expect([b.state, b.reopenCount]).toEqual(['open', 1]);
    const generation = b.generation;
    d2.resolve('late');
    await p2;
    expect([b.state, b.generation]).toEqual(['open', generation]);
  });

  it('a probe with a neutral outcome frees its slot for another probe', async () => {
    const clock = new FakeClock();
    const b = circuitBreaker({ consecutive: 1 }, { clock, openMs: 1_000 });
    await runAll(b, 'F');
    await clock.advance(1_000);
    await run(b, () => Promise.reject(permanent(new Error('bad request'))));
    expect(b.state).toBe('half-open');
    expect(await run(b, succeed)).toBe('ok');
    expect(b.state).toBe('closed');
  });

  it('re-opens when probes do not finish within halfOpenMaxWaitMs', async () => {
    const clock = new FakeClock();
    const b = circuitBreaker({ consecutive: 1 }, { clock, openMs: 1_000, halfOpenMaxWaitMs: 500 });
    const reasons: string[] = [];
    b.onBreak(({ reason }) => reasons.push(reason));
    await runAll(b, 'F');
    await clock.advance(1_300); // half-open since +1000; the probe starts at +1300
    const hung = deferred();
    const probe = b.executeOutcome(() => hung.promise);
    await clock.advance(499);
    expect(b.state).toBe('half-open');
    await clock.advance(1);
    expect([b.state, b.reopenCount, b.retryAfterMs()]).toEqual(['open', 1, 1_000]);
    expect(reasons).toEqual(['consecutive', 'half-open-timeout']);
    hung.resolve('finally');
    await probe;
    expect(b.state).toBe('open'); // the hung probe's generation is over
    expect(clock.pendingTimers).toBe(0);
  });

  it('applies timed transitions as of when they were due, even if read much later', async () => {
    const clock = new FakeClock();
    const b = circuitBreaker({ consecutive: 1 }, { clock, openMs: 1_000, halfOpenMaxWaitMs: 500 });
    await runAll(b, 'F');
    await clock.advance(1_000);
    void b.executeOutcome(() => new Promise(() => {})); // a probe that never settles
    await clock.advance(1_600); // timed out at +1500, re-opened until +2500 → half-open again at +2600
    expect([b.state, b.reopenCount]).toEqual(['half-open', 1]);
  });
});

describe('generations', () => {
  it('ignores the result of a call started before the breaker opened', async () => {
    const clock = new FakeClock();
    const b = circuitBreaker({ consecutive: 2 }, { clock, openMs: 1_000 });
    const old = deferred();
    const oldCall = b.executeOutcome(() => old.promise);
    await runAll(b, 'FF');
    expect(b.state).toBe('open');
    await clock.advance(1_000);
    const probe = deferred();
    const probeCall = b.executeOutcome(() => probe.promise);
    old.resolve('from closed');
    await oldCall;
    expect(b.state).toBe('half-open'); // the old success did not count as the probe
    probe.resolve('probe');
    await probeCall;
    expect(b.state).toBe('closed');
  });

  it('ignores an old failure after a reset, and counts calls in flight of every generation', async () => {
    const b = circuitBreaker({ consecutive: 1 }, { clock: new FakeClock() });
    const old = deferred();
    const call = b.executeOutcome(() => old.promise);
    expect(b.inFlight).toBe(1);
    const generation = b.generation;
    b.reset();
    expect(b.generation).toBe(generation + 1);
    old.reject(new Error('stale'));
    await call;
    expect(b.state).toBe('closed');
    expect(b.inFlight).toBe(0);
  });
});
