import { decide, decideAll, expiresAt, type RateLimitConsume, type RateLimitDecision, type RateLimitRule, type RateLimitStore, type RuleState } from './rate-limit-algorithms.js';

/**
 * Rate-limit state in this process's memory: right for one instance (and the fastest). Each call
 * is synchronous underneath, so rules apply atomically. Drained entries are swept every 4096
 * calls (no timer). For many instances use `redisRateLimitStore()` (`weir/store/redis`) or
 * `postgresRateLimitStore()`. Import from `weir/server`.
 * @example `rateLimit({ policies, store: memoryRateLimitStore() })`
 */
export function memoryRateLimitStore(): MemoryRateLimitStore {
  return new MemoryRateLimitStore();
}

export class MemoryRateLimitStore implements RateLimitStore {
  /** Per policy name, per partition: no key concatenation on the hot path. */
  private readonly states = new Map<string, Map<string, Entry>>();
  private calls = 0;

  /** How many partition × policy entries are held. */
  get size(): number {
    let n = 0;
    for (const m of this.states.values()) n += m.size;
    return n;
  }

  consume(r: RateLimitConsume): Promise<readonly RateLimitDecision[]> {
    return Promise.resolve(this.consumeSync(r));
  }

  /** The same, synchronously (for callers that can skip the promise). */
  consumeSync(r: RateLimitConsume): readonly RateLimitDecision[] {
    if (++this.calls % 4096 === 0) this.sweep(r.now);
    if (r.rules.length === 1) return this.one(r.rules[0] as RateLimitRule, r);
    const maps = r.rules.map((rule) => this.mapOf(rule.name));
    const states = maps.map((m) => m.get(r.key)?.state);
    const { decisions, next } = decideAll(r.rules, states, r.now, r.cost);
    if (next !== undefined) {
      next.forEach((state, i) => {
        if (state !== undefined) (maps[i] as Map<string, Entry>).set(r.key, { state, until: expiresAt(r.rules[i] as RateLimitRule, state) });
      });
    }
    return decisions;
  }

  /** One policy (the common case): no arrays. */
  private one(rule: RateLimitRule, r: RateLimitConsume): readonly RateLimitDecision[] {
    const map = this.mapOf(rule.name);
    const entry = map.get(r.key);
    const [decision, state] = decide(rule, entry?.state, r.now, r.cost);
    if (decision.allowed && state !== undefined) {
      const until = expiresAt(rule, state);
      if (entry === undefined) map.set(r.key, { state, until });
      else {
        entry.state = state;
        entry.until = until;
      }
    }
    return [decision];
  }

  private mapOf(name: string): Map<string, Entry> {
    let m = this.states.get(name);
    if (m === undefined) {
      m = new Map();
      this.states.set(name, m);
    }
    return m;
  }

  private sweep(now: number): void {
    for (const m of this.states.values()) for (const [key, entry] of m) if (entry.until <= now) m.delete(key);
  }
}

interface Entry {
  state: RuleState;
  until: number;
}
