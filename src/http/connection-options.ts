import type { Agent, Dispatcher } from 'undici';
import { InvalidOptionError } from '../errors.js';
import type { Clock } from '../internal/clock.js';
import type { AuditSink } from '../observability/audit.js';
import type { MetricMeter } from '../observability/metrics.js';
import type { BulkheadOptions, BulkheadPolicy } from '../policy/bulkhead.js';
import type { CircuitBreakerPolicy } from '../policy/circuit-breaker.js';
import type { Deadline } from '../policy/deadline.js';
import type { RetryOptions, RetryPolicy } from '../policy/retry.js';
import type { RetryBudget, RetryBudgetOptions } from '../policy/retry-budget.js';
import type { Redactor, RedactorOptions } from '../security/redact.js';
import type { HttpAuth, TlsMaterial, TlsSource } from './auth.js';
import type { IdempotencyOptions } from './interceptors/idempotency.js';
import type { HttpTracing } from './interceptors/trace.js';
import type { BreakerSettings } from './interceptors/resilience.js';
import type { ConnectionLimits, ConnectionLimitsOptions } from './limits.js';
import type { QueryParams } from './response.js';

/**
 * The connection's policy preset, outermost first: bulkhead → overall deadline → retry (with its
 * budget) → rate-limit hold → circuit breaker → per-attempt timeout. Each piece takes an instance,
 * settings, or `false`; leaving it out keeps the default.
 */
export interface ConnectionPolicy {
  /** Default `{ maxConcurrent: 100, maxQueue: 1000 }`. */
  bulkhead?: BulkheadPolicy | BulkheadOptions | false;
  /** Overall budget of a call (all attempts and waits), in ms. Default 30_000. A call's own `deadline` can only shorten it. */
  deadlineMs?: number | false;
  /** Default: 3 attempts, exponential backoff with full jitter (100 ms doubling to 10 s), `Retry-After` honoured up to 60 s. */
  retry?: RetryPolicy | RetryOptions | false;
  /** Caps retries as a share of calls. Default `retryBudget()` (20% of calls, at least 10 retries per second). Ignored when `retry` is a policy. */
  budget?: RetryBudget | RetryBudgetOptions | false;
  /** Default: opens at a 50% failure rate over 10 s once 20 calls were seen, for 30 s. */
  breaker?: CircuitBreakerPolicy | BreakerSettings | false;
  /** Budget of each attempt up to the response headers, in ms. Default: the connection's `timeoutMs` (10_000). */
  attemptTimeoutMs?: number | false;
}

/** `audit` as settings: where entries go, and whether bodies are excerpted. */
export interface ConnectionAuditOptions {
  sink: AuditSink;
  /** Keep bounded, redacted excerpts of request and response bodies. Default false. */
  bodies?: boolean | { maxBytes?: number };
}

