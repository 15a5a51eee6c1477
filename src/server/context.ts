import type { Deadline } from '../policy/deadline.js';
import type { ExecuteOptions } from '../policy/types.js';
import type { IdempotentRequest } from './idempotency.js';
import { ResponseHeaders } from './response-headers.js';

/** The part of a Node `PeerCertificate` the mTLS checks read. */
export interface PeerCertificateLike {
  /** Subject fields, e.g. `{ CN: 'billing', O: 'Acme' }`. */
  readonly subject?: Readonly<Record<string, string | readonly string[] | undefined>> | undefined;
  /** Node's SAN string, e.g. `'DNS:billing.internal, URI:spiffe://acme/billing'`. */
  readonly subjectaltname?: string | undefined;
  /** SHA-256 fingerprint, colon-separated hex. */
  readonly fingerprint256?: string | undefined;
}

/** What the TLS layer knows about the client (set by the adapters from the socket). */
export interface TlsInfo {
  /** True when the client's certificate chains to a trusted CA (`socket.authorized`). */
  readonly authorized: boolean;
  readonly authorizationError?: string | undefined;
  /** The client certificate, when one was presented. */
  readonly certificate?: PeerCertificateLike | undefined;
}

/** Who is calling, as established by `requireJwt`, `requireApiKey` or `requireClientCertificate`. */
export interface ClientIdentity {
  /** A stable id of the client (JWT `sub`/`client_id`, API key owner, certificate subject). */
  readonly id: string;
  /** How the client proved it. */
  readonly via: 'jwt' | 'api-key' | 'mtls' | (string & {});
  /** Granted scopes. */
  readonly scopes: ReadonlySet<string>;
  /** The verified token claims (JWT only). */
  readonly claims?: Readonly<Record<string, unknown>> | undefined;
  /** The tenant the client belongs to, when known. */
  readonly tenant?: string | undefined;
}

/**
 * What an adapter hands to the core for one request. Lazy by design: a middleware that reads only
 * a header never makes the framework build a Web `Request` or read the body.
 */
export interface RequestSource {
  readonly method: string;
  /** The request target: path and query (`/orders?page=2`) or an absolute URL. */
  readonly url: string;
  /** A header value by lower-case name (several values joined with `, `). */
  header(name: string): string | undefined;
  /** The raw body bytes (read once; empty when there is none). */
  body(): Promise<Uint8Array>;
  /** The Web `Request`, built on demand; `body` is the bytes already read, if any. */
  toRequest(body: Uint8Array | undefined): Request;
  /** The peer address. */
  readonly ip?: string | undefined;
  readonly tls?: TlsInfo | undefined;
  /** Aborts when the client goes away. */
  readonly signal?: AbortSignal | undefined;
}

const EMPTY = new Uint8Array(0);

/** A response as plain data: status, header pairs (lower-case names), body bytes. */
export interface ResponseSnapshot {
  readonly status: number;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Uint8Array;
}

function nullBodyStatus(status: number): boolean {
  return status === 101 || status === 204 || status === 205 || status === 304;
}

/**
 * The per-request context every `weir/server` middleware receives: the request (lazily a Web
 * `Request`), the response (`ctx.res`, set by the handler or a middleware), headers to add to
 * whatever response is finally sent (`ctx.headers`), and what earlier middleware established:
 * `client`, `deadline`, `apiVersion`. Import the type from `weir/server`.
 *
 * @example
 * ```ts
 * const audit: Middleware = async (ctx, next) => {
 *   await next();
 *   console.log(ctx.method, ctx.path, ctx.res?.status, ctx.client?.id);
 * };
 * ```
 */
