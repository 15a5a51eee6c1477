import { InvalidOptionError } from '../errors.js';
import { type Duration, toMs } from '../internal/duration.js';
import { finite, integer } from '../internal/validate.js';

/** Fires while a watched breaker is open (or half-open after opening); resolves once it closes. Default name `circuit_open`. */
export interface BreakerOpenRule {
  readonly kind: 'breaker_open';
  readonly name?: string;
}
/** Fires while the share of failed requests (5xx, timeouts, network errors) over `windowMs` is at or above `threshold`. Default name `error_rate`. */
export interface ErrorRateRule {
  readonly kind: 'error_rate';
  readonly name?: string;
  /** Ratio 0..1, e.g. `0.5`. */
  readonly threshold: number;
  /** The sliding window, ms or `'5m'`. Default 5 minutes. */
  readonly windowMs?: Duration;
  /** Below this many requests in the window the rate is not judged (and a firing alert resolves). Default 10. */
  readonly minRequests?: number;
}
/** Fires while a topic holds more than `max` undelivered messages (ready, scheduled, waiting, active). Default name `queue_depth`. */
export interface QueueDepthRule {
  readonly kind: 'queue_depth';
  readonly name?: string;
  readonly max: number;
}
/** Fires while a topic's oldest due message has waited longer than `maxAgeMs`. Default name `queue_oldest_age`. */
export interface QueueAgeRule {
  readonly kind: 'queue_age';
  readonly name?: string;
  readonly maxAgeMs: Duration;
}
/**
 * Fires when a queue's dead-letter count rises (the first observation counts from 0, so existing
 * dead letters fire once after a restart); resolves when it has not risen for `quietMs` or drops
 * to 0. Default name `dead_letters_rising`.
 */
export interface DeadLettersRule {
  readonly kind: 'dead_letters';
  readonly name?: string;
  /** Default 15 minutes. */
  readonly quietMs?: Duration;
}
/** Fires while a reported sync lag is above `maxLagMs`. Default name `sync_lag`. */
export interface SyncLagRule {
  readonly kind: 'sync_lag';
  readonly name?: string;
  readonly maxLagMs: Duration;
}

/** One alert rule. */
export type AlertRule = BreakerOpenRule | ErrorRateRule | QueueDepthRule | QueueAgeRule | DeadLettersRule | SyncLagRule;

/** Rules with their defaults applied and durations in ms. @internal */
export interface ResolvedRules {
  breaker?: { name: string };
  errorRate?: { name: string; threshold: number; windowMs: number; minRequests: number };
  queueDepth?: { name: string; max: number };
  queueAge?: { name: string; maxAgeMs: number };
  deadLetters?: { name: string; quietMs: number };
  syncLag?: { name: string; maxLagMs: number };
}

/** Validates `rules` eagerly. @internal */
export function resolveRules(rules: readonly AlertRule[]): ResolvedRules {
  if (!Array.isArray(rules)) throw new InvalidOptionError('rules', 'an array of alert rules', rules);
  const out: ResolvedRules = {};
  rules.forEach((rule, i) => {
    const at = `rules[${i}]`;
    const name = (fallback: string): string => {
      const n = rule.name ?? fallback;
      if (typeof n !== 'string' || n === '') throw new InvalidOptionError(`${at}.name`, 'a non-empty string', n);
      return n;
    };
    switch (rule?.kind) {
      case 'breaker_open':
        out.breaker = { name: name('circuit_open') };
        break;
      case 'error_rate':
        out.errorRate = {
          name: name('error_rate'),
          threshold: finite(rule.threshold, `${at}.threshold`, 0, 1),
          windowMs: Math.max(1, toMs(rule.windowMs ?? 300_000, `${at}.windowMs`)),
          minRequests: integer(rule.minRequests ?? 10, `${at}.minRequests`, 1),
        };
        break;
      case 'queue_depth':
        out.queueDepth = { name: name('queue_depth'), max: integer(rule.max, `${at}.max`, 0) };
        break;
      case 'queue_age':
        out.queueAge = { name: name('queue_oldest_age'), maxAgeMs: toMs(rule.maxAgeMs, `${at}.maxAgeMs`) };
        break;
      case 'dead_letters':
        out.deadLetters = { name: name('dead_letters_rising'), quietMs: toMs(rule.quietMs ?? 900_000, `${at}.quietMs`) };
        break;
      case 'sync_lag':
        out.syncLag = { name: name('sync_lag'), maxLagMs: toMs(rule.maxLagMs, `${at}.maxLagMs`) };
        break;
      default:
        throw new InvalidOptionError(`${at}.kind`, "one of 'breaker_open', 'error_rate', 'queue_depth', 'queue_age', 'dead_letters', 'sync_lag'", (rule as { kind?: unknown } | undefined)?.kind);
    }
  });
  return out;
}

/** Request counts in a sliding window of ten buckets. @internal */
export class RateWindow {
  private readonly buckets: Array<{ start: number; total: number; errors: number }> = [];
  private readonly bucketMs: number;

  constructor(private readonly windowMs: number) {
    this.bucketMs = Math.max(1, Math.ceil(windowMs / 10));
  }

  add(at: number, error: boolean): void {
    const start = Math.floor(at / this.bucketMs) * this.bucketMs;
    let last = this.buckets.at(-1);
    if (last === undefined || last.start < start) {
      last = { start, total: 0, errors: 0 };
      this.buckets.push(last);
      this.prune(at);
    }
    last.total++;
    if (error) last.errors++;
  }

  /** Totals of the window ending at `now`. */
  totals(now: number): { total: number; errors: number } {
    this.prune(now);
    let total = 0;
    let errors = 0;
    for (const b of this.buckets) {
      total += b.total;
      errors += b.errors;
    }
    return { total, errors };
  }

  private prune(now: number): void {
    while (this.buckets.length > 0 && (this.buckets[0] as { start: number }).start + this.bucketMs <= now - this.windowMs) this.buckets.shift();
  }
}
