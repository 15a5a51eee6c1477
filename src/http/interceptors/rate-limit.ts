import {
  DEAD_CONTROLLER,
  type Dispatch,
  type DispatchController,
  type DispatchHandler,
  type DispatchOptions,
  enter,
  ForwardHandler,
  type HttpCall,
  type Interceptor,
  safeDispatch,
  type WeirDispatchOptions,
} from '../call.js';
import { ConnectionLimits, type ConnectionLimitsOptions } from '../limits.js';

/** The interceptor {@link rateLimit} returns, with the limits it applies. */
export interface RateLimitInterceptor extends Interceptor {
  readonly limits: ConnectionLimits;
}

/**
 * Rate-limit headers as an undici interceptor. Every response is read for `Retry-After`,
 * `RateLimit`/`RateLimit-Policy`, `X-RateLimit-*` and GitHub's 403 (see `parseRateLimitSignal`),
 * and the {@link ConnectionLimits} learn from it: a hold stops **every** request through this
 * interceptor until the time the server named, and the token bucket paces to the quota reported.
 *
 * Each dispatch waits here for the hold (and for a token, unless a `resilience()` interceptor above
 * already took one for this attempt) just before it goes on, so no request is sent before a hold
 * ends. A wait longer than `maxWaitMs` or the call's deadline fails with `WEIR_RATE_LIMITED`
 * (`retryAfterMs` set); an abort while waiting with `WEIR_CANCELLED`.
 *
 * Import from `weir/http`.
 * @example
 * ```ts
 * const limited = rateLimit({ perSecond: 20 });
 * const dispatcher = new Agent().compose(limited);
 * limited.limits.state(); // { remaining, resetAt, heldUntil, … }
 * ```
 */
export function rateLimit(limits: ConnectionLimits | ConnectionLimitsOptions = {}): RateLimitInterceptor {
  const l = limits instanceof ConnectionLimits ? limits : new ConnectionLimits(limits);
  const interceptor = (dispatch: Dispatch): Dispatch =>
    function weirRateLimit(opts, handler) {
      const { call, opts: o, handler: h } = enter(opts as WeirDispatchOptions, handler);
      const learning = new LearnHandler(h, l, call);
      if (call.limitedBy === l) {
        // A token was taken above for this attempt: only the hold remains to check.
        const wait = l.ready(call.ctx);
        if (wait === undefined) return dispatch(o, learning);
        wait.then(
          () => safeDispatch(dispatch, o, learning),
          (err: unknown) => learning.onResponseError(DEAD_CONTROLLER, err as Error),
        );
        return true;
      }
      call.limitedBy = l;
      l.execute(() => {
        safeDispatch(dispatch, o as DispatchOptions, learning);
      }, call.ctx).then(undefined, (err: unknown) => learning.onResponseError(DEAD_CONTROLLER, err as Error));
      return true;
    };
  return Object.assign(interceptor, { limits: l });
}

/** Feeds every response's headers to the limits, and remembers the signal on the call. */
class LearnHandler extends ForwardHandler {
  constructor(
    next: DispatchHandler,
    private readonly limits: ConnectionLimits,
    private readonly call: HttpCall,
  ) {
    super(next);
  }

  override onResponseStart(controller: DispatchController, status: number, headers: Record<string, string | string[] | undefined>, message?: string): void {
    this.call.rateLimit = this.limits.learn(status, headers as Record<string, string | string[]>);
    this.next.onResponseStart?.(controller, status, headers, message);
  }
}
