/**
 * `weir/server/express`: Weir's server middleware in an Express (4 or 5) app. Express is an
 * optional peer; this subpath only imports its types.
 * @packageDocumentation
 */
import type { NextFunction, Request as ExpressRequest, RequestHandler, Response as ExpressResponse } from 'express';
import { compose, isBeforeOnly, type Middleware, RESOLVED } from '../compose.js';
import { type RequestSource, ServerContext } from '../context.js';
import { bodyBytes, headerOf, nodeHeaders, readAll, type SocketLike, tlsInfoOf, webRequest } from '../node.js';
import { ResponseCapture } from './capture.js';

const kContext = Symbol.for('weir.server.context');

type RequestWithBody = ExpressRequest & { rawBody?: unknown; [kContext]?: ServerContext };

/**
 * The raw body for the fingerprint: a `rawBody` kept by a parser's `verify` hook, a Buffer or string
 * body (`express.raw()`, `express.text()`), a canonical JSON of a parsed body, or else the stream
 * itself, read here — then `req.body` is filled for JSON, text and form bodies, as the parsers would.
 */
async function readBody(req: RequestWithBody): Promise<Uint8Array> {
  const raw = req.rawBody;
  if (Buffer.isBuffer(raw)) return raw;
  if (typeof raw === 'string') return Buffer.from(raw);
  const parsed: unknown = req.body;
  if (Buffer.isBuffer(parsed)) return parsed;
  if (typeof parsed === 'string') return Buffer.from(parsed);
  if (parsed !== undefined && parsed !== null && typeof parsed === 'object') return Buffer.from(JSON.stringify(parsed));
  if (req.readableEnded || req.complete) return new Uint8Array(0);
  const bytes = await readAll(req);
  req.rawBody = Buffer.from(bytes);
  if (bytes.byteLength > 0) req.body = decode(bytes, headerOf(req.headers, 'content-type') ?? '');
  return bytes;
}

function decode(bytes: Uint8Array, type: string): unknown {
  const text = Buffer.from(bytes).toString('utf8');
  if (/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  }
  if (/^application\/x-www-form-urlencoded\b/i.test(type)) return Object.fromEntries(new URLSearchParams(text));
  if (/^text\//i.test(type)) return text;
  return Buffer.from(bytes);
}

function source(req: RequestWithBody): RequestSource {
  const socket = req.socket as unknown as SocketLike;
  const tls = tlsInfoOf(socket);
  const controller = new AbortController();
  req.once('close', () => {
    if (!req.complete) controller.abort();
  });
  return {
    method: req.method,
    url: req.originalUrl ?? req.url,
    header: (name) => headerOf(req.headers, name),
    body: () => readBody(req),
    toRequest: (body) => webRequest(req.method, req.originalUrl ?? req.url, req.headers, body, tls !== undefined),
    ip: socket.remoteAddress,
    tls,
    signal: controller.signal,
  };
}

/**
 * Runs Weir middleware (outermost first) as one Express middleware. The downstream response
 * (`res.send`, `res.json`, `res.end`, the error handler's) is captured in memory while the chain
 * runs, so `idempotency()` can store it and `etag()` can hash it; then it is written once.
 *
 * Put it before or after the body parsers: after them, keep the exact raw body for the
 * fingerprint with `express.json({ verify: (req, _res, buf) => { req.rawBody = buf } })`.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { idempotency } from 'weir/server';
 * import { weir, weirContext } from 'weir/server/express';
 * const app = express();
 * app.post('/orders', weir(idempotency({ store, requireKeyFor: true })), (req, res) => res.status(201).json(create(req.body)));
 * ```
 */
export function weir(...middleware: ReadonlyArray<Middleware | readonly Middleware[]>): RequestHandler {
  const chain = compose(...middleware);
  const light = isBeforeOnly(chain);
  return function weirMiddleware(req: ExpressRequest, res: ExpressResponse, next: NextFunction): void {
    const r = req as RequestWithBody;
    const ctx = new ServerContext(source(r));
    r[kContext] = ctx;
    if (light) {
      // Only before-next work: no capture; the headers go onto the response before the handler runs.
      let reached = false;
      const answered = (): void => {
        if (!reached && !res.headersSent) void send(res, ctx.finalize(), false);
      };
      const done = chain(ctx, () => {
        reached = true;
        if (ctx.hasHeaders) {
          ctx.headers.forEach((value, name) => {
            if (name === 'set-cookie') res.append(name, value);
            else res.setHeader(name, value);
          });
        }
        next();
        return RESOLVED;
      });
      // A chain that ran synchronously (the usual rate limit or auth check) is already done.
      if (done === RESOLVED) answered();
      else done.then(answered, (err: unknown) => (res.headersSent ? undefined : next(err)));
      return;
    }
    let capture: ResponseCapture | undefined;
    chain(ctx, async () => {
      capture = new ResponseCapture(res);
      next();
      const view = await capture.done;
      ctx.setLazyResponse(
        () => view.toResponse(),
        () => view.snapshot(),
      );
    })
      .then(async () => {
        capture?.restore();
        if (res.writableEnded || res.destroyed) return;
        if (capture !== undefined && !ctx.resTouched && !ctx.hasHeaders) {
          capture.flush();
          return;
        }
        await send(res, ctx.finalize(), capture !== undefined);
      })
      .catch((err: unknown) => {
        capture?.restore();
        if (!res.headersSent) next(err);
      });
  };
}

async function send(res: ExpressResponse, response: Response, replaceHeaders: boolean): Promise<void> {
  const body = await bodyBytes(response);
  if (replaceHeaders) for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.statusCode = response.status;
  for (const [name, value] of Object.entries(nodeHeaders(response.headers))) res.setHeader(name, value);
  res.setHeader('content-length', body.byteLength);
  res.end(body);
}

/**
 * The Weir context of a request (`ctx.client`, `ctx.idempotency`, …) in an Express handler.
 * @throws Error when no `weir()` middleware ran for this request.
 */
export function weirContext(req: ExpressRequest): ServerContext {
  const ctx = (req as RequestWithBody)[kContext];
  if (ctx === undefined) throw new Error('weir/server/express: no weir() middleware ran for this request');
  return ctx;
}
