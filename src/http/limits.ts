import { CancelledError, InvalidOptionError, RateLimitedError } from '../errors.js';
import { type Clock, systemClock } from '../internal/clock.js';
import { Emitter } from '../internal/events.js';
import { finite } from '../internal/validate.js';
import { rateLimiter, type RateLimiterPolicy } from '../policy/rate-limiter.js';
import { BasePolicy, type ExecuteOptions, isAborted, onAbort, type PolicyContext, type Task, toContext } from '../policy/types.js';
import { DEFAULT_MAX_HOLD_MS, type HeadersLike, parseRateLimitSignal, type RateLimitSignal, type RateLimitSource } from './rate-limit-headers.js';

/** Options of {@link connectionLimits}. Every one is optional. */
export interface ConnectionLimitsOptions {
  /** A client-side rate (token bucket) in calls per second. Default: none until the server names one. */
  perSecond?: number;
  /** Bucket size for `perSecond`. Default `max(1, perSecond)`. */
  burst?: number;
  /** Adapt the bucket to the `RateLimit` / `X-RateLimit-*` headers the server sends. Default true. */
  adapt?: boolean;
  /** The longest hold a server may impose, in ms; longer ones are cut and flagged `capped`. Default 3_600_000 (1 h). */
  maxHoldMs?: number;
  /** How long a call may wait for a hold or a token before it is rejected with `WEIR_RATE_LIMITED`, in ms. Default `Infinity` (bounded by the call's deadline). */
  maxWaitMs?: number;
  /** Default: the system clock. */
  clock?: Clock;
}

/** What the connection knows about the server's limits, for dashboards and schedulers. */
export interface ConnectionLimitsState {
  /** Units left in the most restrictive quota, as the last response said. */
  readonly remaining: number | undefined;
  /** That quota's size. */
  readonly limit: number | undefined;
  /** When that quota resets, epoch ms (local clock). */
  readonly resetAt: number | undefined;
  /** No request is sent before this time (epoch ms); 0 when not held. */
  readonly heldUntil: number;
  /** Where the current hold came from. */
  readonly holdSource: RateLimitSource | undefined;
  /** The server asked for a hold longer than `maxHoldMs`, which was cut. */
  readonly capped: boolean;
  /** The local bucket's rate (calls per second), or undefined when there is none. */
  readonly perSecond: number | undefined;
  /** Tokens in the local bucket now. */
  readonly tokens: number | undefined;
  /** Calls waiting for a token. */
  readonly waiting: number;
}

/** Emitted when a response sets (or extends) the hold. */
export interface HoldEvent {
  readonly until: number;
  readonly source: RateLimitSource;
  readonly capped: boolean;
  readonly status: number;
}

const EPSILON_RATE = 0.001;

/**
 * The rate-limit state of one connection: the hold the server named (`Retry-After`, an exhausted
 * `RateLimit` quota) and an optional token bucket that adapts to the quota the server reports.
 *
 * - `learn(status, headers)` reads a response with {@link parseRateLimitSignal}: a hold stops
 *   **every** caller of the connection until the named time (holds only move later); a reported
 *   `remaining`/`reset` paces the bucket (`burst = remaining`, refilled at `remaining / seconds to reset`)
 *   until that reset passes, then the configured rate (or none) applies again.
 * - As a policy (`execute`), it lets a call through once no hold is in force and a token is free,
 *   waiting (abortably, up to `maxWaitMs` and the deadline) or rejecting with `WEIR_RATE_LIMITED`
 *   and `retryAfterMs`. With no bucket and no hold a call costs one `clock.now()`.
 *
 * Import from `weir/http`.
 * @throws InvalidOptionError (`limits.perSecond`, `limits.burst`, `limits.maxHoldMs`, `limits.maxWaitMs`).
 * @example
 * ```ts
 * const limits = connectionLimits({ perSecond: 10 });
 * const esp = connection({ name: 'esp', baseUrl, limits });
 * limits.state(); // { remaining: 12, resetAt, heldUntil: 0, … }
 * ```
 */
export function connectionLimits(options: ConnectionLimitsOptions = {}): ConnectionLimits {
  return new ConnectionLimits(options);
}

