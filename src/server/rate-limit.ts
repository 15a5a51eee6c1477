import { InvalidOptionError } from '../errors.js';
import { type Clock, systemClock } from '../internal/clock.js';
import { serializeItem, serializeList, sf } from '../internal/structured-fields.js';
import { finite, fn, integer, oneOf } from '../internal/validate.js';
import { beforeOnly, type Middleware, type Next } from './compose.js';
import type { ServerContext } from './context.js';
import { HttpError } from './problem.js';
import type { RateLimitAlgorithm, RateLimitDecision, RateLimitRule, RateLimitStore } from './rate-limit-algorithms.js';
import { MemoryRateLimitStore, memoryRateLimitStore } from './rate-limit-memory.js';
import type { ResponseHeaders } from './response-headers.js';

/** One quota policy. */
export interface RateLimitPolicy {
  /** Names the policy in the `RateLimit` fields and in a 429's problem body (an RFC 9651 String). */
  name: string;
  /** Requests (quota units) allowed per window: an integer >= 1. */
  limit: number;
  /** The window, in ms: an integer >= 1000 (the headers count in seconds). */
  windowMs: number;
  /** `'token-bucket'` (default: smooth refill, bursts up to `limit`) or `'sliding-window'`. */
  algorithm?: RateLimitAlgorithm;
}

export interface RateLimitOptions {
  /** The quotas; a request must fit every one of them (all-or-nothing). */
  policies: readonly RateLimitPolicy[];
  /**
   * The partition a request counts against. Default: the authenticated client (`ctx.client.id`),
   * else the peer IP. Return `undefined` to exempt a request.
   */
  key?: (ctx: ServerContext) => string | undefined | Promise<string | undefined>;
  /** Shared state: memory (default, one instance), Redis or PostgreSQL for many. */
  store?: RateLimitStore;
  /** Units a request costs. Default 1. */
  cost?: (ctx: ServerContext) => number;
  /** Also send `X-RateLimit-Limit/-Remaining/-Reset` (delta seconds). Default false. */
  legacyHeaders?: boolean;
  /** Random extra wait added to a 429's `Retry-After` so clients do not return together, in ms. Default 1000. */
  jitterMs?: number;
  /** What to do when the store fails: `'allow'` (default, fail open) or `'deny'` (503). */
  onStoreError?: 'allow' | 'deny';
  clock?: Clock;
  /** Random source in [0, 1) for the jitter. Default `Math.random`. */
  random?: () => number;
}

const DEFAULT_JITTER_MS = 1000;

/** The default partition: the authenticated client, else the peer address. */
export function defaultRateLimitKey(ctx: ServerContext): string {
  if (ctx.client !== undefined) return `client:${ctx.client.id}`;
  return `ip:${ctx.ip ?? 'unknown'}`;
}

/**
 * Limits requests per partition (API key, tenant, IP) with a token bucket or a sliding window,
 * and says so in the IETF `RateLimit-Policy` and `RateLimit` structured fields on every response
 * (`"default";q=100;w=60` and `"default";r=42;t=18`). Past the quota: 429 with `Retry-After`
 * (never earlier than the reset, plus jitter) and a problem+json body naming the violated policy.
 * Import from `weir/server`.
 *
 * @throws InvalidOptionError naming the option (`rateLimit.policies[0].limit`, …).
 * @example
 * ```ts
 * rateLimit({
 *   policies: [{ name: 'burst', limit: 20, windowMs: 1_000 }, { name: 'hourly', limit: 1_000, windowMs: 3_600_000, algorithm: 'sliding-window' }],
 *   key: (ctx) => ctx.client?.tenant ?? ctx.ip,
 *   store: redisRateLimitStore(redis),
 * })
 * ```
 */
