/**
 * One Fastify server for `bench/server.bench.ts`, in its own process so the load generator does not
 * share its event loop. Plain JavaScript over the built package (`dist/`, made by `npm run bench`),
 * as an application would run it. CASE selects the protection; prints `LISTENING <port>`.
 */
import { hash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fastifyRateLimit from '@fastify/rate-limit';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { idempotency, memoryIdempotencyStore, rateLimit } from '../dist/server/index.js';
import { weir } from '../dist/server/fastify/index.js';
import { redisIdempotencyStore, redisRateLimitStore } from '../dist/store/redis/index.js';
import { openSqliteStore } from '../dist/store/sqlite/index.js';

const CASE = process.env.CASE ?? 'plain';
const HUGE = 1_000_000_000;
const app = Fastify({ logger: false });
const prefix = `weir-bench:${process.pid}:`;
let redis;

if (CASE === 'weir-rate-limit') {
  await app.register(weir, { use: [rateLimit({ policies: [{ name: 'default', limit: HUGE, windowMs: 60_000 }] })] });
} else if (CASE === 'weir-rate-limit-redis') {
  redis = new Redis({ host: '127.0.0.1', port: 6379, enableAutoPipelining: true });
  await app.register(weir, { use: [rateLimit({ policies: [{ name: 'default', limit: HUGE, windowMs: 60_000 }], store: redisRateLimitStore(redis, { prefix }) })] });
} else if (CASE === 'fastify-rate-limit') {
  await app.register(fastifyRateLimit, { max: HUGE, timeWindow: 60_000 });
} else if (CASE === 'weir-idempotency-sqlite') {
  const store = await openSqliteStore(join(mkdtempSync(join(tmpdir(), 'weir-bench-')), 'bench.db'), { durability: 'normal' });
  await app.register(weir, { use: [idempotency({ store })] });
} else if (CASE === 'weir-body') {
  await app.register(weir, { use: [async (ctx, next) => { await ctx.body(); await next(); }] });
} else if (CASE === 'weir-idempotency-noop') {
  // Every key is new and nothing is kept: the middleware's own cost, without a store's.
  const noop = { begin: async () => ({ status: 'acquired' }), complete: async () => true, release: async () => undefined, get: async () => null, purge: async () => 0 };
  await app.register(weir, { use: [idempotency({ store: noop })] });
} else if (CASE === 'weir-idempotency-memory') {
  await app.register(weir, { use: [idempotency({ store: memoryIdempotencyStore(), retentionMs: 60_000 })] });
} else if (CASE === 'weir-idempotency-redis' || CASE === 'weir-idempotency-redis-direct') {
  // The store batches its own script calls; ioredis's auto-pipelining then only adds a Pipeline
  // object per batch. Both are measured: with it (a client shared with other uses) and without.
  redis = new Redis({ host: '127.0.0.1', port: 6379, enableAutoPipelining: CASE === 'weir-idempotency-redis' });
  await app.register(weir, { use: [idempotency({ store: redisIdempotencyStore(redis, { prefix }), retentionMs: 60_000 })] });
} else if (CASE === 'floor-idempotency-redis') {
  // The floor, not a product: about the least an idempotency layer on Redis can do for a fresh POST.
  // One `SET key NX GET` claims the key before the handler (an existing record answers 409 here,
  // with no replay, fingerprint check or key syntax check), one `SET` stores status and body in
  // onSend; the fingerprint is a digest of the parsed body, no header is captured. ioredis with
  // auto-pipelining, so concurrent requests share round trips.
  redis = new Redis({ host: '127.0.0.1', port: 6379, enableAutoPipelining: true });
  const kFloorKey = Symbol('floor.key');
  app.decorateRequest(kFloorKey, null);
  app.addHook('preHandler', async (req, reply) => {
    const key = req.headers['idempotency-key'];
    if (req.method !== 'POST' || typeof key !== 'string') return;
    const k = `${prefix}${key}`;
    const fingerprint = hash('sha256', `${req.method} ${req.url} ${JSON.stringify(req.body)}`, 'base64url');
    const previous = await redis.set(k, `in-flight ${fingerprint}`, 'PX', 60_000, 'NX', 'GET');
    if (previous !== null) return reply.code(409).send({ title: 'in flight or done' });
    req[kFloorKey] = k;
  });
  app.addHook('onSend', async (req, reply, payload) => {
    const k = req[kFloorKey];
    if (k !== null) await redis.set(k, JSON.stringify({ status: reply.statusCode, body: String(payload) }), 'PX', 60_000);
    return payload;
  });
}

app.get('/', async () => ({ hello: 'world' }));
// The bench reads the server's CPU time before and after each run: CPU per request is robust to a busy machine.
app.get('/__cpu', async () => process.cpuUsage());
app.post('/orders', async (req, reply) => reply.code(201).send({ id: 1, item: req.body?.item }));

await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`LISTENING ${app.server.address().port}\n`);
process.on('SIGTERM', () => {
  void (async () => {
    if (redis !== undefined) {
      const keys = await redis.keys(`${prefix}*`);
      for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
      redis.disconnect();
    }
    await app.close();
    process.exit(0);
  })();
});
