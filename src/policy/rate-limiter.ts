import { CancelledError, InvalidOptionError, RateLimitedError } from '../errors.js';
import { type Clock, type Timer, systemClock } from '../internal/clock.js';
import { Emitter } from '../internal/events.js';
import { finite, fn as isFn } from '../internal/validate.js';
import { BasePolicy, type ExecuteOptions, isAborted, onAbort, type PolicyContext, type Task, toContext } from './types.js';
import { WaitNode, WaitQueue } from './wait-queue.js';

export interface RateLimiterOptions {
  /** Tokens added per second (the sustained rate): a finite number > 0. */
  perSecond: number;
  /** Bucket size (how many calls may start at once after a quiet spell): a finite number >= 1. Default `max(1, perSecond)`. */
  burst?: number;
  /**
   * How long, in ms, a call may wait for a token before it is rejected with `WEIR_RATE_LIMITED`
   * (also bounded by `ctx.deadline`). `Infinity` waits as long as needed. Default 0: reject at once.
   */
  maxWaitMs?: number;
  /** The partition of a call. Default: `ctx.key`. `undefined` means the one shared bucket. */
  key?: (ctx: PolicyContext) => string | undefined;
  /** A keyed partition untouched for this many ms whose bucket is full is dropped (lazily, no interval). Default 60 000. */
  idleMs?: number;
  /** Default: the system clock. */
  clock?: Clock;
}

/** A snapshot of one partition. */
export interface RateLimiterState {
  /** Tokens in the bucket now (fractional). */
  readonly tokens: number;
  readonly perSecond: number;
  readonly burst: number;
  /** Epoch ms before which no call starts (limiter-wide or this partition's hold), or 0 when not held. */
  readonly heldUntil: number;
  /** Calls waiting in this partition. */
  readonly waiting: number;
}

/** Emitted each time a call is rejected with `WEIR_RATE_LIMITED`. */
export interface RateLimitRejectEvent {
  readonly key: string | undefined;
  readonly retryAfterMs: number;
}

/** Tokens are fractional; this absorbs float error so a timer armed for "one token" finds one. */
const EPSILON = 1e-9;

/**
 * A token bucket per partition key, refilled lazily from the clock (no intervals), adjustable at
 * run time. With a token, a call costs one `clock.now()` and a little arithmetic. Without one it
 * waits in a FIFO per partition (abortable; bounded by `maxWaitMs` and `ctx.deadline`) or is
 * rejected at once with `WEIR_RATE_LIMITED` and `retryAfterMs`.
 *
 * For a remote API that names its own limits: `setRate()` adapts the rate, and `holdUntil()` holds
 * every caller until the time the server named (`Retry-After`), so no call starts before it.
 *
 * Import from `weir/policy`.
 *
 * @throws InvalidOptionError (`rateLimiter.perSecond`, `rateLimiter.burst`, `rateLimiter.maxWaitMs`,
 * `rateLimiter.key`, `rateLimiter.idleMs`) at construction.
 * @example
 * ```ts
 * const limiter = rateLimiter({ perSecond: 10, burst: 20, maxWaitMs: 2_000 });
 * await limiter.execute(() => api.get('/contacts'));
 * limiter.holdUntil(Date.now() + 30_000); // the server said Retry-After: 30
 * ```
 */
export function rateLimiter(options: RateLimiterOptions): RateLimiterPolicy {
  return new RateLimiterPolicy(options);
}

/** One call waiting for a token. */
class Waiter extends WaitNode {
  unsubscribe: (() => void) | undefined = undefined;
  constructor(
    readonly fn: Task<unknown>,
    readonly ctx: PolicyContext,
    /** Epoch ms after which this call may not be made to wait (maxWaitMs, deadline). */
    readonly limitAt: number,
    readonly resolve: (value: unknown) => void,
    readonly reject: (reason: unknown) => void,
  ) {
    super();
  }

