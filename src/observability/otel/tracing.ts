import {
  type Attributes,
  type Context,
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import { InvalidOptionError } from '../../errors.js';
import type { HttpTraceAttempt, HttpTraceEnd, HttpTracing } from '../../http/interceptors/trace.js';
import type { HandlerContext, Message, QueueTracing } from '../../queue/types.js';
import { w3cTraceContext } from './w3c.js';

/** Options of {@link otelTracing}. */
export interface OtelTracingOptions {
  /** Where spans go. Default `trace.getTracer('weir')` (the global provider, also one registered later). */
  tracer?: Tracer;
  /**
   * How the context travels in request and message headers. Default: W3C Trace Context
   * (`traceparent`, `tracestate`), built in. Pass `propagation` from `@opentelemetry/api` to use the
   * globally registered propagator instead (e.g. with baggage).
   */
  propagator?: TextMapPropagator;
}

/** Both tracing hooks, on one object: give it to `connection({ tracing })` and `createQueue(store, { tracing })`. */
export interface OtelTracing extends HttpTracing, QueueTracing {
  readonly tracer: Tracer;
  readonly propagator: TextMapPropagator;
}

const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'QUERY', 'TRACE']);

/**
 * OpenTelemetry spans and W3C trace context for Weir connections and queues, on
 * `@opentelemetry/api` (an optional peer dependency: `npm i @opentelemetry/api`).
 *
 * - HTTP: one `CLIENT` span per attempt on the wire, named `HTTP <METHOD>`, child of the context
 *   active when the call was made (or of the call's `traceparent` option); its context goes out in
 *   `traceparent` / `tracestate`. Attributes: `http.request.method`, `url.full` (sensitive query
 *   values redacted), `server.address`, `server.port`, `http.response.status_code`,
 *   `http.request.resend_count`, `weir.system`, `weir.attempt`, `weir.request_id`,
 *   `weir.correlation_id`; status `ERROR` with `error.type` for a status >= 400 or a transport error.
 * - Queue: `enqueue` records the active context in the message headers; each handler invocation
 *   runs inside a `CONSUMER` span `process <topic>` whose parent is that context (a new trace when
 *   the message carries none), and is the active context for the handler, so its HTTP calls
 *   continue the trace.
 *
 * No header value, body or payload is ever recorded. Import from `weir/observability/otel`.
 * @throws InvalidOptionError (`tracer`, `propagator`) for an option of the wrong shape.
 * @example
 * ```ts
 * const tracing = otelTracing();
 * const esp = connection({ name: 'esp', baseUrl, tracing });
 * const queue = createQueue(store, { tracing });
 * ```
 */
export function otelTracing(options: OtelTracingOptions = {}): OtelTracing {
  const tracer = options.tracer ?? trace.getTracer('weir');
  if (typeof tracer?.startSpan !== 'function') throw new InvalidOptionError('tracer', 'an OpenTelemetry Tracer', tracer);
  const propagator = options.propagator ?? w3cTraceContext;
  if (typeof propagator?.inject !== 'function' || typeof propagator.extract !== 'function') {
    throw new InvalidOptionError('propagator', 'an OpenTelemetry TextMapPropagator', propagator);
  }
  const servers = new Map<string, Attributes>();

  return {
    tracer,
    propagator,

    captureContext(): Context {
      return context.active();
    },

    startAttempt(a: HttpTraceAttempt, headers: Record<string, string>): (end: HttpTraceEnd) => void {
      let parent = isContext(a.context) ? a.context : context.active();
      if (a.traceparent !== undefined) parent = propagator.extract(parent, { traceparent: a.traceparent }, defaultTextMapGetter);
      const known = KNOWN_METHODS.has(a.method);
      const attributes: Attributes = {
        'http.request.method': known ? a.method : '_OTHER',
        ...(known ? {} : { 'http.request.method_original': a.method }),
        'url.full': a.origin + a.path,
        ...server(servers, a.origin),
        'weir.system': a.system,
        'weir.attempt': a.attempt,
        ...(a.attempt > 1 ? { 'http.request.resend_count': a.attempt - 1 } : {}),
        ...(a.requestId === undefined ? {} : { 'weir.request_id': a.requestId }),
        ...(a.correlationId === undefined ? {} : { 'weir.correlation_id': a.correlationId }),
      };
      const span = tracer.startSpan(`HTTP ${a.method}`, { kind: SpanKind.CLIENT, attributes }, parent);
      propagator.inject(trace.setSpan(parent, span), headers, defaultTextMapSetter);
      return (end) => endAttempt(span, end);
    },

    injectContext(_topic: string, headers: Record<string, string>): void {
      propagator.inject(context.active(), headers, defaultTextMapSetter);
    },

    runHandler(message: Message, ctx: HandlerContext, handler: () => unknown): Promise<unknown> {
      const parent = propagator.extract(ROOT_CONTEXT, message.headers, defaultTextMapGetter);
      const span = tracer.startSpan(
        `process ${message.topic}`,
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            'messaging.system': 'weir',
            'messaging.operation.type': 'process',
            'messaging.operation.name': 'process',
            'messaging.destination.name': message.topic,
            'messaging.message.id': message.id,
            'weir.delivery': message.delivery,
            'weir.attempt': ctx.attempt,
            'weir.worker_id': ctx.workerId,
          },
        },
        parent,
      );
      return context.with(trace.setSpan(parent, span), async () => {
        try {
          return await handler();
        } catch (error) {
          fail(span, errorType(error));
          throw error;
        } finally {
          span.end();
        }
      });
    },
  };
}

function endAttempt(span: Span, { status, error }: HttpTraceEnd): void {
  if (status !== null) span.setAttribute('http.response.status_code', status);
  if (error !== undefined) fail(span, errorType(error));
  else if (status !== null && status >= 400) fail(span, String(status));
  span.end();
}

/** Marks a span failed. Only a code goes in: error messages may quote what they should not. */
function fail(span: Span, type: string): void {
  span.setAttribute('error.type', type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
}

function errorType(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code !== '') return code;
  return error instanceof Error ? error.name : '_OTHER';
}

/** `server.address` and `server.port` of an origin, parsed once per origin. */
function server(cache: Map<string, Attributes>, origin: string): Attributes {
  let attrs = cache.get(origin);
  if (attrs === undefined) {
    try {
      const u = new URL(origin);
      attrs = { 'server.address': u.hostname.replace(/^\[(.*)\]$/, '$1'), 'server.port': u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port) };
    } catch {
      attrs = {};
    }
    if (cache.size < 1000) cache.set(origin, attrs);
  }
  return attrs;
}

function isContext(value: unknown): value is Context {
  return typeof value === 'object' && value !== null && typeof (value as Partial<Context>).getValue === 'function' && typeof (value as Partial<Context>).setValue === 'function';
}
