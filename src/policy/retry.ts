import { channel } from 'node:diagnostics_channel';
import { CancelledError, type Classification, type GiveUpReason, InvalidOptionError, RetriesExhaustedError } from '../errors.js';
import { type Clock, systemClock } from '../internal/clock.js';
import { Emitter } from '../internal/events.js';
import { finite, fn as requireFn, integer } from '../internal/validate.js';
import { type BackoffFunction, backoff as backoffs, clampDelay, toBackoff } from './backoff.js';
import { type Classifier, defaultClassifier, retryAfterOf } from './classify.js';
import type { RetryBudget } from './retry-budget.js';
import { BasePolicy, type Backoff, type ExecuteOptions, isAborted, kIsAborted, kOnAbort, onAbort, type PolicyContext, type Task, toContext } from './types.js';

/** Options of {@link retry}; every one is optional and validated at construction. */
export interface RetryOptions {
  /** Total calls including the first, >= 1: 3 = the first call and two retries. Default 3. */
  attempts?: number;
  /** Alias of `attempts` (the name ARCHITECTURE.md uses). Give one or the other. */
  maxAttempts?: number;
  /** Delay before each retry. Default `backoff.exponential()` (100 ms doubling to 30 s, full jitter). */
  backoff?: Backoff | BackoffFunction;
  /** Upper bound of every delay, including one asked for by `retryAfterMs`, in ms. Default 300_000 (5 min). */
  maxDelayMs?: number;
  /**
   * Which failures to retry, given their class. Default: `transient` or `rate_limited`.
   * `permanent` and `cancelled` outcomes are never retried, whatever this returns.
   */
  retryOn?: (classification: Classification, error: unknown) => boolean;
  /**
   * Classifies each outcome once. Default {@link defaultClassifier} (values succeed, errors by
   * `classifyError`). A custom classifier also sees values, so a value can be retried (e.g. a 503
   * response); when retries end on such a value, the last value is returned.
   */
  classify?: Classifier;
  /** A shared {@link RetryBudget} that caps retries as a share of calls. Default: none. */
  budget?: RetryBudget | false;
  /** Default: the system clock. */
  clock?: Clock;
  /** Random source in [0, 1) for jitter. Default `Math.random`. */
  random?: () => number;
}

/** Emitted before each retry's wait. */
export interface RetryEvent {
  /** The attempt that just failed (1 = the first call); the next one is `attempt + 1`. */
  readonly attempt: number;
  /** How long the policy waits before the next attempt, in ms (0 = at once). */
  readonly delayMs: number;
  /** The failure: what the function threw (or the value a custom classifier rejected). */
  readonly error: unknown;
  readonly classification: Classification;
}

/**
 * Why a retry policy stopped on a failure: the `RetriesExhaustedError` reasons, or
 * `'not_retryable'` when the failure was permanent or `retryOn` declined it (it is then rethrown as it is).
 */
export type RetryGiveUpReason = GiveUpReason | 'not_retryable';

/** Emitted when the policy stops on a failure. Cancellation is not a failure and emits nothing. */
export interface RetryGiveUpEvent {
  /** Calls made, including the first. */
  readonly attempts: number;
  readonly reason: RetryGiveUpReason;
  /** The last failure (not the `RetriesExhaustedError` wrapping it). */
  readonly error: unknown;
}

/** Emitted when a call succeeds. */
export interface RetrySuccessEvent {
  /** Calls made, including the first (1 = no retry was needed). */
  readonly attempts: number;
}

/** Messages published on the `weir:policy:retry` diagnostics channel. */
export type RetryDiagnostic =
  | ({ readonly type: 'retry'; readonly policy: RetryPolicy } & RetryEvent)
  | ({ readonly type: 'giveUp'; readonly policy: RetryPolicy } & RetryGiveUpEvent)
  | ({ readonly type: 'success'; readonly policy: RetryPolicy } & RetrySuccessEvent);

/** `node:diagnostics_channel` channel name; messages are {@link RetryDiagnostic}. */
export const RETRY_CHANNEL = 'weir:policy:retry';
const diagnostics = channel(RETRY_CHANNEL);

const DEFAULTS = { attempts: 3, maxDelayMs: 300_000 } as const;
const defaultRetryOn = (c: Classification): boolean => c === 'transient' || c === 'rate_limited';

