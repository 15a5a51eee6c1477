import { BulkheadFullError, CancelledError, InvalidOptionError, TimeoutError } from '../errors.js';
import type { Timer } from '../internal/clock.js';
import { Emitter } from '../internal/events.js';
import { integer } from '../internal/validate.js';
import { BasePolicy, type ExecuteOptions, isAborted, onAbort, type PolicyContext, type Task, toContext } from './types.js';
import { WaitNode, WaitQueue } from './wait-queue.js';

export interface BulkheadOptions {
  /** How many calls may run at once: an integer >= 1. */
  maxConcurrent: number;
  /** How many calls may wait for a slot (FIFO): an integer >= 0. Default 0 (reject at once when all slots are taken). */
  maxQueue?: number;
}

/** Emitted each time a call is turned away with `WEIR_BULKHEAD_FULL`. */
export interface BulkheadRejectEvent {
  readonly running: number;
  readonly queued: number;
  readonly maxConcurrent: number;
  readonly maxQueue: number;
}

/**
 * Limits how many calls run at once, with a bounded FIFO queue for the overflow, so one slow
 * dependency cannot take every socket, worker or connection of the process.
 *
 * - A free slot costs a counter increment and a `finally`; nothing else is allocated.
 * - A queued call whose `ctx.signal` aborts leaves the queue at once (`WEIR_CANCELLED`) and its
 *   place is free for the next caller; a queued call whose `ctx.deadline` passes while it waits
 *   rejects with `WEIR_TIMEOUT` (timed on the deadline's own clock). No listener or timer is left behind.
 * - When a call settles, its slot goes straight to the oldest queued call, so a burst of new
 *   callers can never starve the queue.
 *
 * Import from `weir/policy`.
 *
 * @throws InvalidOptionError (`bulkhead.maxConcurrent`, `bulkhead.maxQueue`) at construction.
 * @example
 * ```ts
 * const limit = bulkhead({ maxConcurrent: 10, maxQueue: 100 });
 * limit.onReject(({ running, queued }) => console.warn('shed', running, queued));
 * await limit.execute(({ signal }) => fetch(url, { signal }), { signal });
 * // when full: rejects with err.code === 'WEIR_BULKHEAD_FULL'
 * ```
 */
export function bulkhead(options: BulkheadOptions): BulkheadPolicy {
  return new BulkheadPolicy(options);
}

/** One call waiting for a slot. */
class QueuedCall<T> extends WaitNode {
  unsubscribe: (() => void) | undefined = undefined;
  timer: Timer | undefined = undefined;
  constructor(
    readonly fn: Task<T>,
    readonly ctx: PolicyContext,
    readonly resolve: (value: T) => void,
    readonly reject: (reason: unknown) => void,
  ) {
    super();
  }

  /** Drops the abort listener and the deadline timer. */
  detach(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.timer?.close();
    this.timer = undefined;
  }
}

export class BulkheadPolicy extends BasePolicy {
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  private active = 0;
  private readonly waiting = new WaitQueue<QueuedCall<unknown>>();
  private readonly rejects = new Emitter<BulkheadRejectEvent>();
  /** Fires each time a call is rejected because every slot and every queue place is taken. */
  readonly onReject = this.rejects.event;

  constructor(options: BulkheadOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw new InvalidOptionError('bulkhead', 'an options object', options);
    this.maxConcurrent = integer(options.maxConcurrent, 'bulkhead.maxConcurrent', 1);
    this.maxQueue = options.maxQueue === undefined ? 0 : integer(options.maxQueue, 'bulkhead.maxQueue', 0);
  }

  /** Calls running now. */
  get running(): number {
    return this.active;
  }

  /** Calls waiting for a slot now. */
  get queued(): number {
    return this.waiting.size;
  }

  /**
   * Runs `fn` in a slot, waiting in the queue if all are taken.
   * @throws BulkheadFullError (`WEIR_BULKHEAD_FULL`) when no slot and no queue place is free;
   * CancelledError (`WEIR_CANCELLED`) when the signal aborts first; TimeoutError (`WEIR_TIMEOUT`)
   * when the deadline passes while queued; or whatever `fn` throws.
   */
  execute<T>(fn: Task<T>, options?: ExecuteOptions): Promise<T> {
    const ctx = toContext(options);
    if (isAborted(ctx)) return Promise.reject(new CancelledError(ctx.signal?.reason));
    // Invariant: the queue is empty whenever a slot is free (a freed slot is handed to the queue first).
    if (this.active < this.maxConcurrent) {
      this.active++;
      return this.run(fn, ctx);
    }
    if (this.waiting.size < this.maxQueue) return this.enqueue(fn, ctx);
    if (this.rejects.size > 0) {
      this.rejects.emit({ running: this.active, queued: this.waiting.size, maxConcurrent: this.maxConcurrent, maxQueue: this.maxQueue });
    }
    return Promise.reject(new BulkheadFullError({ maxConcurrent: this.maxConcurrent, maxQueue: this.maxQueue }));
  }

  private async run<T>(fn: Task<T>, ctx: PolicyContext): Promise<T> {
    try {
      return await fn(ctx);
    } finally {
      this.release();
    }
  }

  /** A call finished: hand its slot to the oldest queued call, or free it. */
  private release(): void {
    const next = this.waiting.shift();
    if (next === undefined) {
      this.active--;
      return;
    }
    next.detach();
    this.run(next.fn, next.ctx).then(next.resolve, next.reject);
  }

  private enqueue<T>(fn: Task<T>, ctx: PolicyContext): Promise<T> {
    const deadline = ctx.deadline;
    let remaining = 0;
    if (deadline !== undefined) {
      remaining = deadline.at - deadline.clock.now();
      if (remaining <= 0) return Promise.reject(new TimeoutError(0, { details: { queued: true } }));
    }
    return new Promise<T>((resolve, reject) => {
      const call = new QueuedCall<T>(fn, ctx, resolve, reject);
      this.waiting.push(call as QueuedCall<unknown>);
      call.unsubscribe = onAbort(ctx, (reason) => this.leave(call, new CancelledError(reason)));
      if (deadline !== undefined) {
        call.timer = deadline.clock.setTimer(remaining, () => {
          call.timer = undefined;
          this.leave(call, new TimeoutError(remaining, { details: { queued: true } }));
        });
      }
    });
  }

  /** Takes a queued call out (abort or deadline) and rejects it; its queue place is free at once. */
  private leave<T>(call: QueuedCall<T>, error: unknown): void {
    if (!this.waiting.remove(call as QueuedCall<unknown>)) return;
    call.detach();
    call.reject(error);
  }
}
