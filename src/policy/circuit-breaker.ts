import diagnostics_channel from 'node:diagnostics_channel';
import { CancelledError, type Classification, CircuitOpenError } from '../errors.js';
import { type Clock, systemClock } from '../internal/clock.js';
import { type Disposable, Emitter } from '../internal/events.js';
import type { WindowSnapshot } from './breaker-window.js';
import {
  type BreakerBreakEvent,
  type BreakerConfig,
  type BreakerReason,
  type BreakerRejectEvent,
  type BreakerSnapshot,
  type BreakerState,
  type BreakerStateChange,
  type BreakerStrategy,
  type CircuitBreakerOptions,
  parseBreaker,
  parseSnapshot,
} from './breaker-options.js';
import { type Classifier, classifyError } from './classify.js';
import { BasePolicy, type ExecuteOptions, isAborted, type PolicyContext, type Task, toContext } from './types.js';

export type {
  BreakerBreakEvent,
  BreakerReason,
  BreakerRejectEvent,
  BreakerSnapshot,
  BreakerState,
  BreakerStateChange,
  BreakerStrategy,
  CircuitBreakerOptions,
} from './breaker-options.js';

/** Every state change is published here when someone subscribes (`node:diagnostics_channel`). */
export const BREAKER_CHANNEL = 'weir:policy:breaker';
const channel = diagnostics_channel.channel(BREAKER_CHANNEL);

const CLOSED = 0;
const OPEN = 1;
const HALF_OPEN = 2;
const PHASES = ['closed', 'open', 'half-open'] as const;

/**
 * A circuit breaker: after too many failures it opens and rejects calls at once with
 * `WEIR_CIRCUIT_OPEN` (carrying `retryAfterMs`) instead of piling load on a failing dependency;
 * after `openMs` it lets `halfOpenProbes` trial calls through, closing when all succeed.
 *
 * Every outcome is classified once: `permanent`, `rate_limited` and `cancelled` outcomes count
 * neither as success nor as failure. Transitions happen lazily when the state is read or a call
 * arrives: no timers. A result that arrives after the breaker has moved on (another generation)
 * is ignored. Cost: O(1) per call; in consecutive mode a success does not even read the clock.
 *
 * Import from `weir/policy`.
 * @throws InvalidOptionError naming the option (e.g. `circuitBreaker.minimumCalls`) when an option is invalid.
 * @example
 * ```ts
 * const breaker = circuitBreaker({ failureRate: 0.5, minimumCalls: 20, windowMs: 10_000 }, { openMs: '30s' });
 * breaker.onStateChange(({ from, to, reason }) => log.warn({ from, to, reason }, 'breaker'));
 * const user = await breaker.execute(({ signal }) => api.getUser(id, { signal }));
 * ```
 */
export function circuitBreaker(strategy: BreakerStrategy, options: CircuitBreakerOptions = {}): CircuitBreakerPolicy {
  return new CircuitBreakerPolicy(strategy, options);
}

/**
 * The policy returned by {@link circuitBreaker}. Half-open, all `halfOpenProbes` probes must
 * succeed to close it; a probe that fails (or, with `slowCallMs`, is slow) re-opens it for the next
 * open duration of the backoff. Import from `weir/policy`.
 */
export class CircuitBreakerPolicy extends BasePolicy {
  readonly name: string | undefined;
  private readonly config: BreakerConfig;
  private readonly clock: Clock;
  private readonly classifier: Classifier | undefined;
  private phase = CLOSED;
  private gen = 0;
  private isolations = 0;
  private running = 0;
  private consecutiveFailures = 0;
  private openedAt = 0;
  private openUntil = 0;
  private lastOpenMs = 0;
  private reopens = 0;
  private probesInFlight = 0;
  private probesSucceeded = 0;
  private probeDeadline = 0;
  private readonly changes = new Emitter<BreakerStateChange>();
  private readonly breaks = new Emitter<BreakerBreakEvent>();
  private readonly halfOpens = new Emitter<BreakerStateChange>();
  private readonly resets = new Emitter<BreakerStateChange>();
  private readonly rejects = new Emitter<BreakerRejectEvent>();
  /** Every state change. */
  readonly onStateChange = this.changes.event;
  /** The breaker opened (from closed, or re-opened from half-open). */
  readonly onBreak = this.breaks.event;
  /** The breaker became half-open. */
  readonly onHalfOpen = this.halfOpens.event;
  /** The breaker closed (probes succeeded, isolation released, or `reset()`). */
  readonly onReset = this.resets.event;
  /** A call was rejected without running. */
  readonly onReject = this.rejects.event;

