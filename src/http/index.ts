/**
 * `weir/http`: the resilient HTTP layer. `connection()` is the client; each concern it applies is
 * also an undici interceptor usable on its own with `agent.compose(...)`.
 * @packageDocumentation
 */
export { DEFAULT_MAX_HOLD_MS, parseRateLimitSignal, parseRetryAfter } from './rate-limit-headers.js';
export type {
  HeadersLike,
  ParseRateLimitOptions,
  ParseRetryAfterOptions,
  RateLimitPolicy,
  RateLimitSignal,
  RateLimitSource,
} from './rate-limit-headers.js';
// helper-owned exports below (one line per module)
export type { AuthFailure, AuthRequest, HttpAuth, TlsMaterial, TlsSource } from './auth.js';
export { connection, Connection, type ConnectionState } from './connection.js';
export type { ConnectionAuditOptions, ConnectionOptions, ConnectionPolicy, RequestInit, RequestOptions } from './connection-options.js';
export { HttpResponse, type QueryParams, type RequestBody, type ResponsePromise } from './response.js';
export { ResponseBody } from './body.js';
export { HttpStatusError, NetworkError, type ExchangeInfo, type HttpStatusErrorInit, type NetworkErrorInit } from './errors.js';
export { HttpCall, isIdempotentMethod, type HttpCallOptions, type Interceptor, type WeirDispatchOptions } from './call.js';
export { connectionLimits, ConnectionLimits, type ConnectionLimitsOptions, type ConnectionLimitsState, type HoldEvent } from './limits.js';
export { defaultFailOn, resilience, safeToRetry, type BreakerSettings, type ResilienceInterceptor, type ResilienceOptions } from './interceptors/resilience.js';
export { retry, type RetryInterceptorOptions } from './interceptors/retry.js';
export { timeout } from './interceptors/timeout.js';
export { rateLimit, type RateLimitInterceptor } from './interceptors/rate-limit.js';
export { requestId, type RequestIdOptions } from './interceptors/request-id.js';
export { traceAttempts, type HttpTraceAttempt, type HttpTraceEnd, type HttpTracing, type TraceInterceptorOptions } from './interceptors/trace.js';
export { idempotencyKey, type IdempotencyOptions } from './interceptors/idempotency.js';
export { auth } from './interceptors/auth.js';
export { audit, HTTP_ATTEMPT_CHANNEL, type AttemptOutcome, type AuditInterceptor, type AuditInterceptorOptions, type HttpAttemptDiagnostic } from './interceptors/audit.js';
