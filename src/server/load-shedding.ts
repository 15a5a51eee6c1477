import { InvalidOptionError, isWeirError } from '../errors.js';
import { bulkhead } from '../policy/bulkhead.js';
import { Deadline } from '../policy/deadline.js';
import { fn, integer } from '../internal/validate.js';
import { type Clock, systemClock } from '../internal/clock.js';
import type { Middleware } from './compose.js';
import type { ServerContext } from './context.js';
import { HttpError } from './problem.js';

export interface LoadSheddingOptions {
  /** Requests handled at once: an integer >= 1. */
  maxConcurrent: number;
  /** Requests that may wait for a slot (FIFO); beyond that, 503 at once. Default 0. */
  maxQueue?: number;
  /** Longest wait in the queue, in ms (also bounded by the request's deadline). Default 1000. */
  maxQueueWaitMs?: number;
  /**
   * The depth of a queue this service feeds (a broker's backlog, `queue.stats()`): while it is at or
   * above `maxQueueDepth`, requests get 503, pushing back on producers instead of growing the backlog.
   */
  queueDepth?: () => number | Promise<number>;
  /** Required with `queueDepth`. */
  maxQueueDepth?: number;
  /** Per-partition concurrency (one client may not take every slot): over it, 429. */
  partition?: { key: (ctx: ServerContext) => string | undefined; maxConcurrent: number };
  /** The `Retry-After` of a shed request, in ms. Default 1000. */
  retryAfterMs?: number;
  clock?: Clock;
}

/**
 * Backpressure: at most `maxConcurrent` requests run, `maxQueue` wait (bounded in time), and past
 * that the request is answered at once with 503 + `Retry-After` (`WEIR_OVERLOADED`) instead of
 * queueing without bound. A partition over its own concurrency gets 429; a watched queue past
 * `maxQueueDepth` sheds too. Import from `weir/server`.
 *
 * @throws InvalidOptionError naming the option (`loadShedding.maxConcurrent`, …).
 * @example
 * ```ts
 * loadShedding({ maxConcurrent: 64, maxQueue: 128, queueDepth: () => backlog(), maxQueueDepth: 10_000 })
 * ```
 */
export function loadShedding(options: LoadSheddingOptions): Middleware {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('loadShedding', 'an options object', options);
  const maxConcurrent = integer(options.maxConcurrent, 'loadShedding.maxConcurrent', 1);
  const maxQueue = integer(options.maxQueue ?? 0, 'loadShedding.maxQueue', 0);
  const maxWaitMs = integer(options.maxQueueWaitMs ?? 1000, 'loadShedding.maxQueueWaitMs', 0);
  const retryAfterMs = integer(options.retryAfterMs ?? 1000, 'loadShedding.retryAfterMs', 0);
  const retryAfter = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
  const depth = options.queueDepth === undefined ? undefined : fn<() => number | Promise<number>>(options.queueDepth, 'loadShedding.queueDepth');
  const maxDepth = depth === undefined ? 0 : integer(options.maxQueueDepth, 'loadShedding.maxQueueDepth', 0);
  const partition = options.partition;
  const perPartition = partition === undefined ? 0 : integer(partition.maxConcurrent, 'loadShedding.partition.maxConcurrent', 1);
  if (partition !== undefined) fn(partition.key, 'loadShedding.partition.key');
  const clock = options.clock ?? systemClock;
  const slots = bulkhead({ maxConcurrent, maxQueue });
  const running = new Map<string, number>();

  const overloaded = (reason: string, status = 503): HttpError =>
    new HttpError(status === 429 ? 'WEIR_RATE_LIMITED' : 'WEIR_OVERLOADED', status, 'The service is overloaded; retry later.', {
      headers: { 'retry-after': retryAfter },
      retryAfterMs: Number(retryAfter) * 1000,
      extensions: { reason },
    });

  return async function loadSheddingMiddleware(ctx, next) {
    if (depth !== undefined && (await depth()) >= maxDepth) throw overloaded('queue_depth');
    const key = partition?.key(ctx);
    if (key !== undefined) {
      const n = running.get(key) ?? 0;
      if (n >= perPartition) throw overloaded('partition_concurrency', 429);
      running.set(key, n + 1);
    }
    try {
      const wait = Deadline.after(maxWaitMs, clock).min(ctx.deadline);
      await slots.execute(() => next(), { signal: ctx.signal, deadline: wait });
    } catch (err) {
      if (isWeirError(err, 'WEIR_BULKHEAD_FULL')) throw overloaded('concurrency');
      if (isWeirError(err, 'WEIR_TIMEOUT')) throw overloaded('queue_wait');
      throw err;
    } finally {
      if (key !== undefined) {
        const n = (running.get(key) ?? 1) - 1;
        if (n === 0) running.delete(key);
        else running.set(key, n);
      }
    }
  };
}
