import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { getEventListeners } from 'node:events';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { CancelledError, isWeirError, permanent, RateLimitedError, RetriesExhaustedError } from '../errors.js';
import type { Clock } from '../internal/clock.js';
import { FakeClock, flushMicrotasks } from '../testing/fake-clock.js';
import { backoff } from './backoff.js';
import { type Classifier, classifyError } from './classify.js';
import { Deadline } from './deadline.js';
import { RETRY_CHANNEL, type RetryDiagnostic, retry } from './retry.js';
import { retryBudget } from './retry-budget.js';
import { timeout } from './timeout.js';
import type { PolicyContext } from './types.js';
import { wrap } from './wrap.js';

const never = <T>(): Promise<T> => new Promise<T>(() => {});
const boom = (): never => {
  throw new Error('boom');
};

/** Classifies `{ status }` values: 5xx is transient, anything else a success. */
const classify: Classifier = (o) =>
  o.ok ? ((o.value as { status: number }).status >= 500 ? 'transient' : 'success') : classifyError(o.error);
const withRetryAfter = (ms: number): Error => Object.assign(new Error('busy'), { retryAfterMs: ms });

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (err) {
    return isWeirError(err) ? err.code : `not a weir error: ${String(err)}`;
  }
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

function optionOf(f: () => unknown): string {
  try {
    f();
    return 'no error';
  } catch (err) {
    const e = err as { code?: string; option?: string };
    return e.code === 'WEIR_INVALID_OPTION' ? (e.option ?? 'no option') : `other error: ${String(err)}`;
  }
}

/** A clock whose sleeps resolve at once and are recorded; it has no timers and no time. */
function instantClock(): Clock & { slept: number[] } {
  const slept: number[] = [];
  return {
    slept,
    now: () => 0,
    sleep: (ms, signal) => {
      slept.push(ms);
      return signal?.aborted ? Promise.reject(new CancelledError()) : Promise.resolve();
    },
    setTimer: () => {
      throw new Error('instantClock has no timers');
    },
  };
}

