import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { retryBudget } from './retry-budget.js';

function optionOf(f: () => unknown): string {
  try {
    f();
    return 'no error';
  } catch (err) {
    const e = err as { code?: string; option?: string };
    return e.code === 'WEIR_INVALID_OPTION' ? (e.option ?? 'no option') : `other error: ${String(err)}`;
  }
}

/** How many retries the budget grants before refusing (stops at `limit`). */
function drain(budget: { tryAcquireRetry(): boolean }, limit = 100_000): number {
  let n = 0;
  while (n < limit && budget.tryAcquireRetry()) n++;
  return n;
}

describe('retryBudget', () => {
  it('allows retries up to ratio x calls in the window', () => {
    const clock = new FakeClock();
    const budget = retryBudget({ ratio: 0.2, minRetriesPerSecond: 0, clock });
    for (let i = 0; i < 100; i++) budget.recordCall();
    expect(drain(budget)).toBe(20);
    expect(budget.snapshot()).toEqual({ calls: 100, retries: 20, allowed: 20 });
  });

  it('has a floor of minRetriesPerSecond x window seconds, with no calls at all', () => {
    const clock = new FakeClock();
    expect(drain(retryBudget({ clock }))).toBe(100); // defaults: 10/s over 10 s
    expect(drain(retryBudget({ minRetriesPerSecond: 2, windowMs: 5000, clock }))).toBe(10);
    expect(drain(retryBudget({ minRetriesPerSecond: 0, clock }))).toBe(0);
  });

  it('the floor is a lower bound, not added to the ratio', () => {
    const clock = new FakeClock();
    const budget = retryBudget({ ratio: 0.5, minRetriesPerSecond: 1, windowMs: 10_000, clock });
    for (let i = 0; i < 10; i++) budget.recordCall();
    expect(budget.snapshot().allowed).toBe(10); // max(5, 10)
    for (let i = 0; i < 30; i++) budget.recordCall();
    expect(budget.snapshot().allowed).toBe(20); // max(20, 10)
  });

  it('forgets calls and retries once they leave the window', async () => {
    const clock = new FakeClock();
    const budget = retryBudget({ ratio: 1, minRetriesPerSecond: 0, windowMs: 10_000, clock });
    for (let i = 0; i < 4; i++) budget.recordCall();
    expect(drain(budget)).toBe(4);
    await clock.advance(5000);
    for (let i = 0; i < 2; i++) budget.recordCall();
    expect(drain(budget)).toBe(2);
    expect(budget.snapshot()).toEqual({ calls: 6, retries: 6, allowed: 6 });
    await clock.advance(5000); // the first bucket has left the window
    expect(budget.snapshot()).toEqual({ calls: 2, retries: 2, allowed: 2 });
    expect(budget.tryAcquireRetry()).toBe(false);
    await clock.advance(60_000); // everything has left
    expect(budget.snapshot()).toEqual({ calls: 0, retries: 0, allowed: 0 });
  });

  it('survives a clock that jumps backwards', () => {
    const clock = new FakeClock();
    const budget = retryBudget({ ratio: 1, minRetriesPerSecond: 0, clock });
    budget.recordCall();
    clock.set(clock.now() - 3_600_000);
    budget.recordCall();
    expect(budget.snapshot()).toEqual({ calls: 2, retries: 0, allowed: 2 });
    expect(drain(budget)).toBe(2);
  });

  it('property: matches a reference model of a ten-bucket sliding window', () => {
    const op = fc.record({
      kind: fc.constantFrom('call' as const, 'retry' as const, 'snapshot' as const),
      advanceMs: fc.integer({ min: 0, max: 4000 }),
    });
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 300 }),
        fc.double({ min: 0, max: 2, noNaN: true }),
        fc.integer({ min: 0, max: 3 }),
        (ops, ratio, perSecond) => {
          const windowMs = 10_000;
          const bucketMs = windowMs / 10;
          const clock = new FakeClock(0);
          const budget = retryBudget({ ratio, minRetriesPerSecond: perSecond, windowMs, clock });
          const calls: number[] = [];
          const retries: number[] = [];
          for (const { kind, advanceMs } of ops) {
            clock.set(clock.now() + advanceMs);
            const bucket = Math.floor(clock.now() / bucketMs);
            const live = (t: number): boolean => Math.floor(t / bucketMs) > bucket - 10;
            const c = calls.filter(live).length;
            const r = retries.filter(live).length;
            const allowed = Math.max(c * ratio, perSecond * 10);
            if (kind === 'call') {
              budget.recordCall();
              calls.push(clock.now());
            } else if (kind === 'retry') {
              const expected = r + 1 <= allowed;
              if (budget.tryAcquireRetry() !== expected) return false;
              if (expected) retries.push(clock.now());
            } else {
              const s = budget.snapshot();
              if (s.calls !== c || s.retries !== r || s.allowed !== allowed) return false;
            }
          }
          return true;
        },
      ),
      { numRuns: 200 },
    );
  });

  it('validates its options eagerly', () => {
    expect(optionOf(() => retryBudget({ ratio: -0.1 }))).toBe('retryBudget.ratio');
    expect(optionOf(() => retryBudget({ windowMs: 0 }))).toBe('retryBudget.windowMs');
    expect(optionOf(() => retryBudget({ minRetriesPerSecond: Number.NaN }))).toBe('retryBudget.minRetriesPerSecond');
    expect(optionOf(() => retryBudget({ clock: {} as never }))).toBe('retryBudget.clock');
    expect(optionOf(() => retryBudget())).toBe('no error');
  });
});
