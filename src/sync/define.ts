import type { Classification } from '../errors.js';
import { classifyError, retryAfterOf } from '../policy/classify.js';
import type { RetryOptions } from '../queue/types.js';
import type { SyncConflictRecord, SyncEscalationRecord, SyncEscalationState } from '../store/sync.js';
import { processChange, type ProcessOutcome, type SyncChange } from './engine.js';
import { intakeChange, pollSide, type ChangeMessage, type PollReport } from './intake.js';
import { resolveEscalation, type EscalationChoice } from './resolve.js';
import { runtime, type SyncOptions, type SyncRuntime } from './runtime.js';
import type { SkewEstimate } from './side-http.js';
import type { SyncSide } from './types.js';

/**
 * The retry schedule of a sync's topic: one immediate retry (a 412 race), then 1 s, 5 s, 15 s, 30 s
 * and every minute for half an hour, so an outage of that long dead-letters no change and the
 * backlog drains within a minute of recovery. (Failures that name a time are held, not counted: see `start`.)
 */
export const SYNC_RETRY: RetryOptions = { immediate: 1, schedule: ['1s', '5s', '15s', '30s', ...Array.from({ length: 30 }, () => '1m')] };

/** Failures that say when to come back (Retry-After on a 429 or 503, an open breaker) as `rate_limited`, so the queue holds instead of counting. */
function syncClassify(error: unknown): Classification {
  const c = classifyError(error);
  return c === 'transient' && (retryAfterOf(error) ?? 0) > 0 ? 'rate_limited' : c;
}

/** Open escalations, as metrics. */
export interface SyncMetrics {
  readonly escalationsOpen: number;
  /** Age of the oldest open escalation, ms (0 when none). */
  readonly oldestEscalationAgeMs: number;
  readonly skew: { readonly left: SkewEstimate; readonly right: SkewEstimate };
}

/** A defined two-way sync. See {@link defineSync}. */
export class Sync {
  /** @internal */
  readonly rt: SyncRuntime;

  /** @internal use {@link defineSync}. */
  constructor(options: SyncOptions) {
    this.rt = runtime(options);
  }

  get name(): string {
    return this.rt.name;
  }

  /** The queue topic changes go through (`weir.sync.<name>`). */
  get topic(): string {
    return this.rt.topic;
  }

  /** Change intake: webhooks (call from your receiver's handler) and cursor polling (the safety net). */
  readonly intake = {
    /**
     * Enqueues a change from a webhook: the full record (fat events), or its id (thin events; pass
     * the delivery id as `eventId` so a redelivery enqueues once).
     */
    fromWebhook: (side: SyncSide, recordOrId: unknown, eventId?: string): Promise<string> => intakeChange(this.rt, side, recordOrId, eventId),
    /** One polling round of a side (all pages, or `maxPages`), checkpointed after every page. */
    poll: (side: SyncSide, options: { readonly maxPages?: number } = {}): Promise<PollReport> => pollSide(this.rt, side, options.maxPages),
  };

  /**
   * Registers the queue handler of this sync's topic (per-key order: one record at a time).
   * Transient failures (412, a link that moved) are retried by the queue with fresh data, on
   * `retry` (default {@link SYNC_RETRY}). A failure that names when to come back (a 429 or 503 with
   * `Retry-After`, an open circuit breaker) holds the whole topic until then (every change calls
   * both systems) without spending one of the message's deliveries: a long rate-limit storm or
   * outage dead-letters nothing.
   */
  async start(options: { readonly concurrency?: number; readonly retry?: RetryOptions } = {}): Promise<void> {
    await this.rt.queue.handle<ChangeMessage>(
      this.rt.topic,
      async (msg) => {
        await this.process(msg.payload, msg.id);
      },
      { ordering: 'key', concurrency: options.concurrency ?? 4, holdOnRateLimit: 'topic', retry: { classify: syncClassify, ...(options.retry ?? SYNC_RETRY) } },
    );
  }

  /** Processes one change now (what the queue handler does). */
  process(change: SyncChange, correlationId?: string): Promise<ProcessOutcome> {
    return processChange(this.rt, change, { http: this.rt.http, ...(correlationId === undefined ? {} : { correlationId }) });
  }

  /** Escalations: the decisions waiting for a person. */
  readonly escalations = {
    list: (options: { readonly state?: SyncEscalationState; readonly limit?: number } = {}): Promise<readonly SyncEscalationRecord[]> =>
      this.rt.store.sync.listEscalations(this.rt.name, options),
    get: (id: string): Promise<SyncEscalationRecord | null> => this.rt.store.sync.getEscalation(id),
    resolve: (id: string, choice: EscalationChoice): Promise<SyncEscalationRecord> => resolveEscalation(this.rt, id, choice),
  };

  /** Recorded conflicts, newest first. */
  conflicts(options: { readonly limit?: number } = {}): Promise<readonly SyncConflictRecord[]> {
    return this.rt.store.sync.listConflicts(this.rt.name, options);
  }

  /** Open escalation count and age, and the clock-skew estimates. */
  async metrics(): Promise<SyncMetrics> {
    const s = await this.rt.store.sync.escalationStats(this.rt.name);
    return {
      escalationsOpen: s.open,
      oldestEscalationAgeMs: s.oldestCreatedAt === null ? 0 : Math.max(0, this.rt.clock.now() - s.oldestCreatedAt),
      skew: { left: this.rt.http.left.skew.estimate(), right: this.rt.http.right.skew.estimate() },
    };
  }
}

/**
 * Defines a two-way sync between two systems (`left`, `right`), each an adapter over a
 * `weir/http` connection, with per-field policies.
 * @throws InvalidOptionError naming the option.
 * @example
 * ```ts
 * const contacts = defineSync({
 *   name: 'contacts', left: crm, right: esp, store, queue,
 *   fields: { email: authoritative('left'), name: [lastWriterWins({ skewMarginMs: 2000 }), escalate()] },
 *   create: { right: (f) => f.subscribed === true },
 * });
 * await contacts.start();
 * ```
 */
export function defineSync(options: SyncOptions): Sync {
  return new Sync(options);
}
