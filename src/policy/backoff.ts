import { InvalidOptionError } from '../errors.js';
import { type Duration, toMs } from '../internal/duration.js';
import { finite, oneOf } from '../internal/validate.js';
import type { Backoff } from './types.js';

/**
 * A backoff as a plain function: the delay in ms before retry number `retry` (1 = the first
 * retry), given the previous delay and a random source in [0, 1).
 */
export type BackoffFunction = (retry: number, previousMs: number, random: () => number) => number;

/** How an exponential backoff spreads its delays. */
export type Jitter = 'full' | 'decorrelated' | 'none';

/** Options of `backoff.exponential()`. */
export interface ExponentialBackoffOptions {
  /** The first delay (and the base of the growth), in ms. Default 100. */
  initialMs?: number;
  /** Upper bound of every delay, in ms. Default 30_000. */
  maxMs?: number;
  /** Growth per retry, >= 1. Default 2. */
  factor?: number;
  /** Default `'full'`. */
  jitter?: Jitter;
}

/** Options of `backoff.schedule()`. */
export interface ScheduleBackoffOptions {
  /** Random spread as a fraction of each step, from 0 to 1: 0.2 = ±20%. Default 0. */
  jitter?: number;
}

const EXPONENTIAL_DEFAULTS = { initialMs: 100, maxMs: 30_000, factor: 2, jitter: 'full' } as const;
const JITTERS: readonly Jitter[] = ['full', 'decorrelated', 'none'];

/**
 * Clamps a delay into [0, maxMs]. A delay that is not a number (NaN from a faulty custom backoff)
 * becomes `maxMs`: waiting too long is the safe error, a hot retry loop is not.
 */
export function clampDelay(ms: number, maxMs: number): number {
  if (ms > 0) return ms < maxMs ? ms : maxMs;
  return ms <= 0 ? 0 : maxMs;
}

/** Turns a `Backoff` object or a plain function into a `Backoff`. @throws InvalidOptionError naming `option`. */
export function toBackoff(value: unknown, option: string): Backoff {
  if (typeof value === 'function') return { delayMs: value as BackoffFunction };
  if (typeof value === 'object' && value !== null && typeof (value as Backoff).delayMs === 'function') return value as Backoff;
  throw new InvalidOptionError(option, 'a Backoff (an object with delayMs) or a function (retry, previousMs, random) => ms', value);
}

/** The retry number as a usable integer >= 1 (NaN or < 1 counts as the first retry). */
function retryIndex(retry: number): number {
  return retry >= 1 ? Math.floor(retry) : 1;
}

class ExponentialBackoff implements Backoff {
  /** The ceiling when it does not depend on the retry number (zero base, base above the cap, or factor 1). */
  private readonly fixedMs: number | undefined;
  /** From this retry number on the ceiling is maxMs, so pow() never sees a huge exponent (no Infinity, no NaN). */
  private readonly saturatesAt: number;

  constructor(
    readonly initialMs: number,
    readonly maxMs: number,
    readonly factor: number,
    readonly jitter: Jitter,
  ) {
    this.fixedMs =
      initialMs === 0 ? 0 : initialMs >= maxMs ? maxMs : factor === 1 ? initialMs : undefined;
    this.saturatesAt =
      this.fixedMs === undefined ? 1 + Math.ceil(Math.log(maxMs / initialMs) / Math.log(factor)) : Number.POSITIVE_INFINITY;
  }

  /** initialMs * factor^(retry-1), capped at maxMs. */
  private ceiling(retry: number): number {
    if (this.fixedMs !== undefined) return this.fixedMs;
    if (retry >= this.saturatesAt) return this.maxMs;
    const raw = this.initialMs * this.factor ** (retry - 1);
    return raw < this.maxMs ? raw : this.maxMs;
  }

  delayMs(retry: number, previousMs: number, random: () => number): number {
    const n = retryIndex(retry);
    switch (this.jitter) {
      case 'none':
        return this.ceiling(n);
      case 'full':
        return clampDelay(random() * this.ceiling(n), this.maxMs);
      case 'decorrelated': {
        // AWS "decorrelated jitter": random between the base and (factor + 1) times the previous
        // delay (3x with the default factor), capped. It spreads clients without the deep dips of full jitter.
        const previous = previousMs > this.initialMs ? previousMs : this.initialMs;
        const upper = previous * (this.factor + 1);
        return clampDelay(this.initialMs + random() * (upper - this.initialMs), this.maxMs);
      }
    }
  }
}

