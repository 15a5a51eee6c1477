import { randomUUID } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { InvalidOptionError } from '../../errors.js';
import { type Clock, systemClock } from '../../internal/clock.js';
import { finite } from '../../internal/validate.js';
import type { AuditSink } from '../../observability/audit.js';
import { type Counter, type Histogram, HTTP_METRICS, type MetricMeter, noopMeter, statusClass } from '../../observability/metrics.js';
import { createRedactor, type Redactor } from '../../security/redact.js';
import type { AuditEntry } from '../../store/audit.js';
import { type Dispatch, type DispatchController, type DispatchHandler, enter, ForwardHandler, type HttpCall, type Interceptor, type WeirDispatchOptions } from '../call.js';
import { isTimeout, redactExcerpt } from '../errors.js';

/** `node:diagnostics_channel` name: a message per attempt start and end ({@link HttpAttemptDiagnostic}). */
export const HTTP_ATTEMPT_CHANNEL = 'weir:http:attempt';
const diagnostics = channel(HTTP_ATTEMPT_CHANNEL);

/** Messages on {@link HTTP_ATTEMPT_CHANNEL}. Paths are redacted; no header or body is included. */
export type HttpAttemptDiagnostic =
  | {
      readonly type: 'start';
      readonly system: string;
      readonly method: string;
      readonly path: string;
      readonly requestId: string | undefined;
      readonly attempt: number;
      readonly correlationId: string | undefined;
    }
  | { readonly type: 'end'; readonly entry: AuditEntry };

/** The `outcome` of an outbound audit entry. */
export type AttemptOutcome = 'ok' | 'http_error' | 'timeout' | 'network_error' | 'rejected';

/** Options of {@link audit}. */
export interface AuditInterceptorOptions {
  /** The connection (system) name written in every entry. */
  system: string;
  /** Where entries go, e.g. an `auditTrail()` from `weir/observability`. Default: none (metrics and diagnostics only). */
  sink?: AuditSink;
  /** Redacts paths and body excerpts. Default `createRedactor()`. */
  redactor?: Redactor;
  /** Keep bounded, redacted excerpts of request and response bodies in `detail`. Default false. */
  bodies?: boolean | { maxBytes?: number };
  /** Records `weir_api_requests_total` and `weir_http_attempt_duration_seconds`. Default: no-op. */
  metrics?: MetricMeter;
  /** Entry timestamps. Default: the system clock (durations use the monotonic clock). */
  clock?: Clock;
}

/** The interceptor {@link audit} returns; `unsent()` records an attempt that failed before it reached the wire. */
export interface AuditInterceptor extends Interceptor {
  /** Records an attempt that never reached this interceptor (refused by a breaker, bulkhead or limiter, or timed out waiting). */
  unsent(call: HttpCall, error: unknown): void;
}

/**
 * One audit entry per request on the wire, as an undici interceptor: `seq` (by the store), `ts`,
 * direction `outbound`, system, the attempt's `X-Request-Id`, method, path (sensitive query values
 * redacted), status or null, outcome (`ok | http_error | timeout | network_error | rejected`),
 * attempt number, duration, correlation id and Idempotency-Key. No header is recorded; body
 * excerpts only with `bodies`, bounded and redacted. Entries go to the `sink` (a batching writer: no
 * I/O on the request path); attempt metrics and `weir:http:attempt` diagnostics are published too.
 *
 * Place it lowest in the chain (just above the dispatcher) so it times the exchange itself.
 * Import from `weir/http`.
 * @throws InvalidOptionError (`audit.system`, `audit.bodies.maxBytes`).
 * @example
 * ```ts
 * const trail = auditTrail({ store });
 * const dispatcher = new Agent().compose(audit({ system: 'esp', sink: trail }), requestId());
 * ```
 */