export class ServerContext {
  readonly method: string;
  /** The authenticated client, once an auth middleware ran. */
  client: ClientIdentity | undefined = undefined;
  /** The request's deadline, once `deadlines()` ran: pass `ctx.policy` to downstream calls. */
  deadline: Deadline | undefined = undefined;
  /** The API version `versioning()` selected. */
  apiVersion: string | undefined = undefined;
  /** The idempotent request in progress, once `idempotency()` acquired its key (for `transaction()`). */
  idempotency: IdempotentRequest | undefined = undefined;
  /** The error a handler or middleware threw, after it was turned into `ctx.res`. */
  error: unknown = undefined;
  #vars: Map<unknown, unknown> | undefined = undefined;
  #path: string | undefined = undefined;
  #url: URL | undefined = undefined;
  #body: Promise<Uint8Array> | undefined = undefined;
  #bytes: Uint8Array | undefined = undefined;
  #request: Request | undefined = undefined;
  #headers: ResponseHeaders | undefined = undefined;
  #res: Response | undefined = undefined;
  #lazyRes: (() => Response) | undefined = undefined;
  #lazySnapshot: (() => ResponseSnapshot | undefined) | undefined = undefined;
  #controller: AbortController | undefined = undefined;
  #abortReason: { reason: unknown } | undefined = undefined;
  /** @internal set when `ctx.res` was read from an adapter's lazy response or assigned. */
  resTouched = false;

  constructor(private readonly source: RequestSource) {
    this.method = source.method.toUpperCase();
  }