class ConstantBackoff implements Backoff {
  constructor(readonly ms: number) {}
  delayMs(): number {
    return this.ms;
  }
}

class ScheduleBackoff implements Backoff {
  /** The largest delay this schedule can return, in ms. */
  readonly maxMs: number;

  constructor(
    readonly steps: readonly number[],
    readonly jitter: number,
  ) {
    this.maxMs = steps.reduce((a, b) => (b > a ? b : a), 0) * (1 + jitter);
  }

  delayMs(retry: number, _previousMs: number, random: () => number): number {
    const i = retryIndex(retry) - 1;
    const step = this.steps[i < this.steps.length ? i : this.steps.length - 1] as number;
    if (this.jitter === 0 || step === 0) return step;
    return clampDelay(step * (1 + this.jitter * (2 * random() - 1)), this.maxMs);
  }
}

/**
 * Backoff strategies for `retry({ backoff })` (and a breaker's growing open time). Import from `weir/policy`.
 * Every strategy returns a finite delay in [0, its maximum] for any retry number, however large.
 * A custom strategy is any object with `delayMs(retry, previousMs, random)` or a plain function of the same shape.
 *
 * @example
 * ```ts
 * import { backoff, retry } from 'weir/policy';
 * retry({ attempts: 5, backoff: backoff.exponential({ initialMs: 200, maxMs: 10_000, jitter: 'decorrelated' }) });
 * retry({ attempts: 6, backoff: backoff.schedule(['0s', '1s', '5s', '30s', '5m'], { jitter: 0.2 }) });
 * retry({ attempts: 3, backoff: (retry) => retry * 250 });
 * ```
 */
export const backoff = {
  /**
   * `initialMs * factor^(retry-1)` capped at `maxMs`, spread by `jitter`:
   * - `'full'` (default): uniformly random in [0, that delay] — the best spread for many clients;
   * - `'decorrelated'`: random in [initialMs, (factor + 1) × the previous delay], capped at `maxMs`;
   * - `'none'`: exactly that delay.
   * Defaults: `initialMs` 100, `maxMs` 30_000, `factor` 2.
   * @throws InvalidOptionError naming `backoff.exponential.<option>` for a negative or non-finite value, or a factor below 1.
   */
  exponential(options: ExponentialBackoffOptions = {}): Backoff {
    const initialMs = finite(options.initialMs ?? EXPONENTIAL_DEFAULTS.initialMs, 'backoff.exponential.initialMs', 0);
    const maxMs = finite(options.maxMs ?? EXPONENTIAL_DEFAULTS.maxMs, 'backoff.exponential.maxMs', 0);
    const factor = finite(options.factor ?? EXPONENTIAL_DEFAULTS.factor, 'backoff.exponential.factor', 1);
    const jitter = oneOf(options.jitter ?? EXPONENTIAL_DEFAULTS.jitter, 'backoff.exponential.jitter', JITTERS);
    return new ExponentialBackoff(initialMs, maxMs, factor, jitter);
  },

  /**
   * The same delay before every retry.
   * @param ms a number of ms or a string such as `'500ms'`, `'2s'`.
   * @throws InvalidOptionError naming `backoff.constant.ms`.
   */
  constant(ms: Duration): Backoff {
    return new ConstantBackoff(toMs(ms, 'backoff.constant.ms'));
  },

  /**
   * A fixed schedule: retry n waits `steps[n-1]`; retries past the end repeat the last step.
   * `jitter` spreads each step by ± that fraction (0.2 = ±20%); default 0.
   * @throws InvalidOptionError naming `backoff.schedule.steps` (empty, or a step that is not a duration) or `backoff.schedule.jitter`.
   */
  schedule(steps: readonly Duration[], options: ScheduleBackoffOptions = {}): Backoff {
    if (!Array.isArray(steps) || steps.length === 0) {
      throw new InvalidOptionError('backoff.schedule.steps', 'a non-empty array of durations', steps);
    }
    const ms = steps.map((step, i) => toMs(step, `backoff.schedule.steps[${i}]`));
    const jitter = finite(options.jitter ?? 0, 'backoff.schedule.jitter', 0, 1);
    return new ScheduleBackoff(ms, jitter);
  },
};
