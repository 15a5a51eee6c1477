/**
 * The two rate-limit algorithms as pure functions over a small state, so the memory store, the
 * PostgreSQL store (in a transaction) and the Redis store (the same arithmetic in Lua) agree.
 */

/** How a policy counts. */
export type RateLimitAlgorithm = 'token-bucket' | 'sliding-window';

/** A normalised policy, as stores receive it. */
export interface RateLimitRule {
  /** Names the policy in `RateLimit` headers and problem bodies. */
  readonly name: string;
  /** Requests (quota units) per window. */
  readonly limit: number;
  readonly windowMs: number;
  readonly algorithm: RateLimitAlgorithm;
}

/** One store call: all of `rules` for one partition, applied all-or-nothing. */
export interface RateLimitConsume {
  /** The partition (client, tenant, IP). */
  readonly key: string;
  readonly rules: readonly RateLimitRule[];
  /** Units this request costs. */
  readonly cost: number;
  readonly now: number;
}

/** The outcome for one rule. */
export interface RateLimitDecision {
  readonly allowed: boolean;
  /** Units still available now (after this request when allowed). */
  readonly remaining: number;
  /** Allowed: ms until the quota is whole again (token bucket) or the window ends (sliding window). Denied: as `retryAfterMs`. */
  readonly resetMs: number;
  /** Denied: ms until a request of this cost would be allowed. 0 when allowed. */
  readonly retryAfterMs: number;
}

/** Token bucket state (GCRA): the theoretical arrival time. */
export interface BucketState {
  readonly tat: number;
}

/** Sliding window state: the current fixed window's start and count, and the previous window's count. */
export interface WindowState {
  readonly start: number;
  readonly cur: number;
  readonly prev: number;
}

export type RuleState = BucketState | WindowState;

const EPS = 1e-9;

/**
 * Token bucket as GCRA (generic cell rate algorithm): `limit` units refill evenly over `windowMs`
 * and a full bucket allows a burst of `limit`. One number of state per partition.
 */
export function tokenBucket(rule: RateLimitRule, state: BucketState | undefined, now: number, cost: number): [RateLimitDecision, BucketState | undefined] {
  const interval = rule.windowMs / rule.limit;
  const tat = Math.max(state?.tat ?? now, now);
  const newTat = tat + cost * interval;
  const allowAt = newTat - rule.windowMs;
  if (allowAt <= now + EPS) {
    const remaining = Math.max(0, Math.floor((rule.windowMs - (newTat - now)) / interval + EPS));
    return [{ allowed: true, remaining, resetMs: Math.ceil(newTat - now), retryAfterMs: 0 }, { tat: newTat }];
  }
  const retryAfterMs = Math.ceil(allowAt - now);
  const remaining = Math.max(0, Math.floor((rule.windowMs - (tat - now)) / interval + EPS));
  return [{ allowed: false, remaining, resetMs: retryAfterMs, retryAfterMs }, state];
}

/**
 * Sliding window counter (two fixed windows, the previous one weighted by how much of it still
 * overlaps the sliding window): smooth like a log, two counters of state.
 */
export function slidingWindow(rule: RateLimitRule, state: WindowState | undefined, now: number, cost: number): [RateLimitDecision, WindowState | undefined] {
  const w = rule.windowMs;
  const limit = rule.limit;
  const start = Math.floor(now / w) * w;
  let cur = 0;
  let prev = 0;
  if (state !== undefined) {
    if (state.start === start) {
      cur = state.cur;
      prev = state.prev;
    } else if (state.start === start - w) {
      prev = state.cur;
    }
  }
  const weight = (w - (now - start)) / w;
  const used = prev * weight + cur;
  if (used + cost <= limit + EPS) {
    const next = { start, cur: cur + cost, prev };
    const remaining = Math.max(0, Math.floor(limit - (prev * weight + next.cur) + EPS));
    return [{ allowed: true, remaining, resetMs: start + w - now, retryAfterMs: 0 }, next];
  }
  // Earliest time the request fits: later in this window (the previous window's weight shrinks) or in the next.
  let at = Number.POSITIVE_INFINITY;
  const room = limit - cost - cur;
  if (room >= 0 && prev > 0) {
    const t = start + w * (1 - room / prev);
    if (t < start + w) at = t;
  }
  if (at === Number.POSITIVE_INFINITY) {
    const nextStart = start + w;
    at = cur <= limit - cost ? nextStart : nextStart + w * (1 - (limit - cost) / cur);
  }
  const retryAfterMs = Math.max(1, Math.ceil(at - now));
  return [{ allowed: false, remaining: Math.max(0, Math.floor(limit - used + EPS)), resetMs: retryAfterMs, retryAfterMs }, state];
}

/** Applies one rule to its state. */
export function decide(rule: RateLimitRule, state: RuleState | undefined, now: number, cost: number): [RateLimitDecision, RuleState | undefined] {
  return rule.algorithm === 'token-bucket'
    ? tokenBucket(rule, state as BucketState | undefined, now, cost)
    : slidingWindow(rule, state as WindowState | undefined, now, cost);
}

/** When a state no longer says anything (the bucket is full, the windows are past): it may be dropped. */
export function expiresAt(rule: RateLimitRule, state: RuleState): number {
  return 'tat' in state ? state.tat : state.start + 2 * rule.windowMs;
}

/**
 * Applies every rule all-or-nothing: when any rule denies, no state changes (a denied request
 * consumes nothing). @returns the decisions and, when all allowed, the states to write.
 */
export function decideAll(
  rules: readonly RateLimitRule[],
  states: ReadonlyArray<RuleState | undefined>,
  now: number,
  cost: number,
): { decisions: RateLimitDecision[]; next: Array<RuleState | undefined> | undefined } {
  const decisions: RateLimitDecision[] = [];
  const next: Array<RuleState | undefined> = [];
  let allowed = true;
  rules.forEach((rule, i) => {
    const [d, s] = decide(rule, states[i], now, cost);
    decisions.push(d);
    next.push(s);
    if (!d.allowed) allowed = false;
  });
  if (allowed) return { decisions, next };
  // Denied: nothing is consumed, so the rules that would have allowed still have this request's units.
  const unchanged = decisions.map((d, i) => (d.allowed ? { ...d, remaining: Math.min((rules[i] as RateLimitRule).limit, d.remaining + cost) } : d));
  return { decisions: unchanged, next: undefined };
}

/** A store of rate-limit state shared by the instances that enforce one limit. */
export interface RateLimitStore {
  /** Applies the rules to the partition atomically, all-or-nothing. */
  consume(request: RateLimitConsume): Promise<readonly RateLimitDecision[]>;
}