export function audit(options: AuditInterceptorOptions): AuditInterceptor {
  const a = new Auditor(options);
  const interceptor = (dispatch: Dispatch): Dispatch =>
    function weirAudit(opts, handler) {
      if (a.sink === undefined && a.meter === noopMeter && !diagnostics.hasSubscribers) return dispatch(opts, handler);
      const { call, opts: o, handler: h } = enter(opts as WeirDispatchOptions, handler);
      call.recorded = true;
      return dispatch(o, new AuditHandler(h, a, call, a.requestExcerpt(o.body)));
    };
  return Object.assign(interceptor, { unsent: (call: HttpCall, error: unknown) => a.unsent(call, error) });
}

/** What {@link audit} shares across calls. */
class Auditor {
  readonly system: string;
  readonly sink: AuditSink | undefined;
  readonly redactor: Redactor;
  readonly maxBody: number;
  readonly meter: MetricMeter;
  readonly clock: Clock;
  private readonly requests: Counter;
  private readonly durations: Histogram;
  private readonly rejections: Counter;

  constructor(o: AuditInterceptorOptions) {
    if (typeof o?.system !== 'string' || o.system === '') throw new InvalidOptionError('audit.system', 'a non-empty string', o?.system);
    this.system = o.system;
    this.sink = o.sink;
    this.redactor = o.redactor ?? createRedactor();
    const b = o.bodies;
    this.maxBody = b === undefined || b === false ? 0 : b === true ? 1024 : finite(b.maxBytes ?? 1024, 'audit.bodies.maxBytes', 0);
    this.meter = o.metrics ?? noopMeter;
    this.clock = o.clock ?? systemClock;
    this.requests = this.meter.counter(HTTP_METRICS.requests, { description: 'HTTP requests sent, one per attempt', labelNames: ['system', 'method', 'status_class'] });
    this.rejections = this.meter.counter(HTTP_METRICS.rejected, { description: 'Attempts refused locally', labelNames: ['system', 'reason'] });
    this.durations = this.meter.histogram(HTTP_METRICS.attemptDuration, { description: 'Duration of one HTTP attempt', unit: 's', labelNames: ['system', 'method', 'outcome'] });
  }

  requestExcerpt(body: unknown): string | undefined {
    if (this.maxBody === 0 || body === undefined || body === null) return undefined;
    const raw = typeof body === 'string' ? body : body instanceof Uint8Array ? Buffer.from(body).toString('utf8') : undefined;
    if (raw === undefined || raw === '') return raw === undefined ? '[stream]' : undefined;
    return redactExcerpt(raw.length > this.maxBody * 4 ? raw.slice(0, this.maxBody * 4) : raw, this.maxBody, this.redactor, raw.length > this.maxBody * 4);
  }

  start(call: HttpCall): void {
    if (!diagnostics.hasSubscribers) return;
    diagnostics.publish({
      type: 'start',
      system: this.system,
      method: call.method,
      path: call.redactedPath(this.redactor),
      requestId: call.requestId,
      attempt: call.attempt,
      correlationId: call.options.correlationId,
    } satisfies HttpAttemptDiagnostic);
  }

  record(
    call: HttpCall,
    ts: number,
    durationMs: number,
    status: number | null,
    outcome: AttemptOutcome,
    detail: Record<string, unknown>,
    requestId: string | undefined = call.requestId,
  ): void {
    if (this.meter !== noopMeter) {
      if (outcome !== 'rejected') this.requests.add(1, { system: this.system, method: call.method, status_class: statusClass(status) });
      this.durations.record(durationMs / 1000, { system: this.system, method: call.method, outcome });
    }
    if (this.sink === undefined && !diagnostics.hasSubscribers) return;
    const entry: AuditEntry = {
      ts,
      direction: 'outbound',
      system: this.system,
      requestId: requestId ?? randomUUID(),
      method: call.method,
      path: call.redactedPath(this.redactor),
      status,
      outcome,
      attempt: call.attempt,
      durationMs,
      correlationId: call.options.correlationId ?? null,
      idempotencyKey: call.idempotencyKey ?? null,
      detail,
    };
    this.sink?.record(entry);
    if (diagnostics.hasSubscribers) diagnostics.publish({ type: 'end', entry } satisfies HttpAttemptDiagnostic);
  }

