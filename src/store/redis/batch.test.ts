import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { service } from '../../../test/helpers/services.js';
import { hashTag, jsonString, ScriptBatcher } from './batch.js';
import { type RedisLike, Script } from './client.js';
import { redisIdempotencyStore } from './idempotency.js';

/** A RedisLike whose calls stay pending until the test answers them. */
function fakeRedis(): { redis: RedisLike; calls: Array<{ args: unknown[]; answer: (v: unknown) => void; fail: (e: unknown) => void }> } {
  const calls: Array<{ args: unknown[]; answer: (v: unknown) => void; fail: (e: unknown) => void }> = [];
  const redis: RedisLike = {
    call: (command, ...args) =>
      new Promise((answer, fail) => {
        calls.push({ args: [command, ...args], answer, fail });
      }),
  };
  return { redis, calls };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('ScriptBatcher', () => {
  it('sends the first operation at once, then batches what arrives while a call is in flight, in order', async () => {
    const { redis, calls } = fakeRedis();
    const batcher = new ScriptBatcher(redis, new Script('return ARGV[1]'));
    const first = batcher.run('k:{a}:1', '["x","1"]');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args).toEqual(['evalsha', expect.any(String), 1, 'k:{a}:1', '[["x","1"]]']);
    const second = batcher.run('k:{a}:2', '["y"]', 'blob-2');
    const third = batcher.run('k:{a}:3', '["z"]');
    expect(calls).toHaveLength(1);
    calls[0]!.answer('["one"]');
    expect(await first).toBe('one');
    await tick();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.args).toEqual(['evalsha', expect.any(String), 2, 'k:{a}:2', 'k:{a}:3', '[["y"],["z"]]', 'blob-2']);
    calls[1]!.answer('[["two"],3]');
    expect(await second).toEqual(['two']);
    expect(await third).toBe(3);
  });

  it('keeps one lane per hash tag, so a batch never spans cluster slots', async () => {
    const { redis, calls } = fakeRedis();
    const batcher = new ScriptBatcher(redis, new Script('return 1'));
    const a = batcher.run('p:{a}:1', '[]');
    const b = batcher.run('p:{b}:1', '[]');
    expect(calls.map((c) => c.args[3])).toEqual(['p:{a}:1', 'p:{b}:1']);
    calls[0]!.answer('[1]');
    calls[1]!.answer('[2]');
    expect([await a, await b]).toEqual([1, 2]);
  });

  it('rejects every operation of a failed call, and carries on with the next batch', async () => {
    const { redis, calls } = fakeRedis();
    const batcher = new ScriptBatcher(redis, new Script('return 1'));
    const first = batcher.run('k:{a}:1', '[]');
    const queued = batcher.run('k:{a}:2', '[]');
    calls[0]!.fail(new Error('connection reset'));
    await expect(first).rejects.toMatchObject({ code: 'WEIR_STORE' });
    await tick();
    calls[1]!.answer('[7]');
    expect(await queued).toBe(7);
  });

  it('rejects operations the script answered nothing for', async () => {
    const { redis, calls } = fakeRedis();
    const batcher = new ScriptBatcher(redis, new Script('return 1'));
    const op = batcher.run('k:{a}:1', '[]');
    calls[0]!.answer('[]');
    await expect(op).rejects.toMatchObject({ code: 'WEIR_STORE' });
  });
});

describe('hashTag and jsonString', () => {
  it('finds the hash tag as Redis Cluster does', () => {
    expect(hashTag('weir:idem:{client:1}:k')).toBe('client:1');
    expect(hashTag('no-tag')).toBe('no-tag');
    expect(hashTag('a{}b{c}')).toBe('a{}b{c}');
    expect(hashTag('a{b')).toBe('a{b');
  });

  it('writes JSON string literals, escaping when needed', () => {
    for (const s of ['', 'abc', 'Xi-_/+=.:09', 'q"x', 'back\\slash', 'é', 'line\nbreak']) expect(JSON.parse(jsonString(s))).toBe(s);
    expect(jsonString('plain-1')).toBe('"plain-1"');
  });
});

const begin = (key: string, fingerprint = 'fp') => ({ scope: 'c1', key, fingerprint, now: 1_000, lockMs: 1_000, ttlMs: 60_000 });

const redisUp = await service('redis', 'the batched Redis idempotency script (src/store/redis/batch.test.ts)');

