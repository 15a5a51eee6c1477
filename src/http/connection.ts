import { performance } from 'node:perf_hooks';
import { Agent, type Dispatcher } from 'undici';
import { InvalidOptionError } from '../errors.js';
import { type Clock, systemClock } from '../internal/clock.js';
import { type Histogram, HTTP_METRICS, type MetricMeter, noopMeter } from '../observability/metrics.js';
import { Deadline } from '../policy/deadline.js';
import type { BreakerState } from '../policy/circuit-breaker.js';
import { RetryPolicy } from '../policy/retry.js';
import { type RetryBudget, type RetryBudgetSnapshot, retryBudget } from '../policy/retry-budget.js';
import { createRedactor, type Redactor } from '../security/redact.js';
import type { TlsMaterial, TlsSource } from './auth.js';
import { CallHandler } from './body.js';
import { DEAD_CONTROLLER, HttpCall, type Interceptor } from './call.js';
import {
  acceptOption,
  type ConnectionOptions,
  idempotencyKeyOption,
  optionalString,
  type RequestInit,
  type RequestOptions,
} from './connection-options.js';
import { observe } from './connection-metrics.js';
import { audit as auditInterceptor } from './interceptors/audit.js';
import { auth as authInterceptor } from './interceptors/auth.js';
import { idempotencyKey } from './interceptors/idempotency.js';
import { rateLimit } from './interceptors/rate-limit.js';
import { requestId } from './interceptors/request-id.js';
import { resilience, type ResilienceInterceptor } from './interceptors/resilience.js';
import { type HttpTracing, isHttpTracing, traceAttempts } from './interceptors/trace.js';
import { ConnectionLimits, type ConnectionLimitsState } from './limits.js';
import { encodeBody, type HttpResponse, json, type RequestBody, type ResponsePromise, responsePromise, withQuery } from './response.js';

/** A snapshot of a connection's protection state. */
export interface ConnectionState {
  readonly name: string;
  /** The breaker's state, when there is a breaker. */
  readonly breaker: BreakerState | undefined;
  /** What the server said about its limits, and the hold. */
  readonly limits: ConnectionLimitsState;
  /** Calls running and queued in the bulkhead. */
  readonly bulkhead: { readonly running: number; readonly queued: number } | undefined;
  /** The retry budget's window. */
  readonly retryBudget: RetryBudgetSnapshot | undefined;
}

/**
 * A resilient HTTP client for one remote system. Every call runs through the policy preset
 * (bulkhead → deadline → retry → rate-limit hold → circuit breaker → per-attempt timeout) and then,
 * per attempt, through undici interceptors: Idempotency-Key, auth, `X-Request-Id` + deadline header
 * (+ `traceparent`), the rate-limit gate that learns from every response, and the audit entry.
 * See docs/http.md. Import from `weir/http`.
 *
 * @throws InvalidOptionError at construction for a bad option (named); the methods reject with
 * `WEIR_HTTP_STATUS`, `WEIR_NETWORK`, `WEIR_TIMEOUT`, `WEIR_CANCELLED`, `WEIR_CIRCUIT_OPEN`,
 * `WEIR_BULKHEAD_FULL`, `WEIR_RATE_LIMITED` (with `retryAfterMs`), or `InvalidOptionError` for a bad call option.
 * @example
 * ```ts
 * const esp = connection({ name: 'esp', baseUrl: process.env.ESP_BASE_URL!, auth: apiKey, audit: trail });
 * const contact = await esp.get(`/v3/contacts/${id}`).json<Contact>();
 * await esp.post('/v3/contacts', { email }, { correlationId: message.id, idempotencyKey: `${message.id}:create`, deadline });
 * ```
 */
export function connection(options: ConnectionOptions): Connection {
  return new Connection(options);
}

export class Connection {
  readonly name: string;
  readonly baseUrl: URL;
  /** The rate-limit state shared by every call of this connection. */
  readonly limits: ConnectionLimits;
  /** The policy instances, for events (`onRetry`, `onStateChange`, …). */
  readonly policies: Pick<ResilienceInterceptor, 'bulkhead' | 'deadlineMs' | 'retry' | 'breaker' | 'attemptTimeout'> & { readonly budget: RetryBudget | undefined };
  private readonly origin: string;
  private readonly basePath: string;
  private readonly defaultHeaders: Readonly<Record<string, string>>;
  private readonly clock: Clock;
  private readonly meter: MetricMeter;
  private readonly callDuration: Histogram;
  private readonly chain: Interceptor[];
  private readonly tracing: HttpTracing | undefined;
  private readonly ownsAgent: boolean;
  private agent: Dispatcher;
  private composed: Dispatcher;
  private readonly subscriptions: Array<{ dispose(): void }> = [];
  private closed = false;