  unsent(call: HttpCall, error: unknown): void {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'WEIR_CANCELLED') return; // the caller gave up before anything went out: not an outbound attempt
    const outcome: AttemptOutcome = isTimeout(error) ? 'timeout' : 'rejected';
    if (outcome === 'rejected' && this.meter !== noopMeter) this.rejections.add(1, { system: this.system, reason: typeof code === 'string' ? code : 'UNKNOWN' });
    // The attempt carried no X-Request-Id (it never went out): the entry gets an id of its own.
    this.record(call, this.clock.now(), 0, null, outcome, errorDetail(error), randomUUID());
  }
}

function errorDetail(error: unknown): Record<string, unknown> {
  const e = error as { code?: unknown; errorCode?: unknown; retryAfterMs?: unknown; details?: { sent?: unknown } } | null;
  return {
    error: typeof e?.code === 'string' ? e.code : 'UNKNOWN',
    ...(typeof e?.errorCode === 'string' ? { errorCode: e.errorCode } : {}),
    ...(typeof e?.retryAfterMs === 'number' ? { retryAfterMs: e.retryAfterMs } : {}),
  };
}

/** Watches one exchange and records it when it ends. */
class AuditHandler extends ForwardHandler {
  private readonly ts: number;
  private readonly started = performance.now();
  private status: number | null = null;
  private chunks: Buffer[] | undefined;
  private kept = 0;
  private done = false;

  constructor(
    next: DispatchHandler,
    private readonly a: Auditor,
    private readonly call: HttpCall,
    private readonly requestBody: string | undefined,
  ) {
    super(next);
    this.ts = a.clock.now();
    a.start(call);
  }

  override onResponseStart(controller: DispatchController, status: number, headers: Record<string, string | string[] | undefined>, message?: string): void {
    this.status = status;
    if (this.a.maxBody > 0) this.chunks = [];
    this.next.onResponseStart?.(controller, status, headers, message);
  }

  override onResponseData(controller: DispatchController, chunk: Buffer): void {
    const chunks = this.chunks;
    if (chunks !== undefined && this.kept < this.a.maxBody * 4) {
      const part = chunk.subarray(0, this.a.maxBody * 4 - this.kept);
      chunks.push(part);
      this.kept += part.length;
    }
    this.next.onResponseData?.(controller, chunk);
  }

  override onResponseEnd(controller: DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    this.finish(null);
    this.next.onResponseEnd?.(controller, trailers);
  }

  override onResponseError(controller: DispatchController, error: Error): void {
    this.finish(error);
    this.next.onResponseError?.(controller, error);
  }

  private finish(error: Error | null): void {
    if (this.done) return;
    this.done = true;
    const status = this.status;
    let outcome: AttemptOutcome;
    let detail: Record<string, unknown> = {};
    if (error === null) outcome = status !== null && status < 400 ? 'ok' : 'http_error';
    else {
      outcome = isTimeout(error) ? 'timeout' : 'network_error';
      detail = errorDetail(error);
      if (detail.error === 'UNKNOWN' || detail.error === undefined) detail = { ...detail, error: 'WEIR_NETWORK' };
      if ((error as { code?: unknown }).code === 'WEIR_CANCELLED') detail = { ...detail, cancelled: true };
    }
    const rl = this.call.rateLimit;
    if (rl !== undefined && status !== null) {
      detail = { ...detail, rateLimit: { source: rl.source, remaining: rl.remaining, holdUntil: rl.holdUntil, capped: rl.capped } };
    }
    if (this.requestBody !== undefined) detail = { ...detail, requestBody: this.requestBody };
    if (this.chunks !== undefined && this.kept > 0) {
      const raw = Buffer.concat(this.chunks).toString('utf8');
      detail = { ...detail, responseBody: redactExcerpt(raw, this.a.maxBody, this.a.redactor, this.kept >= this.a.maxBody * 4) };
    }
    this.a.record(this.call, this.ts, performance.now() - this.started, status, outcome, detail);
  }
}
