import { createHash } from 'node:crypto';
import { storeError } from '../shared.js';

/**
 * The part of an ioredis client Weir uses: `call(command, ...args)`. An `ioredis` `Redis` (v5 or
 * v6) fits as it is; so does anything else with the same method (a cluster client, a test double).
 */
export interface RedisLike {
  call(command: string, ...args: Array<string | number | Buffer>): Promise<unknown>;
}

/**
 * A Lua script run by SHA (`EVALSHA`), loaded on first use or after a `SCRIPT FLUSH` (`NOSCRIPT`).
 * The command names are sent in lower case, as ioredis spells them, so its
 * `autoPipeliningIgnoredCommands: ['evalsha', 'eval']` applies to them.
 */
export class Script {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: RedisLike, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    try {
      return await redis.call('evalsha', this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error)?.message).includes('NOSCRIPT')) throw storeError(`Redis script failed: ${(err as Error).message}`, err);
    }
    try {
      return await redis.call('eval', this.source, keys.length, ...keys, ...args);
    } catch (err) {
      throw storeError(`Redis script failed: ${(err as Error).message}`, err);
    }
  }
}

/** A key prefix: non-empty, no spaces. */
export function prefixOf(value: string | undefined, fallback: string): string {
  return value === undefined || value.length === 0 ? fallback : value;
}
