/**
 * One test application, mounted in each framework adapter and reached either in-process
 * (`fastify.inject`, Hono `app.request`) or over a real socket on port 0. The conformance tables
 * run the same cases against every target.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import type { Middleware } from '../../src/server/compose.js';
import type { ServerContext } from '../../src/server/context.js';
import { weir as expressWeir, weirContext as expressContext } from '../../src/server/express/index.js';
import { weir as fastifyWeir, weirContext as fastifyContext } from '../../src/server/fastify/index.js';
import { weir as honoWeir, weirContext as honoContext } from '../../src/server/hono/index.js';

export type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

/** A route's answer: a status and JSON, or any Web response. */
export type RouteResult = { status: number; json?: unknown; headers?: Record<string, string> } | Response;

export interface Route {
  method: Method;
  /** Express/Fastify/Hono style, e.g. `/orders/:id`. */
  path: string;
  handle(input: { body: unknown; params: Record<string, string>; ctx: ServerContext }): Promise<RouteResult> | RouteResult;
}

export interface AppSpec {
  middleware: Middleware[];
  routes: Route[];
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json(): any;
}

export interface RequestInit2 {
  headers?: Record<string, string>;
  body?: unknown;
}

export interface Client {
  request(method: Method, path: string, init?: RequestInit2): Promise<Reply>;
  close(): Promise<void>;
}

export interface Target {
  name: string;
  start(spec: AppSpec): Promise<Client>;
}

function encodeBody(init: RequestInit2 | undefined): { body?: string; headers: Record<string, string> } {
  const headers = { ...init?.headers };
  if (init?.body === undefined) return { headers };
  if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  return { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body), headers };
}

function reply(status: number, headers: Headers, text: string): Reply {
  return { status, headers, text, json: () => JSON.parse(text) };
}

async function fromFetch(res: Response): Promise<Reply> {
  return reply(res.status, res.headers, await res.text());
}

function socketClient(base: string, close: () => Promise<void>): Client {
  return {
    async request(method, path, init) {
      const { body, headers } = encodeBody(init);
      return fromFetch(await fetch(base + path, { method, headers, ...(body === undefined ? {} : { body }) }));
    },
    close,
  };
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

async function send(result: RouteResult): Promise<{ status: number; headers: Record<string, string>; body: Buffer | string | undefined }> {
  if (result instanceof Response) {
    const headers: Record<string, string> = {};
    result.headers.forEach((v, k) => (headers[k] = v));
    return { status: result.status, headers, body: Buffer.from(await result.arrayBuffer()) };
  }
  const headers: Record<string, string> = { ...result.headers };
  if (result.json === undefined) return { status: result.status, headers, body: undefined };
  headers['content-type'] ??= 'application/json';
  return { status: result.status, headers, body: JSON.stringify(result.json) };
}

export function fastifyApp(spec: AppSpec) {
  const app = Fastify();
  app.register(fastifyWeir, { use: spec.middleware });
  app.after(() => {
    for (const route of spec.routes) {
      app.route({
        method: route.method,
        url: route.path,
        handler: async (req, res) => {
          const out = await send(await route.handle({ body: req.body, params: req.params as Record<string, string>, ctx: fastifyContext(req) }));
          res.code(out.status).headers(out.headers);
          return res.send(out.body);
        },
      });
    }
  });
  return app;
}

export function expressApp(spec: AppSpec) {
  const app = express();
  app.set('env', 'test'); // finalhandler: no stack traces on stderr
  app.use(expressWeir(...spec.middleware));
  app.use(express.json());
  for (const route of spec.routes) {
    const method = route.method.toLowerCase() as 'get' | 'post' | 'patch' | 'put' | 'delete';
    app[method](route.path, async (req, res) => {
      const out = await send(await route.handle({ body: req.body, params: req.params as Record<string, string>, ctx: expressContext(req) }));
      res.status(out.status).set(out.headers);
      if (out.body === undefined) res.end();
      else res.send(out.body);
    });
  }
  return app;
}

export function honoApp(spec: AppSpec) {
  const app = new Hono();
  app.onError((_err, c) => c.text('Internal Server Error', 500));
  app.use('*', honoWeir(...spec.middleware));
  for (const route of spec.routes) {
    app.on(route.method, route.path, async (c) => {
      const text = c.req.raw.body === null ? '' : await c.req.text();
      const body = text === '' ? undefined : (JSON.parse(text) as unknown);
      const out = await send(await route.handle({ body, params: c.req.param() as Record<string, string>, ctx: honoContext(c) }));
      return new Response(out.body ?? null, { status: out.status, headers: out.headers });
    });
  }
  return app;
}

export const targets: Target[] = [
  {
    name: 'fastify (inject)',
    async start(spec) {
      const app = fastifyApp(spec);
      await app.ready();
      return {
        async request(method, path, init) {
          const { body, headers } = encodeBody(init);
          const res = await app.inject({ method, url: path, headers, ...(body === undefined ? {} : { payload: body }) });
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : String(v));
          return reply(res.statusCode, h, res.body);
        },
        close: () => app.close(),
      };
    },
  },
  {
    name: 'fastify (socket)',
    async start(spec) {
      const app = fastifyApp(spec);
      await app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = app.server.address() as AddressInfo;
      return socketClient(`http://127.0.0.1:${port}`, async () => {
        app.server.closeAllConnections();
        await app.close();
      });
    },
  },
  {
    name: 'express (socket)',
    async start(spec) {
      const server = createServer(expressApp(spec));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      return socketClient(`http://127.0.0.1:${port}`, () => closeServer(server));
    },
  },
  {
    name: 'hono (app.request)',
    async start(spec) {
      const app = honoApp(spec);
      return {
        async request(method, path, init) {
          const { body, headers } = encodeBody(init);
          return fromFetch(await app.request(path, { method, headers, ...(body === undefined ? {} : { body }) }));
        },
        close: async () => undefined,
      };
    },
  },
  {
    name: 'hono (socket)',
    async start(spec) {
      const app = honoApp(spec);
      const server = await new Promise<Server>((resolve) => {
        const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
      });
      const { port } = server.address() as AddressInfo;
      return socketClient(`http://127.0.0.1:${port}`, () => closeServer(server));
    },
  },
];

export type AdapterName = 'fastify' | 'express' | 'hono';

/** Serves the app with one adapter on a real socket (port 0). */
export async function listen(adapter: AdapterName, spec: AppSpec): Promise<{ port: number; close: () => Promise<void> }> {
  if (adapter === 'fastify') {
    const app = fastifyApp(spec);
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { port: (app.server.address() as AddressInfo).port, close: () => app.close() };
  }
  const server =
    adapter === 'express'
      ? createServer(expressApp(spec))
      : await new Promise<Server>((resolve) => {
          const s = serve({ fetch: honoApp(spec).fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
        });
  if (!server.listening) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: () => closeServer(server) };
}
