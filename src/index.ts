/**
 * `weir`: the everyday API. Everything here is also available from its own subpath.
 * @packageDocumentation
 */
export {
  BulkheadFullError,
  CancelledError,
  CircuitOpenError,
  InvalidOptionError,
  isWeirError,
  permanent,
  RateLimitedError,
  RetriesExhaustedError,
  TimeoutError,
  WeirError,
} from './errors.js';
export type { Classification, GiveUpReason, WeirErrorCode, WeirErrorFields } from './errors.js';
export type { Clock, Timer } from './internal/clock.js';
export { systemClock } from './internal/clock.js';
export type { Disposable, Event } from './internal/events.js';
export type { Duration } from './internal/duration.js';
export {
  backoff,
  bulkhead,
  circuitBreaker,
  Deadline,
  fallback,
  keyedCircuitBreakers,
  rateLimiter,
  retry,
  retryBudget,
  timeout,
  wrap,
} from './policy/index.js';
export type { ExecuteOptions, Outcome, Policy, PolicyContext } from './policy/index.js';