  detach(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}

class Partition {
  heldUntil = 0;
  readonly waiters = new WaitQueue<Waiter>();
  /** Armed only while `waiters` is non-empty, for the moment the head may start. */
  timer: Timer | undefined = undefined;
  constructor(
    readonly key: string | undefined,
    public tokens: number,
    public updatedAt: number,
  ) {}
}

export class RateLimiterPolicy extends BasePolicy {
  readonly maxWaitMs: number;
  private rate: number;
  private perMs: number;
  private size: number;
  /** The burst last given explicitly (constructor or setRate); undefined = follow the rate. */
  private configuredBurst: number | undefined;
  private readonly keyOf: ((ctx: PolicyContext) => string | undefined) | undefined;
  private readonly idleMs: number;
  private readonly clock: Clock;
  private heldUntilAll = 0;
  private readonly shared: Partition;
  private readonly partitions = new Map<string, Partition>();
  private lastSweep: number;
  private readonly rejects = new Emitter<RateLimitRejectEvent>();
  /** Fires each time a call is rejected with `WEIR_RATE_LIMITED`. */
  readonly onReject = this.rejects.event;

  constructor(options: RateLimiterOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw new InvalidOptionError('rateLimiter', 'an options object', options);
    this.rate = positive(options.perSecond, 'rateLimiter.perSecond');
    this.configuredBurst = options.burst === undefined ? undefined : finite(options.burst, 'rateLimiter.burst', 1);
    this.size = this.configuredBurst ?? Math.max(1, this.rate);
    this.perMs = this.rate / 1000;
    const maxWait = options.maxWaitMs;
    this.maxWaitMs = maxWait === undefined ? 0 : maxWait === Number.POSITIVE_INFINITY ? maxWait : finite(maxWait, 'rateLimiter.maxWaitMs', 0);
    this.keyOf = options.key === undefined ? undefined : isFn(options.key, 'rateLimiter.key');
    this.idleMs = options.idleMs === undefined ? 60_000 : finite(options.idleMs, 'rateLimiter.idleMs', 1);
    this.clock = options.clock ?? systemClock;
    const now = this.clock.now();
    this.shared = new Partition(undefined, this.size, now);
    this.lastSweep = now;
  }

  get perSecond(): number {
    return this.rate;
  }

  get burst(): number {
    return this.size;
  }

  /** Keyed partitions held in memory now (the shared bucket is not counted). */
  get partitionCount(): number {
    return this.partitions.size;
  }

