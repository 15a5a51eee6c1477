import { CancelledError, TimeoutError } from '../errors.js';
import { type Clock, systemClock } from '../internal/clock.js';
import { type Duration, toMs } from '../internal/duration.js';
import { Emitter } from '../internal/events.js';
import { schedulerFor } from '../internal/scheduler.js';
import { oneOf } from '../internal/validate.js';
import { Deadline } from './deadline.js';
import { BasePolicy, type ExecuteOptions, isAborted, kIsAborted, kOnAbort, onAbort, type PolicyContext, type Task, toContext } from './types.js';

/**
 * - `aggressive` (default): at the deadline the call is abandoned and `WEIR_TIMEOUT` is thrown at
 *   once; `ctx.signal` is also aborted so the work can stop.
 * - `cooperative`: at the deadline `ctx.signal` is aborted and the policy waits for the function to
 *   settle; a rejection after the deadline becomes `WEIR_TIMEOUT`, a value is kept.
 */
export type TimeoutMode = 'aggressive' | 'cooperative';

export interface TimeoutOptions {
  /** The time budget of each execution (a number of ms or `'5s'`). Also capped by any outer deadline. */
  ms: Duration;
  /** Default `'aggressive'`. */
  mode?: TimeoutMode;
  /** Default: the system clock. */
  clock?: Clock;
}

/**
 * A time budget. Placed outside a retry it is the overall deadline of the whole operation; inside
 * it, a per-attempt timeout. Either way the deadline in `ctx.deadline` is the earlier of this
 * budget and any outer one, so inner policies never sleep past it.
 *
 * Cost: no timer is created per call (one scheduler per clock drives all deadlines) and no
 * AbortController unless the function reads `ctx.signal`. The signal is never aborted on success.
 *
 * @example
 * ```ts
 * const perAttempt = timeout(2_000);
 * const overall = timeout({ ms: '10s', mode: 'cooperative' });
 * await wrap(overall, retry({ attempts: 3 }), perAttempt).execute(({ signal }) => fetch(url, { signal }));
 * ```
 */
export function timeout(options: Duration | TimeoutOptions): TimeoutPolicy {
  return new TimeoutPolicy(typeof options === 'object' ? options : { ms: options });
}

export interface TimeoutEvent {
  /** The budget that ran out, in ms. */
  readonly ms: number;
}

export class TimeoutPolicy extends BasePolicy {
  readonly ms: number;
  readonly mode: TimeoutMode;
  private readonly clock: Clock;
  private readonly timeouts = new Emitter<TimeoutEvent>();
  /** Fires each time a budget runs out. */
  readonly onTimeout = this.timeouts.event;

  constructor(options: TimeoutOptions) {
    super();
    this.ms = toMs(options.ms, 'timeout.ms');
    this.mode = options.mode === undefined ? 'aggressive' : oneOf(options.mode, 'timeout.mode', ['aggressive', 'cooperative']);
    this.clock = options.clock ?? systemClock;
  }

  execute<T>(fn: Task<T>, options?: ExecuteOptions): Promise<T> {
    const parent = toContext(options);
    if (isAborted(parent)) return Promise.reject(new CancelledError(parent.signal?.reason));
    const now = this.clock.now();
    let budget = this.ms;
    let deadline: Deadline;
    if (parent.deadline !== undefined && parent.deadline.at - now < budget) {
      budget = parent.deadline.at - now;
      deadline = parent.deadline;
    } else {
      deadline = new Deadline(now + budget, this.clock);
    }
    if (budget <= 0) return Promise.reject(this.expired(0));
    return new TimeoutRun<T>(this, parent, deadline).start(fn, budget, now);
  }

  /** @internal */
  expired(budget: number): TimeoutError {
    if (this.timeouts.size > 0) this.timeouts.emit({ ms: budget });
    return new TimeoutError(budget);
  }

  /** @internal */
  schedule(ms: number, callback: () => void, now: number): { cancel(): void } {
    return schedulerFor(this.clock).schedule(ms, callback, now);
  }
}

/** One execution under a timeout; also the context the function sees (with a lazy signal). */
class TimeoutRun<T> implements PolicyContext {
  readonly attempt: number;
  readonly key: string | undefined;
  private controller: AbortController | undefined = undefined;
  private listeners: Array<(reason: unknown) => void> | undefined = undefined;
  private unsubscribeParent: (() => void) | undefined = undefined;
  private entry: { cancel(): void } | undefined = undefined;
  private done = false;
  private aborted = false;
  private abortReason: unknown = undefined;
  private timedOut: TimeoutError | undefined = undefined;
  private resolve!: (value: T) => void;
  private reject!: (reason: unknown) => void;

  constructor(
    private readonly policy: TimeoutPolicy,
    private readonly parent: PolicyContext,
    readonly deadline: Deadline,
  ) {
    this.attempt = parent.attempt;
    this.key = parent.key;
  }

  /** Created on first read only: most calls never need an AbortController. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.abortReason);
      else this.subscribeParent();
    }
    return this.controller.signal;
  }

  [kIsAborted](): boolean {
    return this.aborted || isAborted(this.parent);
  }

  [kOnAbort](listener: (reason: unknown) => void): () => void {
    if (this.aborted) {
      listener(this.abortReason);
      return noop;
    }
    (this.listeners ??= []).push(listener);
    this.subscribeParent();
    return () => {
      const i = this.listeners?.indexOf(listener) ?? -1;
      if (i >= 0) this.listeners?.splice(i, 1);
    };
  }

  start(fn: Task<T>, budget: number, now: number): Promise<T> {
    const promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.entry = this.policy.schedule(budget, () => this.onTimeout(budget), now);
    // Aggressive mode must give up at once when the caller aborts, so it always listens.
    if (this.policy.mode === 'aggressive') this.subscribeParent();
    let result: T | PromiseLike<T>;
    try {
      result = fn(this);
    } catch (err) {
      this.settle(false, err);
      return promise;
    }
    Promise.resolve(result).then(
      (value) => this.settle(true, value),
      (err: unknown) => this.settle(false, err),
    );
    return promise;
  }

  private subscribeParent(): void {
    if (this.unsubscribeParent !== undefined || this.done) return;
    this.unsubscribeParent = onAbort(this.parent, (reason) => this.onParentAbort(reason)) ?? noop;
  }

  private abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners !== undefined) for (const l of listeners) l(reason);
  }

  private onParentAbort(reason: unknown): void {
    this.abort(reason);
    if (this.policy.mode === 'aggressive') this.finish(false, new CancelledError(reason));
  }

  private onTimeout(budget: number): void {
    if (this.done) return;
    this.entry = undefined;
    this.timedOut = this.policy.expired(budget);
    this.abort(this.timedOut);
    if (this.policy.mode === 'aggressive') this.finish(false, this.timedOut);
  }

  private settle(ok: boolean, value: unknown): void {
    if (this.done) return;
    if (!ok && this.timedOut !== undefined) {
      value = this.timedOut;
    } else if (!ok && this.aborted) {
      value = new CancelledError(this.abortReason);
    }
    this.finish(ok, value);
  }

  private finish(ok: boolean, value: unknown): void {
    this.done = true;
    this.entry?.cancel();
    this.unsubscribeParent?.();
    if (ok) this.resolve(value as T);
    else this.reject(value);
  }
}

function noop(): void {}
