import type { Classification } from '../errors.js';
import type { Clock } from '../internal/clock.js';
import type { Duration } from '../internal/duration.js';
import type { AttemptRecord } from '../store/queue.js';
import type { QueueMetrics } from './metrics.js';

/** A message as a handler receives it. */
export interface Message<T = unknown> {
  readonly id: string;
  readonly topic: string;
  /** Messages with the same key are handled one at a time, in enqueue order (with `ordering: 'key'`). */
  readonly key: string | null;
  readonly payload: T;
  readonly headers: Readonly<Record<string, string>>;
  /** 1 for the first delivery; grows with each delayed retry (immediate retries share a delivery). */
  readonly delivery: number;
  /** When it was enqueued, epoch ms. */
  readonly enqueuedAt: number;
  /** When this delivery became due, epoch ms. */
  readonly runAt: number;
  /** Earlier failed attempts, oldest first. */
  readonly history: readonly AttemptRecord[];
}

/** What a handler gets besides the message. */
export interface HandlerContext {
  /**
   * Aborted when the work must stop: the lease was lost (`WEIR_LEASE_LOST`: another worker owns the
   * message now), `stop()` ran out of grace (`WEIR_CANCELLED`), or `timeoutMs` passed (`WEIR_TIMEOUT`).
   */
  readonly signal: AbortSignal;
  /** 1-based invocation within this delivery (immediate retries count up). */
  readonly attempt: number;
  readonly delivery: number;
  readonly workerId: string;
  /**
   * Holds the whole topic (default) or this message's key until `duration` from now: no worker
   * claims from it meanwhile (a downstream said 429 or 503). If the handler then fails, the message
   * is rescheduled at the end of the hold without counting a delivery.
   * @throws InvalidOptionError for a bad duration, or `scope: 'key'` on a message without a key.
   */
  hold(duration: Duration, scope?: 'topic' | 'key'): Promise<void>;
}

/** Handles one message. Resolve to acknowledge; throw to retry (or dead-letter a permanent error). */
export type Handler<T = unknown> = (message: Message<T>, ctx: HandlerContext) => unknown;

/** Options of `enqueue()`. */
export interface EnqueueOptions {
  /** Per-key order: handled only after every earlier message with this key is done or dead-lettered. */
  key?: string | null;
  /** Idempotent id: enqueueing an existing id again does nothing. Default: a new UUIDv7. */
  id?: string;
  /** Not handled before this time (a `Date` or epoch ms). */
  runAt?: Date | number;
  /** Not handled before this long from now (`'5m'` or ms). Ignored when `runAt` is given. */
  delay?: Duration;
  /** String headers carried with the message (trace context, correlation ids). */
  headers?: Readonly<Record<string, string>>;
}

/** One message of `enqueueMany()`. */
export interface EnqueueItem<T = unknown> extends EnqueueOptions {
  topic: string;
  payload: T;
}

/** The retry schedule of a handler: two tiers, immediate then delayed. */
export interface RetryOptions {
  /** Retries inside the same delivery, at once, before the message is rescheduled. Default 2. */
  immediate?: number;
  /**
   * Delays before delivery 2, 3, …; the message is exhausted when a delivery fails after the last
   * step. Default `['0s', '1s', '5s', '30s', '5m']` (6 deliveries).
   */
  schedule?: readonly Duration[];
  /** Random spread of each delay, ± this fraction (0 to 1). Default 0.2. */
  jitter?: number;
  /** Upper bound of an error's `retryAfterMs`, in ms. Default 3_600_000 (1 hour). */
  maxRetryAfterMs?: number;
  /** Classifies a failure. Default `classifyError` from `weir/policy` (permanent errors skip retries). */
  classify?: (error: unknown) => Classification;
}