  /**
   * Runs `fn` once a token is available in its partition and no hold is in force.
   * @throws RateLimitedError (`WEIR_RATE_LIMITED`, with `retryAfterMs`) when the wait would exceed
   * `maxWaitMs` or the deadline; CancelledError (`WEIR_CANCELLED`) when the signal aborts while
   * waiting; or whatever `fn` throws.
   */
  execute<T>(fn: Task<T>, options?: ExecuteOptions): Promise<T> {
    const ctx = toContext(options);
    if (isAborted(ctx)) return Promise.reject(new CancelledError(ctx.signal?.reason));
    let key = ctx.key;
    if (this.keyOf !== undefined) {
      try {
        key = this.keyOf(ctx);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    const now = this.clock.now();
    const p = this.partition(key, now);
    if (p.waiters.size === 0 && now >= this.heldUntilAll && now >= p.heldUntil) {
      this.refill(p, now);
      if (p.tokens >= 1 - EPSILON) {
        p.tokens -= 1;
        try {
          return Promise.resolve(fn(ctx));
        } catch (err) {
          return Promise.reject(err);
        }
      }
    }
    return this.wait(p, fn as Task<unknown>, ctx, now) as Promise<T>;
  }

  /**
   * Takes a token for `key` without running anything (for callers that schedule work themselves).
   * @returns 0 when a token was taken, else the ms to wait before one could be (nothing is taken).
   */
  tryAcquire(key?: string): number {
    const now = this.clock.now();
    const p = this.partition(key, now);
    this.refill(p, now);
    if (p.waiters.size === 0 && now >= this.heldUntilAll && now >= p.heldUntil && p.tokens >= 1 - EPSILON) {
      p.tokens -= 1;
      return 0;
    }
    return wholeMs(this.waitFor(p, p.waiters.size + 1, now));
  }

  /**
   * Changes the rate at run time (e.g. from a remote API's `RateLimit` headers). Tokens accrued so
   * far are kept (refilled at the old rate up to now), capped at the new burst; waiters are re-timed,
   * and those that could no longer start within their limit are rejected.
   * @param burst default: the burst last given (to `rateLimiter()` or `setRate()`), else `max(1, perSecond)`.
   * @throws InvalidOptionError (`rateLimiter.setRate.perSecond`, `rateLimiter.setRate.burst`).
   */
  setRate(perSecond: number, burst?: number): void {
    positive(perSecond, 'rateLimiter.setRate.perSecond');
    if (burst !== undefined) this.configuredBurst = finite(burst, 'rateLimiter.setRate.burst', 1);
    const now = this.clock.now();
    for (const p of this.all()) this.refill(p, now);
    this.rate = perSecond;
    this.perMs = perSecond / 1000;
    this.size = this.configuredBurst ?? Math.max(1, perSecond);
    for (const p of this.all()) {
      if (p.tokens > this.size) p.tokens = this.size;
      if (p.waiters.size > 0) this.retime(p, now);
    }
  }

  /**
   * No call starts before `epochMs` (on this limiter's clock): in partition `key`, or in every
   * partition when `key` is omitted. Tokens still accrue meanwhile. Holds only move later. Waiters
   * that could not start within their `maxWaitMs` or deadline are rejected with `retryAfterMs`
   * = the time left.
   * @throws InvalidOptionError (`rateLimiter.holdUntil.epochMs`) for a non-finite time.
   */
  holdUntil(epochMs: number, key?: string): void {
    finite(epochMs, 'rateLimiter.holdUntil.epochMs', Number.NEGATIVE_INFINITY);
    const now = this.clock.now();
    if (key === undefined) {
      if (epochMs <= this.heldUntilAll) return;
      this.heldUntilAll = epochMs;
      for (const p of this.all()) if (p.waiters.size > 0) this.retime(p, now);
    } else {
      const p = this.partition(key, now);
      if (epochMs <= p.heldUntil) return;
      p.heldUntil = epochMs;
      if (p.waiters.size > 0) this.retime(p, now);
    }
  }

  /** A snapshot of partition `key` (default: the shared bucket). Does not create the partition. */
  state(key?: string): RateLimiterState {
    const now = this.clock.now();
    const p = key === undefined ? this.shared : this.partitions.get(key);
    if (p !== undefined) this.refill(p, now);
    const held = Math.max(this.heldUntilAll, p?.heldUntil ?? 0);
    return {
      tokens: p?.tokens ?? this.size,
      perSecond: this.rate,
      burst: this.size,
      heldUntil: held > now ? held : 0,
      waiting: p?.waiters.size ?? 0,
    };
  }

  private partition(key: string | undefined, now: number): Partition {
    if (key === undefined) return this.shared;
    if (now - this.lastSweep >= this.idleMs) this.sweep(now);
    let p = this.partitions.get(key);
    if (p === undefined) {
      p = new Partition(key, this.size, now);
      this.partitions.set(key, p);
    }
    return p;
  }

  /** Drops idle partitions whose bucket is full: recreating one later gives the same state. At most once per idleMs. */
  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [key, p] of this.partitions) {
      const idle = now - p.updatedAt;
      if (p.waiters.size === 0 && p.heldUntil <= now && idle >= this.idleMs && p.tokens + idle * this.perMs >= this.size - EPSILON) {
        this.partitions.delete(key);
      }
    }
  }

  private *all(): Iterable<Partition> {
    yield this.shared;
    yield* this.partitions.values();
  }

  private refill(p: Partition, now: number): void {
    const elapsed = now - p.updatedAt;
    if (elapsed > 0) {
      const tokens = p.tokens + elapsed * this.perMs;
      p.tokens = tokens < this.size ? tokens : this.size;
    }
    p.updatedAt = now;
  }