  /** The request path without the query, e.g. `/orders/42`. */
  get path(): string {
    if (this.#path === undefined) {
      const url = this.source.url;
      let start = 0;
      if (url.charCodeAt(0) !== 47 /* / */) {
        const scheme = url.indexOf('://');
        start = scheme < 0 ? 0 : url.indexOf('/', scheme + 3);
        if (start < 0) return (this.#path = '/');
      }
      const q = url.indexOf('?', start);
      const hash = url.indexOf('#', start);
      const end = q >= 0 ? q : hash >= 0 ? hash : url.length;
      this.#path = url.slice(start, end) || '/';
    }
    return this.#path;
  }

  /** The full request URL (the origin is taken from the Host header when the adapter has only a path). */
  get url(): URL {
    if (this.#url === undefined) {
      const raw = this.source.url;
      this.#url = raw.charCodeAt(0) === 47 ? new URL(raw, `${this.source.tls === undefined ? 'http' : 'https'}://${this.header('host') ?? 'localhost'}`) : new URL(raw);
    }
    return this.#url;
  }

  /** The path and query as received, e.g. `/orders?page=2`. */
  get target(): string {
    const raw = this.source.url;
    if (raw.charCodeAt(0) === 47) return raw;
    const u = this.url;
    return u.pathname + u.search;
  }

  /** A request header by name (case-insensitive). */
  header(name: string): string | undefined {
    return this.source.header(name.toLowerCase());
  }

  /** The peer address, when the adapter knows it. */
  get ip(): string | undefined {
    return this.source.ip;
  }

  /** TLS facts about the client (absent on plain HTTP). */
  get tls(): TlsInfo | undefined {
    return this.source.tls;
  }

  /** The raw request body, read once and cached (empty for a request without one). */
  body(): Promise<Uint8Array> {
    this.#body ??= this.source.body().then(
      (bytes) => (this.#bytes = bytes ?? EMPTY),
      () => (this.#bytes = EMPTY),
    );
    return this.#body;
  }

  /** The Web `Request`. After `body()` it carries the buffered bytes, so the handler can still read it. */
  get request(): Request {
    this.#request ??= this.source.toRequest(this.#bytes);
    return this.#request;
  }

  /** Per-request values for your own middleware (Weir's own live in typed fields). */
  get vars(): Map<unknown, unknown> {
    this.#vars ??= new Map();
    return this.#vars;
  }

  /**
   * Aborts when the client goes away or the deadline passes. Pass it (or `ctx.policy`) to
   * downstream calls so they stop with the request.
   */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#abortReason !== undefined) this.#controller.abort(this.#abortReason.reason);
      const outer = this.source.signal;
      if (outer !== undefined) {
        if (outer.aborted) this.#controller.abort(outer.reason);
        else outer.addEventListener('abort', () => this.#controller?.abort(outer.reason), { once: true });
      }
    }
    return this.#controller.signal;
  }

  /** True once the request was aborted (client gone or deadline passed). */
  get aborted(): boolean {
    return this.#abortReason !== undefined || this.source.signal?.aborted === true || this.#controller?.signal.aborted === true;
  }

  /** Aborts `ctx.signal` (the deadline middleware does this when the budget runs out). */
  abort(reason: unknown): void {
    if (this.#abortReason !== undefined) return;
    this.#abortReason = { reason };
    this.#controller?.abort(reason);
  }

  /** `{ signal, deadline }` for `policy.execute(fn, ctx.policy)` and Weir connections. */
  get policy(): ExecuteOptions {
    return { signal: this.signal, deadline: this.deadline };
  }

  /** Headers added to whatever response is finally sent (the handler's, a replay, an error). */
  get headers(): ResponseHeaders {
    this.#headers ??= new ResponseHeaders();
    return this.#headers;
  }

  /** @internal true when `ctx.headers` was used. */
  get hasHeaders(): boolean {
    return this.#headers !== undefined;
  }

  /** The response so far: set by the handler, replaced by middleware on the way out. */
  get res(): Response | undefined {
    if (this.#lazyRes !== undefined) {
      const make = this.#lazyRes;
      this.#lazyRes = undefined;
      this.#res = make();
      this.resTouched = true;
    }
    return this.#res;
  }

  set res(value: Response | undefined) {
    this.#lazyRes = undefined;
    this.#res = value;
    this.resTouched = true;
  }

  /**
   * @internal an adapter's downstream response, built only if a middleware reads `ctx.res`;
   * `snapshot` gives its status, headers and bytes without building a Web `Response` (undefined
   * when the body is a stream).
   */
  setLazyResponse(make: () => Response, snapshot?: () => ResponseSnapshot | undefined): void {
    this.#res = undefined;
    this.#lazyRes = make;
    this.#lazySnapshot = snapshot;
  }

  /**
   * The response's status, headers and body bytes, leaving `ctx.res` as it was (its body is read
   * and the response rebuilt when needed). Cheaper than reading `ctx.res` on the Node adapters,
   * which then keep their own payload. `undefined` when there is no response.
   */
  async snapshot(): Promise<ResponseSnapshot | undefined> {
    if (this.#lazyRes !== undefined && this.#lazySnapshot !== undefined) {
      const snap = this.#lazySnapshot();
      if (snap !== undefined) return snap;
    }
    const res = this.res;
    if (res === undefined) return undefined;
    const body = res.body === null ? new Uint8Array(0) : new Uint8Array(await res.arrayBuffer());
    this.res = new Response(body.byteLength === 0 && nullBodyStatus(res.status) ? null : body, { status: res.status, statusText: res.statusText, headers: res.headers });
    return { status: res.status, headers: [...res.headers], body };
  }

  /** @internal true when a response is present (without building a lazy one). */
  get hasResponse(): boolean {
    return this.#lazyRes !== undefined || this.#res !== undefined;
  }

  /** @internal the response to send: `ctx.res` (404 when none) with `ctx.headers` applied. */
  finalize(): Response {
    const res = this.res ?? new Response(null, { status: 404 });
    return this.#headers === undefined ? res : withHeaders(res, this.#headers);
  }
}

/** Applies `extra` on top of a response's headers (rebuilding it when its headers are immutable). */
export function withHeaders(res: Response, extra: ResponseHeaders): Response {
  let target = res;
  try {
    apply(target.headers, extra);
  } catch {
    target = new Response(res.body, { status: res.status, statusText: res.statusText, headers: res.headers });
    apply(target.headers, extra);
  }
  return target;
}

function apply(headers: Headers, extra: ResponseHeaders): void {
  extra.forEach((value, name) => {
    if (name === 'set-cookie') headers.append(name, value);
    else headers.set(name, value);
  });
}

/**
 * A {@link RequestSource} over a Web `Request` (the fetch-style runtimes, Hono, tests).
 * @param info the peer address and TLS facts the runtime knows, if any.
 */
export function requestSource(request: Request, info: { ip?: string | undefined; tls?: TlsInfo | undefined } = {}): RequestSource {
  return {
    method: request.method,
    url: request.url,
    header: (name) => request.headers.get(name) ?? undefined,
    body: async () => (request.body === null ? EMPTY : new Uint8Array(await request.arrayBuffer())),
    toRequest: (body) =>
      body === undefined || request.body === null
        ? request
        : new Request(request.url, { method: request.method, headers: request.headers, body: body as unknown as NonNullable<RequestInit["body"]>, signal: request.signal }),
    ip: info.ip,
    tls: info.tls,
    signal: request.signal,
  };
}
