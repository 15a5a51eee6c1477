import type { Dispatcher } from 'undici';
import type { Deadline } from '../policy/deadline.js';
import { kIsAborted, kOnAbort, type PolicyContext } from '../policy/types.js';
import type { Redactor } from '../security/redact.js';
import { RootHandler } from './handlers.js';
import type { RateLimitSignal } from './rate-limit-headers.js';

/**
 * The per-call state every Weir interceptor shares, carried down the dispatch chain in
 * `opts.weir`. The first Weir interceptor a call meets turns the caller's plain
 * {@link HttpCallOptions} into one {@link HttpCall}; every attempt of that call then sees the same
 * object, which is how the Idempotency-Key is generated once per logical operation and how the
 * retry layer learns whether an attempt ever reached the server.
 */

export type Dispatch = Dispatcher['dispatch'];
export type DispatchOptions = Dispatcher.DispatchOptions;
export type DispatchHandler = Dispatcher.DispatchHandler;
export type DispatchController = Dispatcher.DispatchController;
export { DEAD_CONTROLLER, ForwardHandler, headerOf, safeDispatch, withHeaders } from './handlers.js';

/** An undici interceptor: `dispatch => dispatch`. Compose with `agent.compose(...)`. */
export type Interceptor = Dispatcher.DispatcherComposeInterceptor;

/** What a caller may put in `opts.weir` when dispatching through Weir interceptors (the connection fills it for you). */
export interface HttpCallOptions {
  /** The message or operation this call serves; recorded in every audit entry. */
  readonly correlationId?: string | undefined;
  /** The Idempotency-Key of this logical operation, reused on every attempt. */
  readonly idempotencyKey?: string | undefined;
  /** A caller-supplied id the Idempotency-Key is derived from when `idempotencyKey` is not given. */
  readonly operationId?: string | undefined;
  /** The caller asserts the request is safe to repeat (e.g. a PATCH with `If-Match`). */
  readonly idempotent?: boolean | undefined;
  /** `false` disables retries for this call (a worker that reschedules instead). Default true. */
  readonly retry?: boolean | undefined;
  /** The caller's deadline; policies never run past it and it goes out in the deadline header. */
  readonly deadline?: Deadline | undefined;
  /** A W3C `traceparent` to continue (used when tracing is on). */
  readonly traceparent?: string | undefined;
  /** Opaque parent context captured by a tracing hook when the call was made (see `HttpTracing`). */
  readonly traceContext?: unknown;
  /** Statuses delivered as responses rather than failures (the connection's `accept`). */
  readonly accept?: ((status: number) => boolean) | undefined;
  /** Partition key for keyed policies. */
  readonly key?: string | undefined;
}

/** Dispatch options as Weir interceptors read them. */
export interface WeirDispatchOptions extends DispatchOptions {
  weir?: HttpCallOptions | HttpCall | undefined;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE']);

/** True for the methods RFC 9110 calls idempotent (the ones Weir retries without a key). */
export function isIdempotentMethod(method: string): boolean {
  return SAFE_METHODS.has(method);
}

/**
 * The root of a call's contexts: aborted once, by the caller. Implements the lazy-signal hooks of
 * `weir/policy`, so policies can subscribe without an AbortController being created.
 */
export class RootContext implements PolicyContext {
  readonly attempt = 1;
  private aborted = false;
  private reason: unknown = undefined;
  private listeners: Array<(reason: unknown) => void> | undefined = undefined;
  private controller: AbortController | undefined = undefined;

  constructor(
    readonly deadline: Deadline | undefined,
    readonly key: string | undefined,
  ) {}

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  [kIsAborted](): boolean {
    return this.aborted;
  }

  [kOnAbort](listener: (reason: unknown) => void): () => void {
    if (this.aborted) {
      listener(this.reason);
      return noop;
    }
    (this.listeners ??= []).push(listener);
    return () => {
      const i = this.listeners?.indexOf(listener) ?? -1;
      if (i >= 0) this.listeners?.splice(i, 1);
    };
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners !== undefined) for (const l of listeners) l(reason);
  }
}

