/**
 * Every error Weir raises is a {@link WeirError} with a stable string `code`, so callers can
 * `switch (err.code)` and never parse messages. Import from `weir` (or any subpath that raises it).
 */

/** How an outcome is classified once, before any policy reacts to it. */
export type Classification = 'success' | 'transient' | 'rate_limited' | 'permanent' | 'cancelled';

/** All codes Weir raises. Tests and callers match on these, never on message text. */
export type WeirErrorCode =
  | 'WEIR_INVALID_OPTION'
  | 'WEIR_TIMEOUT'
  | 'WEIR_CANCELLED'
  | 'WEIR_CIRCUIT_OPEN'
  | 'WEIR_BULKHEAD_FULL'
  | 'WEIR_RATE_LIMITED'
  | 'WEIR_RETRIES_EXHAUSTED'
  | 'WEIR_HTTP_STATUS'
  | 'WEIR_NETWORK'
  | 'WEIR_LEASE_LOST'
  | 'WEIR_STORE'
  | 'WEIR_NOT_FOUND'
  | 'WEIR_IDEMPOTENCY_CONFLICT'
  | 'WEIR_SIGNATURE_INVALID'
  | 'WEIR_SIGNATURE_STALE'
  | 'WEIR_SIGNATURE_FUTURE'
  | 'WEIR_SIGNATURE_MISSING'
  | 'WEIR_SECRET_MISSING'
  | 'WEIR_AUTH_FAILED'
  | 'WEIR_AUTH_INVALID_GRANT'
  | 'WEIR_AUTH_UNAVAILABLE'
  | 'WEIR_AUTH_NO_CREDENTIAL'
  | 'WEIR_TLS_MATERIAL'
  | 'WEIR_PERMANENT'
  | 'WEIR_UNAUTHENTICATED'
  | 'WEIR_FORBIDDEN'
  | 'WEIR_IDEMPOTENCY_KEY_MISSING'
  | 'WEIR_IDEMPOTENCY_KEY_INVALID'
  | 'WEIR_IDEMPOTENCY_IN_FLIGHT'
  | 'WEIR_PRECONDITION_FAILED'
  | 'WEIR_PRECONDITION_REQUIRED'
  | 'WEIR_OVERLOADED'
  | 'WEIR_CURSOR_INVALID'
  | 'WEIR_VERSION_UNSUPPORTED'
  | 'WEIR_PAYLOAD_TOO_LARGE'
  | 'WEIR_WEBHOOK_ENDPOINT_DISABLED'
  | 'WEIR_INVALID_STATE'
  | 'WEIR_CONFIG_INVALID';

const brand = Symbol.for('weir.error');

/** Structured fields an error may carry besides its code. */
export interface WeirErrorFields {
  /** The underlying error, if any. */
  cause?: unknown;
  /** Overrides the default classification of this error's code. */
  classification?: Classification;
  /** When the operation may be tried again, in milliseconds from now. */
  retryAfterMs?: number;
  /** Free-form structured details; never contains secrets. */
  details?: Readonly<Record<string, unknown>>;
}

const defaultClassification: Partial<Record<WeirErrorCode, Classification>> = {
  WEIR_INVALID_OPTION: 'permanent',
  WEIR_TIMEOUT: 'transient',
  WEIR_CANCELLED: 'cancelled',
  WEIR_CIRCUIT_OPEN: 'transient',
  WEIR_BULKHEAD_FULL: 'transient',
  WEIR_RATE_LIMITED: 'rate_limited',
  WEIR_RETRIES_EXHAUSTED: 'transient',
  WEIR_NETWORK: 'transient',
  WEIR_LEASE_LOST: 'permanent',
  WEIR_NOT_FOUND: 'permanent',
  WEIR_IDEMPOTENCY_CONFLICT: 'permanent',
  WEIR_SIGNATURE_INVALID: 'permanent',
  WEIR_SIGNATURE_STALE: 'permanent',
  WEIR_SIGNATURE_FUTURE: 'permanent',
  WEIR_SIGNATURE_MISSING: 'permanent',
  WEIR_SECRET_MISSING: 'permanent',
  WEIR_AUTH_FAILED: 'permanent',
  WEIR_AUTH_INVALID_GRANT: 'permanent',
  WEIR_AUTH_UNAVAILABLE: 'transient',
  WEIR_AUTH_NO_CREDENTIAL: 'permanent',
  WEIR_TLS_MATERIAL: 'permanent',
  WEIR_PERMANENT: 'permanent',
  WEIR_UNAUTHENTICATED: 'permanent',
  WEIR_FORBIDDEN: 'permanent',
  WEIR_IDEMPOTENCY_KEY_MISSING: 'permanent',
  WEIR_IDEMPOTENCY_KEY_INVALID: 'permanent',
  WEIR_IDEMPOTENCY_IN_FLIGHT: 'transient',
  WEIR_PRECONDITION_FAILED: 'permanent',
  WEIR_PRECONDITION_REQUIRED: 'permanent',
  WEIR_OVERLOADED: 'transient',
  WEIR_CURSOR_INVALID: 'permanent',
  WEIR_VERSION_UNSUPPORTED: 'permanent',
  WEIR_PAYLOAD_TOO_LARGE: 'permanent',
  WEIR_WEBHOOK_ENDPOINT_DISABLED: 'permanent',
  WEIR_INVALID_STATE: 'permanent',
};

/**
 * Base class of every Weir error. `instanceof WeirError` works across realms and duplicate copies
 * of the package (a `Symbol.for` brand), and so does {@link isWeirError}.
 *
 * @example
 * ```ts
 * try { await policy.execute(call) } catch (err) {
 *   if (isWeirError(err) && err.code === 'WEIR_CIRCUIT_OPEN') console.log(err.retryAfterMs)
 * }
 * ```
 */