  constructor(strategy: BreakerStrategy, options: CircuitBreakerOptions = {}) {
    super();
    this.config = parseBreaker(strategy, options);
    this.clock = options.clock ?? systemClock;
    this.classifier = options.classify;
    this.name = options.name;
    if (options.snapshot !== undefined) this.hydrate(options.snapshot);
  }

  /** The current state, brought up to date with the clock (open becomes half-open once `openMs` passed). */
  get state(): BreakerState {
    if (this.isolations !== 0) return 'isolated';
    if (this.phase !== CLOSED) this.refresh(this.clock.now());
    return PHASES[this.phase] as BreakerState;
  }

  /** Increases on every state change; results of calls started in an older generation are ignored. */
  get generation(): number {
    if (this.phase !== CLOSED && this.isolations === 0) this.refresh(this.clock.now());
    return this.gen;
  }

  /** Calls running under this breaker now (any generation). */
  get inFlight(): number {
    return this.running;
  }

  /** Re-opens in a row without closing; drives the open-time backoff. */
  get reopenCount(): number {
    return this.reopens;
  }

  execute<T>(fn: Task<T>, options?: ExecuteOptions): Promise<T> {
    const ctx = toContext(options);
    if (isAborted(ctx)) return Promise.reject(new CancelledError(ctx.signal?.reason));
    if (this.phase !== CLOSED || this.isolations !== 0) {
      const rejection = this.admit();
      if (rejection !== undefined) return Promise.reject(rejection);
    }
    const generation = this.gen;
    const start = this.config.slowCallMs === undefined ? 0 : this.clock.now();
    this.running++;
    let result: T | PromiseLike<T>;
    try {
      result = fn(ctx);
    } catch (err) {
      this.settle(generation, start, ctx, false, err);
      return Promise.reject(err);
    }
    if (!isThenable(result)) {
      this.settle(generation, start, ctx, true, result);
      return Promise.resolve(result);
    }
    return Promise.resolve(result).then(
      (value) => {
        this.settle(generation, start, ctx, true, value);
        return value;
      },
      (err: unknown) => {
        this.settle(generation, start, ctx, false, err);
        throw err;
      },
    );
  }

  /** Ms until a call may be admitted: 0 when one would be now. */
  retryAfterMs(): number {
    if (this.isolations !== 0) return this.config.isolatedRetryMs;
    if (this.phase === CLOSED) return 0;
    const now = this.clock.now();
    this.refresh(now);
    if (this.phase === OPEN) return this.openUntil - now;
    if (this.phase === HALF_OPEN && this.probesInFlight + this.probesSucceeded >= this.config.halfOpenProbes) {
      return Math.max(1, this.probeDeadline - now);
    }
    return 0;
  }

  /**
   * Holds the breaker open (state `isolated`) until every returned handle is disposed; then it
   * closes with a fresh window. Calls are rejected with `WEIR_CIRCUIT_OPEN` meanwhile.
   * @example `using _ = breaker.isolate(); await maintenance();`
   */
  isolate(): Disposable {
    const from = this.state;
    if (this.isolations++ === 0) {
      this.gen++;
      this.openedAt = this.clock.now();
      this.announce(from, 'isolated', 'isolated');
    }
    let released = false;
    const dispose = (): void => {
      if (released) return;
      released = true;
      if (--this.isolations === 0) this.close('isolated', 'isolation-released');
    };
    return { dispose, [Symbol.dispose]: dispose };
  }

