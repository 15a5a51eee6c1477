import type { Classification } from '../errors.js';
import type { Disposable } from '../internal/events.js';
import type { Awaitable, Transaction } from './types.js';

/**
 * Where a message is in its life:
 * - `ready`: may be claimed once `runAt` has passed (for a keyed message: it is the head of its key);
 * - `waiting`: keyed, behind an earlier message of the same key that is not finished;
 * - `active`: leased by a worker;
 * - `done`: handled (kept for the retention period, so enqueueing the same id again is a no-op);
 * - `dead`: dead-lettered; its key moved on;
 * - `blocked`: dead-lettered and still holding its key (`onExhausted: 'block-key'`) until replayed or discarded.
 */
export type MessageState = 'ready' | 'waiting' | 'active' | 'done' | 'dead' | 'blocked';

/** A message to insert. The queue fills every field; stores validate nothing. */
export interface NewMessage {
  readonly id: string;
  readonly topic: string;
  readonly key: string | null;
  /** Any JSON-serialisable value. */
  readonly payload: unknown;
  readonly headers: Readonly<Record<string, string>>;
  /** Not claimable before this epoch-ms time. */
  readonly runAt: number;
}

/** A failure as stored: enough to diagnose, never the error object itself. */
export interface ErrorRecord {
  readonly name: string;
  /** A `WEIR_*` code, a Node error code, or null. */
  readonly code: string | null;
  readonly message: string;
  readonly classification: Classification;
  readonly stack?: string;
  readonly status?: number;
  readonly retryAfterMs?: number;
}

/** One failed handler invocation (or a lease that expired) in a message's attempt history. */
export interface AttemptRecord {
  /** 1-based delivery (lease) number. */
  readonly delivery: number;
  /** 1-based invocation within the delivery (immediate retries share a delivery). */
  readonly attempt: number;
  /** When the invocation started, epoch ms. */
  readonly at: number;
  readonly durationMs: number;
  readonly workerId: string;
  /** What happened next. */
  readonly outcome: 'retry-now' | 'retry' | 'dead' | 'held' | 'released' | 'lease-expired';
  readonly error: ErrorRecord | null;
  /** For `retry` and `held`: when the next delivery may start, epoch ms. */
  readonly retryAt?: number;
}

/** A stored message. */
export interface MessageRecord {
  readonly id: string;
  /** Enqueue order; per-key order follows it. */
  readonly seq: number;
  readonly topic: string;
  readonly key: string | null;
  readonly payload: unknown;
  readonly headers: Readonly<Record<string, string>>;
  readonly state: MessageState;
  readonly runAt: number;
  readonly createdAt: number;
  /** Deliveries so far (each claim counts one, minus refunds for releases and holds). */
  readonly attempts: number;
  readonly history: readonly AttemptRecord[];
  /** The last failure, with its stack when dead-lettered. */
  readonly error: ErrorRecord | null;
  /** When it became done, dead or blocked. */
  readonly finishedAt: number | null;
  /** How many times it was replayed from the dead letters. */
  readonly replays: number;
}

/** The right to settle one delivery. The token is a fencing token: it changes with every claim. */
export interface Lease {
  readonly id: string;
  readonly token: number;
}

/** A message leased to a worker. */
export interface ClaimedMessage extends MessageRecord, Lease {
  readonly leaseUntil: number;
}

export interface ClaimRequest {
  readonly topic: string;
  /** At most this many messages. */
  readonly limit: number;
  readonly workerId: string;
  /** The lease runs until `now + leaseMs` unless renewed. */
  readonly leaseMs: number;
  readonly now: number;
}

/**
 * How one delivery ended. Every settlement presents its lease; a stale token changes nothing.
 * `history` is the message's whole new attempt history (the claimed history plus this delivery's records).
 */
export type Settlement =
  | { readonly kind: 'done'; readonly lease: Lease; readonly next?: boolean }
  | {
      readonly kind: 'retry';
      readonly lease: Lease;
      readonly runAt: number;
      /** Give back the delivery counted at claim (a release at shutdown, a hold). */
      readonly refund: boolean;
      readonly error: ErrorRecord | null;
      readonly history: readonly AttemptRecord[];
    }
  | {
      readonly kind: 'dead';
      readonly lease: Lease;
      /** Keep the key blocked behind this message (`'blocked'`) instead of moving on (`'dead'`). */
      readonly blockKey: boolean;
      readonly error: ErrorRecord;
      /** Groups similar failures; see `errorSignature()` in `weir/queue`. */
      readonly signature: string;
      readonly history: readonly AttemptRecord[];
      readonly next?: boolean;
    };