describe('retry: attempts and results', () => {
  it('attempts counts the first call: 3 means three calls, then WEIR_RETRIES_EXHAUSTED with the last cause', async () => {
    const clock = new FakeClock();
    const errors: Error[] = [];
    const p = retry({ attempts: 3, backoff: backoff.constant(0), clock }).execute(() => {
      const err = new Error(`failure ${errors.length + 1}`);
      errors.push(err);
      throw err;
    });
    const err = await errorOf(p);
    expect(errors).toHaveLength(3);
    expect(isWeirError(err, 'WEIR_RETRIES_EXHAUSTED')).toBe(true);
    const exhausted = err as RetriesExhaustedError;
    expect(exhausted.attempts).toBe(3);
    expect(exhausted.reason).toBe('attempts');
    expect(exhausted.cause).toBe(errors[2]);
  });

  it('accepts maxAttempts as an alias and refuses two different counts', async () => {
    let calls = 0;
    const policy = retry({ maxAttempts: 2, backoff: backoff.constant(0) });
    expect(policy.attempts).toBe(2);
    await errorOf(policy.execute(() => (calls++, boom())));
    expect(calls).toBe(2);
    expect(retry({ attempts: 4, maxAttempts: 4 }).attempts).toBe(4);
    expect(optionOf(() => retry({ attempts: 4, maxAttempts: 5 }))).toBe('retry.maxAttempts');
  });

  it('attempts: 1 never retries', async () => {
    let calls = 0;
    const err = await errorOf(retry({ attempts: 1 }).execute(() => (calls++, boom())));
    expect(calls).toBe(1);
    expect((err as RetriesExhaustedError).attempts).toBe(1);
  });

  it('returns the value of the first success and passes the attempt number in the context', async () => {
    const clock = new FakeClock();
    const seen: number[] = [];
    const p = retry({ attempts: 5, backoff: backoff.constant(100), clock }).execute((ctx) => {
      seen.push(ctx.attempt);
      return ctx.attempt < 3 ? Promise.reject(new Error('not yet')) : Promise.resolve('done');
    });
    await clock.advance(200);
    await expect(p).resolves.toBe('done');
    expect(seen).toEqual([1, 2, 3]);
  });

  it('reuses the incoming context for the first attempt and allocates only for retries', async () => {
    const incoming: PolicyContext = { attempt: 1, signal: undefined, deadline: undefined, key: 'tenant-1' };
    const contexts: PolicyContext[] = [];
    await retry({ attempts: 2, backoff: backoff.constant(0) }).execute((ctx) => {
      contexts.push(ctx);
      if (contexts.length === 1) boom();
      return 1;
    }, incoming);
    expect(contexts[0]).toBe(incoming);
    expect(contexts[1]).not.toBe(incoming);
    expect(contexts[1]).toMatchObject({ attempt: 2, key: 'tenant-1' });

    const nested: PolicyContext = { attempt: 3, key: 'k' };
    let first: PolicyContext | undefined;
    await retry().execute((ctx) => (first = ctx), nested);
    expect(first).toMatchObject({ attempt: 1, key: 'k' });
  });

  it('a function that throws synchronously counts as a rejection', async () => {
    const p = retry({ attempts: 2, backoff: backoff.constant(0) }).execute(() => {
      throw permanent(new Error('no such customer'));
    });
    expect(p).toBeInstanceOf(Promise);
    expect(await codeOf(p)).toBe('WEIR_PERMANENT');
  });

  it('executeOutcome never rejects', async () => {
    const policy = retry({ attempts: 2, backoff: backoff.constant(0) });
    expect(await policy.executeOutcome(() => 7)).toEqual({ ok: true, value: 7 });
    const outcome = await policy.executeOutcome(boom);
    expect(outcome.ok).toBe(false);
    expect(isWeirError(!outcome.ok && outcome.error, 'WEIR_RETRIES_EXHAUSTED')).toBe(true);
  });

  it('works on the real clock with tiny delays', async () => {
    let calls = 0;
    const value = await retry({ attempts: 3, backoff: backoff.constant(1) }).execute(async () => {
      calls++;
      if (calls < 3) throw new Error('flaky');
      return 'ok';
    });
    expect(value).toBe('ok');
    expect(calls).toBe(3);
  });

  it('reads no time on the success path when no budget is configured', async () => {
    const clock = new FakeClock();
    const now = vi.spyOn(clock, 'now');
    await retry({ clock }).execute(() => 'fast');
    expect(now).not.toHaveBeenCalled();
    await retry({ clock, budget: retryBudget({ clock }) }).execute(() => 'fast');
    expect(now).toHaveBeenCalled();
  });
});

