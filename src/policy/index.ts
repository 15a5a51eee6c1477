/**
 * `weir/policy`: resilience policies as values. Each has `execute(fn, options)` and
 * `executeOutcome(fn, options)`; `wrap()` composes them outermost first.
 * @packageDocumentation
 */
export { backoff, type BackoffFunction, type ExponentialBackoffOptions, type Jitter, type ScheduleBackoffOptions } from './backoff.js';
export { keyedCircuitBreakers, KeyedCircuitBreakers, type KeyedCircuitBreakersOptions } from './breaker-registry.js';
export type { WindowSnapshot } from './breaker-window.js';
export { bulkhead, BulkheadPolicy, type BulkheadOptions, type BulkheadRejectEvent } from './bulkhead.js';
export {
  BREAKER_CHANNEL,
  circuitBreaker,
  CircuitBreakerPolicy,
  type BreakerBreakEvent,
  type BreakerReason,
  type BreakerRejectEvent,
  type BreakerSnapshot,
  type BreakerState,
  type BreakerStateChange,
  type BreakerStrategy,
  type CircuitBreakerOptions,
} from './circuit-breaker.js';
export { type Classification, type Classifier, classifyError, classifyStatus, defaultClassifier, retryAfterOf } from './classify.js';
export { DEADLINE_HEADER, Deadline } from './deadline.js';
export { fallback, FallbackPolicy, type FallbackEvent, type FallbackFn, type FallbackOptions } from './fallback.js';
export {
  rateLimiter,
  RateLimiterPolicy,
  type RateLimiterOptions,
  type RateLimiterState,
  type RateLimitRejectEvent,
} from './rate-limiter.js';
export {
  RETRY_CHANNEL,
  retry,
  RetryPolicy,
  type RetryDiagnostic,
  type RetryEvent,
  type RetryGiveUpEvent,
  type RetryGiveUpReason,
  type RetryOptions,
  type RetrySuccessEvent,
} from './retry.js';
export { retryBudget, type RetryBudget, type RetryBudgetOptions, type RetryBudgetSnapshot } from './retry-budget.js';
export { timeout, TimeoutPolicy, type TimeoutEvent, type TimeoutMode, type TimeoutOptions } from './timeout.js';
export {
  BasePolicy,
  type Backoff,
  type ExecuteOptions,
  isAborted,
  onAbort,
  type Outcome,
  type Policy,
  type PolicyContext,
  type Task,
} from './types.js';
export { noop, wrap, WrappedPolicy } from './wrap.js';
