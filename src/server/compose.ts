import { type RequestSource, requestSource, ServerContext, type TlsInfo } from './context.js';
import { errorResponse } from './problem.js';

/** Runs the rest of the chain; resolves once `ctx.res` holds the downstream response. */
export type Next = () => Promise<void>;

/**
 * A server middleware: onion-style, over Web `Request`/`Response`. Work before `await next()` sees
 * the request; work after it sees (and may replace) `ctx.res`. Returning a `Response` (or throwing
 * an `HttpError`) without calling `next()` answers the request at once.
 */
export type Middleware = (ctx: ServerContext, next: Next) => Promise<Response | void> | Response | void;

/** The innermost function: turns the request into a response. */
export type Handler = (ctx: ServerContext) => Promise<Response> | Response;

/**
 * @internal The settled promise a `next()` may return when nothing remains to wait for (an
 * adapter's before-only chain): `compose` passes it through as it is, so a synchronous chain costs
 * no promise reaction or microtask, and the adapter can tell that the chain is already done.
 */
export const RESOLVED: Promise<void> = Promise.resolve();

/** Marks middleware that does nothing once `next()` resolves (see {@link beforeOnly}). */
const kBeforeOnly = Symbol.for('weir.server.beforeOnly');

/**
 * Declares that a middleware does all its work before calling `next()` and nothing after it
 * resolves (it returns `next()` or answers by itself): a rate limit, an auth check. Adapters then
 * skip capturing the response for a chain made only of such middleware — no `onSend` hook in
 * Fastify, no buffering in Express — and `ctx.headers` go onto the response before the handler runs.
 * Weir marks its own; mark yours only when it is true. Import from `weir/server`.
 * @example `export const tenant = beforeOnly(async (ctx, next) => { ctx.vars.set('tenant', ctx.header('x-tenant')); return next(); })`
 */
export function beforeOnly<T extends Middleware>(middleware: T): T {
  Object.defineProperty(middleware, kBeforeOnly, { value: true });
  return middleware;
}

/** True for a middleware marked with {@link beforeOnly} (or composed only of such). */
export function isBeforeOnly(middleware: Middleware): boolean {
  return (middleware as { [kBeforeOnly]?: boolean })[kBeforeOnly] === true;
}

function isResponse(value: unknown): value is Response {
  return value instanceof Response || (typeof value === 'object' && value !== null && typeof (value as Response).status === 'number' && (value as Response).headers instanceof Headers);
}

/**
 * Composes middleware into one, outermost first (after honojs/hono `compose`). An error thrown at
 * any layer becomes a problem+json `ctx.res` right there (and `ctx.error`), so every outer layer
 * sees a response, never an exception: `idempotency()` stores a handler's failure like any answer.
 * Import from `weir/server`.
 *
 * @throws Error when one middleware calls `next()` twice (a programming error).
 * @example
 * ```ts
 * const protect = compose(deadlines({ maxMs: 10_000 }), rateLimit({ … }), idempotency({ store }));
 * ```
 */
export function compose(...middleware: ReadonlyArray<Middleware | readonly Middleware[]>): (ctx: ServerContext, next: Next) => Promise<void> {
  const chain = middleware.flat() as Middleware[];
  const composed = function composed(ctx: ServerContext, next: Next): Promise<void> {
    let index = -1;
    const failed = (err: unknown): void => {
      ctx.error = err;
      ctx.res = errorResponse(err);
    };
    const answered = (out: unknown): void => {
      if (out !== undefined && isResponse(out)) ctx.res = out;
    };
    // Not an async function: a middleware that returns synchronously costs no extra promise.
    const dispatch = (i: number): Promise<void> => {
      if (i <= index) return Promise.reject(new Error('weir/server: next() called more than once in one middleware'));
      index = i;
      if (i === chain.length) return next();
      const fn = chain[i] as Middleware;
      let out: ReturnType<Middleware>;
      try {
        out = fn(ctx, () => dispatch(i + 1));
      } catch (err) {
        failed(err);
        return RESOLVED;
      }
      if (out === RESOLVED) return RESOLVED;
      if (out instanceof Promise) return out.then(answered, failed);
      if (typeof (out as { then?: unknown } | undefined)?.then === 'function') return Promise.resolve(out).then(answered, failed);
      answered(out);
      return RESOLVED;
    };
    return dispatch(0);
  };
  return chain.every(isBeforeOnly) ? beforeOnly(composed) : composed;
}

/** Facts about the connection that a Web `Request` does not carry. */
export interface HandleOptions {
  /** The peer address. */
  ip?: string;
  /** TLS facts (client certificate) for mTLS checks. */
  tls?: TlsInfo;
}

/**
 * Runs a request through middleware and a handler and returns the response: the whole server on
 * fetch-style runtimes, and the socket-free way to test middleware. Import from `weir/server`.
 *
 * @example
 * ```ts
 * const res = await handle(new Request('http://x/orders', { method: 'POST', body: '{}' }),
 *   [idempotency({ store })], async (ctx) => Response.json({ ok: true }, { status: 201 }));
 * ```
 */
export async function handle(
  request: Request | RequestSource,
  middleware: readonly Middleware[] | Middleware,
  handler: Handler,
  options: HandleOptions = {},
): Promise<Response> {
  const source = request instanceof Request ? requestSource(request, options) : request;
  const ctx = new ServerContext(source);
  const chain = typeof middleware === 'function' ? [middleware] : middleware;
  await compose(...chain, async (c) => {
    c.res = await handler(c);
  })(ctx, async () => undefined);
  return ctx.finalize();
}

/**
 * A fetch-style handler `(request) => Promise<Response>` (Bun, Deno, Cloudflare, `@hono/node-server`).
 * Import from `weir/server`.
 * @example `export default { fetch: createHandler([rateLimit({ … })], (ctx) => new Response('hi')) }`
 */
export function createHandler(middleware: readonly Middleware[], handler: Handler): (request: Request) => Promise<Response> {
  return (request) => handle(request, middleware, handler);
}