export class ConnectionLimits extends BasePolicy {
  readonly maxHoldMs: number;
  readonly maxWaitMs: number;
  readonly adapt: boolean;
  private readonly clock: Clock;
  private readonly basePerSecond: number | undefined;
  private readonly baseBurst: number | undefined;
  private bucket: RateLimiterPolicy | undefined;
  /** The bucket follows the server until this time (epoch ms); 0 when it runs at the base rate. */
  private adaptedUntil = 0;
  private heldUntil = 0;
  private holdSource: RateLimitSource | undefined = undefined;
  private capped = false;
  private last: RateLimitSignal | undefined = undefined;
  private readonly holds = new Emitter<HoldEvent>();
  private readonly signals = new Emitter<RateLimitSignal>();
  /** Fires when a response sets or extends the hold. */
  readonly onHold = this.holds.event;
  /** Fires for every response that carried rate-limit information. */
  readonly onSignal = this.signals.event;

  constructor(options: ConnectionLimitsOptions = {}) {
    super();
    this.clock = options.clock ?? systemClock;
    this.maxHoldMs = options.maxHoldMs === undefined ? DEFAULT_MAX_HOLD_MS : finite(options.maxHoldMs, 'limits.maxHoldMs', 0);
    const wait = options.maxWaitMs;
    this.maxWaitMs = wait === undefined || wait === Number.POSITIVE_INFINITY ? Number.POSITIVE_INFINITY : finite(wait, 'limits.maxWaitMs', 0);
    this.adapt = options.adapt ?? true;
    if (options.perSecond !== undefined && !(typeof options.perSecond === 'number' && options.perSecond > 0 && Number.isFinite(options.perSecond))) {
      throw new InvalidOptionError('limits.perSecond', 'a finite number greater than 0', options.perSecond);
    }
    this.basePerSecond = options.perSecond;
    this.baseBurst = options.burst === undefined ? undefined : finite(options.burst, 'limits.burst', 1);
    if (this.basePerSecond !== undefined) this.bucket = this.makeBucket(this.basePerSecond, this.baseBurst);
  }