  /** Closes the breaker and forgets its window; calls in flight no longer count. An isolation stays in force. */
  reset(): void {
    if (this.isolations !== 0) {
      this.phase = CLOSED;
      this.gen++;
      this.clearCounts();
    } else {
      this.close(this.state, 'reset');
    }
  }

  /** A JSON-safe snapshot to persist and pass back as the `snapshot` option. */
  toJSON(): BreakerSnapshot {
    const state = this.state;
    const window = this.config.window;
    let windowSnapshot: WindowSnapshot;
    if (window === undefined) {
      windowSnapshot = { kind: 'consecutive', failures: this.consecutiveFailures };
    } else {
      if (window.timed) window.advance(this.clock.now());
      windowSnapshot = window.toJSON();
    }
    const closed = state === 'closed';
    return {
      version: 1,
      state,
      generation: this.gen,
      openedAt: closed ? null : this.openedAt,
      openUntil: closed || state === 'isolated' ? null : this.openUntil,
      lastOpenMs: this.lastOpenMs,
      reopenCount: this.reopens,
      window: windowSnapshot,
    };
  }

  private admit(): CircuitOpenError | undefined {
    if (this.isolations !== 0) return this.reject('isolated', this.config.isolatedRetryMs);
    const now = this.clock.now();
    this.refresh(now);
    if (this.phase === OPEN) return this.reject('open', this.openUntil - now);
    if (this.phase === HALF_OPEN) {
      if (this.probesInFlight + this.probesSucceeded >= this.config.halfOpenProbes) {
        return this.reject('half-open', Math.max(1, this.probeDeadline - now));
      }
      // The bounded wait runs from the first probe of a busy period, not from entering half-open,
      // so a probe that arrives late is not cut short.
      if (this.probesInFlight++ === 0) this.probeDeadline = now + this.config.halfOpenMaxWaitMs;
    }
    return undefined;
  }

  private reject(state: BreakerState, retryAfterMs: number): CircuitOpenError {
    if (this.rejects.size !== 0) this.rejects.emit({ name: this.name, state, retryAfterMs });
    return new CircuitOpenError(retryAfterMs, this.name === undefined ? { state } : { state, name: this.name });
  }

  /** Applies the transitions that time alone causes, as of `now`, stamped with when they were due. */
  private refresh(now: number): void {
    if (this.isolations !== 0) return;
    for (;;) {
      if (this.phase === OPEN && now >= this.openUntil) {
        this.phase = HALF_OPEN;
        this.gen++;
        this.probesInFlight = this.probesSucceeded = 0;
        this.announce('open', 'half-open', 'open-elapsed');
      } else if (this.phase === HALF_OPEN && this.probesInFlight !== 0 && now >= this.probeDeadline) {
        this.open(this.probeDeadline, 'half-open-timeout', true);
      } else {
        return;
      }
    }
  }

  private settle(generation: number, start: number, ctx: PolicyContext, ok: boolean, value: unknown): void {
    this.running--;
    // The breaker moved on since this call started (opened, probed, reset, isolated): ignore it.
    if (generation !== this.gen) return;
    const config = this.config;
    const outcome: Classification = !ok && isAborted(ctx) ? 'cancelled' : this.classifyOutcome(ok, value);
    if (outcome === 'permanent' || outcome === 'cancelled' || outcome === 'rate_limited') {
      if (this.phase === HALF_OPEN) this.probesInFlight--; // frees the slot for another probe
      return;
    }
    const failure = outcome !== 'success';
    let now = Number.NaN;
    let slow = false;
    if (config.slowCallMs !== undefined) {
      now = this.clock.now();
      slow = now - start >= config.slowCallMs;
    }
    if (this.phase === HALF_OPEN) {
      this.probesInFlight--;
      if (failure || slow) this.open(Number.isNaN(now) ? this.clock.now() : now, failure ? 'probe-failed' : 'probe-slow', true);
      else if (++this.probesSucceeded >= config.halfOpenProbes) this.close('half-open', 'probes-succeeded');
      return;
    }
    const window = config.window;
    if (window === undefined) {
      if (!failure) this.consecutiveFailures = 0;
      else if (++this.consecutiveFailures >= config.consecutive) this.open(this.clock.now(), 'consecutive', false);
      return;
    }
    if (window.timed && Number.isNaN(now)) now = this.clock.now();
    window.record(now, failure, slow);
    const calls = window.calls;
    if (calls < config.minimumCalls) return;
    // Division, not multiplication: 3 / 30 >= 0.1 holds exactly, 0.1 * 30 > 3 does not.
    if (window.failures / calls >= config.failureRate) {
      this.open(Number.isNaN(now) ? this.clock.now() : now, 'failure-rate', false);
    } else if (config.slowCallMs !== undefined && window.slow / calls >= config.slowCallRate) {
      this.open(now, 'slow-call-rate', false);
    }
  }