/** One logical call through Weir interceptors, shared by all its attempts. Read-only for hooks. */
export class HttpCall {
  readonly method: string;
  readonly origin: string;
  /** Path with query, as sent. */
  readonly path: string;
  readonly options: HttpCallOptions;
  /** The caller's context (aborted when the caller aborts). */
  readonly root: RootContext;
  /** The context of the current attempt: its deadline and abort. */
  ctx: PolicyContext;
  /** 1-based number of the current attempt. */
  attempt = 1;
  /** The current attempt's request was handed to a socket (it may have reached the server). */
  sent = false;
  /** The current attempt went down the chain below the retry layer. */
  dispatched = false;
  /** The current attempt was recorded by an audit interceptor. */
  recorded = false;
  /** The limits that already admitted the current attempt (took its token), if any. */
  limitedBy: object | undefined = undefined;
  /** The Idempotency-Key of this call, once known. */
  idempotencyKey: string | undefined;
  /** The `X-Request-Id` of the current attempt. */
  requestId: string | undefined = undefined;
  /** The trace id when tracing is on (32 hex digits). */
  traceId: string | undefined = undefined;
  /** The request body can be sent again (not a stream). */
  readonly replayable: boolean;
  /** The credential was renewed after a 401 during this call. */
  authRenewed = false;
  /** The last rate-limit signal a response of this call carried. */
  rateLimit: RateLimitSignal | undefined = undefined;
  /** A Weir interceptor took the caller's handler (see {@link enter}). */
  entered = false;
  private safePath: string | undefined = undefined;

  constructor(opts: { readonly method?: string | undefined; readonly origin?: unknown; readonly path: string; readonly body?: unknown }, options: HttpCallOptions = {}) {
    this.method = (opts.method ?? 'GET').toUpperCase();
    this.origin = String(opts.origin ?? '');
    this.path = opts.path;
    this.options = options;
    this.root = new RootContext(options.deadline, options.key);
    this.ctx = this.root;
    this.idempotencyKey = options.idempotencyKey;
    this.replayable = isReplayable(opts.body);
  }

  /** The path with sensitive query values redacted, computed once per call. */
  redactedPath(redactor: Redactor): string {
    return (this.safePath ??= redactor.url(this.path));
  }

  /** Statuses below 400 (and those `accept` lets through) are responses; the rest are failures. */
  accepts(status: number): boolean {
    return status < 400 || (this.options.accept !== undefined && this.options.accept(status));
  }
}

function isReplayable(body: unknown): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof Uint8Array ||
    body instanceof ArrayBuffer ||
    (typeof body === 'object' && typeof (body as Blob).arrayBuffer === 'function' && typeof (body as Blob).size === 'number')
  );
}

/**
 * Joins a dispatch to its {@link HttpCall}, creating it when this is the first Weir interceptor of
 * the call. The first one also takes over the caller's handler (see `RootHandler`), so a caller's
 * abort reaches the call even while no request is in flight.
 */
export function enter(opts: WeirDispatchOptions, handler: DispatchHandler): Entered {
  const given = opts.weir;
  const call = given instanceof HttpCall ? given : new HttpCall(opts, given);
  entered.call = call;
  if (call.entered) {
    entered.opts = opts;
    entered.handler = handler;
  } else {
    call.entered = true;
    entered.opts = given === call ? opts : { ...opts, weir: call };
    entered.handler = new RootHandler(handler, call);
  }
  return entered;
}

/** What {@link enter} returns. One object serves every call: read its fields at once, before dispatching on. */
export interface Entered {
  call: HttpCall;
  opts: WeirDispatchOptions;
  handler: DispatchHandler;
}

const entered = {} as Entered;

/** Reads the {@link HttpCall} of a dispatch, if a Weir interceptor created one. */
export function callOf(opts: DispatchOptions): HttpCall | undefined {
  const w = (opts as WeirDispatchOptions).weir;
  return w instanceof HttpCall ? w : undefined;
}

function noop(): void {}
