/**
 * `weir/server/hono`: Weir's server middleware in a Hono app. Hono is an optional peer; this
 * subpath only imports its types.
 * @packageDocumentation
 */
import type { Context, MiddlewareHandler } from 'hono';
import { compose, type Middleware } from '../compose.js';
import { type RequestSource, ServerContext } from '../context.js';
import { type SocketLike, tlsInfoOf } from '../node.js';

const KEY = 'weir';

/** What `@hono/node-server` puts in `c.env`. */
interface NodeBindings {
  readonly incoming?: { readonly socket?: SocketLike };
}

function source(c: Context): RequestSource {
  const raw = c.req.raw;
  const socket = (c.env as NodeBindings | undefined)?.incoming?.socket;
  return {
    method: raw.method,
    url: raw.url,
    header: (name) => raw.headers.get(name) ?? undefined,
    // HonoRequest caches the body, so the handler's own `c.req.json()` still works afterwards.
    body: async () => (raw.body === null ? new Uint8Array(0) : new Uint8Array(await c.req.arrayBuffer())),
    toRequest: (body) =>
      body === undefined || raw.body === null
        ? raw
        : new Request(raw.url, { method: raw.method, headers: raw.headers, body: body as unknown as NonNullable<RequestInit['body']> }),
    ip: socket?.remoteAddress,
    tls: tlsInfoOf(socket),
    signal: raw.signal,
  };
}

/**
 * Runs Weir middleware (outermost first) as one Hono middleware. Hono's own `compose` turns a
 * handler's error into `c.res` before this sees it, so `idempotency()` stores failures too.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { idempotency, rateLimit } from 'weir/server';
 * import { weir, weirContext } from 'weir/server/hono';
 * const app = new Hono();
 * app.use('/orders/*', weir(rateLimit({ policies: [{ name: 'default', limit: 100, windowMs: 60_000 }] }), idempotency({ store })));
 * app.post('/orders', (c) => weirContext(c).idempotency!.transaction((tx) => ({ status: 201, json: create(tx) })));
 * ```
 */
export function weir(...middleware: ReadonlyArray<Middleware | readonly Middleware[]>): MiddlewareHandler {
  const chain = compose(...middleware);
  return async function weirMiddleware(c, next) {
    const ctx = new ServerContext(source(c));
    c.set(KEY as never, ctx as never);
    let reached = false;
    await chain(ctx, async () => {
      reached = true;
      await next();
      ctx.setLazyResponse(() => c.res);
    });
    if (reached && !ctx.resTouched && !ctx.hasHeaders) return;
    const res = ctx.finalize();
    // Replace without Hono merging the old response's headers into ours.
    c.res = undefined;
    c.res = res;
    return res;
  };
}

/**
 * The Weir context of a request (`ctx.client`, `ctx.deadline`, `ctx.idempotency`, …) in a Hono handler.
 * @throws Error when no `weir()` middleware ran for this request.
 */
export function weirContext(c: Context): ServerContext {
  const ctx = c.get(KEY as never) as unknown;
  if (!(ctx instanceof ServerContext)) throw new Error('weir/server/hono: no weir() middleware ran for this request');
  return ctx;
}