  constructor(o: ConnectionOptions) {
    if (typeof o !== 'object' || o === null) throw new InvalidOptionError('connection', 'an options object', o);
    this.name = optionalString(o.name, 'connection.name') ?? '';
    if (this.name === '') throw new InvalidOptionError('connection.name', 'a non-empty string', o.name);
    this.baseUrl = parseBaseUrl(o.baseUrl);
    this.origin = this.baseUrl.origin;
    this.basePath = this.baseUrl.pathname.replace(/\/+$/, '');
    this.defaultHeaders = Object.freeze(lowerCase(o.headers ?? {}, 'connection.headers'));
    this.clock = o.clock ?? systemClock;
    this.meter = o.metrics ?? noopMeter;
    const redactor = isRedactor(o.redact) ? o.redact : createRedactor(o.redact ?? {});
    this.limits = o.limits instanceof ConnectionLimits ? o.limits : new ConnectionLimits({ clock: this.clock, ...o.limits });

    const p = o.policy ?? {};
    const budget = p.retry instanceof RetryPolicy || p.retry === false || p.budget === false ? undefined : p.budget === undefined ? retryBudget({ clock: this.clock }) : 'tryAcquireRetry' in p.budget ? p.budget : retryBudget({ clock: this.clock, ...p.budget });
    const sink = o.audit === undefined || o.audit === false ? undefined : 'sink' in o.audit ? o.audit.sink : o.audit;
    const audit = auditInterceptor({
      system: this.name,
      ...(sink === undefined ? {} : { sink }),
      redactor,
      bodies: o.audit !== undefined && o.audit !== false && 'sink' in o.audit ? (o.audit.bodies ?? false) : false,
      metrics: this.meter,
      clock: this.clock,
    });
    const policies = resilience({
      ...(p.bulkhead === undefined ? {} : { bulkhead: p.bulkhead }),
      ...(p.deadlineMs === undefined ? {} : { deadlineMs: p.deadlineMs }),
      retry: p.retry === false || p.retry instanceof RetryPolicy ? p.retry : { ...(budget === undefined ? { budget: false as const } : { budget }), ...p.retry },
      limits: this.limits,
      ...(p.breaker === undefined ? {} : { breaker: p.breaker }),
      attemptTimeoutMs: p.attemptTimeoutMs ?? o.timeoutMs ?? 10_000,
      failOn: (status, _headers, call) => !call.accepts(status),
      system: this.name,
      redactor,
      ...(o.maxErrorBodyBytes === undefined ? {} : { maxErrorBodyBytes: o.maxErrorBodyBytes }),
      clock: this.clock,
      onUnsent: (call, error) => audit.unsent(call, error),
    });
    this.policies = {
      bulkhead: policies.bulkhead,
      deadlineMs: policies.deadlineMs,
      retry: policies.retry,
      breaker: policies.breaker,
      attemptTimeout: policies.attemptTimeout,
      budget,
    };
    if (o.tracing !== undefined && typeof o.tracing !== 'boolean' && !isHttpTracing(o.tracing)) {
      throw new InvalidOptionError('connection.tracing', 'a boolean or a tracing hook with a startAttempt function', o.tracing);
    }
    this.tracing = typeof o.tracing === 'object' ? o.tracing : undefined;
    // undici composes the first interceptor innermost: the audit sees the wire, resilience wraps it all.
    this.chain = [
      ...(this.tracing === undefined ? [] : [traceAttempts(this.tracing, { system: this.name, redactor })]),
      audit,
      rateLimit(this.limits),
      requestId({
        ...(o.requestIdHeader === undefined ? {} : { header: o.requestIdHeader }),
        ...(o.deadlineHeader === undefined ? {} : { deadlineHeader: o.deadlineHeader }),
        tracing: o.tracing === true,
      }),
      ...(o.auth === undefined ? [] : [authInterceptor(o.auth)]),
      idempotencyKey(o.idempotency ?? {}),
      policies,
    ];
    if (o.dispatcher !== undefined && o.tls !== undefined) throw new InvalidOptionError('connection.tls', 'no tls when a dispatcher is given', o.tls);
    this.ownsAgent = o.dispatcher === undefined;
    this.agent = o.dispatcher ?? newAgent(o.agent, o.tls);
    this.composed = this.agent.compose(this.chain);
    const tls = o.tls as TlsSource | undefined;
    if (tls !== undefined && typeof tls.current === 'function' && typeof tls.onChange === 'function') {
      this.subscriptions.push(tls.onChange(() => this.rotate(o.agent, tls)));
    }
    this.subscriptions.push(...observe(this.name, this.meter, this.policies, this.limits));
    this.callDuration = this.meter.histogram(HTTP_METRICS.callDuration, { description: 'Duration of one HTTP call, all attempts included', unit: 's', labelNames: ['system', 'method', 'outcome'] });
  }