/**
 * Retries a failing call. Each outcome is classified once: `permanent` and `cancelled` failures are
 * rethrown at once; `transient` and `rate_limited` ones (or whatever `retryOn` accepts) are retried
 * after the backoff delay, or after the failure's `retryAfterMs` when that is longer, clamped to
 * `maxDelayMs`. A zero delay retries without a timer. The wait is cut short by `ctx.signal`
 * (rejecting with `WEIR_CANCELLED`), and the policy never sleeps past `ctx.deadline`.
 *
 * The function receives the context with `attempt` set (1, 2, 3…); pass it on to inner policies.
 * Put a `timeout` inside the retry for a per-attempt limit, outside it for an overall one.
 *
 * @throws InvalidOptionError naming `retry.<option>` at construction for a bad option.
 * @throws RetriesExhaustedError (`WEIR_RETRIES_EXHAUSTED`, with `attempts`, `reason` and the last
 * failure as `cause`) when attempts run out (`'attempts'`), the budget refuses (`'budget'`) or the next
 * delay would pass the deadline (`'deadline'`); CancelledError (`WEIR_CANCELLED`) on abort; a permanent
 * or non-retried failure as it was thrown.
 * @example
 * ```ts
 * import { backoff, retry, timeout, wrap } from 'weir/policy';
 * const policy = wrap(retry({ attempts: 4, backoff: backoff.exponential({ maxMs: 5_000 }) }), timeout(2_000));
 * policy.onRetry(({ attempt, delayMs }) => console.log(`attempt ${attempt} failed, retrying in ${delayMs} ms`));
 * const res = await policy.execute(({ signal }) => fetch(url, { signal }));
 * ```
 */
export function retry(options: RetryOptions = {}): RetryPolicy {
  return new RetryPolicy(options);
}

/** The policy {@link retry} returns: `execute`, `executeOutcome` and the `onRetry` / `onGiveUp` / `onSuccess` events. */
export class RetryPolicy extends BasePolicy {
  /** Total calls including the first. */
  readonly attempts: number;
  readonly maxDelayMs: number;
  private readonly backoff: Backoff;
  private readonly retryOn: (classification: Classification, error: unknown) => boolean;
  private readonly classify: Classifier;
  /** With the default classifier a value is always a success, so values are not classified at all. */
  private readonly classifiesValues: boolean;
  private readonly budget: RetryBudget | undefined;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly retries = new Emitter<RetryEvent>();
  private readonly giveUps = new Emitter<RetryGiveUpEvent>();
  private readonly successes = new Emitter<RetrySuccessEvent>();
  /** Fires before each retry's wait. */
  readonly onRetry = this.retries.event;
  /** Fires when the policy stops on a failure (not on cancellation). */
  readonly onGiveUp = this.giveUps.event;
  /** Fires when a call succeeds. */
  readonly onSuccess = this.successes.event;

  constructor(options: RetryOptions) {
    super();
    const { attempts, maxAttempts } = options;
    if (attempts !== undefined && maxAttempts !== undefined && attempts !== maxAttempts) {
      throw new InvalidOptionError('retry.maxAttempts', `the same value as retry.attempts (${String(attempts)}) or nothing`, maxAttempts);
    }
    this.attempts =
      attempts !== undefined
        ? integer(attempts, 'retry.attempts', 1)
        : maxAttempts !== undefined
          ? integer(maxAttempts, 'retry.maxAttempts', 1)
          : DEFAULTS.attempts;
    this.maxDelayMs = finite(options.maxDelayMs ?? DEFAULTS.maxDelayMs, 'retry.maxDelayMs', 0);
    this.backoff = options.backoff === undefined ? backoffs.exponential() : toBackoff(options.backoff, 'retry.backoff');
    this.retryOn = options.retryOn === undefined ? defaultRetryOn : requireFn(options.retryOn, 'retry.retryOn');
    this.classify = options.classify === undefined ? defaultClassifier : requireFn(options.classify, 'retry.classify');
    this.classifiesValues = this.classify !== defaultClassifier;
    this.budget = options.budget === undefined || options.budget === false ? undefined : checkBudget(options.budget);
    const clock = options.clock ?? systemClock;
    if (typeof clock?.now !== 'function' || typeof clock.sleep !== 'function') {
      throw new InvalidOptionError('retry.clock', 'a Clock', clock);
    }
    this.clock = clock;
    this.random = options.random === undefined ? Math.random : requireFn(options.random, 'retry.random');
  }

  execute<T>(fn: Task<T>, options?: ExecuteOptions): Promise<T> {
    return this.run(fn, toContext(options));
  }