/**
 * Key hand-off: a `done` or `dead` settlement marked `next: true` that frees its key leases the key's
 * next message to this worker at once (waiting → active, as a claim would) instead of making it ready
 * for any claimer, provided it is due and neither its topic nor its key is held. The worker saves the
 * claim's round trip and the store one row version per keyed message.
 */
export interface Handoff {
  readonly workerId: string;
  readonly leaseUntil: number;
}

/**
 * A worker of this process that takes messages as they are enqueued, leased to it in the enqueue's
 * own transaction: a store that runs in-process (SQLite) offers it through
 * {@link QueueStore.attachClaimer}. An idle worker then starts a message without a wake-up and a
 * claim transaction of its own; a busy one (no room) is woken as usual.
 */
export interface LocalClaimer {
  readonly workerId: string;
  /** The lease of a message taken at enqueue, ms (as a claim's `leaseMs`). */
  readonly leaseMs: number;
  /** How many messages of `topic` it would start now (0: none, or the topic is not handled here). */
  room(topic: string): number;
  /** Receives the messages leased to it, after the commit, in queue order. */
  take(claimed: readonly ClaimedMessage[]): void;
}

export interface SettleOutcome {
  /** Per settlement, in order: false when the lease was lost (another worker owns the message now). */
  readonly ok: readonly boolean[];
  /** Topics in which a waiting message became ready (its predecessor finished). */
  readonly promoted: readonly string[];
  /** With a hand-off: the successors leased to the worker (at most one per settlement marked `next`). */
  readonly claimed?: readonly ClaimedMessage[];
}

/** Stop claiming a topic, or one key of it, until a time. */
export interface Hold {
  readonly topic: string;
  /** null: the whole topic. */
  readonly key: string | null;
  /** Epoch ms; `Number.MAX_SAFE_INTEGER` for a pause. */
  readonly until: number;
  readonly reason: string;
}

/** How a topic is consumed, as registered by its handler (for inspection from any process). */
export interface TopicConfig {
  readonly topic: string;
  /** `'key'`: keyed messages run one at a time per key, in order. `'none'`: keys are only labels. */
  readonly ordering: 'key' | 'none';
  /** The effective retry policy and limits, as JSON. */
  readonly policy: Readonly<Record<string, unknown>>;
  readonly updatedAt: number;
}

export interface WorkerInfo {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly topics: readonly string[];
  readonly startedAt: number;
}

export interface WorkerRecord extends WorkerInfo {
  readonly heartbeatAt: number;
}

/** Depth of one topic. */
export interface TopicStats {
  readonly topic: string;
  /** Ready and due now. */
  readonly ready: number;
  /** Ready but due later (delayed or waiting for a retry). */
  readonly scheduled: number;
  readonly waiting: number;
  readonly active: number;
  readonly done: number;
  readonly dead: number;
  readonly blocked: number;
  /** `runAt` of the oldest due ready message, or null. */
  readonly oldestReadyAt: number | null;
}

export interface ReclaimRequest {
  readonly now: number;
  /** Workers known to be gone: their leases are reclaimed even before they expire, and their rows removed. */
  readonly deadWorkers: readonly string[];
}

export interface PurgeRequest {
  /** Delete done messages finished before this time. */
  readonly doneBefore: number;
  /** Delete inbox records older than this time. */
  readonly inboxBefore: number;
}

export interface PurgeReport {
  readonly done: number;
  readonly inbox: number;
}

/**
 * The queue's storage: messages, leases, holds, topics, workers. All writes that need it are
 * atomic; keyed order is kept by the store (a keyed message is `ready` only at the head of its key).
 */
