/**
 * `weir/server/fastify`: Weir's server middleware as a Fastify plugin and as route hooks. Fastify
 * and fastify-plugin are optional peers, loaded only by this subpath.
 * @packageDocumentation
 */
import type { Readable } from 'node:stream';
import type {
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  onRequestAbortHookHandler,
  onRequestHookHandler,
  onResponseHookHandler,
  onSendAsyncHookHandler,
  preHandlerHookHandler,
  preParsingHookHandler,
} from 'fastify';
import fp from 'fastify-plugin';
import { compose, isBeforeOnly, type Middleware } from '../compose.js';
import type { ServerContext } from '../context.js';
import { applyResponse, Run, Shared } from './run.js';

/**
 * Per request: the state shared by every Weir hooks instance on its route, in a symbol property
 * (the plugin declares it with `decorateRequest`, so request objects keep one shape; a WeakMap
 * per request would cost the garbage collector more than the lookups save).
 */
const kShared = Symbol('weir.server.fastify');
type WithShared = FastifyRequest & { [kShared]?: Shared | null };
let hooksIds = 0;

function sharedOf(request: FastifyRequest): Shared {
  const r = request as WithShared;
  return (r[kShared] ??= new Shared(request));
}

function runOf(request: FastifyRequest, id: number): Run | undefined {
  return (request as WithShared)[kShared]?.runs[id];
}

/** Sends the chain's own answer from a hook. */
function sendOwn(run: Run, reply: FastifyReply): Promise<unknown> {
  run.sentByUs = true;
  return applyResponse(reply, run.shared.ctx.finalize(), true).then((body) => reply.send(body));
}

/** Fastify hooks that run a Weir chain; spread them into route options or add them to an instance. */
export interface WeirHooks {
  onRequest: onRequestHookHandler;
  preParsing: preParsingHookHandler;
  preHandler: preHandlerHookHandler;
  /** Absent for a chain of `beforeOnly` middleware (nothing to do once the handler answered). */
  onSend?: onSendAsyncHookHandler;
  onResponse?: onResponseHookHandler;
  onRequestAbort?: onRequestAbortHookHandler;
}

/**
 * The hooks that run Weir middleware (outermost first) around a Fastify route: the chain starts in
 * `onRequest` (a rate limit or load shedder answers before the body is even read), the raw body is
 * kept from `preParsing` only when a middleware asks for it (idempotency's fingerprint), and the
 * handler's response — errors included, after Fastify's error handler — reaches the chain in
 * `onSend`, where it may be stored, replaced or decorated. The hooks that usually have nothing to
 * do are callback-style, so they cost no promise.
 *
 * @example
 * ```ts
 * app.post('/orders', { ...weirHooks(idempotency({ store, requireKeyFor: true })) }, async (req, reply) => {
 *   return weirContext(req).idempotency!.transaction((tx) => ({ status: 201, json: create(tx, req.body) }));
 * });
 * ```
 */
export function weirHooks(...middleware: ReadonlyArray<Middleware | readonly Middleware[]>): WeirHooks {
  const chain = compose(...middleware);
  const light = isBeforeOnly(chain);
  const id = hooksIds++;

  const hooks: Required<WeirHooks> = {
    onRequest(request, reply, done) {
      const shared = sharedOf(request);
      const run = new Run(shared, chain, reply, light);
      shared.runs[id] = run;
      // The usual case: the chain reached the handler synchronously (no await before next()).
      if (run.reached) return done();
      run.yielded().then(
        () => (run.reached || run.phase !== 'done' ? done() : sendOwn(run, reply).catch((err: unknown) => done(err as Error))),
        (err: unknown) => done(err as Error),
      );
    },
    preParsing(request, _reply, payload, done) {
      const run = runOf(request, id);
      done(null, run === undefined ? payload : run.shared.tee(payload as Readable));
    },
    preHandler(request, reply, done) {
      const run = runOf(request, id);
      if (run === undefined || run.phase !== 'running') return done();
      run.shared.provideBody();
      run.yielded().then(
        () => (run.reached || run.phase !== 'done' ? done() : sendOwn(run, reply).catch((err: unknown) => done(err as Error))),
        (err: unknown) => done(err as Error),
      );
    },
    async onSend(request, reply, payload) {
      const run = runOf(request, id);
      if (run === undefined || run.sentByUs) return payload;
      // Answered before preHandler (a 404, a validation error): the chain may still wait for the body.
      if (run.phase === 'running') {
        run.shared.provideBody();
        await run.yielded();
      }
      if (run.phase !== 'handler') return payload;
      run.responded(reply, payload);
      await run.chainDone;
      const ctx = run.shared.ctx;
      if (ctx.resTouched) return applyResponse(reply, ctx.finalize(), true);
      if (ctx.hasHeaders) ctx.headers.forEach((value, name) => reply.header(name, value));
      return payload;
    },
    onResponse(request, _reply, done) {
      runOf(request, id)?.abandon('the reply ended without onSend');
      done();
    },
    onRequestAbort(request, done) {
      const run = runOf(request, id);
      if (run !== undefined) {
        run.shared.abort(new Error('client closed the connection'));
        run.shared.provideBody();
        run.abandon('the client closed the connection');
      }
      done();
    },
  };
  if (!light) return hooks;
  const { onSend: _onSend, onResponse: _onResponse, onRequestAbort: _onRequestAbort, ...before } = hooks;
  return before;
}

/** Options of the {@link weir} plugin. */
export interface WeirPluginOptions {
  /** The middleware, outermost first. */
  use: ReadonlyArray<Middleware | readonly Middleware[]>;
}

/**
 * The Weir plugin: adds {@link weirHooks} to the instance it is registered on. It is wrapped with
 * `fastify-plugin`, so its hooks apply in the registering scope: register it at the root for every
 * route, or inside an encapsulated child for that child's routes only.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { rateLimit } from 'weir/server';
 * import { weir } from 'weir/server/fastify';
 * const app = Fastify();
 * await app.register(weir, { use: [rateLimit({ policies: [{ name: 'default', limit: 100, windowMs: 60_000 }] })] });
 * ```
 */
export const weir: FastifyPluginAsync<WeirPluginOptions> = fp(
  async function weir(app: FastifyInstance, options: WeirPluginOptions) {
    if (!app.hasRequestDecorator(kShared)) app.decorateRequest(kShared, null);
    const hooks = weirHooks(...(options.use ?? []));
    app.addHook('onRequest', hooks.onRequest);
    app.addHook('preParsing', hooks.preParsing);
    app.addHook('preHandler', hooks.preHandler);
    if (hooks.onSend !== undefined) app.addHook('onSend', hooks.onSend);
    if (hooks.onResponse !== undefined) app.addHook('onResponse', hooks.onResponse);
    if (hooks.onRequestAbort !== undefined) app.addHook('onRequestAbort', hooks.onRequestAbort);
  },
  { name: 'weir', fastify: '5.x' },
);

/**
 * The Weir context of a request (`ctx.client`, `ctx.deadline`, `ctx.idempotency`, …) in a Fastify handler.
 * @throws Error when no Weir hooks ran for this request.
 */
export function weirContext(request: FastifyRequest): ServerContext {
  const s = (request as WithShared)[kShared];
  if (s === undefined || s === null) throw new Error('weir/server/fastify: no weir hooks ran for this request');
  return s.ctx;
}