  /**
   * Ms from `now` until the `n`-th call in line may start in `p` (refilled to `now`): after any hold,
   * during which tokens accrue up to the burst, then at the rate.
   */
  private waitFor(p: Partition, n: number, now: number): number {
    const hold = Math.max(this.heldUntilAll, p.heldUntil) - now;
    if (hold <= 0) return n - p.tokens <= EPSILON ? 0 : (n - p.tokens) / this.perMs;
    const atRelease = Math.min(this.size, p.tokens + hold * this.perMs);
    return n - atRelease <= EPSILON ? hold : hold + (n - atRelease) / this.perMs;
  }

  private wait(p: Partition, fn: Task<unknown>, ctx: PolicyContext, now: number): Promise<unknown> {
    this.refill(p, now);
    const waitMs = this.waitFor(p, p.waiters.size + 1, now);
    let limitAt = now + this.maxWaitMs;
    if (ctx.deadline !== undefined) limitAt = Math.min(limitAt, now + (ctx.deadline.at - ctx.deadline.clock.now()));
    if (now + waitMs > limitAt) return Promise.reject(this.rejected(p, waitMs));
    return new Promise((resolve, reject) => {
      const w = new Waiter(fn, ctx, limitAt, resolve, reject);
      p.waiters.push(w);
      w.unsubscribe = onAbort(ctx, (reason) => this.leave(p, w, new CancelledError(reason)));
      if (p.timer === undefined) this.arm(p, now);
    });
  }

  private rejected(p: Partition, waitMs: number): RateLimitedError {
    const retryAfterMs = wholeMs(waitMs);
    if (this.rejects.size > 0) this.rejects.emit({ key: p.key, retryAfterMs });
    return new RateLimitedError(retryAfterMs);
  }

  private leave(p: Partition, w: Waiter, error: unknown): void {
    if (!p.waiters.remove(w)) return;
    w.detach();
    if (p.waiters.size === 0) this.disarm(p);
    w.reject(error);
  }

  private arm(p: Partition, now: number): void {
    const ms = wholeMs(this.waitFor(p, 1, now));
    p.timer = this.clock.setTimer(ms, () => {
      p.timer = undefined;
      this.drain(p, this.clock.now());
    });
  }

  private disarm(p: Partition): void {
    p.timer?.close();
    p.timer = undefined;
  }

  /** Starts every waiter that may start now, in order, then re-arms for the next one. */
  private drain(p: Partition, now: number): void {
    this.refill(p, now);
    if (now >= this.heldUntilAll && now >= p.heldUntil) {
      let w = p.waiters.head;
      while (w !== undefined && p.tokens >= 1 - EPSILON) {
        p.tokens -= 1;
        p.waiters.remove(w);
        w.detach();
        try {
          Promise.resolve(w.fn(w.ctx)).then(w.resolve, w.reject);
        } catch (err) {
          w.reject(err);
        }
        w = p.waiters.head;
      }
    }
    if (p.waiters.size > 0 && p.timer === undefined) this.arm(p, now);
  }

  /** After a rate or hold change: reject waiters that now cannot start in time, re-time the rest. */
  private retime(p: Partition, now: number): void {
    this.disarm(p);
    this.refill(p, now);
    let position = 0;
    for (let w = p.waiters.head; w !== undefined; ) {
      const next = w.next as Waiter | undefined;
      const waitMs = this.waitFor(p, position + 1, now);
      if (now + waitMs > w.limitAt) this.leave(p, w, this.rejected(p, waitMs));
      else position++;
      w = next;
    }
    this.drain(p, now);
  }
}

/** Whole ms, at least 1; float noise (89.99999999 or 90.00000001) must not add a millisecond. */
function wholeMs(ms: number): number {
  return Math.max(1, Math.ceil(ms - 1e-6));
}

function positive(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(option, 'a finite number greater than 0', value);
  }
  return value;
}