  private async run<T>(fn: Task<T>, parent: PolicyContext): Promise<T> {
    if (this.budget !== undefined) this.budget.recordCall();
    // `parent.signal` may be created lazily (inside a timeout): read it only when a retry needs it.
    let ctx = parent.attempt === 1 ? parent : retryContext(parent, 1);
    let previousMs = 0;
    for (let attempt = 1; ; attempt++) {
      if (isAborted(parent)) throw new CancelledError(parent.signal?.reason);
      let failure: unknown;
      let classification: Classification;
      let isValue = false;
      try {
        const value = await fn(ctx);
        if (!this.classifiesValues) return this.succeeded(value, attempt);
        classification = this.classify({ ok: true, value });
        if (classification === 'success') return this.succeeded(value, attempt);
        failure = value;
        isValue = true;
      } catch (err) {
        failure = err;
        classification = this.classify({ ok: false, error: err });
      }

      // Classification first, reaction second.
      if (classification === 'cancelled' || classification === 'success') return settle(isValue, failure);
      if (classification === 'permanent' || !this.retryOn(classification, failure)) {
        this.gaveUp(attempt, 'not_retryable', failure);
        return settle(isValue, failure);
      }
      if (isAborted(parent)) throw new CancelledError(parent.signal?.reason);
      if (attempt >= this.attempts) return this.exhausted(attempt, 'attempts', failure, isValue);

      previousMs = clampDelay(this.backoff.delayMs(attempt, previousMs, this.random), this.maxDelayMs);
      let delayMs = previousMs;
      const retryAfterMs = retryAfterOf(failure);
      if (retryAfterMs !== undefined && retryAfterMs > delayMs) delayMs = clampDelay(retryAfterMs, this.maxDelayMs);
      // Sleeping into the deadline only to fail there is wasted time: fail fast instead.
      if (parent.deadline !== undefined && delayMs >= parent.deadline.remainingMs()) {
        return this.exhausted(attempt, 'deadline', failure, isValue);
      }
      if (this.budget !== undefined && !this.budget.tryAcquireRetry()) return this.exhausted(attempt, 'budget', failure, isValue);

      if (this.retries.size > 0) this.retries.emit({ attempt, delayMs, error: failure, classification });
      if (diagnostics.hasSubscribers) {
        diagnostics.publish({ type: 'retry', policy: this, attempt, delayMs, error: failure, classification } satisfies RetryDiagnostic);
      }
      // A zero delay retries in the same turn: no timer at all.
      if (delayMs > 0) await this.clock.sleep(delayMs, parent.signal);
      ctx = retryContext(parent, attempt + 1);
    }
  }

  private succeeded<T>(value: T, attempts: number): T {
    if (this.successes.size > 0) this.successes.emit({ attempts });
    if (diagnostics.hasSubscribers) diagnostics.publish({ type: 'success', policy: this, attempts } satisfies RetryDiagnostic);
    return value;
  }

  private gaveUp(attempts: number, reason: RetryGiveUpReason, error: unknown): void {
    if (this.giveUps.size > 0) this.giveUps.emit({ attempts, reason, error });
    if (diagnostics.hasSubscribers) diagnostics.publish({ type: 'giveUp', policy: this, attempts, reason, error } satisfies RetryDiagnostic);
  }

  private exhausted<T>(attempts: number, reason: GiveUpReason, failure: unknown, isValue: boolean): T {
    this.gaveUp(attempts, reason, failure);
    if (isValue) return failure as T;
    throw new RetriesExhaustedError(attempts, reason, failure);
  }
}

/** Returns a failing value, rethrows a failing error, as it was. */
function settle<T>(isValue: boolean, failure: unknown): T {
  if (isValue) return failure as T;
  throw failure;
}

function retryContext(parent: PolicyContext, attempt: number): PolicyContext {
  return {
    attempt,
    get signal() {
      return parent.signal;
    },
    [kIsAborted]: () => isAborted(parent),
    [kOnAbort]: (listener: (reason: unknown) => void) => onAbort(parent, listener),
    deadline: parent.deadline,
    key: parent.key,
  } as PolicyContext;
}

function checkBudget(value: unknown): RetryBudget {
  const b = value as Partial<RetryBudget> | null;
  if (typeof b !== 'object' || b === null || typeof b.recordCall !== 'function' || typeof b.tryAcquireRetry !== 'function') {
    throw new InvalidOptionError('retry.budget', 'a RetryBudget (see retryBudget()) or false', value);
  }
  return b as RetryBudget;
}