/** Options of `handle()`. */
export interface HandleOptions {
  /** Messages of this topic handled at once by this process. Default 1. */
  concurrency?: number;
  /** `'key'` (default): one message per key at a time, in order. `'none'`: keys are labels only. */
  ordering?: 'key' | 'none';
  /**
   * When retries are exhausted (or the error is permanent): `'dead-letter'` (default) moves the
   * message to the dead letters and its key moves on; `'block-key'` also dead-letters it but keeps
   * its key stopped until the message is replayed or discarded.
   */
  onExhausted?: 'dead-letter' | 'block-key';
  retry?: RetryOptions;
  /** Budget of one invocation, in ms: `ctx.signal` aborts and the attempt fails with `WEIR_TIMEOUT`. Default none. */
  timeoutMs?: number;
  /** At most this many messages per claim. Default `concurrency + prefetch` (`2 × concurrency` with `'auto'`). */
  batchSize?: number;
  /**
   * Messages claimed ahead of free slots and kept leased in this process (their leases are renewed
   * with the others) until a slot frees, so a finished handler's slot is refilled without waiting for
   * a claim. Prefetched messages are released (the delivery refunded) at `stop()`, and when this
   * process holds or pauses their topic or key; a hold set by another process does not reach messages
   * already prefetched here. Default `'auto'`: as many as the topic's slots finish during one claim
   * round trip (measured on the queue's clock), at most `concurrency` — none for slow handlers, up to
   * a second batch for fast ones. `0` turns it off.
   */
  prefetch?: number | 'auto';
  /** On a `rate_limited` failure, hold the whole topic or the key for its `retryAfterMs`. Default false. */
  holdOnRateLimit?: 'topic' | 'key' | false;
}

/** The effective policy of a topic, as registered in the store (inspectable from any process). */
export interface TopicPolicy {
  readonly topic: string;
  readonly concurrency: number;
  readonly ordering: 'key' | 'none';
  readonly onExhausted: 'dead-letter' | 'block-key';
  readonly batchSize: number;
  /** Messages claimed ahead of free slots (0: none; `'auto'`: measured, at most `concurrency`). */
  readonly prefetch: number | 'auto';
  readonly timeoutMs: number | null;
  readonly holdOnRateLimit: 'topic' | 'key' | false;
  readonly leaseMs: number;
  readonly retry: {
    readonly immediate: number;
    readonly scheduleMs: readonly number[];
    readonly jitter: number;
    readonly maxRetryAfterMs: number;
    /** 1 + the schedule's length. */
    readonly maxDeliveries: number;
  };
}

/** Retention of finished records, in ms. */
export interface RetentionOptions {
  /** Done messages (and so the window in which a repeated id is ignored). Default 7 days. */
  doneMs?: number;
  /** Dead letters (blocked ones are never purged). Default 14 days. */
  deadMs?: number;
  /** Inbox records of `once()`. Default 30 days. */
  inboxMs?: number;
}

/** Options of `createQueue()`. */
export interface QueueOptions {
  /** Default: the system clock. Retry times, `runAt`, leases and polls all read it. */
  clock?: Clock;
  /** This process's worker id. Default `<host>:<pid>:<random>`. */
  workerId?: string;
  /** Lease length in ms; renewed every `heartbeatMs` while a handler runs. Default 30_000. */
  leaseMs?: number;
  /** Lease renewal and liveness heartbeat interval, in ms. Default 2_000 (at most a third of `leaseMs`). */
  heartbeatMs?: number;
  /** A worker whose heartbeat is older than this is dead and its leases are reclaimed, in ms. Default 10_000. */
  deadWorkerMs?: number;
  /** Backstop poll, in ms (wake-ups make it a safety net). Default: the store's `backstopPollMs`. */
  pollMs?: number;
  /** How often a worker reclaims expired leases, checks dead workers and fires cron schedules, in ms. Default 1_000. */
  maintenanceMs?: number;
  retention?: RetentionOptions;
  /** Metrics hooks. Default: none (no-op). */
  metrics?: QueueMetrics;
  /** How often `metrics.depth` is sampled, in ms. Default 15_000. */
  metricsIntervalMs?: number;
  /** Random source in [0, 1) for jitter. Default `Math.random`. */
  random?: () => number;
  /** Trace context through messages, e.g. `otelTracing()` from `weir/observability/otel`. Default: none (nothing is called). */
  tracing?: QueueTracing;
}

/**
 * A tracing hook for messages, typed without any tracing library: the producer's trace context
 * goes into the message headers at enqueue, and each handler invocation runs inside a span that
 * continues it. `otelTracing()` from `weir/observability/otel` implements it.
 */
export interface QueueTracing {
  /**
   * Called for each message as it is built, synchronously in the caller's context: adds headers
   * (e.g. `traceparent`) to `headers`. Headers the caller gave win. Must not throw.
   */
  injectContext(topic: string, headers: Record<string, string>): void;
  /** Runs one handler invocation (`handler()`) inside a span continuing the message's headers; resolves or rejects as the handler does. */
  runHandler(message: Message, ctx: HandlerContext, handler: () => unknown): Promise<unknown>;
}

/** Reported by `onError`: a store failure the worker retries, a lost lease, a failing metrics hook. */
export interface QueueErrorEvent {
  readonly error: unknown;
  readonly topic?: string;
  readonly messageId?: string;
}
