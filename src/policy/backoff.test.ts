import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoff, clampDelay, toBackoff } from './backoff.js';
import type { Backoff } from './types.js';

/** The option named by the InvalidOptionError `f` throws, or a marker when it throws something else or nothing. */
function optionOf(f: () => unknown): string {
  try {
    f();
    return 'no error';
  } catch (err) {
    const e = err as { code?: string; option?: string };
    return e.code === 'WEIR_INVALID_OPTION' ? (e.option ?? 'no option') : `other error: ${String(err)}`;
  }
}

/** Runs `retries` retries in sequence, feeding each delay back as `previousMs`, and checks every delay. */
function walk(b: Backoff, retries: number, random: () => number, maxMs: number): number {
  let previous = 0;
  for (let n = 1; n <= retries; n++) {
    const d = b.delayMs(n, previous, random);
    if (!Number.isFinite(d) || d < 0 || d > maxMs) throw new Error(`retry ${n}: delay ${d} outside [0, ${maxMs}]`);
    previous = d;
  }
  return previous;
}

const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
/** A repeatable random source cycling through generated values. */
const randomSource = fc.array(unit, { minLength: 1, maxLength: 20 }).map((values) => {
  let i = 0;
  return () => values[i++ % values.length] as number;
});

describe('backoff.exponential', () => {
  it('jitter none: doubles from initialMs and caps at maxMs', () => {
    const b = backoff.exponential({ initialMs: 100, maxMs: 1000, jitter: 'none' });
    const delays = [1, 2, 3, 4, 5, 6].map((n) => b.delayMs(n, 0, Math.random));
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('uses the factor', () => {
    const b = backoff.exponential({ initialMs: 10, maxMs: 1e9, factor: 3, jitter: 'none' });
    expect([1, 2, 3].map((n) => b.delayMs(n, 0, Math.random))).toEqual([10, 30, 90]);
  });

  it('jitter full (the default): uniform in [0, the exponential delay]', () => {
    const b = backoff.exponential({ initialMs: 100, maxMs: 30_000 });
    expect(b.delayMs(3, 0, () => 0.5)).toBe(200);
    expect(b.delayMs(3, 0, () => 0)).toBe(0);
    expect(b.delayMs(20, 0, () => 0.999)).toBeCloseTo(29_970);
  });

  it('jitter decorrelated: between initialMs and (factor + 1) x the previous delay, capped', () => {
    const b = backoff.exponential({ initialMs: 100, maxMs: 10_000, jitter: 'decorrelated' });
    expect(b.delayMs(1, 0, () => 0)).toBe(100);
    expect(b.delayMs(2, 1000, () => 0)).toBe(100);
    expect(b.delayMs(2, 1000, () => 0.5)).toBe(100 + 0.5 * (3000 - 100));
    expect(b.delayMs(9, 9000, () => 0.9)).toBe(10_000);
  });

  it('stays finite after 10,000 retries, including the edge cases that overflow a naive pow()', () => {
    const cases = [
      { initialMs: 100, maxMs: 30_000, factor: 2 },
      { initialMs: 0, maxMs: 30_000, factor: 2 },
      { initialMs: 5e-324, maxMs: 1.7e308, factor: 1e300 },
      { initialMs: 50_000, maxMs: 1000, factor: 2 },
      { initialMs: 100, maxMs: 30_000, factor: 1 },
      { initialMs: 1, maxMs: 0, factor: 2 },
    ];
    for (const o of cases) {
      for (const jitter of ['none', 'full', 'decorrelated'] as const) {
        const b = backoff.exponential({ ...o, jitter });
        const last = walk(b, 10_000, () => 0.7, o.maxMs);
        if (jitter === 'none') expect(last).toBe(o.initialMs === 0 ? 0 : Math.min(o.maxMs, o.factor === 1 ? o.initialMs : o.maxMs));
        expect(b.delayMs(Number.MAX_SAFE_INTEGER, last, () => 0.7)).toBeLessThanOrEqual(o.maxMs);
      }
    }
  });

  it('property: every delay is finite and within [0, maxMs] for random options over 10,000+ retries', () => {
    fc.assert(
      fc.property(
        fc.record({
          initialMs: fc.double({ min: 0, max: 1e7, noNaN: true }),
          maxMs: fc.double({ min: 0, max: 1e9, noNaN: true }),
          factor: fc.double({ min: 1, max: 1e6, noNaN: true }),
          jitter: fc.constantFrom('full' as const, 'decorrelated' as const, 'none' as const),
        }),
        randomSource,
        fc.integer({ min: 1, max: 2_000_000_000 }),
        (options, random, far) => {
          const b = backoff.exponential(options);
          walk(b, 10_050, random, options.maxMs);
          const d = b.delayMs(far, options.maxMs, random);
          return Number.isFinite(d) && d >= 0 && d <= options.maxMs;
        },
      ),
      { numRuns: 60 },
    );
  });

  it('clamps a misbehaving random source', () => {
    for (const jitter of ['full', 'decorrelated'] as const) {
      const b = backoff.exponential({ initialMs: 100, maxMs: 1000, jitter });
      for (const r of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        const d = b.delayMs(3, 500, () => r);
        expect(Number.isFinite(d) && d >= 0 && d <= 1000).toBe(true);
      }
    }
  });

  it('validates its options eagerly, naming the option', () => {
    expect(optionOf(() => backoff.exponential({ initialMs: -1 }))).toBe('backoff.exponential.initialMs');
    expect(optionOf(() => backoff.exponential({ maxMs: Number.POSITIVE_INFINITY }))).toBe('backoff.exponential.maxMs');
    expect(optionOf(() => backoff.exponential({ factor: 0.5 }))).toBe('backoff.exponential.factor');
    expect(optionOf(() => backoff.exponential({ jitter: 'some' as never }))).toBe('backoff.exponential.jitter');
    expect(optionOf(() => backoff.exponential())).toBe('no error');
  });
});

describe('backoff.constant', () => {
  it('returns the same delay for every retry, accepting duration strings', () => {
    expect(backoff.constant(250).delayMs(1, 0, Math.random)).toBe(250);
    expect(backoff.constant('2s').delayMs(10_000, 2000, Math.random)).toBe(2000);
    expect(backoff.constant(0).delayMs(1, 0, Math.random)).toBe(0);
  });

  it('property: finite and equal to the constant for any retry', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e9, noNaN: true }), randomSource, (ms, random) => {
        walk(backoff.constant(ms), 10_000, random, ms);
        return backoff.constant(ms).delayMs(2_000_000_000, ms, random) === ms;
      }),
      { numRuns: 30 },
    );
  });

  it('rejects a bad duration', () => {
    expect(optionOf(() => backoff.constant(-5))).toBe('backoff.constant.ms');
    expect(optionOf(() => backoff.constant('soon'))).toBe('backoff.constant.ms');
  });
});

