/** Adapter-specific behaviour: Fastify encapsulation and hooks, Express body handling, Hono context. */
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { Middleware } from '../../src/server/compose.js';
import { weir as expressWeir } from '../../src/server/express/index.js';
import { weir, weirContext, weirHooks } from '../../src/server/fastify/index.js';
import { weirContext as honoContext } from '../../src/server/hono/index.js';
import { idempotency } from '../../src/server/idempotency.js';
import { memoryIdempotencyStore } from '../../src/server/idempotency-memory.js';
import { rateLimit } from '../../src/server/rate-limit.js';
import { closeServer } from './targets.js';

const identify: Middleware = async (ctx, next) => {
  ctx.client = { id: ctx.header('x-client') ?? 'anonymous', via: 'test', scopes: new Set() };
  return next();
};
const stamp = (name: string): Middleware => async (ctx, next) => {
  ctx.headers.set(`x-${name}`, '1');
  return next();
};

describe('fastify adapter', () => {
  it('respects encapsulation: a plugin registered in a child scope covers only that scope, and shares the context with the root one', async () => {
    const app = Fastify();
    await app.register(weir, { use: [identify, stamp('root')] });
    await app.register(async (child) => {
      await child.register(weir, { use: [stamp('child')] });
      child.get('/inner', (req, reply) => reply.send({ client: weirContext(req).client?.id }));
    });
    app.get('/outer', async () => ({ ok: true }));
    const inner = await app.inject({ url: '/inner', headers: { 'x-client': 'c1' } });
    expect(inner.json()).toEqual({ client: 'c1' });
    expect(inner.headers['x-root']).toBe('1');
    expect(inner.headers['x-child']).toBe('1');
    const outer = await app.inject({ url: '/outer' });
    expect(outer.headers['x-root']).toBe('1');
    expect(outer.headers['x-child']).toBeUndefined();
    await app.close();
  });

  it('answers a rate-limited request from onRequest, before the body is parsed', async () => {
    const app = Fastify();
    let parsed = 0;
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
      parsed++;
      done(null, JSON.parse(body as string));
    });
    await app.register(weir, { use: [rateLimit({ policies: [{ name: 'default', limit: 1, windowMs: 60_000 }], key: () => 'all' })] });
    app.post('/x', (req, reply) => reply.send(req.body));
    expect((await app.inject({ method: 'POST', url: '/x', payload: { a: 1 } })).statusCode).toBe(200);
    const denied = await app.inject({ method: 'POST', url: '/x', payload: { a: 1 } });
    expect(denied.statusCode).toBe(429);
    expect(denied.headers['content-type']).toBe('application/problem+json');
    expect(parsed).toBe(1);
    await app.close();
  });

  it('runs as route-level hooks, and still lets the handler read the parsed body after the fingerprint', async () => {
    const app = Fastify();
    let runs = 0;
    app.post('/orders', { ...weirHooks(idempotency({ store: memoryIdempotencyStore() })) }, async (req, reply) => {
      runs++;
      return reply.code(201).send({ got: req.body, runs });
    });
    app.post('/free', async () => ({ free: true }));
    const send = () => app.inject({ method: 'POST', url: '/orders', headers: { 'idempotency-key': 'k1' }, payload: { a: 1 } });
    const first = await send();
    expect(first.json()).toEqual({ got: { a: 1 }, runs: 1 });
    const again = await send();
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toBe(first.body);
    expect((await app.inject({ method: 'POST', url: '/free', payload: {} })).headers['idempotent-replayed']).toBeUndefined();
    await app.close();
  });
});

describe('express adapter', () => {
  it('fingerprints the same body whether weir runs before or after express.json()', async () => {
    const store = memoryIdempotencyStore();
    let runs = 0;
    const app = express();
    const handler = (req: express.Request, res: express.Response) => {
      runs++;
      res.status(201).json({ got: req.body as unknown });
    };
    app.post('/before', expressWeir(idempotency({ store, scope: () => 's' })), express.json(), handler);
    app.post('/after', express.json({ verify: (req, _res, buf) => ((req as { rawBody?: Buffer }).rawBody = buf) }), expressWeir(idempotency({ store, scope: () => 's2' })), handler);
    const { createServer } = await import('node:http');
    const server = createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const call = (path: string, body: string) =>
      fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'k' }, body });
    try {
      for (const path of ['/before', '/after']) {
        expect(await (await call(path, '{"a":1}')).json()).toEqual({ got: { a: 1 } });
        expect((await call(path, '{"a":1}')).headers.get('idempotent-replayed')).toBe('true');
        expect((await call(path, '{"a":2}')).status).toBe(422);
      }
      expect(runs).toBe(2);
    } finally {
      await closeServer(server);
    }
  });
});

const limit = () => rateLimit({ policies: [{ name: 'default', limit: 2, windowMs: 60_000 }], key: () => 'all' });

describe('chains of before-only middleware (no response capture)', () => {

  it('fastify registers no onSend hook and still puts the RateLimit fields on the handler’s response', async () => {
    const hooks = weirHooks(limit());
    expect(hooks.onSend).toBeUndefined();
    const app = Fastify();
    app.get('/x', { ...hooks }, (_req, reply) => reply.send({ ok: true }));
    const res = await app.inject({ url: '/x' });
    expect(res.statusCode).toBe(200);
    expect(res.headers.ratelimit).toBe('"default";r=1;t=30');
    await app.inject({ url: '/x' });
    expect((await app.inject({ url: '/x' })).statusCode).toBe(429);
    await app.close();
  });

  it('express writes the headers before the handler and answers a 429 itself', async () => {
    const app = express();
    app.get('/x', expressWeir(limit()), (_req, res) => {
      res.json({ ok: true });
    });
    const { createServer } = await import('node:http');
    const server = createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/x`;
    try {
      const ok = await fetch(url);
      expect(ok.headers.get('ratelimit')).toBe('"default";r=1;t=30');
      expect(await ok.json()).toEqual({ ok: true });
      await fetch(url);
      const denied = await fetch(url);
      expect(denied.status).toBe(429);
      expect(denied.headers.get('content-type')).toBe('application/problem+json');
    } finally {
      await closeServer(server);
    }
  });
});

describe('hono adapter', () => {
  it('weirContext() says when no weir() middleware ran', async () => {
    const app = new Hono();
    app.get('/', (c) => {
      expect(() => honoContext(c)).toThrow(/no weir\(\) middleware/);
      return c.text('ok');
    });
    expect((await app.request('/')).status).toBe(200);
  });
});