  /**
   * Runs `fn` once no hold is in force and a token is free.
   * @throws RateLimitedError (`WEIR_RATE_LIMITED`, with `retryAfterMs`) when the wait would pass
   * `maxWaitMs` or the deadline; CancelledError when the signal aborts first; or what `fn` throws.
   */
  execute<T>(fn: Task<T>, options?: ExecuteOptions): Promise<T> {
    const ctx = toContext(options);
    const now = this.clock.now();
    if (now < this.heldUntil) return this.waitHold(ctx, now).then(() => this.execute(fn, ctx));
    if (this.adaptedUntil !== 0 && now >= this.adaptedUntil) this.restore();
    if (this.bucket !== undefined) return this.bucket.execute(fn, ctx);
    try {
      return Promise.resolve(fn(ctx));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * The hold check alone (no token taken): `undefined` when a request may go now, else a promise
   * that settles when it may (or rejects as `execute` would).
   */
  ready(ctx: PolicyContext): Promise<void> | undefined {
    const now = this.clock.now();
    if (now >= this.heldUntil) return undefined;
    return this.waitHold(ctx, now).then(() => this.ready(ctx));
  }

  /**
   * Reads one response's rate-limit headers and applies them: hold, pace, state. Cheap when the
   * response carries none of the headers.
   * @returns the signal, or `undefined` when the response said nothing about rate limits.
   */
  learn(status: number, headers: HeadersLike): RateLimitSignal | undefined {
    if (!mayCarryLimits(headers)) return undefined;
    const now = this.clock.now();
    const signal = parseRateLimitSignal(status, headers, { now, maxMs: this.maxHoldMs });
    if (signal === undefined || signal.ignored !== undefined) return signal;
    this.last = signal;
    if (signal.holdUntil !== undefined && signal.holdUntil > now) this.hold(signal.holdUntil, signal.source, signal.capped === true, status);
    if (this.adapt && signal.remaining !== undefined && signal.resetAt !== undefined && signal.resetAt > now) {
      this.pace(signal.remaining, signal.resetAt, now);
    }
    if (this.signals.size > 0) this.signals.emit(signal);
    return signal;
  }

  /**
   * Holds every caller until `epochMs` (on this connection's clock). Holds only move later.
   * @throws InvalidOptionError (`limits.holdUntil.epochMs`) for a non-finite time.
   */
  holdUntil(epochMs: number): void {
    finite(epochMs, 'limits.holdUntil.epochMs', Number.NEGATIVE_INFINITY);
    this.hold(epochMs, 'retry-after', false, 0);
  }

  /** A snapshot of what the connection knows. */
  state(): ConnectionLimitsState {
    const now = this.clock.now();
    const bucket = this.bucket?.state();
    const held = this.heldUntil > now;
    return {
      remaining: this.last?.remaining,
      limit: this.last?.limit,
      resetAt: this.last?.resetAt,
      heldUntil: held ? this.heldUntil : 0,
      holdSource: held ? this.holdSource : undefined,
      capped: held && this.capped,
      perSecond: bucket?.perSecond,
      tokens: bucket?.tokens,
      waiting: bucket?.waiting ?? 0,
    };
  }

  private hold(until: number, source: RateLimitSource, capped: boolean, status: number): void {
    if (until <= this.heldUntil) return;
    this.heldUntil = until;
    this.holdSource = source;
    this.capped = capped;
    // Calls already waiting for a token must not start before the hold either.
    this.bucket?.holdUntil(until);
    if (this.holds.size > 0) this.holds.emit({ until, source, capped, status });
  }

  /** Follows the server's quota: never more tokens than it says remain, refilled so as to last until its reset. */
  private pace(remaining: number, resetAt: number, now: number): void {
    const seconds = (resetAt - now) / 1000;
    let rate = Math.max(EPSILON_RATE, Math.max(remaining, 1) / seconds);
    if (this.basePerSecond !== undefined) rate = Math.min(rate, this.basePerSecond);
    const burst = Math.max(1, Math.min(remaining, this.baseBurst ?? Number.POSITIVE_INFINITY));
    if (this.bucket === undefined) {
      this.bucket = this.makeBucket(rate, burst);
      // A fresh bucket starts full: the server said `remaining` are left, so that is what we may spend.
    } else {
      this.bucket.setRate(rate, burst);
    }
    this.adaptedUntil = resetAt;
  }

  /** The reset the bucket followed has passed: back to the configured rate, or to none. */
  private restore(): void {
    const bucket = this.bucket;
    this.adaptedUntil = 0;
    if (bucket === undefined) return;
    if (this.basePerSecond !== undefined) bucket.setRate(this.basePerSecond, this.baseBurst ?? Math.max(1, this.basePerSecond));
    else if (bucket.state().waiting === 0) this.bucket = undefined;
  }

  private makeBucket(perSecond: number, burst: number | undefined): RateLimiterPolicy {
    const bucket = rateLimiter({ perSecond, ...(burst === undefined ? {} : { burst }), maxWaitMs: this.maxWaitMs, clock: this.clock });
    if (this.heldUntil > this.clock.now()) bucket.holdUntil(this.heldUntil);
    return bucket;
  }

  /** Waits out the hold, abortably, or rejects when it lasts longer than the call may wait. */
  private waitHold(ctx: PolicyContext, now: number): Promise<void> {
    if (isAborted(ctx)) return Promise.reject(new CancelledError(ctx.signal?.reason));
    const waitMs = this.heldUntil - now;
    let limit = this.maxWaitMs;
    if (ctx.deadline !== undefined) limit = Math.min(limit, ctx.deadline.at - ctx.deadline.clock.now());
    if (waitMs > limit) {
      return Promise.reject(
        new RateLimitedError(Math.ceil(waitMs), { details: { heldUntil: this.heldUntil, source: this.holdSource, local: true } }),
      );
    }
    return new Promise<void>((resolve, reject) => {
      let off: (() => void) | undefined;
      const timer = this.clock.setTimer(waitMs, () => {
        off?.();
        resolve();
      });
      off = onAbort(ctx, (reason) => {
        timer.close();
        reject(new CancelledError(reason));
      });
    });
  }
}

/**
 * True when `headers` may carry rate-limit information: a quick scan of the names, so that the
 * common response (none of them) never reaches the parser.
 */
export function mayCarryLimits(headers: HeadersLike): boolean {
  if (typeof (headers as Headers).get === 'function') {
    const h = headers as Headers;
    for (const name of h.keys()) if (limitHeader(name)) return true;
    return false;
  }
  for (const name in headers) {
    const c = name.charCodeAt(0) | 0x20; // ASCII lower case: names from undici already are
    if ((c === 114 || c === 120) && limitHeader(name.toLowerCase())) return true;
  }
  return false;
}

function limitHeader(name: string): boolean {
  const c = name.charCodeAt(0);
  if (c === 114 /* r */) return name.startsWith('ratelimit') || name.startsWith('retry-after');
  if (c === 120 /* x */) return name.startsWith('x-ratelimit') || name.startsWith('x-rate-limit');
  return false;
}