/** Options of `connection()`. Only `name` and `baseUrl` are required. */
export interface ConnectionOptions {
  /** The other system's name: in audit entries, metrics labels and errors. */
  name: string;
  /** Scheme, host and an optional base path: `https://api.esp.example/v3`. */
  baseUrl: string | URL;
  /** How requests authenticate (OAuth 2.0, API key, your own). Default: none. */
  auth?: HttpAuth;
  /** Client certificate / private CA; a `TlsSource` rotates without restart. Default: the system's CAs. */
  tls?: TlsMaterial | TlsSource;
  /** The policy preset; see {@link ConnectionPolicy}. */
  policy?: ConnectionPolicy;
  /** Idempotency-Key header, automatic keys, derivation from an operation id. */
  idempotency?: IdempotencyOptions;
  /** Where one entry per attempt goes (e.g. `auditTrail({ store })`). Default: none. */
  audit?: AuditSink | ConnectionAuditOptions | false;
  /** Per-attempt timeout in ms (see `policy.attemptTimeoutMs`). Default 10_000. */
  timeoutMs?: number;
  /** The rate-limit state: a client-side rate, adaptation, the longest hold. Default `connectionLimits()`. */
  limits?: ConnectionLimits | ConnectionLimitsOptions;
  /** Headers sent with every request (lower-cased; a call's own headers win). */
  headers?: Readonly<Record<string, string>>;
  /**
   * `true`: send a home-made W3C `traceparent` on every attempt (no spans). A hook ({@link HttpTracing},
   * e.g. `otelTracing()` from `weir/observability/otel`): one span per attempt on the wire, its context in
   * the request headers. Default false (nothing is called).
   */
  tracing?: boolean | HttpTracing;
  /** Header of the per-attempt id. Default `'x-request-id'`. */
  requestIdHeader?: string;
  /** Header of the remaining deadline in ms, or `false`. Default `'x-weir-deadline'`. */
  deadlineHeader?: string | false;
  /** Redaction of paths, error excerpts and audit details (more names, JSON paths, known secrets). Default `createRedactor()`. */
  redact?: Redactor | RedactorOptions;
  /** Where metrics go. Default: no-op. */
  metrics?: MetricMeter;
  /** Characters of a failing response's body kept (redacted) in the error. Default 1024. */
  maxErrorBodyBytes?: number;
  /** The dispatcher requests finally go through (a custom `Agent`, a `MockAgent`). Default: a new `Agent`. Not with `tls`. */
  dispatcher?: Dispatcher;
  /** Options of the default `Agent` (connections, keep-alive, …). */
  agent?: Agent.Options;
  /** Default: the system clock. */
  clock?: Clock;
}

/** Per-call options of every method. */
export interface RequestOptions {
  /** Query parameters appended to the path. */
  query?: QueryParams;
  /** Request headers (names are case-insensitive; these win over the connection's). */
  headers?: Readonly<Record<string, string | undefined>>;
  /** Send this value as JSON (even a string). */
  json?: unknown;
  /** Aborting it cancels the call at once (`WEIR_CANCELLED`), wherever it is: queued, held, in flight or streaming. */
  signal?: AbortSignal;
  /** The call's deadline: a `Deadline` (e.g. from the worker's context) or a budget in ms. */
  deadline?: Deadline | number;
  /** The message or operation this call serves; recorded in each audit entry. */
  correlationId?: string;
  /** The Idempotency-Key of this logical operation; sent on every attempt and makes a write safe to retry. */
  idempotencyKey?: string;
  /** A stable id the key is derived from (see `idempotency.derive`) when `idempotencyKey` is not given. */
  operationId?: string;
  /** The request is safe to repeat whatever its method (e.g. a PATCH with `If-Match`). */
  idempotent?: boolean;
  /** `false`: no retries for this call (a worker reschedules instead of sleeping). */
  retry?: boolean;
  /** Statuses >= 400 delivered as responses instead of errors: `[404, 409]` or a predicate. */
  accept?: readonly number[] | ((status: number) => boolean);
  /** A W3C `traceparent` to continue (with `tracing`; a tracing hook makes it the parent instead of the active context). */
  traceparent?: string;
  /** Partition key for keyed policies. */
  key?: string;
}

/** Options of `request()`: the method and path with the per-call options. */
export interface RequestInit extends RequestOptions {
  method: string;
  path: string;
  body?: import('./response.js').RequestBody;
}

/** Checks a string option, naming it. */
export function optionalString(value: unknown, option: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new InvalidOptionError(option, 'a non-empty string', value);
  return value;
}

/** An Idempotency-Key as the IETF draft allows: printable ASCII, 1 to 255 characters. */
export function idempotencyKeyOption(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[\x20-\x7e]{1,255}$/.test(value)) {
    throw new InvalidOptionError('idempotencyKey', 'a printable ASCII string of 1 to 255 characters', value);
  }
  return value;
}

/** `accept` as a predicate. */
export function acceptOption(value: unknown): ((status: number) => boolean) | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'function') return value as (status: number) => boolean;
  if (Array.isArray(value) && value.every((s) => Number.isInteger(s))) {
    const set = new Set(value as number[]);
    return (status) => set.has(status);
  }
  throw new InvalidOptionError('accept', 'an array of status codes or a function', value);
}
