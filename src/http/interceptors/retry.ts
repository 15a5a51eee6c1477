import type { RetryOptions, RetryPolicy } from '../../policy/retry.js';
import { resilience, type ResilienceInterceptor, type ResilienceOptions } from './resilience.js';

/** Options of the {@link retry} interceptor: the retry policy (or its options) plus how failures are read. */
export interface RetryInterceptorOptions extends RetryOptions, Pick<ResilienceOptions, 'failOn' | 'system' | 'redactor' | 'maxErrorBodyBytes'> {
  /** A retry policy to use instead of building one from the options above. */
  policy?: RetryPolicy;
}

/**
 * Retries as an undici interceptor, on Weir's retry policy: exponential backoff with full jitter,
 * `Retry-After` honoured (capped by `maxDelayMs`), an optional retry budget, and the safety rule:
 * a request that may have reached the server is repeated only when it is idempotent (method, an
 * Idempotency-Key, or `opts.weir.idempotent`). Retryable statuses (408, 425, 429, most 5xx) are
 * read and retried; when retries run out the last one is delivered as `WEIR_HTTP_STATUS`.
 *
 * This is {@link resilience} with only its retry piece. Import from `weir/http`.
 * @throws InvalidOptionError naming `retry.<option>` for a bad option.
 * @example
 * ```ts
 * import { Agent } from 'undici';
 * import { retry } from 'weir/http';
 * const dispatcher = new Agent().compose(retry({ attempts: 4 }));
 * ```
 */
export function retry(options: RetryInterceptorOptions = {}): ResilienceInterceptor {
  const { policy, failOn, system, redactor, maxErrorBodyBytes, ...retryOptions } = options;
  return resilience({
    bulkhead: false,
    deadlineMs: false,
    breaker: false,
    attemptTimeoutMs: false,
    limits: false,
    retry: policy ?? retryOptions,
    ...(failOn === undefined ? {} : { failOn }),
    ...(system === undefined ? {} : { system }),
    ...(redactor === undefined ? {} : { redactor }),
    ...(maxErrorBodyBytes === undefined ? {} : { maxErrorBodyBytes }),
  });
}
