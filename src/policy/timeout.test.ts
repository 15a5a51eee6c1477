import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { isWeirError } from '../errors.js';
import { schedulerFor } from '../internal/scheduler.js';
import { FakeClock } from '../testing/fake-clock.js';
import { Deadline } from './deadline.js';
import { timeout } from './timeout.js';
import type { PolicyContext } from './types.js';
import { bulkhead } from './bulkhead.js';
import { circuitBreaker } from './circuit-breaker.js';
import { rateLimiter } from './rate-limiter.js';
import { retry } from './retry.js';
import { wrap } from './wrap.js';

const never = <T>(): Promise<T> => new Promise<T>(() => {});

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return isWeirError(err) ? err.code : `not a weir error: ${String(err)}`;
  }
}

describe('timeout', () => {
  it('returns the value and never aborts the signal on the success path', async () => {
    const clock = new FakeClock();
    let seen: AbortSignal | undefined;
    const value = await timeout({ ms: 1000, clock }).execute((ctx) => {
      seen = ctx.signal;
      return 42;
    });
    expect(value).toBe(42);
    expect(seen?.aborted).toBe(false);
    await clock.advance(5000);
    expect(seen?.aborted).toBe(false);
  });

  it('aggressive: rejects with WEIR_TIMEOUT at the deadline and aborts the signal', async () => {
    const clock = new FakeClock();
    let signal: AbortSignal | undefined;
    const p = timeout({ ms: 100, clock }).execute((ctx) => {
      signal = ctx.signal;
      return never();
    });
    const code = codeOf(p);
    await clock.advance(99);
    expect(signal?.aborted).toBe(false);
    await clock.advance(1);
    expect(await code).toBe('WEIR_TIMEOUT');
    expect(signal?.aborted).toBe(true);
    expect(isWeirError(signal?.reason, 'WEIR_TIMEOUT')).toBe(true);
  });

  it('cooperative: aborts the signal and waits for the function; a late rejection becomes WEIR_TIMEOUT', async () => {
    const clock = new FakeClock();
    let settled = false;
    const p = timeout({ ms: 50, mode: 'cooperative', clock }).execute(
      (ctx) =>
        new Promise((_, reject) => {
          ctx.signal?.addEventListener('abort', () => setTimeout(() => reject(new Error('stopped')), 5));
        }),
    );
    void p.catch(() => {}).finally(() => (settled = true));
    await clock.advance(50);
    expect(settled).toBe(false);
    expect(await codeOf(p)).toBe('WEIR_TIMEOUT');
  });

  it('cooperative: a value produced after the deadline is kept', async () => {
    const clock = new FakeClock();
    const p = timeout({ ms: 10, mode: 'cooperative', clock }).execute(
      () => new Promise<string>((resolve) => setTimeout(() => resolve('late'), 20)),
    );
    await clock.advance(10);
    await expect(p).resolves.toBe('late');
  });

  it('rejects with WEIR_CANCELLED at once when the caller aborts, and removes its listener', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const p = timeout({ ms: 1000, clock }).execute(() => never(), { signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    controller.abort();
    expect(await codeOf(p)).toBe('WEIR_CANCELLED');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(schedulerFor(clock).pending).toBe(0);
  });

  it('rejects at once when the signal is already aborted, without calling the function', async () => {
    let called = false;
    const p = timeout(1000).execute(
      () => {
        called = true;
      },
      { signal: AbortSignal.abort() },
    );
    expect(await codeOf(p)).toBe('WEIR_CANCELLED');
    expect(called).toBe(false);
  });

  it('caps its budget by an outer deadline and passes the earlier deadline on', async () => {
    const clock = new FakeClock();
    const outer = Deadline.after(30, clock);
    let inner: PolicyContext | undefined;
    const p = timeout({ ms: 1000, clock }).execute(
      (ctx) => {
        inner = ctx;
        return never();
      },
      { deadline: outer },
    );
    expect(inner?.deadline).toBe(outer);
    const code = codeOf(p);
    await clock.advance(30);
    expect(await code).toBe('WEIR_TIMEOUT');
  });

  it('fails fast without calling the function when the deadline has already passed', async () => {
    const clock = new FakeClock();
    const outer = Deadline.after(10, clock);
    await clock.advance(10);
    let called = false;
    const code = await codeOf(
      timeout({ ms: 1000, clock }).execute(
        () => {
          called = true;
        },
        { deadline: outer },
      ),
    );
    expect(code).toBe('WEIR_TIMEOUT');
    expect(called).toBe(false);
  });

  it('outer timeout is the overall deadline for inner ones (wrap)', async () => {
    const clock = new FakeClock();
    const seen: number[] = [];
    const p = wrap(timeout({ ms: 100, clock }), timeout({ ms: 1000, clock })).execute((ctx) => {
      seen.push(ctx.deadline?.remainingMs() ?? -1);
      return never();
    });
    const code = codeOf(p);
    expect(seen).toEqual([100]);
    await clock.advance(100);
    expect(await code).toBe('WEIR_TIMEOUT');
  });

  it('treats a synchronous throw as a rejection', async () => {
    const err = new Error('sync');
    await expect(
      timeout(1000).execute(() => {
        throw err;
      }),
    ).rejects.toBe(err);
  });

  it('emits onTimeout and stops after dispose', async () => {
    const clock = new FakeClock();
    const policy = timeout({ ms: 5, clock });
    const events: number[] = [];
    const sub = policy.onTimeout((e) => events.push(e.ms));
    const a = codeOf(policy.execute(() => never()));
    await clock.advance(5);
    await a;
    sub.dispose();
    const b = codeOf(policy.execute(() => never()));
    await clock.advance(5);
    await b;
    expect(events).toEqual([5]);
  });

  it('executeOutcome never rejects', async () => {
    const clock = new FakeClock();
    const policy = timeout({ ms: 5, clock });
    expect(await policy.executeOutcome(() => 1)).toEqual({ ok: true, value: 1 });
    const p = policy.executeOutcome(() => never());
    await clock.advance(5);
    const outcome = await p;
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && isWeirError(outcome.error, 'WEIR_TIMEOUT')).toBe(true);
  });

  it('leaves no pending scheduler entries after 100,000 successful calls', async () => {
    const clock = new FakeClock();
    const policy = timeout({ ms: 1000, clock });
    for (let i = 0; i < 100_000; i++) await policy.execute(() => i);
    expect(schedulerFor(clock).pending).toBe(0);
    expect(clock.pendingTimers).toBeLessThanOrEqual(1);
  });

  it('creates no AbortController when nobody reads the signal, even nested under retry', async () => {
    const Original = globalThis.AbortController;
    let made = 0;
    globalThis.AbortController = class extends Original {
      constructor() {
        super();
        made++;
      }
    };
    try {
      const clock = new FakeClock();
      const policy = wrap(
        bulkhead({ maxConcurrent: 4 }),
        timeout({ ms: 1000, clock }),
        rateLimiter({ perSecond: 1000, clock }),
        retry({ attempts: 3, clock }),
        circuitBreaker({ consecutive: 5 }, { clock }),
        timeout({ ms: 100, clock }),
      );
      for (let i = 0; i < 100; i++) await policy.execute(() => i);
      expect(made).toBe(0);
      await policy.execute((ctx) => ctx.signal?.aborted);
      expect(made).toBeGreaterThan(0);
    } finally {
      globalThis.AbortController = Original;
    }
  });

  it('works on the real clock', async () => {
    const code = await codeOf(timeout(20).execute(() => never()));
    expect(code).toBe('WEIR_TIMEOUT');
    await expect(timeout(1000).execute(async () => 'ok')).resolves.toBe('ok');
  });

  it('validates options eagerly', () => {
    expect(() => timeout(-1)).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION', option: 'timeout.ms' }));
    expect(() => timeout({ ms: 10, mode: 'lazy' as never })).toThrow(
      expect.objectContaining({ code: 'WEIR_INVALID_OPTION', option: 'timeout.mode' }),
    );
    expect(timeout('2s').ms).toBe(2000);
  });
});
