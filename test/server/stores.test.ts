/**
 * The server's stores on every backend: idempotency records (begin/complete/release with fencing,
 * completeIn inside the caller's transaction) and rate-limit state (the same decisions as the
 * memory store, for the same sequence of requests).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryIdempotencyStore } from '../../src/server/idempotency-memory.js';
import type { RateLimitRule, RateLimitStore } from '../../src/server/rate-limit-algorithms.js';
import { memoryRateLimitStore } from '../../src/server/rate-limit-memory.js';
import { postgresRateLimitStore } from '../../src/server/rate-limit-postgres.js';
import type { IdempotencyStore } from '../../src/store/idempotency.js';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres/index.js';
import { redisIdempotencyStore, redisRateLimitStore } from '../../src/store/redis/index.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/types.js';
import { seededRandom } from '../../src/testing/seeded-random.js';
import { dropSchemas, postgresUrl, service, testSchema } from '../helpers/services.js';

const pgUp = await service('postgres', 'server stores on PostgreSQL (test/server/stores.test.ts)');
const redisUp = await service('redis', 'server stores on Redis (test/server/stores.test.ts)');
const schema = testSchema(import.meta.url);
const prefix = `weir-test:${process.pid}:${Date.now()}:`;
let redis: Redis | undefined;
let pgStore: PostgresStore | undefined;
let sqliteStore: SqliteStore | undefined;

beforeAll(async () => {
  if (redisUp) redis = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 2 });
  if (pgUp) pgStore = await openPostgresStore({ connectionString: await postgresUrl(), schema, max: 8 });
  sqliteStore = await openSqliteStore(':memory:');
});

afterAll(async () => {
  if (redis !== undefined) {
    const keys = (await redis.keys(`${prefix}*`)) as string[];
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }
  await pgStore?.close();
  if (pgUp) await dropSchemas([schema]);
  await sqliteStore?.close();
});

const T0 = Date.UTC(2026, 0, 1);
let n = 0;
const fresh = () => `k${n++}`;

const begin = (key: string, extra: Partial<{ now: number; fingerprint: string; scope: string }> = {}) => ({
  scope: 'c1',
  key,
  fingerprint: 'fp',
  now: T0,
  lockMs: 1000,
  ttlMs: 60_000,
  ...extra,
});

type IdemTarget = { name: string; up: boolean; make: () => IdempotencyStore; full?: () => Store };
const idempotencyTargets: IdemTarget[] = [
  { name: 'memory', up: true, make: () => memoryIdempotencyStore() },
  { name: 'sqlite', up: true, make: () => sqliteStore!.idempotency, full: () => sqliteStore! },
  { name: 'postgres', up: pgUp, make: () => pgStore!.idempotency, full: () => pgStore! },
  { name: 'redis', up: redisUp, make: () => redisIdempotencyStore(redis!, { prefix: `${prefix}idem:` }) },
];

describe.each(idempotencyTargets)('idempotency store: $name', ({ up, make, full }) => {
  it.skipIf(!up)('acquires once, then reports in flight, mismatch, completed; takes over an expired lock', async () => {
    const s = make();
    const key = fresh();
    expect(await s.begin(begin(key))).toEqual({ status: 'acquired' });
    expect(await s.begin(begin(key, { now: T0 + 1 }))).toMatchObject({ status: 'in_flight', record: { state: 'in_flight', lockedUntil: T0 + 1000 } });
    expect(await s.begin(begin(key, { fingerprint: 'other' }))).toMatchObject({ status: 'mismatch' });
    expect(await s.begin(begin(key, { scope: 'c2' }))).toEqual({ status: 'acquired' });
    expect(await s.begin(begin(key, { now: T0 + 1000 }))).toEqual({ status: 'acquired' });
    expect(await s.complete('c1', key, { status: 201 }, T0 + 10, 60_000, T0 + 2000)).toBe(true);
    expect(await s.begin(begin(key, { now: T0 + 20 }))).toMatchObject({ status: 'completed', record: { response: { status: 201 }, expiresAt: T0 + 60_010 } });
    expect(await s.get('c1', key)).toMatchObject({ state: 'completed', fingerprint: 'fp', createdAt: T0 });
    expect(await s.begin(begin(key, { now: T0 + 60_010, fingerprint: 'new' }))).toEqual({ status: 'acquired' });
  });

  it.skipIf(!up)('fences complete and release with the lock token', async () => {
    const s = make();
    const key = fresh();
    await s.begin(begin(key));
    await s.begin(begin(key, { now: T0 + 1000 })); // lock expired and taken over: token T0 + 2000
    expect(await s.complete('c1', key, { stale: true }, T0 + 1001, 60_000, T0 + 1000)).toBe(false);
    await s.release('c1', key, T0 + 1000);
    expect(await s.get('c1', key)).toMatchObject({ state: 'in_flight', lockedUntil: T0 + 2000 });
    await s.release('c1', key, T0 + 2000);
    expect(await s.get('c1', key)).toBeNull();
    expect(await s.complete('c1', key, {}, T0, 1000)).toBe(false);
  });

  it.skipIf(!up || full === undefined)('completes inside the caller’s transaction: commits with it, rolls back with it', async () => {
    const store = full!();
    const s = make();
    const key = fresh();
    await s.begin(begin(key));
    const completion = { scope: 'c1', key, response: { status: 201 }, now: T0 + 5, ttlMs: 60_000, lockedUntil: T0 + 1000 };
    const sync = store.capabilities.transactions === 'sync';
    await expect(
      store.transaction((tx) => {
        const ok = s.completeIn!(tx, completion);
        if (sync) {
          expect(ok).toBe(true);
          throw new Error('roll back');
        }
        return Promise.resolve(ok).then(() => {
          throw new Error('roll back');
        });
      }),
    ).rejects.toThrow('roll back');
    expect(await s.get('c1', key)).toMatchObject({ state: 'in_flight' });
    await store.transaction((tx) => (sync ? s.completeIn!(tx, completion) : Promise.resolve(s.completeIn!(tx, completion))));
    expect(await s.get('c1', key)).toMatchObject({ state: 'completed', response: { status: 201 } });
    // A stale token changes nothing inside a transaction either.
    const other = fresh();
    await s.begin(begin(other));
    const stale = await store.transaction((tx) => s.completeIn!(tx, { ...completion, key: other, lockedUntil: T0 + 1 }));
    expect(stale).toBe(false);
  });

  it.skipIf(!up)('lets exactly one of 50 concurrent begins acquire', async () => {
    const s = make();
    const key = fresh();
    const results = await Promise.all(Array.from({ length: 50 }, () => s.begin(begin(key))));
    expect(results.filter((r) => r.status === 'acquired')).toHaveLength(1);
  });
});

type RlTarget = { name: string; up: boolean; make: () => RateLimitStore };
const rateLimitTargets: RlTarget[] = [
  { name: 'postgres', up: pgUp, make: () => postgresRateLimitStore(pgStore!) },
  { name: 'redis', up: redisUp, make: () => redisRateLimitStore(redis!, { prefix: `${prefix}rl:` }) },
];

describe.each(rateLimitTargets)('rate-limit store: $name', ({ up, make }) => {
  const rules: RateLimitRule[] = [
    { name: 'bucket', limit: 5, windowMs: 10_000, algorithm: 'token-bucket' },
    { name: 'window', limit: 8, windowMs: 30_000, algorithm: 'sliding-window' },
  ];

  it.skipIf(!up)('decides exactly as the memory store over a random sequence of requests', async () => {
    const store = make();
    const memory = memoryRateLimitStore();
    const random = seededRandom(42);
    const key = fresh();
    let now = T0 + 123;
    for (let i = 0; i < 150; i++) {
      now += Math.floor(random() * 2500);
      const cost = random() < 0.2 ? 2 : 1;
      const request = { key, rules, cost, now };
      expect(await store.consume(request), `request ${i}`).toEqual(memory.consumeSync(request));
    }
  });

  it.skipIf(!up)('admits exactly the limit under 40 concurrent requests', async () => {
    const store = make();
    const key = fresh();
    const single: RateLimitRule[] = [{ name: 'only', limit: 10, windowMs: 60_000, algorithm: 'token-bucket' }];
    const all = await Promise.all(Array.from({ length: 40 }, () => store.consume({ key, rules: single, cost: 1, now: T0 })));
    expect(all.filter((d) => d[0]!.allowed)).toHaveLength(10);
  });
});

