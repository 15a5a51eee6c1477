import { type Clock, systemClock } from '../../internal/clock.js';
import { finite } from '../../internal/validate.js';
import { backoff } from '../../policy/backoff.js';
import { type BulkheadOptions, BulkheadPolicy } from '../../policy/bulkhead.js';
import { type BreakerStrategy, type CircuitBreakerOptions, CircuitBreakerPolicy } from '../../policy/circuit-breaker.js';
import { type RetryOptions, RetryPolicy } from '../../policy/retry.js';
import { retryBudget } from '../../policy/retry-budget.js';
import { TimeoutPolicy } from '../../policy/timeout.js';
import type { Policy } from '../../policy/types.js';
import { wrap } from '../../policy/wrap.js';
import { createRedactor, type Redactor } from '../../security/redact.js';
import { type Dispatch, enter, type HttpCall, type Interceptor, type WeirDispatchOptions } from '../call.js';
import type { ConnectionLimits } from '../limits.js';
import { parseRateLimitSignal } from '../rate-limit-headers.js';
import { Run, type RunConfig } from './attempt.js';

export { safeToRetry } from './attempt.js';

/** A circuit breaker given as settings: its strategy plus the options of `circuitBreaker()`. */
export interface BreakerSettings extends CircuitBreakerOptions {
  /** Default `{ failureRate: 0.5, minimumCalls: 20, windowMs: 10_000 }`. */
  strategy?: BreakerStrategy;
}

/**
 * The policy pieces of {@link resilience}, outermost first. Each takes a policy instance, settings,
 * or `false` to leave it out; `undefined` means the default shown.
 */
export interface ResilienceOptions {
  /** Concurrency limit of the whole call. Default `{ maxConcurrent: 100, maxQueue: 1000 }`. */
  bulkhead?: BulkheadPolicy | BulkheadOptions | false;
  /** Overall time budget of the call including retries and waits, in ms. Default 30_000. */
  deadlineMs?: number | false;
  /**
   * Retries. Default 3 attempts, exponential backoff with full jitter (100 ms doubling to 10 s),
   * `Retry-After` honoured up to 60 s, and a retry budget (20% of calls, at least 10 per second).
   * Whatever policy is given, an unsafe request is never retried (see docs/http.md).
   */
  retry?: RetryPolicy | RetryOptions | false;
  /** The connection's hold and adaptive bucket, checked before each attempt. Default: none here (the connection supplies one). */
  limits?: ConnectionLimits | false;
  /** Circuit breaker around each attempt. Default: failure rate 50% over 10 s, at least 20 calls, open 30 s. */
  breaker?: CircuitBreakerPolicy | BreakerSettings | false;
  /** Time budget of each attempt up to the response headers, in ms. Default 10_000. */
  attemptTimeoutMs?: number | false;
  /**
   * Which responses fail the attempt (and become `WEIR_HTTP_STATUS` when the call gives up) instead
   * of being delivered. Default: 408, 425, 429, 5xx but 501 and 505, and GitHub's rate-limit 403.
   */
  failOn?: (status: number, headers: Record<string, string | string[] | undefined>, call: HttpCall) => boolean;
  /** The connection name, for error messages. */
  system?: string;
  /** Redacts paths, headers and body excerpts in errors. Default `createRedactor()`. */
  redactor?: Redactor;
  /** Size of the body excerpt kept in a `WEIR_HTTP_STATUS` error, in characters. Default 1024. */
  maxErrorBodyBytes?: number;
  /** Default: the system clock. */
  clock?: Clock;
  /** Called for an attempt that failed before it reached the wire (rejected locally, timed out waiting); for auditing. */
  onUnsent?: (call: HttpCall, error: unknown) => void;
}

/** The interceptor {@link resilience} returns, with the policy instances it runs (for events and state). */
export interface ResilienceInterceptor extends Interceptor {
  readonly bulkhead: BulkheadPolicy | undefined;
  /** The overall budget of a call in ms, when there is one. */
  readonly deadlineMs: number | undefined;
  readonly retry: RetryPolicy | undefined;
  readonly limits: ConnectionLimits | undefined;
  readonly breaker: CircuitBreakerPolicy | undefined;
  readonly attemptTimeout: TimeoutPolicy | undefined;
}


/** The default retryable statuses: transient and rate-limited ones. */
export function defaultFailOn(status: number, headers: Record<string, string | string[] | undefined>, call: HttpCall): boolean {
  if (status < 400 || call.accepts(status)) return false;
  if (status === 429 || status === 408 || status === 425) return true;
  if (status >= 500) return status !== 501 && status !== 505;
  if (status === 403) return (call.rateLimit ?? parseRateLimitSignal(status, headers, { now: Date.now() }))?.source === 'github';
  return false;
}

/**
 * The resilience preset as one undici interceptor, outermost first: bulkhead → overall deadline →
 * retry → rate-limit hold → circuit breaker → per-attempt timeout → the rest of the chain. Every
 * piece can be replaced or left out. Each attempt goes down the chain with the same `opts.weir`
 * call, so interceptors below see its attempt number and deadline.
 *
 * The policies cover the exchange up to the response headers: a delivered response streams its
 * body to the caller outside them. A failing status (see `failOn`) is read (a bounded excerpt) and
 * becomes `HttpStatusError`; when the call gives up, the caller's handler gets the last failure as
 * an error (`RetriesExhaustedError` is unwrapped; `attempts` is set on Weir HTTP errors).
 *
 * **Retry only what is safe**: an attempt that never reached a socket may always be retried; one
 * that did is retried only for GET/HEAD/PUT/DELETE/OPTIONS/TRACE, a request with an
 * Idempotency-Key, or a call marked `idempotent`. A streamed body is never sent twice.
 *
 * Import from `weir/http`.
 * @throws InvalidOptionError at construction for a bad option (named, e.g. `resilience.deadlineMs`).
 * @example
 * ```ts
 * import { Agent } from 'undici';
 * const dispatcher = new Agent().compose(resilience({ bulkhead: false, retry: { attempts: 5 } }));
 * const res = await dispatcher.request({ origin, path: '/v1/items', method: 'GET' });
 * ```
 */