  private classifyOutcome(ok: boolean, value: unknown): Classification {
    if (this.classifier === undefined) return ok ? 'success' : classifyError(value);
    try {
      return this.classifier(ok ? { ok: true, value } : { ok: false, error: value });
    } catch {
      return ok ? 'success' : classifyError(value); // a broken classifier must not break the call
    }
  }

  private open(at: number, reason: BreakerReason, reopen: boolean): void {
    const from = PHASES[this.phase] as BreakerState;
    this.reopens = reopen ? this.reopens + 1 : 0;
    const ms = this.config.openDuration(this.reopens + 1, reopen ? this.lastOpenMs : 0);
    this.phase = OPEN;
    this.gen++;
    this.openedAt = at;
    this.openUntil = at + ms;
    this.lastOpenMs = ms;
    this.probesInFlight = this.probesSucceeded = 0;
    this.announce(from, 'open', reason, ms);
  }

  private close(from: BreakerState, reason: BreakerReason): void {
    this.phase = CLOSED;
    this.gen++;
    this.clearCounts();
    if (from !== 'closed') this.announce(from, 'closed', reason);
  }

  private clearCounts(): void {
    this.consecutiveFailures = 0;
    this.config.window?.clear();
    this.reopens = 0;
    this.lastOpenMs = 0;
    this.probesInFlight = this.probesSucceeded = 0;
  }

  private announce(from: BreakerState, to: BreakerState, reason: BreakerReason, openMs = 0): void {
    const emitters = this.changes.size + this.breaks.size + this.halfOpens.size + this.resets.size;
    if (emitters === 0 && !channel.hasSubscribers) return;
    const change: BreakerStateChange = { name: this.name, from, to, reason, generation: this.gen };
    this.changes.emit(change);
    if (to === 'open') this.breaks.emit({ ...change, openMs, reopenCount: this.reopens });
    else if (to === 'half-open') this.halfOpens.emit(change);
    else if (to === 'closed') this.resets.emit(change);
    if (channel.hasSubscribers) channel.publish(change);
  }

  private hydrate(input: BreakerSnapshot): void {
    const s = parseSnapshot(input);
    const now = this.clock.now();
    this.gen = s.generation;
    this.reopens = s.reopenCount;
    this.lastOpenMs = s.lastOpenMs;
    const window = this.config.window;
    if (window !== undefined) window.restore(s.window);
    else if (s.window.kind === 'consecutive') this.consecutiveFailures = Math.min(s.window.failures, this.config.consecutive - 1);
    if (s.state === 'closed') return;
    // Isolation is held by handles, which do not survive a restart: an isolated breaker comes back open.
    this.phase = s.state === 'half-open' ? HALF_OPEN : OPEN;
    this.openedAt = s.openedAt ?? now;
    if (s.openUntil === null) {
      this.lastOpenMs = this.config.openDuration(this.reopens + 1, this.lastOpenMs);
      this.openUntil = now + this.lastOpenMs;
    } else {
      this.openUntil = s.openUntil;
    }
  }
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