export interface QueueStore {
  /**
   * Inserts messages; an id that exists already is skipped (idempotent enqueue). With `tx` the rows
   * commit or roll back with the caller's transaction. A store whose `transactions` capability is
   * `'sync'` returns synchronously (and throws synchronously) when given `tx`.
   * @returns the ids actually inserted.
   */
  enqueue(tx: Transaction | undefined, messages: readonly NewMessage[], now: number): Awaitable<readonly string[]>;
  /** Leases up to `limit` due, ready messages of a topic (not held), oldest first. */
  claim(request: ClaimRequest): Promise<readonly ClaimedMessage[]>;
  /**
   * Applies settlements; a lease whose token no longer matches an active message is reported lost.
   * With `handoff`, settlements marked `next` lease their key's successor to that worker (see `Handoff`).
   */
  settle(settlements: readonly Settlement[], now: number, handoff?: Handoff): Promise<SettleOutcome>;
  /** Extends every lease the worker holds to `leaseUntil`; returns the leases it still holds. */
  renew(workerId: string, leaseUntil: number, now: number): Promise<readonly Lease[]>;
  /** The earliest time after `now` at which something may become claimable in these topics, or null. */
  nextDueAt(topics: readonly string[], now: number): Promise<number | null>;
  get(id: string): Promise<MessageRecord | null>;
  stats(now: number): Promise<readonly TopicStats[]>;
  /** Sets (or extends: the later `until` wins) a hold. */
  hold(hold: Hold): Promise<void>;
  /** Removes a hold; true if there was one. */
  releaseHold(topic: string, key: string | null): Promise<boolean>;
  /** Holds still in force at `now`. */
  holds(now: number): Promise<readonly Hold[]>;
  /** Records a topic's configuration. Switching to `'none'` releases its waiting messages. */
  registerTopic(config: TopicConfig): Promise<void>;
  topics(): Promise<readonly TopicConfig[]>;
  /** Upserts a worker's liveness row. */
  heartbeat(worker: WorkerInfo, now: number): Promise<void>;
  workers(): Promise<readonly WorkerRecord[]>;
  removeWorker(workerId: string): Promise<void>;
  /** Makes expired leases and the leases of dead workers ready again; returns how many. */
  reclaim(request: ReclaimRequest): Promise<number>;
  /** Promotes the head of any key left with waiting messages but nothing ahead of them; returns how many. */
  repair(now: number): Promise<number>;
  purge(request: PurgeRequest): Promise<PurgeReport>;
  /**
   * Wake-ups: `listener(topic)` after messages may have become claimable in `topic`, `listener(null)`
   * when anything may have changed (a reconnect, a write by another process). Best effort: the
   * queue's backstop poll covers anything missed.
   */
  subscribe(listener: (topic: string | null) => void): Disposable;
  /**
   * Optional (SQLite): an enqueue that runs in its own transaction (not a caller's) also leases its
   * ready, due messages to attached workers with room, and hands them over after the commit.
   */
  attachClaimer?(claimer: LocalClaimer): Disposable;
}

/**
 * The inbox: a consumer records that it processed a message, in the same transaction as its own
 * writes, so a redelivery has no second effect.
 */
export interface InboxStore {
  /**
   * Records `(consumer, messageId)`; true the first time, false ever after. A `'sync'` store answers
   * synchronously.
   */
  once(tx: Transaction, consumer: string, messageId: string, now: number): Awaitable<boolean>;
}

/** A cron schedule that enqueues a message at each fire time. */
export interface ScheduleRecord {
  readonly name: string;
  readonly cron: string;
  /** IANA time zone the expression is read in. */
  readonly timezone: string;
  readonly topic: string;
  readonly key: string | null;
  readonly payload: unknown;
  readonly headers: Readonly<Record<string, string>>;
  /** The next fire time, epoch ms. */
  readonly nextRunAt: number;
  readonly lastRunAt: number | null;
}

export interface ScheduleStore {
  /** Creates or replaces a schedule. */
  put(schedule: ScheduleRecord): Promise<void>;
  remove(name: string): Promise<boolean>;
  list(): Promise<readonly ScheduleRecord[]>;
  /**
   * Enqueues one message for every schedule due at `now` (id `cron:<name>:<fire time>`, so racing
   * processes enqueue it once) and moves each to `next(schedule, now)`. Missed fire times collapse into one.
   * @returns the ids enqueued.
   */
  fireDue(now: number, next: (schedule: ScheduleRecord, after: number) => number): Promise<readonly string[]>;
}