describe.skipIf(!redisUp)('batched idempotency script on Redis', () => {
  const prefix = `weir-test-batch:${process.pid}:`;
  const redis = redisUp ? new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 2 }) : undefined;
  afterAll(async () => {
    if (redis === undefined) return;
    const keys = (await redis.keys(`${prefix}*`)) as string[];
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('batches concurrent requests, each seeing the ones before it, and isolates a key of the wrong type', async () => {
    const store = redisIdempotencyStore(redis!, { prefix });
    await redis!.set(`${prefix}{c1}:wrong-type`, 'a string');
    const [a, b, c, wrong, d] = await Promise.allSettled([
      store.begin(begin('k1')),
      store.begin(begin('k1')),
      store.begin(begin('k1', 'other')),
      store.begin(begin('wrong-type')),
      store.begin(begin('k2')),
    ]);
    expect(a).toEqual({ status: 'fulfilled', value: { status: 'acquired' } });
    expect(b).toMatchObject({ status: 'fulfilled', value: { status: 'in_flight' } });
    expect(c).toMatchObject({ status: 'fulfilled', value: { status: 'mismatch' } });
    expect(wrong).toMatchObject({ status: 'rejected', reason: { code: 'WEIR_STORE' } });
    expect(d).toEqual({ status: 'fulfilled', value: { status: 'acquired' } });
  });

  it('stores a response with quotes, backslashes and non-ASCII text as it was given', async () => {
    const store = redisIdempotencyStore(redis!, { prefix });
    const response = { v: 1, status: 201, headers: [['x-note', 'say "hi" \\ é ✓']], body: 'e30=' };
    await store.begin(begin('k3'));
    const [done, other] = await Promise.all([store.complete('c1', 'k3', response, 1_010, 60_000, 2_000), store.begin(begin('k4'))]);
    expect(done).toBe(true);
    expect(other).toEqual({ status: 'acquired' });
    expect(await store.begin(begin('k3'))).toMatchObject({ status: 'completed', record: { response } });
    await store.release('c1', 'k4', 2_000);
    expect(await store.get('c1', 'k4')).toBeNull();
  });
});

describe('ScriptBatcher check', () => {
  it('rejects only the operation whose entry the check refuses', async () => {
    const { redis, calls } = fakeRedis();
    const batcher = new ScriptBatcher(redis, new Script('return 1'), (entry) => {
      if (entry === 'bad') throw new Error('refused');
      return entry;
    });
    const first = batcher.run('k:{a}:1', '[]');
    const second = batcher.run('k:{a}:2', '[]');
    const third = batcher.run('k:{a}:3', '[]');
    calls[0]!.answer('["ok"]');
    await tick();
    calls[1]!.answer('["bad","fine"]');
    expect(await first).toBe('ok');
    await expect(second).rejects.toThrow('refused');
    expect(await third).toBe('fine');
  });
});

const req = (scope: string, key: string) => ({ scope, key, fingerprint: 'fp', now: 1_000, lockMs: 1_000, ttlMs: 60_000 });

describe('redisIdempotencyStore lanes', () => {

  it('batches one scope per call by default (one hash slot), every scope together on a single shard', async () => {
    for (const singleShard of [false, true]) {
      const { redis, calls } = fakeRedis();
      const store = redisIdempotencyStore(redis, { prefix: 'p:', singleShard });
      const first = store.begin(req('a', 'k0'));
      const others = [store.begin(req('a', 'k1')), store.begin(req('b', 'k2')), store.begin(req('b', 'k3'))];
      const keysOf = (i: number) => calls[i]!.args.slice(3, 3 + Number(calls[i]!.args[2]));
      if (singleShard) {
        expect(calls).toHaveLength(1);
        calls[0]!.answer('[["acquired"]]');
        await first;
        await tick();
        expect(calls).toHaveLength(2);
        expect(keysOf(1)).toEqual(['p:{a}:k1', 'p:{b}:k2', 'p:{b}:k3']);
        calls[1]!.answer('[["acquired"],["acquired"],["acquired"]]');
      } else {
        expect(calls.map((_, i) => keysOf(i))).toEqual([['p:{a}:k0'], ['p:{b}:k2']]);
        calls[0]!.answer('[["acquired"]]');
        calls[1]!.answer('[["acquired"]]');
        await first;
        await tick();
        expect(calls.slice(2).map((_, i) => keysOf(i + 2))).toEqual([['p:{a}:k1'], ['p:{b}:k3']]);
        calls[2]!.answer('[["acquired"]]');
        calls[3]!.answer('[["acquired"]]');
      }
      expect(await Promise.all(others)).toEqual([{ status: 'acquired' }, { status: 'acquired' }, { status: 'acquired' }]);
    }
  });
});
