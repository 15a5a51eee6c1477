import type { RateLimitConsume, RateLimitDecision, RateLimitStore } from '../../server/rate-limit-algorithms.js';
import { type RedisLike, Script, prefixOf } from './client.js';
import { CONSUME } from './rate-limit.lua.js';

const consume = new Script(CONSUME);

/** Options of {@link redisRateLimitStore}. */
export interface RedisRateLimitOptions {
  /** Prefix of every key. Default `'weir:rl:'`. */
  prefix?: string;
}

/**
 * Rate-limit state in Redis, shared by many API instances: one Lua script per request applies
 * every policy of the partition atomically (token bucket as GCRA, or sliding window). Time is the
 * calling instance's clock, so keep the instances' clocks in sync (NTP). Import from
 * `weir/store/redis`.
 *
 * @example
 * ```ts
 * rateLimit({ policies: [{ name: 'default', limit: 100, windowMs: 60_000 }], store: redisRateLimitStore(redis) })
 * ```
 */
export function redisRateLimitStore(redis: RedisLike, options: RedisRateLimitOptions = {}): RateLimitStore {
  const prefix = prefixOf(options.prefix, 'weir:rl:');
  return {
    async consume(r: RateLimitConsume): Promise<readonly RateLimitDecision[]> {
      // The partition in braces keeps its rules on one cluster slot, as one script needs.
      const keys = r.rules.map((rule) => `${prefix}{${r.key}}:${rule.name}`);
      const args: Array<string | number> = [r.now, r.cost];
      for (const rule of r.rules) args.push(rule.algorithm === 'token-bucket' ? 1 : 2, rule.limit, rule.windowMs);
      const out = (await consume.run(redis, keys, args)) as number[];
      return r.rules.map((_, i) => ({
        allowed: Number(out[i * 4]) === 1,
        remaining: Number(out[i * 4 + 1]),
        resetMs: Number(out[i * 4 + 2]),
        retryAfterMs: Number(out[i * 4 + 3]),
      }));
    },
  };
}