export class WeirError<C extends WeirErrorCode = WeirErrorCode> extends Error {
  declare readonly [brand]: true;
  readonly code: C;
  readonly classification: Classification;
  readonly retryAfterMs: number | undefined;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: C, message: string, fields: WeirErrorFields = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    Object.defineProperty(this, brand, { value: true });
    this.name = 'WeirError';
    this.code = code;
    this.classification = fields.classification ?? defaultClassification[code] ?? 'transient';
    this.retryAfterMs = fields.retryAfterMs;
    this.details = fields.details ?? {};
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as { [brand]?: unknown })[brand] === true;
  }

  /** A JSON view with code, message and details (never the cause's secrets: causes are reduced to name and code). */
  toJSON(): Record<string, unknown> {
    const cause = this.cause as { name?: unknown; code?: unknown } | undefined;
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      classification: this.classification,
      ...(this.retryAfterMs === undefined ? {} : { retryAfterMs: this.retryAfterMs }),
      ...this.details,
      ...(cause === undefined ? {} : { cause: { name: cause?.name, code: cause?.code } }),
    };
  }
}

/** True when `value` is a Weir error (optionally with the given code). Narrows the type. */
export function isWeirError<C extends WeirErrorCode>(value: unknown, code?: C): value is WeirError<C> {
  return value instanceof WeirError && (code === undefined || (value as WeirError).code === code);
}

/**
 * An option or config value was wrong. Raised eagerly at construction, never at call time.
 * It is also a `TypeError`, as a wrong option is a programming error.
 */
export class InvalidOptionError extends TypeError {
  declare readonly [brand]: true;
  readonly code = 'WEIR_INVALID_OPTION' as const;
  readonly classification: Classification = 'permanent';
  readonly retryAfterMs = undefined;
  readonly details: Readonly<Record<string, unknown>>;
  /** Dotted path of the option, e.g. `retry.attempts`. */
  readonly option: string;

  constructor(option: string, expected: string, received: unknown) {
    super(`Invalid option "${option}": expected ${expected}, received ${describe(received)}.`);
    Object.defineProperty(this, brand, { value: true });
    this.name = 'InvalidOptionError';
    this.option = option;
    this.details = { option, expected };
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined) return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/** The operation took longer than its time budget. */
export class TimeoutError extends WeirError<'WEIR_TIMEOUT'> {
  constructor(readonly timeoutMs: number, fields: WeirErrorFields = {}) {
    super('WEIR_TIMEOUT', `Timed out after ${timeoutMs} ms.`, { ...fields, details: { timeoutMs, ...fields.details } });
    this.name = 'TimeoutError';
  }
}

/** The caller's signal aborted the operation. Never counted as a failure. */
export class CancelledError extends WeirError<'WEIR_CANCELLED'> {
  constructor(cause?: unknown) {
    super('WEIR_CANCELLED', 'The operation was cancelled.', cause === undefined ? {} : { cause });
    this.name = 'CancelledError';
  }
}

/** A circuit breaker is open (or its half-open probes are taken); try again after `retryAfterMs`. */
export class CircuitOpenError extends WeirError<'WEIR_CIRCUIT_OPEN'> {
  constructor(retryAfterMs: number, details: Record<string, unknown> = {}) {
    super('WEIR_CIRCUIT_OPEN', `Circuit is open; retry after ${Math.ceil(retryAfterMs)} ms.`, { retryAfterMs, details });
    this.name = 'CircuitOpenError';
  }
}

/** A bulkhead has no free slot and no room in its queue. */
export class BulkheadFullError extends WeirError<'WEIR_BULKHEAD_FULL'> {
  constructor(details: { maxConcurrent: number; maxQueue: number }) {
    super('WEIR_BULKHEAD_FULL', `Bulkhead is full (${details.maxConcurrent} running, ${details.maxQueue} queued).`, {
      details,
    });
    this.name = 'BulkheadFullError';
  }
}

/** A rate limit (ours or the remote side's) was hit; `retryAfterMs` says when to try again. */
export class RateLimitedError extends WeirError<'WEIR_RATE_LIMITED'> {
  constructor(retryAfterMs: number, fields: WeirErrorFields = {}) {
    super('WEIR_RATE_LIMITED', `Rate limited; retry after ${Math.ceil(retryAfterMs)} ms.`, { ...fields, retryAfterMs });
    this.name = 'RateLimitedError';
  }
}

/** Why a retry policy gave up. */
export type GiveUpReason = 'attempts' | 'budget' | 'deadline';

/** A retry policy gave up: `attempts` calls were made, `cause` is the last failure. */
export class RetriesExhaustedError extends WeirError<'WEIR_RETRIES_EXHAUSTED'> {
  constructor(
    readonly attempts: number,
    readonly reason: GiveUpReason,
    lastError: unknown,
  ) {
    const inner = lastError as { classification?: Classification; retryAfterMs?: number } | undefined;
    super('WEIR_RETRIES_EXHAUSTED', `Gave up after ${attempts} attempt(s) (${reason}).`, {
      cause: lastError,
      ...(inner?.classification === undefined ? {} : { classification: inner.classification }),
      ...(inner?.retryAfterMs === undefined ? {} : { retryAfterMs: inner.retryAfterMs }),
      details: { attempts, reason },
    });
    this.name = 'RetriesExhaustedError';
  }
}

/**
 * Marks any error as permanent: no policy retries it and no breaker counts it.
 * @example `throw permanent(new Error('customer does not exist'))`
 */
export function permanent(cause: unknown, message = 'Permanent failure.'): WeirError<'WEIR_PERMANENT'> {
  const text = cause instanceof Error ? cause.message : message;
  return new WeirError('WEIR_PERMANENT', text, { cause });
}
