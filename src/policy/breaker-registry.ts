import { InvalidOptionError } from '../errors.js';
import { type Clock, systemClock } from '../internal/clock.js';
import { type Duration, toMs } from '../internal/duration.js';
import { fn as isFunction } from '../internal/validate.js';
import { CircuitBreakerPolicy } from './circuit-breaker.js';
import { BasePolicy, type ExecuteOptions, type Task, toContext } from './types.js';

export interface KeyedCircuitBreakersOptions {
  /** A breaker that is closed, has no call in flight and was not used for longer than this is dropped. Default 300 000 ms. */
  idleMs?: Duration;
  /** Default: the system clock. */
  clock?: Clock;
}

interface Entry {
  readonly breaker: CircuitBreakerPolicy;
  /** Last `get()` of this key. */
  lastUsed: number;
  /** When the entry was last (re)inserted: the map is ordered by it. */
  placedAt: number;
}

/** Idle entries examined per `get()`: eviction is amortised over calls, never a full scan on the call path. */
const SWEEP_STEP = 8;
const DEFAULT_IDLE_MS = 300_000;

/**
 * One circuit breaker per key (per endpoint, per host, per tenant), created on first use by
 * `factory(key)` and dropped once idle, so a failing endpoint cannot open the breaker of a healthy one.
 *
 * Eviction is lazy and amortised: no timers; each `get()` looks at the few least recently used
 * entries and drops those that are closed, have no calls in flight and were idle longer than
 * `idleMs`. Open and half-open breakers are kept until they close. A dropped key gets a fresh
 * breaker on its next use, so do not hold on to the result of `get()` beyond the call.
 *
 * Import from `weir/policy`.
 * @throws InvalidOptionError naming the option when `factory` is not a function or `idleMs` is invalid.
 * @example
 * ```ts
 * const breakers = keyedCircuitBreakers(() => circuitBreaker({ consecutive: 5 }, { openMs: '30s' }));
 * await breakers.execute(({ signal }) => fetch(url, { signal }), { key: new URL(url).host });
 * // or inside wrap(): the key flows from the outer execute options
 * await wrap(timeout(5_000), breakers).execute(call, { key: 'api.example.com' });
 * ```
 */
export function keyedCircuitBreakers(
  factory: (key: string) => CircuitBreakerPolicy,
  options: KeyedCircuitBreakersOptions = {},
): KeyedCircuitBreakers {
  return new KeyedCircuitBreakers(factory, options);
}

export class KeyedCircuitBreakers extends BasePolicy {
  /** Idle time after which a closed breaker is dropped, in ms. */
  readonly idleMs: number;
  private readonly factory: (key: string) => CircuitBreakerPolicy;
  private readonly clock: Clock;
  /** A use within this long of the entry's placement does not move it (saves a delete + set per call). */
  private readonly slackMs: number;
  /** Ordered by `placedAt`, oldest first. */
  private readonly entries = new Map<string, Entry>();

  constructor(factory: (key: string) => CircuitBreakerPolicy, options: KeyedCircuitBreakersOptions = {}) {
    super();
    this.factory = isFunction(factory, 'keyedCircuitBreakers.factory');
    this.idleMs = options.idleMs === undefined ? DEFAULT_IDLE_MS : toMs(options.idleMs, 'keyedCircuitBreakers.idleMs');
    this.slackMs = this.idleMs / 16;
    this.clock = options.clock ?? systemClock;
  }

  /**
   * The breaker for `key`, created by the factory on first use.
   * @throws InvalidOptionError (`keyedCircuitBreakers.key`) when `key` is not a string, or
   * (`keyedCircuitBreakers.factory`) when the factory does not return a circuit breaker.
   */
  get(key: string): CircuitBreakerPolicy {
    if (typeof key !== 'string') throw new InvalidOptionError('keyedCircuitBreakers.key', 'a string', key);
    const now = this.clock.now();
    this.sweep(now, SWEEP_STEP);
    let entry = this.entries.get(key);
    if (entry === undefined) {
      const breaker = this.factory(key);
      if (!(breaker instanceof CircuitBreakerPolicy)) {
        throw new InvalidOptionError('keyedCircuitBreakers.factory', 'a function returning a circuitBreaker()', breaker);
      }
      entry = { breaker, lastUsed: now, placedAt: now };
      this.entries.set(key, entry);
    } else {
      entry.lastUsed = now;
      if (now - entry.placedAt > this.slackMs) this.place(key, entry, now);
    }
    return entry.breaker;
  }

  /**
   * Runs `fn` under the breaker of `options.key` (which may also come from an outer policy's context).
   * Rejects with `WEIR_INVALID_OPTION` (`keyedCircuitBreakers.key`) when there is no key, and with
   * `WEIR_CIRCUIT_OPEN` when that key's breaker is open.
   */
  execute<T>(fn: Task<T>, options?: ExecuteOptions): Promise<T> {
    const ctx = toContext(options);
    if (typeof ctx.key !== 'string') {
      return Promise.reject(new InvalidOptionError('keyedCircuitBreakers.key', 'a string key in the execute options', ctx.key));
    }
    let breaker: CircuitBreakerPolicy;
    try {
      breaker = this.get(ctx.key);
    } catch (err) {
      return Promise.reject(err);
    }
    return breaker.execute(fn, ctx);
  }

  /** Breakers held, after dropping the idle ones. */
  get size(): number {
    this.sweep(this.clock.now(), Number.POSITIVE_INFINITY);
    return this.entries.size;
  }

  /** Keys held, after dropping the idle ones, least recently placed first. */
  keys(): string[] {
    this.sweep(this.clock.now(), Number.POSITIVE_INFINITY);
    return [...this.entries.keys()];
  }

  /**
   * Looks at up to `limit` of the oldest-placed entries. The map is ordered by `placedAt`, so the
   * first entry placed within `idleMs` ends the sweep (an entry re-placed as of its last use may
   * sit up to `slackMs` out of order, which only delays its eviction by as much). Entries that
   * cannot go yet (in flight, not closed) move to the back and are looked at again after `idleMs`.
   */
  private sweep(now: number, limit: number): void {
    for (const [key, entry] of this.entries) {
      if (limit-- <= 0 || now - entry.placedAt <= this.idleMs) return;
      const breaker = entry.breaker;
      if (now - entry.lastUsed <= this.idleMs) {
        // Used within `slackMs` of its placement (so not moved then): place it as of that use.
        this.place(key, entry, entry.lastUsed);
      } else if (breaker.inFlight === 0 && breaker.state === 'closed') {
        this.entries.delete(key);
      } else {
        this.place(key, entry, now);
      }
    }
  }

  private place(key: string, entry: Entry, now: number): void {
    this.entries.delete(key);
    entry.placedAt = now;
    this.entries.set(key, entry);
  }
}
