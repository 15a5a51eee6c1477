import { WeirError, type WeirErrorCode, type WeirErrorFields, isWeirError } from '../errors.js';

/** The media type of every error body Weir's server middleware answers with (RFC 9457). */
export const PROBLEM_JSON = 'application/problem+json';

/** Prefix of the `type` URI of Weir's own problems, e.g. `urn:weir:problem:idempotency-key-missing`. */
export const PROBLEM_TYPE_PREFIX = 'urn:weir:problem:';

/**
 * An RFC 9457 problem: `type`, `title`, `status`, `detail`, `instance`, plus any extension members
 * (Weir adds `code`, its stable `WEIR_*` error code, and fields such as `policy` or `retryAfter`).
 */
export interface ProblemDetails {
  /** A URI naming the problem type. Default `about:blank`. */
  readonly type?: string;
  /** A short, human-readable summary of the problem type. */
  readonly title: string;
  /** The HTTP status code. */
  readonly status: number;
  /** A human-readable explanation of this occurrence (never a secret). */
  readonly detail?: string;
  /** A URI reference naming this occurrence. */
  readonly instance?: string;
  readonly [extension: string]: unknown;
}

/**
 * Builds an `application/problem+json` response. Import from `weir/server`.
 * @example
 * ```ts
 * return problem({ status: 404, title: 'Not Found', detail: 'No order 42.' });
 * ```
 */
export function problem(details: ProblemDetails, headers?: ConstructorParameters<typeof Headers>[0]): Response {
  const h = new Headers(headers);
  h.set('content-type', PROBLEM_JSON);
  h.set('cache-control', 'no-store');
  return new Response(JSON.stringify({ type: 'about:blank', ...details }), { status: details.status, headers: h });
}

/** Fields of an {@link HttpError} besides its code. */
export interface HttpErrorFields extends WeirErrorFields {
  /** Response headers (Retry-After, WWW-Authenticate, …). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Extension members of the problem body (never secrets). */
  readonly extensions?: Readonly<Record<string, unknown>>;
  /** Problem `title`; default: the status text. */
  readonly title?: string;
}

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  410: 'Gone',
  412: 'Precondition Failed',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/**
 * A {@link WeirError} with an HTTP meaning: thrown by (or inside) server middleware, it becomes an
 * `application/problem+json` response with `status`, `headers` and `code`. Import from `weir/server`.
 *
 * @example
 * ```ts
 * throw new HttpError('WEIR_FORBIDDEN', 403, 'Missing scope orders:write.', { extensions: { scope: 'orders:write' } });
 * ```
 */
export class HttpError<C extends WeirErrorCode = WeirErrorCode> extends WeirError<C> {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly extensions: Readonly<Record<string, unknown>>;
  readonly title: string;

  constructor(code: C, status: number, message: string, fields: HttpErrorFields = {}) {
    super(code, message, { ...fields, details: { status, ...fields.details, ...fields.extensions } });
    this.name = 'HttpError';
    this.status = status;
    this.headers = fields.headers ?? {};
    this.extensions = fields.extensions ?? {};
    this.title = fields.title ?? titles[status] ?? 'Error';
  }

  /** The problem+json response for this error. */
  toResponse(): Response {
    return problem(
      {
        type: PROBLEM_TYPE_PREFIX + this.code.slice('WEIR_'.length).toLowerCase().replaceAll('_', '-'),
        title: this.title,
        status: this.status,
        detail: this.message,
        code: this.code,
        ...this.extensions,
      },
      this.headers,
    );
  }
}

/** True when `value` is an {@link HttpError} (across copies of the package). */
export function isHttpError(value: unknown): value is HttpError {
  return isWeirError(value) && typeof (value as { status?: unknown }).status === 'number' && typeof (value as { toResponse?: unknown }).toResponse === 'function';
}

/** The status other Weir errors map to when they escape into a response. */
const statusOf: Partial<Record<WeirErrorCode, number>> = {
  WEIR_RATE_LIMITED: 429,
  WEIR_TIMEOUT: 504,
  WEIR_BULKHEAD_FULL: 503,
  WEIR_CIRCUIT_OPEN: 503,
  WEIR_OVERLOADED: 503,
  WEIR_UNAUTHENTICATED: 401,
  WEIR_FORBIDDEN: 403,
  WEIR_IDEMPOTENCY_CONFLICT: 422,
  WEIR_IDEMPOTENCY_IN_FLIGHT: 409,
  WEIR_IDEMPOTENCY_KEY_MISSING: 400,
  WEIR_IDEMPOTENCY_KEY_INVALID: 400,
  WEIR_PRECONDITION_FAILED: 412,
  WEIR_PRECONDITION_REQUIRED: 428,
  WEIR_CURSOR_INVALID: 400,
  WEIR_VERSION_UNSUPPORTED: 400,
  WEIR_STORE: 503,
};

/**
 * The response for any error that escaped a handler or middleware: an {@link HttpError} answers
 * itself; a Weir error with an HTTP meaning (rate limited, timeout, bulkhead full, …) maps to its
 * status with `Retry-After` when known; anything else is a 500 whose body reveals nothing.
 */
export function errorResponse(err: unknown): Response {
  if (isHttpError(err)) return err.toResponse();
  if (isWeirError(err)) {
    const status = statusOf[err.code];
    if (status !== undefined) {
      const headers: Record<string, string> = {};
      if (err.retryAfterMs !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(err.retryAfterMs / 1000)));
      else if (status === 503) headers['retry-after'] = '1';
      return new HttpError(err.code, status, err.message, { headers }).toResponse();
    }
  }
  return problem({ status: 500, title: 'Internal Server Error' });
}