  /** The composed undici dispatcher: usable with undici's own `request()`, `stream()`, `fetch()` (without the JSON helpers). */
  get dispatcher(): Dispatcher {
    return this.composed;
  }

  /** Sends a request. @see {@link Connection} for the errors. */
  request(init: RequestInit): ResponsePromise {
    return this.send(init.method, init.path, init.body, init);
  }

  get(path: string, options?: RequestOptions): ResponsePromise {
    return this.send('GET', path, undefined, options);
  }
  head(path: string, options?: RequestOptions): ResponsePromise {
    return this.send('HEAD', path, undefined, options);
  }
  delete(path: string, options?: RequestOptions): ResponsePromise {
    return this.send('DELETE', path, undefined, options);
  }
  post(path: string, body?: RequestBody, options?: RequestOptions): ResponsePromise {
    return this.send('POST', path, body, options);
  }
  put(path: string, body?: RequestBody, options?: RequestOptions): ResponsePromise {
    return this.send('PUT', path, body, options);
  }
  patch(path: string, body?: RequestBody, options?: RequestOptions): ResponsePromise {
    return this.send('PATCH', path, body, options);
  }

  /** Breaker, limits, bulkhead and retry budget, now. */
  state(): ConnectionState {
    const b = this.policies.bulkhead;
    return {
      name: this.name,
      breaker: this.policies.breaker?.state,
      limits: this.limits.state(),
      bulkhead: b === undefined ? undefined : { running: b.running, queued: b.queued },
      retryBudget: this.policies.budget?.snapshot(),
    };
  }

  /** Stops listening to TLS changes and closes the sockets once the calls in flight end. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.subscriptions.splice(0)) s.dispose();
    if (this.ownsAgent) await this.agent.close();
  }

  private send(method: string, path: string, body: RequestBody | undefined, o: RequestOptions = {}): ResponsePromise {
    const started = this.meter === noopMeter ? 0 : performance.now();
    let p: Promise<HttpResponse>;
    try {
      p = this.dispatch(method, path, body, o);
    } catch (err) {
      p = Promise.reject(err);
    }
    if (started !== 0) {
      p.then(
        () => this.callDuration.record((performance.now() - started) / 1000, { system: this.name, method, outcome: 'ok' }),
        (err: unknown) => this.callDuration.record((performance.now() - started) / 1000, { system: this.name, method, outcome: outcomeOf(err) }),
      );
    }
    return responsePromise(p);
  }

  private dispatch(method: string, path: string, body: RequestBody | undefined, o: RequestOptions): Promise<HttpResponse> {
    if (this.closed) throw new InvalidOptionError('connection', 'an open connection', 'closed');
    if (typeof path !== 'string') throw new InvalidOptionError('path', 'a string', path);
    // A bodiless call without headers of its own shares the connection's (frozen) headers: interceptors copy before adding.
    const own = o.headers !== undefined || body !== undefined || o.json !== undefined;
    const headers: Record<string, string> = own ? { ...this.defaultHeaders } : (this.defaultHeaders as Record<string, string>);
    if (o.headers !== undefined) for (const k in o.headers) if (o.headers[k] !== undefined) headers[k.toLowerCase()] = o.headers[k] as string;
    let payload: ReturnType<typeof encodeBody>;
    if (o.json !== undefined) {
      headers['content-type'] ??= 'application/json';
      payload = json(o.json);
    } else {
      payload = encodeBody(body, headers);
    }
    const target = withQuery(this.resolve(path), o.query);
    const deadline = o.deadline === undefined ? undefined : o.deadline instanceof Deadline ? o.deadline : Deadline.after(nonNegative(o.deadline), this.clock);
    const request = { origin: this.origin, path: target, method, body: payload };
    const call = new HttpCall(request, {
      correlationId: optionalString(o.correlationId, 'correlationId'),
      idempotencyKey: idempotencyKeyOption(o.idempotencyKey),
      operationId: optionalString(o.operationId, 'operationId'),
      idempotent: o.idempotent,
      retry: o.retry,
      deadline,
      traceparent: o.traceparent,
      traceContext: this.tracing?.captureContext?.(),
      accept: acceptOption(o.accept),
      key: o.key,
    });
    const options = { ...request, headers, weir: call } as Dispatcher.DispatchOptions;
    return new Promise<HttpResponse>((resolve, reject) => {
      const handler = new CallHandler(call, resolve, reject, o.signal);
      try {
        this.composed.dispatch(options, handler);
      } catch (err) {
        handler.onResponseError(DEAD_CONTROLLER, err as Error);
      }
    });
  }

  /** Joins the base path and a call's path: `https://h/v3` + `/contacts` → `/v3/contacts`. */
  private resolve(path: string): string {
    if (/^[a-z][a-z0-9+.-]*:/i.test(path) || path.startsWith('//')) throw new InvalidOptionError('path', 'a path relative to baseUrl', path);
    return `${this.basePath}${path.startsWith('/') ? path : `/${path}`}`;
  }