describe('backoff.schedule', () => {
  it('retry n uses steps[n-1] and repeats the last step', () => {
    const b = backoff.schedule(['0s', '1s', '5s', '30s', '5m']);
    const delays = [1, 2, 3, 4, 5, 6, 10_000].map((n) => b.delayMs(n, 0, Math.random));
    expect(delays).toEqual([0, 1000, 5000, 30_000, 300_000, 300_000, 300_000]);
  });

  it('jitter spreads each step by the given fraction', () => {
    const b = backoff.schedule([1000], { jitter: 0.2 });
    expect(b.delayMs(1, 0, () => 0)).toBe(800);
    expect(b.delayMs(1, 0, () => 0.5)).toBe(1000);
    expect(b.delayMs(1, 0, () => 0.9999999)).toBeCloseTo(1200, 3);
  });

  it('property: delays finite and within [0, largest step x (1 + jitter)] over 10,000+ retries', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1e9, noNaN: true }), { minLength: 1, maxLength: 12 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        randomSource,
        (steps, jitter, random) => {
          const b = backoff.schedule(steps, { jitter });
          const max = Math.max(...steps) * (1 + jitter);
          walk(b, 10_050, random, max);
          return b.delayMs(Number.MAX_SAFE_INTEGER, 0, random) <= max;
        },
      ),
      { numRuns: 60 },
    );
  });

  it('validates steps and jitter', () => {
    expect(optionOf(() => backoff.schedule([]))).toBe('backoff.schedule.steps');
    expect(optionOf(() => backoff.schedule(['1s', 'later']))).toBe('backoff.schedule.steps[1]');
    expect(optionOf(() => backoff.schedule(['1s'], { jitter: 1.5 }))).toBe('backoff.schedule.jitter');
  });
});

describe('custom backoff helpers', () => {
  it('toBackoff accepts a function or a Backoff object and rejects anything else', () => {
    const f = toBackoff((retry: number) => retry * 10, 'retry.backoff');
    expect(f.delayMs(3, 0, Math.random)).toBe(30);
    const obj = { delayMs: () => 7 };
    expect(toBackoff(obj, 'retry.backoff')).toBe(obj);
    expect(optionOf(() => toBackoff(42, 'retry.backoff'))).toBe('retry.backoff');
  });

  it('clampDelay keeps any number within [0, maxMs], NaN counting as maxMs', () => {
    expect(clampDelay(-5, 100)).toBe(0);
    expect(clampDelay(50, 100)).toBe(50);
    expect(clampDelay(500, 100)).toBe(100);
    expect(clampDelay(Number.POSITIVE_INFINITY, 100)).toBe(100);
    expect(clampDelay(Number.NEGATIVE_INFINITY, 100)).toBe(0);
    expect(clampDelay(Number.NaN, 100)).toBe(100);
  });
});