describe('retry: classification', () => {
  it('rethrows a permanent error at once, as it is', async () => {
    const err = permanent(new Error('invalid payload'));
    let calls = 0;
    const thrown = await errorOf(retry({ attempts: 5, backoff: backoff.constant(0) }).execute(() => (calls++, Promise.reject(err))));
    expect(thrown).toBe(err);
    expect(calls).toBe(1);
  });

  it('rethrows a 4xx-like error as it is, and retries a 503-like one', async () => {
    let calls = 0;
    const notFound = Object.assign(new Error('not found'), { status: 404 });
    expect(await errorOf(retry({ backoff: backoff.constant(0) }).execute(() => (calls++, Promise.reject(notFound))))).toBe(notFound);
    expect(calls).toBe(1);
    calls = 0;
    const unavailable = Object.assign(new Error('unavailable'), { status: 503 });
    await errorOf(retry({ backoff: backoff.constant(0) }).execute(() => (calls++, Promise.reject(unavailable))));
    expect(calls).toBe(3);
  });

  it('rethrows a cancellation as it is and does not count it as a give-up', async () => {
    const policy = retry({ attempts: 5, backoff: backoff.constant(0) });
    const giveUp = vi.fn();
    policy.onGiveUp(giveUp);
    const abortError = new DOMException('aborted', 'AbortError');
    let calls = 0;
    expect(await errorOf(policy.execute(() => (calls++, Promise.reject(abortError))))).toBe(abortError);
    expect(calls).toBe(1);
    expect(giveUp).not.toHaveBeenCalled();
  });

  it('retryOn decides for retryable classes but can never make a permanent error retried', async () => {
    const retryOn = vi.fn((c: string) => c === 'rate_limited' || c === 'permanent');
    const policy = retry({ attempts: 3, backoff: backoff.constant(0), retryOn });
    let calls = 0;
    const transient = new Error('transient');
    expect(await errorOf(policy.execute(() => (calls++, Promise.reject(transient))))).toBe(transient);
    expect(calls).toBe(1);
    expect(retryOn).toHaveBeenCalledWith('transient', transient);
    calls = 0;
    await errorOf(policy.execute(() => (calls++, Promise.reject(permanent('x')))));
    expect(calls).toBe(1);
    calls = 0;
    expect(await codeOf(policy.execute(() => (calls++, Promise.reject(new RateLimitedError(0)))))).toBe('WEIR_RETRIES_EXHAUSTED');
    expect(calls).toBe(3);
  });

  it('a custom classifier sees values: a failing value is retried, and returned when retries end', async () => {
    let status = 503;
    const policy = retry({ attempts: 3, backoff: backoff.constant(0), classify });
    const first = await policy.execute(() => {
      const res = { status };
      status = 200;
      return res;
    });
    expect(first).toEqual({ status: 200 });
    let calls = 0;
    expect(await policy.execute(() => (calls++, { status: 502 }))).toEqual({ status: 502 });
    expect(calls).toBe(3);
  });
});

