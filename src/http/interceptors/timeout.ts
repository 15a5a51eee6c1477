import type { ResilienceInterceptor } from './resilience.js';
import { resilience } from './resilience.js';

/**
 * A time budget as an undici interceptor: each dispatch through it must get its response headers
 * within `ms` (and within the deadline of the call, `opts.weir.deadline`, when earlier). On expiry
 * the request is aborted and the caller's handler gets `WEIR_TIMEOUT`. Placed below a {@link retry}
 * interceptor it limits each attempt; above it, the whole call.
 *
 * This is {@link resilience} with only its timeout piece; retryable statuses pass through unchanged.
 * Import from `weir/http`.
 * @throws InvalidOptionError (`resilience.attemptTimeoutMs`) when `ms` is not a finite number >= 1.
 * @example
 * ```ts
 * const dispatcher = new Agent().compose(timeout(2_000), retry({ attempts: 3 })); // the last one is outermost
 * ```
 */
export function timeout(ms: number): ResilienceInterceptor {
  return resilience({
    bulkhead: false,
    deadlineMs: false,
    retry: false,
    breaker: false,
    limits: false,
    attemptTimeoutMs: ms,
    failOn: () => false,
  });
}
