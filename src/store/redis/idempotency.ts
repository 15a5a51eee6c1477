import type { IdempotencyBegin, IdempotencyBeginRequest, IdempotencyRecord, IdempotencyStore } from '../idempotency.js';
import { type RedisLike, Script, prefixOf } from './client.js';
import * as lua from './idempotency.lua.js';

const begin = new Script(lua.BEGIN);
const complete = new Script(lua.COMPLETE);
const release = new Script(lua.RELEASE);

/** Options of {@link redisIdempotencyStore}. */
export interface RedisIdempotencyOptions {
  /** Prefix of every key. Default `'weir:idem:'`. */
  prefix?: string;
  /**
   * Extra time Redis keeps a record after its logical expiry before deleting it, in ms (records
   * are judged by the caller's clock; Redis's own expiry only collects garbage). Default 60_000.
   */
  graceMs?: number;
}

/**
 * Idempotency records in Redis, for many stateless API instances: each operation is one Lua
 * script, so `begin()` is atomic across every instance that shares the Redis. Records cannot join
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

  constructor(
    private readonly redis: RedisLike,
    options: RedisIdempotencyOptions = {},
  ) {
    this.prefix = prefixOf(options.prefix, 'weir:idem:');
    this.graceMs = options.graceMs ?? 60_000;
  }

  /** One hash per record; the scope in braces keeps a client's keys on one cluster slot. */
  private keyOf(scope: string, key: string): string {
    return `${this.prefix}{${scope}}:${key}`;
  }

  async begin(r: IdempotencyBeginRequest): Promise<IdempotencyBegin> {
    const out = (await begin.run(
      this.redis,
      [this.keyOf(r.scope, r.key)],
      [r.fingerprint, r.now, r.now + r.lockMs, r.now + r.ttlMs, Math.max(r.ttlMs, r.lockMs) + this.graceMs],
    )) as unknown[];
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
    const out = await complete.run(
      this.redis,
      [this.keyOf(scope, key)],
      [JSON.stringify(response ?? null), now + ttlMs, ttlMs + this.graceMs, lockedUntil === undefined ? '' : lockedUntil],
    );
    return Number(out) === 1;
  }

  async release(scope: string, key: string, lockedUntil?: number): Promise<void> {
    await release.run(this.redis, [this.keyOf(scope, key)], [lockedUntil === undefined ? '' : lockedUntil]);
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

/** HGETALL answers a flat array (raw `call`) or an object (ioredis's `hgetall`). */
function toRecord(value: unknown): Record<string, string> {
  if (Array.isArray(value)) {
    const out: Record<string, string> = {};
    for (let i = 0; i + 1 < value.length; i += 2) out[String(value[i])] = String(value[i + 1]);
    return out;
  }
  return (value ?? {}) as Record<string, string>;
}