  private rotate(agentOptions: ConnectionOptions['agent'], tls: TlsSource): void {
    if (this.closed) return;
    const old = this.agent;
    this.agent = newAgent(agentOptions, tls);
    this.composed = this.agent.compose(this.chain);
    // In-flight requests finish on the old sockets; new ones use the new certificate.
    void old.close().catch(() => undefined);
  }
}

function newAgent(options: ConnectionOptions['agent'], tls: TlsMaterial | TlsSource | undefined): Agent {
  const material = tls === undefined ? undefined : typeof (tls as TlsSource).current === 'function' ? (tls as TlsSource).current() : (tls as TlsMaterial);
  if (material === undefined) return new Agent(options);
  const connect = {
    ...(typeof options?.connect === 'object' ? options.connect : {}),
    ...(material.cert === undefined ? {} : { cert: material.cert }),
    ...(material.key === undefined ? {} : { key: material.key }),
    ...(material.ca === undefined ? {} : { ca: material.ca }),
    ...(material.passphrase === undefined ? {} : { passphrase: material.passphrase }),
    ...(material.servername === undefined ? {} : { servername: material.servername }),
    rejectUnauthorized: material.rejectUnauthorized ?? true,
  };
  return new Agent({ ...options, connect });
}

function parseBaseUrl(value: unknown): URL {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new InvalidOptionError('connection.baseUrl', 'an absolute http(s) URL', value);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidOptionError('connection.baseUrl', 'an http: or https: URL', value);
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new InvalidOptionError('connection.baseUrl', 'a URL without query, fragment or credentials', url.origin + url.pathname);
  }
  return url;
}

function lowerCase(headers: Readonly<Record<string, string>>, option: string): Record<string, string> {
  if (typeof headers !== 'object' || headers === null) throw new InvalidOptionError(option, 'an object of header names to values', headers);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = String(v);
  return out;
}

function isRedactor(value: unknown): value is Redactor {
  const r = value as Partial<Redactor> | undefined;
  return typeof r?.json === 'function' && typeof r.url === 'function' && typeof r.text === 'function';
}

function nonNegative(ms: number): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new InvalidOptionError('deadline', 'a Deadline or a finite number of ms >= 0', ms);
  return ms;
}

function outcomeOf(error: unknown): string {
  switch ((error as { code?: unknown } | null)?.code) {
    case 'WEIR_HTTP_STATUS':
      return 'http_error';
    case 'WEIR_TIMEOUT':
      return 'timeout';
    case 'WEIR_NETWORK':
      return 'network_error';
    case 'WEIR_CANCELLED':
      return 'cancelled';
    case 'WEIR_CIRCUIT_OPEN':
    case 'WEIR_BULKHEAD_FULL':
    case 'WEIR_RATE_LIMITED':
      return 'rejected';
    default:
      return 'error';
  }
}