describe('retry: delays', () => {
  it('waits the backoff delay between attempts', async () => {
    const clock = new FakeClock();
    const times: number[] = [];
    const start = clock.now();
    const p = retry({ attempts: 3, backoff: backoff.constant(100), clock }).execute(() => {
      times.push(clock.now() - start);
      boom();
    });
    const code = codeOf(p);
    await clock.advance(99);
    expect(times).toEqual([0]);
    await clock.advance(1);
    expect(times).toEqual([0, 100]);
    await clock.advance(100);
    expect(await code).toBe('WEIR_RETRIES_EXHAUSTED');
    expect(times).toEqual([0, 100, 200]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a custom function backoff gets the retry number and the previous delay', async () => {
    const calls: Array<[number, number]> = [];
    const clock = instantClock();
    await errorOf(
      retry({
        attempts: 4,
        clock,
        backoff: (n, previous) => {
          calls.push([n, previous]);
          return n * 10;
        },
      }).execute(boom),
    );
    expect(calls).toEqual([
      [1, 0],
      [2, 10],
      [3, 20],
    ]);
    expect(clock.slept).toEqual([10, 20, 30]);
  });

  it('honours retryAfterMs from a rate-limited error when it is longer than the backoff', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const p = retry({ attempts: 2, backoff: backoff.constant(10), clock }).execute(() => {
      calls++;
      if (calls === 1) throw new RateLimitedError(5000);
      return 'ok';
    });
    await clock.advance(4999);
    expect(calls).toBe(1);
    await clock.advance(1);
    await expect(p).resolves.toBe('ok');
    expect(calls).toBe(2);
  });

  it('honours retryAfterMs on any error, keeps the backoff when it is longer, and clamps both to maxDelayMs', async () => {
    const clock = instantClock();
    await errorOf(retry({ attempts: 2, backoff: backoff.constant(10), clock }).execute(() => Promise.reject(withRetryAfter(2000))));
    await errorOf(retry({ attempts: 2, backoff: backoff.constant(3000), clock }).execute(() => Promise.reject(withRetryAfter(1000))));
    await errorOf(
      retry({ attempts: 2, backoff: backoff.constant(10), maxDelayMs: 1000, clock }).execute(() =>
        Promise.reject(new RateLimitedError(3_600_000)),
      ),
    );
    await errorOf(retry({ attempts: 2, backoff: backoff.constant(9000), maxDelayMs: 500, clock }).execute(boom));
    expect(clock.slept).toEqual([2000, 3000, 1000, 500]);
  });

  it('10,000 attempts with zero delay complete without any timer', async () => {
    const clock = new FakeClock();
    const sleep = vi.spyOn(clock, 'sleep');
    const setTimer = vi.spyOn(clock, 'setTimer');
    for (const task of [() => boom(), () => Promise.reject(new Error('async boom'))]) {
      let calls = 0;
      const err = await errorOf(
        retry({ attempts: 10_000, backoff: backoff.constant(0), clock }).execute(() => {
          calls++;
          return task();
        }),
      );
      expect(calls).toBe(10_000);
      expect((err as RetriesExhaustedError).attempts).toBe(10_000);
    }
    expect(sleep).not.toHaveBeenCalled();
    expect(setTimer).not.toHaveBeenCalled();
    expect(clock.pendingTimers).toBe(0);
  });

  it('backoff after 10,000 attempts: every delay finite and within bounds', async () => {
    for (const jitter of ['full', 'decorrelated', 'none'] as const) {
      const clock = instantClock();
      const err = await errorOf(
        retry({ attempts: 10_001, backoff: backoff.exponential({ initialMs: 100, maxMs: 30_000, jitter }), clock }).execute(boom),
      );
      expect((err as RetriesExhaustedError).attempts).toBe(10_001);
      expect(clock.slept).toHaveLength(10_000);
      expect(clock.slept.every((ms) => Number.isFinite(ms) && ms >= 0 && ms <= 30_000)).toBe(true);
      if (jitter === 'none') expect(clock.slept.at(-1)).toBe(30_000);
    }
  });

  it('property: whatever the backoff or retryAfterMs returns, every wait is finite and within [0, maxDelayMs]', async () => {
    const anyNumber = fc.oneof(fc.double(), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -1, 0, 1e308));
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 40 }),
        fc.double({ min: 0, max: 1e9, noNaN: true }),
        fc.array(anyNumber, { minLength: 1, maxLength: 10 }),
        fc.array(fc.option(anyNumber), { minLength: 1, maxLength: 10 }),
        async (attempts, maxDelayMs, delays, retryAfters) => {
          const clock = instantClock();
          const announced: number[] = [];
          const policy = retry({ attempts, maxDelayMs, clock, backoff: (n) => delays[n % delays.length] as number });
          policy.onRetry(({ delayMs }) => announced.push(delayMs));
          let n = 0;
          await errorOf(
            policy.execute(() => {
              const retryAfterMs = retryAfters[n++ % retryAfters.length];
              throw retryAfterMs === null ? new Error('x') : Object.assign(new Error('x'), { retryAfterMs });
            }),
          );
          const ok = (ms: number): boolean => Number.isFinite(ms) && ms >= 0 && ms <= maxDelayMs;
          return announced.length === attempts - 1 && announced.every(ok) && clock.slept.every((ms) => ok(ms) && ms > 0);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('retry: cancellation', () => {
  it('abort during the backoff sleep settles at once with WEIR_CANCELLED and leaves no timer or listener', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    let calls = 0;
    const p = retry({ attempts: 5, backoff: backoff.constant(60_000), clock }).execute(() => (calls++, boom()), {
      signal: controller.signal,
    });
    let settled = false;
    const code = codeOf(p).finally(() => (settled = true));
    await flushMicrotasks();
    expect(clock.pendingTimers).toBe(1);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    controller.abort();
    await flushMicrotasks(); // no time passes
    expect(settled).toBe(true);
    expect(await code).toBe('WEIR_CANCELLED');
    expect(calls).toBe(1);
    expect(clock.pendingTimers).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('a signal aborted before the call stops it before the first attempt', async () => {
    const fn = vi.fn(() => 1);
    expect(await codeOf(retry().execute(fn, { signal: AbortSignal.abort() }))).toBe('WEIR_CANCELLED');
    expect(fn).not.toHaveBeenCalled();
  });

  it('a signal aborted during an attempt stops the retries, without a give-up event', async () => {
    const controller = new AbortController();
    const policy = retry({ attempts: 5, backoff: backoff.constant(0) });
    const giveUp = vi.fn();
    policy.onGiveUp(giveUp);
    let calls = 0;
    const p = policy.execute(
      () => {
        calls++;
        controller.abort();
        throw new Error('connection reset');
      },
      { signal: controller.signal },
    );
    expect(await codeOf(p)).toBe('WEIR_CANCELLED');
    expect(calls).toBe(1);
    expect(giveUp).not.toHaveBeenCalled();
  });
});

describe('retry: deadline and budget', () => {
  it('fails fast with reason deadline when the next delay would pass the deadline, without sleeping', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const p = retry({ attempts: 5, backoff: backoff.constant(1000), clock }).execute(() => (calls++, boom()), {
      deadline: Deadline.after(500, clock),
    });
    let settled = false;
    const err = errorOf(p).finally(() => (settled = true));
    await flushMicrotasks();
    expect(settled).toBe(true);
    const e = (await err) as RetriesExhaustedError;
    expect(e.code).toBe('WEIR_RETRIES_EXHAUSTED');
    expect(e.reason).toBe('deadline');
    expect(e.attempts).toBe(1);
    expect(calls).toBe(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it('retries while the deadline allows, and a retryAfterMs past the deadline fails fast too', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const p = retry({ attempts: 10, backoff: backoff.constant(100), clock }).execute(
      () => {
        calls++;
        throw calls === 3 ? new RateLimitedError(10_000) : new Error('flaky');
      },
      { deadline: Deadline.after(1000, clock) },
    );
    const err = errorOf(p);
    await clock.advance(200);
    const e = (await err) as RetriesExhaustedError;
    expect(calls).toBe(3);
    expect(e.reason).toBe('deadline');
    expect(isWeirError(e.cause, 'WEIR_RATE_LIMITED')).toBe(true);
  });

  it('stops with reason budget when the shared budget refuses, and records one call per execution', async () => {
    const clock = new FakeClock();
    const budget = retryBudget({ ratio: 0, minRetriesPerSecond: 0.1, windowMs: 10_000, clock }); // floor: 1 retry
    const a = retry({ attempts: 3, backoff: backoff.constant(0), budget, clock });
    const b = retry({ attempts: 3, backoff: backoff.constant(0), budget, clock });
    let calls = 0;
    const ea = (await errorOf(a.execute(() => (calls++, boom())))) as RetriesExhaustedError;
    expect(calls).toBe(2);
    expect(ea.reason).toBe('budget');
    expect(ea.attempts).toBe(2);
    const eb = (await errorOf(b.execute(boom))) as RetriesExhaustedError;
    expect(eb.reason).toBe('budget');
    expect(eb.attempts).toBe(1);
    expect(budget.snapshot()).toEqual({ calls: 2, retries: 1, allowed: 1 });
  });

  it('validates its options eagerly', () => {
    expect(optionOf(() => retry({ attempts: 0 }))).toBe('retry.attempts');
    expect(optionOf(() => retry({ attempts: 1.5 }))).toBe('retry.attempts');
    expect(optionOf(() => retry({ maxAttempts: -1 }))).toBe('retry.maxAttempts');
    expect(optionOf(() => retry({ maxDelayMs: -1 }))).toBe('retry.maxDelayMs');
    expect(optionOf(() => retry({ backoff: 'fast' as never }))).toBe('retry.backoff');
    expect(optionOf(() => retry({ retryOn: true as never }))).toBe('retry.retryOn');
    expect(optionOf(() => retry({ classify: {} as never }))).toBe('retry.classify');
    expect(optionOf(() => retry({ budget: {} as never }))).toBe('retry.budget');
    expect(optionOf(() => retry({ random: 0.5 as never }))).toBe('retry.random');
    expect(optionOf(() => retry({ clock: {} as never }))).toBe('retry.clock');
    expect(optionOf(() => retry({ budget: false }))).toBe('no error');
  });
});

describe('retry: events and diagnostics', () => {
  it('fires onRetry, onGiveUp and onSuccess, and disposing stops them', async () => {
    const policy = retry({ attempts: 2, backoff: backoff.constant(0) });
    const events: unknown[] = [];
    const subs = [
      policy.onRetry((e) => events.push(['retry', e])),
      policy.onGiveUp((e) => events.push(['giveUp', e])),
      policy.onSuccess((e) => events.push(['success', e])),
    ];
    const err = new Error('flaky');
    let calls = 0;
    await policy.execute(() => (++calls === 1 ? Promise.reject(err) : 'ok'));
    await errorOf(policy.execute(() => Promise.reject(err)));
    const bad = permanent('bad');
    await errorOf(policy.execute(() => Promise.reject(bad)));
    expect(events).toEqual([
      ['retry', { attempt: 1, delayMs: 0, error: err, classification: 'transient' }],
      ['success', { attempts: 2 }],
      ['retry', { attempt: 1, delayMs: 0, error: err, classification: 'transient' }],
      ['giveUp', { attempts: 2, reason: 'attempts', error: err }],
      ['giveUp', { attempts: 1, reason: 'not_retryable', error: bad }],
    ]);
    for (const s of subs) s.dispose();
    await errorOf(policy.execute(() => Promise.reject(err)));
    await policy.execute(() => 1);
    expect(events).toHaveLength(5);
  });

  it('publishes to the weir:policy:retry diagnostics channel', async () => {
    const policy = retry({ attempts: 2, backoff: backoff.constant(0) });
    const messages: RetryDiagnostic[] = [];
    const onMessage = (m: unknown): void => {
      if ((m as RetryDiagnostic).policy === policy) messages.push(m as RetryDiagnostic);
    };
    subscribe(RETRY_CHANNEL, onMessage);
    try {
      await errorOf(policy.execute(boom));
      await policy.execute(() => 1);
    } finally {
      unsubscribe(RETRY_CHANNEL, onMessage);
    }
    expect(messages.map((m) => m.type)).toEqual(['retry', 'giveUp', 'success']);
    expect(messages[1]).toMatchObject({ attempts: 2, reason: 'attempts' });
  });
});

describe('retry: composition', () => {
  it('a timeout inside wrap is per attempt: each attempt gets its own budget', async () => {
    const clock = new FakeClock();
    const seen: number[] = [];
    const policy = wrap(retry({ attempts: 3, backoff: backoff.constant(0), clock }), timeout({ ms: 100, clock }));
    const p = policy.execute((ctx) => {
      seen.push(ctx.attempt);
      return ctx.attempt < 3 ? never<string>() : 'third time';
    });
    await clock.advance(100);
    expect(seen).toEqual([1, 2]);
    await clock.advance(100);
    await expect(p).resolves.toBe('third time');
    expect(seen).toEqual([1, 2, 3]);
  });

  it('per-attempt timeouts that all expire end in WEIR_RETRIES_EXHAUSTED caused by WEIR_TIMEOUT', async () => {
    const clock = new FakeClock();
    const p = wrap(retry({ attempts: 2, backoff: backoff.constant(50), clock }), timeout({ ms: 100, clock })).execute(() => never());
    const err = errorOf(p);
    await clock.advance(250);
    const e = (await err) as RetriesExhaustedError;
    expect(e.code).toBe('WEIR_RETRIES_EXHAUSTED');
    expect(isWeirError(e.cause, 'WEIR_TIMEOUT')).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });

  it('an outer timeout is a deadline the retry never sleeps past', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const policy = wrap(timeout({ ms: 1500, clock }), retry({ attempts: 5, backoff: backoff.constant(1000), clock }));
    const err = errorOf(policy.execute(() => (calls++, boom())));
    await clock.advance(1000);
    const e = (await err) as RetriesExhaustedError;
    expect(e.reason).toBe('deadline');
    expect(calls).toBe(2);
  });
});
