import { createHash } from 'node:crypto';
import type { Classification } from '../errors.js';
import { retryAfterOf } from '../policy/classify.js';
import type { ErrorRecord } from '../store/queue.js';
import type { TopicPolicy } from './types.js';

/** What to do after a failed invocation. */
export type Decision =
  | { readonly kind: 'retry-now' }
  | { readonly kind: 'retry'; readonly runAt: number; readonly refund: boolean; readonly outcome: 'retry' | 'held' }
  | { readonly kind: 'dead' };

export interface Failure {
  readonly error: unknown;
  readonly classification: Classification;
  /** The delivery that failed (1-based). */
  readonly delivery: number;
  /** The invocation within it that failed (1-based). */
  readonly attempt: number;
  readonly now: number;
  /** Set when the handler held its topic or key: the end of that hold. */
  readonly heldUntil: number | undefined;
}

/**
 * The two-tier retry rule, in order:
 * 1. a permanent failure is dead-lettered at once;
 * 2. a failure after `ctx.hold()` waits for the hold to end, and the delivery is refunded;
 * 3. an error carrying `retryAfterMs` (capped at `maxRetryAfterMs`) is rescheduled at that time;
 * 4. otherwise it is retried at once while immediate retries remain;
 * 5. then rescheduled after the schedule's step for this delivery (± jitter);
 * 6. and dead-lettered when the delivery was the last one.
 */
export function decide(policy: TopicPolicy, f: Failure, random: () => number): Decision {
  const r = policy.retry;
  if (f.classification === 'permanent') return { kind: 'dead' };
  const retryAfter = retryAfterOf(f.error);
  const afterMs = retryAfter === undefined ? undefined : Math.min(retryAfter, r.maxRetryAfterMs);
  if (f.heldUntil !== undefined && f.heldUntil > f.now) {
    const runAt = Math.max(f.heldUntil, afterMs === undefined ? 0 : f.now + afterMs);
    return { kind: 'retry', runAt, refund: true, outcome: 'held' };
  }
  const last = f.delivery >= r.maxDeliveries;
  if (afterMs !== undefined) return last ? { kind: 'dead' } : { kind: 'retry', runAt: f.now + afterMs, refund: false, outcome: 'retry' };
  if (f.attempt <= r.immediate) return { kind: 'retry-now' };
  if (last) return { kind: 'dead' };
  const step = r.scheduleMs[f.delivery - 1] ?? r.scheduleMs[r.scheduleMs.length - 1] ?? 0;
  return { kind: 'retry', runAt: f.now + jittered(step, r.jitter, random), refund: false, outcome: 'retry' };
}

/** `step` spread by ± `jitter` (a fraction), never negative, whole ms. */
export function jittered(step: number, jitter: number, random: () => number): number {
  if (jitter === 0 || step === 0) return step;
  return Math.max(0, Math.round(step * (1 + jitter * (2 * random() - 1))));
}

/** A failure as stored (no secrets: name, code, message, status, stack). */
export function errorRecord(error: unknown, classification: Classification, withStack: boolean): ErrorRecord {
  const e = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: unknown;
    code?: unknown;
    message?: unknown;
    stack?: unknown;
    status?: unknown;
    statusCode?: unknown;
  };
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  const retryAfterMs = retryAfterOf(error);
  return {
    name: typeof e.name === 'string' ? e.name : typeof error,
    code: typeof e.code === 'string' ? e.code : typeof e.code === 'number' ? String(e.code) : null,
    message: typeof e.message === 'string' ? e.message : String(error),
    classification,
    ...(withStack && typeof e.stack === 'string' ? { stack: e.stack } : {}),
    ...(status === undefined ? {} : { status }),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
}

/**
 * Groups failures that are "the same error": the topic, the error's name, code and status, and its
 * message with ids, numbers and quoted values blanked out, hashed to 12 hex characters.
 * @example errorSignature('orders', { name: 'Error', code: null, message: 'order 123 not found', … })
 */
export function errorSignature(topic: string, error: ErrorRecord): string {
  const message = error.message
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>')
    .replace(/"[^"]*"|'[^']*'/g, '<str>')
    .replace(/\b[0-9a-f]{12,}\b/gi, '<hex>')
    .replace(/\d+(\.\d+)?/g, '<n>')
    .slice(0, 500);
  const text = [topic, error.name, error.code ?? '', error.status ?? '', message].join('\u0000');
  return createHash('sha1').update(text).digest('hex').slice(0, 12);
}