export function resilience(options: ResilienceOptions = {}): ResilienceInterceptor {
  const r = new Resilience(options);
  const interceptor = (dispatch: Dispatch): Dispatch =>
    function weirResilience(opts, handler) {
      const e = enter(opts as WeirDispatchOptions, handler);
      new Run(r, e.call, e.opts, e.handler, dispatch).start();
      return true;
    };
  return Object.assign(interceptor, {
    bulkhead: r.bulkhead,
    deadlineMs: r.deadlineMs,
    retry: r.retry,
    limits: r.limits,
    breaker: r.breaker,
    attemptTimeout: r.attemptTimeout,
  });
}

/** The built pieces, shared by every call through one interceptor. */
class Resilience implements RunConfig {
  readonly bulkhead: BulkheadPolicy | undefined;
  readonly deadlineMs: number | undefined;
  /** The overall deadline as a policy: needed only without an attempt timeout (see the constructor). */
  readonly deadline: TimeoutPolicy | undefined;
  readonly retry: RetryPolicy | undefined;
  readonly limits: ConnectionLimits | undefined;
  readonly breaker: CircuitBreakerPolicy | undefined;
  readonly attemptTimeout: TimeoutPolicy | undefined;
  readonly outer: Policy | undefined;
  readonly inner: Policy | undefined;
  readonly failOn: NonNullable<ResilienceOptions['failOn']>;
  readonly system: string | undefined;
  readonly redactor: Redactor;
  readonly maxBody: number;
  readonly clock: Clock;
  readonly onUnsent: ResilienceOptions['onUnsent'];
  /** Attempts are wrapped to apply the safety rule and report unsent attempts. */
  readonly guarded: boolean;

  constructor(o: ResilienceOptions) {
    const clock = (this.clock = o.clock ?? systemClock);
    this.bulkhead =
      o.bulkhead === false ? undefined : o.bulkhead instanceof BulkheadPolicy ? o.bulkhead : new BulkheadPolicy(o.bulkhead ?? { maxConcurrent: 100, maxQueue: 1000 });
    this.deadlineMs = o.deadlineMs === false ? undefined : finite(o.deadlineMs ?? 30_000, 'resilience.deadlineMs', 1);
    this.retry =
      o.retry === false
        ? undefined
        : o.retry instanceof RetryPolicy
          ? o.retry
          : new RetryPolicy({
              ...(o.retry?.maxAttempts === undefined ? { attempts: 3 } : {}),
              backoff: backoff.exponential({ initialMs: 100, maxMs: 10_000, jitter: 'full' }),
              maxDelayMs: 60_000,
              budget: retryBudget({ clock }),
              clock,
              ...o.retry,
            });
    this.limits = o.limits === false ? undefined : o.limits;
    if (o.breaker === false) this.breaker = undefined;
    else if (o.breaker instanceof CircuitBreakerPolicy) this.breaker = o.breaker;
    else {
      const { strategy, ...rest } = o.breaker ?? {};
      this.breaker = new CircuitBreakerPolicy(strategy ?? { failureRate: 0.5, minimumCalls: 20, windowMs: 10_000 }, {
        ...(o.system === undefined ? {} : { name: o.system }),
        clock,
        ...rest,
      });
    }
    this.attemptTimeout =
      o.attemptTimeoutMs === false ? undefined : new TimeoutPolicy({ ms: finite(o.attemptTimeoutMs ?? 10_000, 'resilience.attemptTimeoutMs', 1), clock });
    // Every wait in the preset honours ctx.deadline (the bulkhead queue, the retry's backoff, the
    // rate-limit hold) and the attempt timeout caps each attempt at it, so with an attempt timeout
    // the overall deadline needs no policy of its own: the call's context carries it (one object
    // per call instead of a timer entry, a promise and a subscription).
    this.deadline =
      this.deadlineMs !== undefined && this.attemptTimeout === undefined ? new TimeoutPolicy({ ms: this.deadlineMs, clock }) : undefined;
    this.outer = compose([this.bulkhead, this.deadline, this.retry]);
    this.inner = compose([this.limits, this.breaker, this.attemptTimeout]);
    this.failOn = o.failOn ?? defaultFailOn;
    this.system = o.system;
    this.redactor = o.redactor ?? createRedactor();
    this.maxBody = o.maxErrorBodyBytes === undefined ? 1024 : finite(o.maxErrorBodyBytes, 'resilience.maxErrorBodyBytes', 0);
    this.onUnsent = o.onUnsent;
    this.guarded = this.retry !== undefined || this.onUnsent !== undefined;
  }
}

function compose(list: Array<Policy | undefined>): Policy | undefined {
  const present = list.filter((p): p is Policy => p !== undefined);
  return present.length === 0 ? undefined : present.length === 1 ? present[0] : wrap(...present);
}
