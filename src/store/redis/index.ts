/**
 * `weir/store/redis`: idempotency records and rate-limit state in Redis, for many stateless API
 * instances. Only these two concerns: the queue and everything durable stay in SQLite or
 * PostgreSQL. `ioredis` is an optional peer: pass your client; this subpath never imports it.
 * @packageDocumentation
 */
export type { RedisLike } from './client.js';
export { RedisIdempotencyStore, redisIdempotencyStore, type RedisIdempotencyOptions } from './idempotency.js';
export { redisRateLimitStore, type RedisRateLimitOptions } from './rate-limit.js';
