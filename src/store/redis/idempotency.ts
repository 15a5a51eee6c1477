import type { IdempotencyBegin, IdempotencyBeginRequest, IdempotencyRecord, IdempotencyStore } from '../idempotency.js';
import { storeError } from '../shared.js';
import { hashTag, jsonString, ScriptBatcher } from './batch.js';
import { type RedisLike, Script, prefixOf } from './client.js';
import { BATCH } from './idempotency.lua.js';

const batch = new Script(BATCH);

/** Options of {@link redisIdempotencyStore}. */
export interface RedisIdempotencyOptions {
  /** Prefix of every key. Default `'weir:idem:'`. */
  prefix?: string;
  /**
   * Extra time Redis keeps a record after its logical expiry before deleting it, in ms (records
   * are judged by the caller's clock; Redis's own expiry only collects garbage). Default 60_000.
   */
  graceMs?: number;
  /**
   * The Redis behind the client is a single shard: a standalone server (with replicas or Sentinel
   * or not). Then the operations of every client go together in one script call; otherwise only
   * those of one scope (one hash slot) do, which is what Redis Cluster and sharding proxies
   * accept (they refuse a script whose keys span slots: `CROSSSLOT`). Default false. Turn it on
   * for a standalone Redis serving many clients at once: fewer, larger calls.
   */
  singleShard?: boolean;
}

/**
 * Idempotency records in Redis, for many stateless API instances: each operation runs in a Lua
 * script, so `begin()` is atomic across every instance that shares the Redis. Operations issued
 * while a call is in flight go together in the next call (one `EVALSHA` for many requests, grouped
 * by hash slot), which keeps the per-request cost low under load. Records cannot join
 * a database transaction (there is no `completeIn`); expired records are deleted by Redis, so
 * `purge()` has nothing to do. Import from `weir/store/redis`.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { redisIdempotencyStore } from 'weir/store/redis';
 * app.use(weir(idempotency({ store: redisIdempotencyStore(new Redis(process.env.REDIS_URL)) })));
 * ```
 */
export function redisIdempotencyStore(redis: RedisLike, options: RedisIdempotencyOptions = {}): RedisIdempotencyStore {
  return new RedisIdempotencyStore(redis, options);
}

export class RedisIdempotencyStore implements IdempotencyStore {
  private readonly prefix: string;
  private readonly graceMs: number;
  private readonly batcher: ScriptBatcher;
  private readonly prefixHasBrace: boolean;
  private readonly singleShard: boolean;

  constructor(
    private readonly redis: RedisLike,
    options: RedisIdempotencyOptions = {},
  ) {
    this.prefix = prefixOf(options.prefix, 'weir:idem:');
    this.graceMs = options.graceMs ?? 60_000;
    this.batcher = new ScriptBatcher(redis, batch, checked);
    this.prefixHasBrace = this.prefix.includes('{');
    this.singleShard = options.singleShard === true;
  }

  /**
   * Runs one operation of the batch script (`json`: its arguments, numbers as strings); an
   * `['error', message]` answer rejects. A scope's keys share a hash slot (see {@link keyOf}), so
   * the scope itself names the batch lane, unless the braces would not make it the hash tag; on a
   * single shard, one lane serves every key.
   */
  private op(scope: string, key: string, json: string, blob?: string): Promise<unknown> {
    const k = this.keyOf(scope, key);
    const lane = this.singleShard ? '' : this.prefixHasBrace || scope.length === 0 || scope.charCodeAt(0) === 125 /* } */ ? hashTag(k) : scope;
    return this.batcher.run(k, json, blob, lane);
  }

  /** One hash per record; the scope in braces keeps a client's keys on one cluster slot. */
  private keyOf(scope: string, key: string): string {
    return `${this.prefix}{${scope}}:${key}`;
  }

  async begin(r: IdempotencyBeginRequest): Promise<IdempotencyBegin> {
    const lockedUntil = r.now + r.lockMs;
    const json = `["b",${jsonString(r.fingerprint)},"${r.now}","${lockedUntil}","${r.now + r.ttlMs}","${Math.max(r.ttlMs, r.lockMs) + this.graceMs}"]`;
    const out = (await this.op(r.scope, r.key, json)) as unknown[];
    const status = String(out[0]);
    if (status === 'acquired') return { status };
    return { status: status as 'in_flight' | 'mismatch' | 'completed', record: this.record(r.scope, r.key, out.slice(1).map(String)) };
  }

  private record(scope: string, key: string, f: readonly string[]): IdempotencyRecord {
    const [fingerprint, state, lockedUntil, createdAt, expiresAt, response] = f;
    return {
      scope,
      key,
      fingerprint: fingerprint ?? '',
      state: state === 'completed' ? 'completed' : 'in_flight',
      response: response === undefined || response === '' ? null : (JSON.parse(response) as unknown),
      lockedUntil: lockedUntil === undefined || lockedUntil === '' ? null : Number(lockedUntil),
      createdAt: Number(createdAt),
      expiresAt: Number(expiresAt),
    };
  }

  async complete(scope: string, key: string, response: unknown, now: number, ttlMs: number, lockedUntil?: number): Promise<boolean> {
    const json = `["c","${now + ttlMs}","${ttlMs + this.graceMs}","${lockedUntil === undefined ? '' : lockedUntil}"]`;
    const out = await this.op(scope, key, json, JSON.stringify(response ?? null));
    return Number(out) === 1;
  }

  async release(scope: string, key: string, lockedUntil?: number): Promise<void> {
    await this.op(scope, key, `["r","${lockedUntil === undefined ? '' : lockedUntil}"]`);
  }

  async get(scope: string, key: string): Promise<IdempotencyRecord | null> {
    const h = (await this.redis.call('HGETALL', this.keyOf(scope, key))) as unknown;
    const fields = toRecord(h);
    if (fields.fp === undefined) return null;
    return this.record(scope, key, [fields.fp, fields.st ?? '', fields.lu ?? '', fields.ca ?? '0', fields.ea ?? '0', fields.rs ?? '']);
  }

  /** Redis deletes expired records itself. @returns 0 */
  async purge(_now: number): Promise<number> {
    return 0;
  }
}

function checked(out: unknown): unknown {
  if (Array.isArray(out) && out[0] === 'error') throw storeError(`Redis script failed: ${String(out[1])}`, undefined);
  return out;
}

/** HGETALL answers a flat array (raw `call`) or an object (ioredis's `hgetall`). */
function toRecord(value: unknown): Record<string, string> {
  if (Array.isArray(value)) {
    const out: Record<string, string> = {};
    for (let i = 0; i + 1 < value.length; i += 2) out[String(value[i])] = String(value[i + 1]);
    return out;
  }
  return (value ?? {}) as Record<string, string>;
}
