import { InvalidOptionError } from '../../errors.js';
import { createRedactor, type Redactor } from '../../security/redact.js';
import { type Dispatch, type DispatchController, type DispatchHandler, enter, ForwardHandler, type Interceptor, type WeirDispatchOptions, withHeaders } from '../call.js';

/**
 * A tracing hook for outbound HTTP, typed without any tracing library: `connection({ tracing })`
 * calls it once per attempt on the wire. `otelTracing()` from `weir/observability/otel` implements
 * it with OpenTelemetry; any other tracer can too. Without it nothing is called and nothing is added.
 */
export interface HttpTracing {
  /**
   * Called once per call, synchronously when the connection's method is called (so in the caller's
   * async context): returns an opaque parent handed back in {@link HttpTraceAttempt.context}.
   */
  captureContext?(): unknown;
  /**
   * Called as an attempt goes on the wire (after the rate-limit gate, below every retry): may add
   * request headers to `headers` (e.g. `traceparent`, `tracestate`), and returns the function to
   * call once when the attempt ends, or `undefined`. Must not throw (a throw is ignored).
   */
  startAttempt(attempt: HttpTraceAttempt, headers: Record<string, string>): ((end: HttpTraceEnd) => void) | undefined;
}

/** What a tracing hook learns of an attempt. Nothing in it holds a secret. */
export interface HttpTraceAttempt {
  /** The connection's name. */
  readonly system: string;
  readonly method: string;
  /** Scheme, host and port: `https://api.esp.example`. */
  readonly origin: string;
  /** Path and query, sensitive query values redacted. */
  readonly path: string;
  /** 1-based attempt number of the call. */
  readonly attempt: number;
  /** The attempt's `X-Request-Id`. */
  readonly requestId: string | undefined;
  /** The call's correlation id (the message it serves). */
  readonly correlationId: string | undefined;
  /** What `captureContext()` returned when the call was made. */
  readonly context: unknown;
  /** A `traceparent` the caller passed explicitly (`RequestOptions.traceparent`), to continue instead. */
  readonly traceparent: string | undefined;
}

/** How an attempt ended: the response status when there was one, the error when it failed in transit. */
export interface HttpTraceEnd {
  readonly status: number | null;
  /** A transport error, timeout or cancellation (`code` is a Weir error code when known). */
  readonly error: Error | undefined;
}

/** Options of {@link traceAttempts}. */
export interface TraceInterceptorOptions {
  /** The connection name given to the hook. Default `''`. */
  system?: string;
  /** Redacts the path's query. Default `createRedactor()`. */
  redactor?: Redactor;
}

/**
 * Calls an {@link HttpTracing} hook for each attempt: one span per attempt, its context in the
 * request headers. `connection({ tracing })` places it lowest in the chain, so only attempts that
 * reach the wire are traced. Import from `weir/http`.
 * @throws InvalidOptionError (`tracing`) when the hook has no `startAttempt` function.
 * @example
 * ```ts
 * const dispatcher = new Agent().compose(traceAttempts(otelTracing(), { system: 'esp' }), requestId());
 * ```
 */
export function traceAttempts(tracing: HttpTracing, options: TraceInterceptorOptions = {}): Interceptor {
  if (!isHttpTracing(tracing)) throw new InvalidOptionError('tracing', 'a tracing hook with a startAttempt function', tracing);
  const system = options.system ?? '';
  const redactor = options.redactor ?? createRedactor();
  return (dispatch: Dispatch): Dispatch =>
    function weirTrace(opts, handler) {
      const { call, opts: o, handler: h } = enter(opts as WeirDispatchOptions, handler);
      const added: Record<string, string> = {};
      let end: ((end: HttpTraceEnd) => void) | undefined;
      try {
        end = tracing.startAttempt(
          {
            system,
            method: call.method,
            origin: call.origin,
            path: call.redactedPath(redactor),
            attempt: call.attempt,
            requestId: call.requestId,
            correlationId: call.options.correlationId,
            context: call.options.traceContext ?? tracing.captureContext?.(),
            traceparent: call.options.traceparent,
          },
          added,
        );
      } catch {
        end = undefined; // tracing never breaks a call
      }
      let any = false;
      for (const _ in added) {
        any = true;
        break;
      }
      const next = any ? { ...o, headers: withHeaders(o, added) } : o;
      return dispatch(next, typeof end === 'function' ? new TraceHandler(h, end) : h);
    };
}

/** True when `value` looks like an {@link HttpTracing} hook. */
export function isHttpTracing(value: unknown): value is HttpTracing {
  return typeof value === 'object' && value !== null && typeof (value as Partial<HttpTracing>).startAttempt === 'function';
}

/** Ends the attempt's span once: at the end of the response, or at its error. */
class TraceHandler extends ForwardHandler {
  private status: number | null = null;
  private done = false;

  constructor(
    next: DispatchHandler,
    private readonly end: (end: HttpTraceEnd) => void,
  ) {
    super(next);
  }

  override onResponseStart(controller: DispatchController, status: number, headers: Record<string, string | string[] | undefined>, message?: string): void {
    this.status = status;
    this.next.onResponseStart?.(controller, status, headers, message);
  }

  override onResponseEnd(controller: DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    this.finish(undefined);
    this.next.onResponseEnd?.(controller, trailers);
  }

  override onResponseError(controller: DispatchController, error: Error): void {
    this.finish(error);
    this.next.onResponseError?.(controller, error);
  }

  private finish(error: Error | undefined): void {
    if (this.done) return;
    this.done = true;
    try {
      this.end({ status: this.status, error });
    } catch {
      // tracing never breaks a call
    }
  }
}