export function rateLimit(options: RateLimitOptions): Middleware {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('rateLimit', 'an options object', options);
  const rules = normalise(options.policies);
  const store = options.store ?? memoryRateLimitStore();
  if (typeof store?.consume !== 'function') throw new InvalidOptionError('rateLimit.store', 'a RateLimitStore', store);
  const keyOf = options.key === undefined ? defaultRateLimitKey : fn<NonNullable<RateLimitOptions['key']>>(options.key, 'rateLimit.key');
  const costOf = options.cost === undefined ? undefined : fn<(ctx: ServerContext) => number>(options.cost, 'rateLimit.cost');
  const legacy = options.legacyHeaders === true;
  const jitterMs = finite(options.jitterMs ?? DEFAULT_JITTER_MS, 'rateLimit.jitterMs', 0);
  const onStoreError = oneOf(options.onStoreError ?? 'allow', 'rateLimit.onStoreError', ['allow', 'deny'] as const);
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const policyHeader = serializeList(
    rules.map((r) => sf.item(sf.string(r.name), { q: sf.integer(r.limit), w: sf.integer(Math.ceil(r.windowMs / 1000)) })),
  ) as string;
  // Each policy's name as an RFC 9651 String, serialized once: the per-request field is then a concatenation.
  const names = rules.map((r) => serializeItem(sf.item(sf.string(r.name))) as string);
  const memory = store instanceof MemoryRateLimitStore ? store : undefined;

  const limited = (ctx: ServerContext, next: Next, key: string | undefined): Promise<void> => {
    if (key === undefined) return next();
    const cost = costOf === undefined ? 1 : costOf(ctx);
    const request = { key, rules, cost, now: clock.now() };
    let decisions: readonly RateLimitDecision[] | Promise<readonly RateLimitDecision[]>;
    try {
      decisions = memory === undefined ? store.consume(request) : memory.consumeSync(request);
    } catch (err) {
      return unavailable(next, err);
    }
    if (Array.isArray(decisions)) return decided(ctx, next, decisions);
    return Promise.resolve(decisions).then(
      (d) => decided(ctx, next, d),
      (err: unknown) => unavailable(next, err),
    );
  };

  const unavailable = (next: Next, err: unknown): Promise<void> => {
    if (onStoreError === 'allow') return next();
    throw new HttpError('WEIR_STORE', 503, 'The rate limiter is unavailable.', { cause: err, headers: { 'retry-after': '1' } });
  };

  const decided = (ctx: ServerContext, next: Next, decisions: readonly RateLimitDecision[]): Promise<void> => {
    const headers = ctx.headers;
    headers.set('ratelimit-policy', policyHeader);
    let field = '';
    for (let i = 0; i < names.length; i++) {
      const d = decisions[i] as RateLimitDecision;
      field += `${i === 0 ? '' : ', '}${names[i]};r=${d.remaining};t=${Math.ceil(d.resetMs / 1000)}`;
    }
    headers.set('ratelimit', field);
    if (legacy) setLegacy(headers, rules, decisions);
    let violated = -1;
    for (let i = 0; i < decisions.length; i++) {
      const d = decisions[i] as RateLimitDecision;
      if (!d.allowed && (violated < 0 || d.retryAfterMs > (decisions[violated] as RateLimitDecision).retryAfterMs)) violated = i;
    }
    if (violated < 0) return next();
    const rule = rules[violated] as RateLimitRule;
    const waitMs = (decisions[violated] as RateLimitDecision).retryAfterMs;
    // Retry-After counts whole seconds and is never below the reset `t`; jitter spreads the retries.
    const retryAfter = Math.ceil((waitMs + random() * jitterMs) / 1000);
    throw new HttpError('WEIR_RATE_LIMITED', 429, `Rate limit "${rule.name}" exceeded: ${rule.limit} per ${rule.windowMs / 1000} s.`, {
      retryAfterMs: retryAfter * 1000,
      headers: { 'retry-after': String(retryAfter) },
      extensions: { policy: rule.name, limit: rule.limit, windowSeconds: Math.ceil(rule.windowMs / 1000), retryAfter },
    });
  };

  // Not an async function: with the memory store and a synchronous key, a request costs no promise
  // of its own (`compose` turns a synchronous throw into the 429 response like a rejection).
  return beforeOnly(function rateLimitMiddleware(ctx: ServerContext, next: Next): Promise<void> {
    const k = keyOf(ctx);
    if (typeof k === 'string' || k === undefined) return limited(ctx, next, k);
    return k.then((key) => limited(ctx, next, key));
  });
}

/** `RateLimit: "name";r=…;t=…` for every policy (t: seconds until reset, or until allowed when violated). */
export function rateLimitField(rules: readonly RateLimitRule[], decisions: readonly RateLimitDecision[]): string {
  return serializeList(
    rules.map((r, i) => {
      const d = decisions[i] as RateLimitDecision;
      return sf.item(sf.string(r.name), { r: sf.integer(d.remaining), t: sf.integer(Math.ceil(d.resetMs / 1000)) });
    }),
  ) as string;
}

function setLegacy(headers: ResponseHeaders, rules: readonly RateLimitRule[], decisions: readonly RateLimitDecision[]): void {
  // The most restrictive policy: the fewest units left (ties: the longest wait).
  let best = 0;
  decisions.forEach((d, i) => {
    const b = decisions[best] as RateLimitDecision;
    if (d.remaining < b.remaining || (d.remaining === b.remaining && d.resetMs > b.resetMs)) best = i;
  });
  const d = decisions[best] as RateLimitDecision;
  headers.set('x-ratelimit-limit', String((rules[best] as RateLimitRule).limit));
  headers.set('x-ratelimit-remaining', String(d.remaining));
  headers.set('x-ratelimit-reset', String(Math.ceil(d.resetMs / 1000)));
}

const NAME = /^[\x20-\x7e]{1,64}$/;

function normalise(policies: unknown): RateLimitRule[] {
  if (!Array.isArray(policies) || policies.length === 0) throw new InvalidOptionError('rateLimit.policies', 'a non-empty array of policies', policies);
  const seen = new Set<string>();
  return policies.map((p: RateLimitPolicy, i) => {
    const at = `rateLimit.policies[${i}]`;
    if (typeof p !== 'object' || p === null) throw new InvalidOptionError(at, 'a policy object', p);
    if (typeof p.name !== 'string' || !NAME.test(p.name) || seen.has(p.name)) {
      throw new InvalidOptionError(`${at}.name`, 'a unique name of 1 to 64 printable ASCII characters', p.name);
    }
    seen.add(p.name);
    return {
      name: p.name,
      limit: integer(p.limit, `${at}.limit`, 1),
      windowMs: integer(p.windowMs, `${at}.windowMs`, 1000),
      algorithm: oneOf(p.algorithm ?? 'token-bucket', `${at}.algorithm`, ['token-bucket', 'sliding-window'] as const),
    };
  });
}
