import { InvalidOptionError } from '../errors.js';
import { type Clock, systemClock } from '../internal/clock.js';
import { finite } from '../internal/validate.js';

/** What a retry budget holds over its current window. */
export interface RetryBudgetSnapshot {
  /** Calls recorded in the window (first attempts only). */
  readonly calls: number;
  /** Retries granted in the window. */
  readonly retries: number;
  /** Retries the window allows in total: `max(ratio × calls, minRetriesPerSecond × window seconds)`. */
  readonly allowed: number;
}

/**
 * Caps retry amplification: retries may be at most a fraction of calls over a sliding window,
 * with a floor so that a quiet client can still retry. One budget may be shared by many policies
 * (for example every retry towards the same downstream).
 */
export interface RetryBudget {
  /** Records one call (a first attempt, not a retry). */
  recordCall(): void;
  /** Takes one retry from the budget; `false` when the window's allowance is spent. */
  tryAcquireRetry(): boolean;
  /** The window's counts now. */
  snapshot(): RetryBudgetSnapshot;
}

/** Options of {@link retryBudget}. */
export interface RetryBudgetOptions {
  /** Retries allowed per recorded call, from 0 to any: 0.2 = retries at most 20% of calls. Default 0.2. */
  ratio?: number;
  /** The sliding window, in ms. Default 10_000. */
  windowMs?: number;
  /** The floor: this many retries per second of window are always allowed, however few the calls. Default 10. */
  minRetriesPerSecond?: number;
  /** Default: the system clock. */
  clock?: Clock;
}

const DEFAULTS = { ratio: 0.2, windowMs: 10_000, minRetriesPerSecond: 10 } as const;

/** The window is kept as this many buckets; counts expire one bucket at a time. */
const BUCKETS = 10;

/**
 * A retry budget over a sliding window (as in Finagle and Envoy): at most `ratio` retries per call
 * in the last `windowMs`, but never fewer than `minRetriesPerSecond × windowMs / 1000`.
 * When a downstream fails hard, retries then add at most `ratio` to its load instead of multiplying it.
 *
 * The window is ten time buckets in a ring, so each operation costs O(1) and no timer runs.
 *
 * @throws InvalidOptionError naming `retryBudget.<option>` for a negative or non-finite value
 * (`windowMs` must be at least 1).
 * @example
 * ```ts
 * import { retry, retryBudget } from 'weir/policy';
 * const budget = retryBudget({ ratio: 0.2, windowMs: 10_000, minRetriesPerSecond: 5 });
 * const a = retry({ attempts: 4, budget });
 * const b = retry({ attempts: 2, budget }); // both draw on the same budget
 * ```
 */
export function retryBudget(options: RetryBudgetOptions = {}): RetryBudget {
  return new WindowRetryBudget(options);
}

class WindowRetryBudget implements RetryBudget {
  private readonly ratio: number;
  private readonly floor: number;
  private readonly bucketMs: number;
  private readonly clock: Clock;
  private readonly calls = new Float64Array(BUCKETS);
  private readonly retries = new Float64Array(BUCKETS);
  private totalCalls = 0;
  private totalRetries = 0;
  /** Absolute index (time / bucketMs) of the newest bucket. */
  private head: number;

  constructor(options: RetryBudgetOptions) {
    this.ratio = finite(options.ratio ?? DEFAULTS.ratio, 'retryBudget.ratio', 0);
    const windowMs = finite(options.windowMs ?? DEFAULTS.windowMs, 'retryBudget.windowMs', 1);
    const perSecond = finite(options.minRetriesPerSecond ?? DEFAULTS.minRetriesPerSecond, 'retryBudget.minRetriesPerSecond', 0);
    const clock = options.clock ?? systemClock;
    if (typeof clock?.now !== 'function') throw new InvalidOptionError('retryBudget.clock', 'a Clock', clock);
    this.clock = clock;
    this.floor = (perSecond * windowMs) / 1000;
    this.bucketMs = windowMs / BUCKETS;
    this.head = Math.floor(clock.now() / this.bucketMs);
  }

  recordCall(): void {
    const slot = this.rotate();
    this.calls[slot] = (this.calls[slot] as number) + 1;
    this.totalCalls++;
  }

  tryAcquireRetry(): boolean {
    const slot = this.rotate();
    if (this.totalRetries + 1 > this.allowed()) return false;
    this.retries[slot] = (this.retries[slot] as number) + 1;
    this.totalRetries++;
    return true;
  }

  snapshot(): RetryBudgetSnapshot {
    this.rotate();
    return { calls: this.totalCalls, retries: this.totalRetries, allowed: this.allowed() };
  }

  private allowed(): number {
    const byRatio = this.totalCalls * this.ratio;
    return byRatio > this.floor ? byRatio : this.floor;
  }

  /** Expires the buckets that left the window and returns the slot of the current one. */
  private rotate(): number {
    const now = Math.floor(this.clock.now() / this.bucketMs);
    // A clock that went backwards keeps the current bucket rather than corrupting the ring.
    if (now > this.head) {
      const expired = now - this.head >= BUCKETS ? BUCKETS : now - this.head;
      for (let i = 1; i <= expired; i++) {
        const slot = (this.head + i) % BUCKETS;
        this.totalCalls -= this.calls[slot] as number;
        this.totalRetries -= this.retries[slot] as number;
        this.calls[slot] = 0;
        this.retries[slot] = 0;
      }
      this.head = now;
    }
    return this.head % BUCKETS;
  }
}
