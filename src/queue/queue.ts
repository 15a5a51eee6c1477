import { InvalidOptionError, WeirError } from '../errors.js';
import type { Clock } from '../internal/clock.js';
import { toMs } from '../internal/duration.js';
import { Emitter, type Event } from '../internal/events.js';
import { uuidv7 } from '../internal/ids.js';
import { fn } from '../internal/validate.js';
import type { Hold, NewMessage, ScheduleRecord, TopicStats } from '../store/queue.js';
import type { Awaitable, PgTransaction, SqliteTransaction, Store, Transaction } from '../store/types.js';
import { nextCronTime } from './cron.js';
import { DeadLetters } from './dead-letters.js';
import { Pace, type Registration } from './delivery.js';
import { type ResolvedQueueOptions, resolveHandleOptions, resolveQueueOptions, topicName } from './options.js';
import type { EnqueueItem, EnqueueOptions, Handler, HandleOptions, QueueErrorEvent, QueueOptions, QueueTracing, TopicPolicy } from './types.js';
import { Worker } from './worker.js';

/** A cron schedule to create with `queue.schedule()`. */
export interface ScheduleOptions {
  /** 5 fields (minute precision) or 6 (seconds first), or `@hourly`, `@daily`, …, as cron-parser reads them. */
  cron: string;
  topic: string;
  payload?: unknown;
  key?: string | null;
  headers?: Readonly<Record<string, string>>;
  /** IANA time zone the expression is read in. Default `'UTC'`. */
  timezone?: string;
}

/** The caller's headers over the trace context the tracing hook injects (a hook that throws adds nothing). */
function traced(tracing: QueueTracing, topic: string, given: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  try {
    tracing.injectContext(topic, headers);
  } catch {
    return given;
  }
  return Object.assign(headers, given);
}

/** A pause is a hold that never ends by itself. */
const FOREVER = Number.MAX_SAFE_INTEGER;

/**
 * Creates a durable queue on a store. Create one per process: it has one fetcher for all its
 * handlers. Import from `weir/queue`.
 * @throws InvalidOptionError naming the option.
 * @example
 * ```ts
 * const store = await openStore('sqlite:./weir.db');
 * const queue = createQueue(store);
 * await queue.handle('emails', async (msg) => send(msg.payload), { concurrency: 10 });
 * store.db.transaction(() => { insertOrder.run(order); queue.enqueue(store.db, 'emails', { orderId: order.id }, { key: order.customerId }); })();
 * ```
 */
export function createQueue(store: Store, options: QueueOptions = {}): Queue {
  return new Queue(store, options);
}

/** A durable queue: enqueue (in the caller's transaction), handle, hold, schedule, dead letters. See {@link createQueue}. */
export class Queue {
  readonly store: Store;
  /** Dead letters: list, group, preview, replay, discard. */
  readonly deadLetters: DeadLetters;
  private readonly options: ResolvedQueueOptions;
  private readonly clock: Clock;
  private readonly errors = new Emitter<QueueErrorEvent>();
  private readonly regs = new Map<string, Registration>();
  private worker: Worker | undefined = undefined;
  private stopped = false;
  /** Store failures the worker retries, lost leases, failing metrics hooks. */
  readonly onError: Event<QueueErrorEvent> = this.errors.event;

  constructor(store: Store, options: QueueOptions = {}) {
    this.store = store;
    this.options = resolveQueueOptions(options, store.capabilities);
    this.clock = this.options.clock;
    this.deadLetters = new DeadLetters(store.deadLetters, this.clock);
  }

  /** This process's worker id (in leases and liveness rows). */
  get workerId(): string {
    return this.options.workerId;
  }

  /** Handlers running in this process now. */
  get inFlight(): number {
    return this.worker?.inFlight ?? 0;
  }

  /**
   * Enqueues a message; resolves to its id. With a transaction first, the message commits or rolls
   * back with it (the transactional outbox): a better-sqlite3 `Database` inside `db.transaction()`
   * (then enqueue is synchronous: it returns the id, and throws so your transaction rolls back), or a
   * `pg` client inside `BEGIN`. An `id` that exists already is not enqueued again.
   * @throws InvalidOptionError naming the option (synchronously with a SQLite transaction, else as a rejection).
   */
  enqueue<T>(topic: string, payload: T, options?: EnqueueOptions): Promise<string>;
  enqueue<T>(tx: SqliteTransaction, topic: string, payload: T, options?: EnqueueOptions): string;
  enqueue<T>(tx: PgTransaction, topic: string, payload: T, options?: EnqueueOptions): Promise<string>;
  enqueue(...args: unknown[]): Awaitable<string> {
    const [tx, topic, payload, options] = (typeof args[0] === 'string' ? [undefined, ...args] : args) as [
      Transaction | undefined,
      string,
      unknown,
      EnqueueOptions | undefined,
    ];
    return this.insert(tx, () => [this.build(topic, payload, options ?? {}, '')], (ids) => ids[0] as string);
  }

  /** Enqueues several messages at once (one statement on PostgreSQL, one transaction on SQLite); ids in order. */
  enqueueMany(items: readonly EnqueueItem[]): Promise<string[]>;
  enqueueMany(tx: SqliteTransaction, items: readonly EnqueueItem[]): string[];
  enqueueMany(tx: PgTransaction, items: readonly EnqueueItem[]): Promise<string[]>;
  enqueueMany(...args: unknown[]): Awaitable<string[]> {
    const [tx, items] = (Array.isArray(args[0]) ? [undefined, args[0]] : args) as [Transaction | undefined, readonly EnqueueItem[]];
    return this.insert(
      tx,
      () => {
        if (!Array.isArray(items)) throw new InvalidOptionError('items', 'an array of messages', items);
        return items.map((m, i) => this.build(m.topic, m.payload, m, `items[${i}].`));
      },
      (ids) => ids,
    );
  }

  /** Runs an insert synchronously for a sync store's transaction (so failures roll it back), else as a promise. */
  private insert<R>(tx: Transaction | undefined, build: () => NewMessage[], result: (ids: string[]) => R): Awaitable<R> {
    const sync = tx !== undefined && this.store.capabilities.transactions === 'sync';
    const run = (): Awaitable<R> => {
      const messages = build();
      const inserted = this.store.queue.enqueue(tx, messages, this.clock.now());
      const done = (): R => {
        this.countEnqueued(messages);
        return result(messages.map((m) => m.id));
      };
      return inserted instanceof Promise ? inserted.then(done) : done();
    };
    if (sync) return run();
    try {
      return Promise.resolve(run());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private build(topic: string, payload: unknown, o: EnqueueOptions, at: string): NewMessage {
    topicName(topic, `${at}topic`);
    const now = this.clock.now();
    const id = o.id ?? uuidv7(now);
    if (typeof id !== 'string' || id.length === 0 || id.length > 500) throw new InvalidOptionError(`${at}id`, 'a non-empty string', id);
    const key = o.key ?? null;
    if (key !== null && typeof key !== 'string') throw new InvalidOptionError(`${at}key`, 'a string or null', key);
    let runAt = now;
    if (o.runAt !== undefined) {
      runAt = o.runAt instanceof Date ? o.runAt.getTime() : o.runAt;
      if (typeof runAt !== 'number' || !Number.isFinite(runAt)) throw new InvalidOptionError(`${at}runAt`, 'a Date or epoch ms', o.runAt);
    } else if (o.delay !== undefined) {
      runAt = now + toMs(o.delay, `${at}delay`);
    }
    let headers = o.headers ?? {};
    if (typeof headers !== 'object' || headers === null || Object.values(headers).some((v) => typeof v !== 'string')) {
      throw new InvalidOptionError(`${at}headers`, 'an object of string values', headers);
    }
    const tracing = this.options.tracing;
    if (tracing !== undefined) headers = traced(tracing, topic, headers);
    return { id, topic, key, payload: payload ?? null, headers, runAt };
  }

  private countEnqueued(messages: readonly NewMessage[]): void {
    const hook = this.options.metrics.enqueued;
    if (hook === undefined) return;
    const counts = new Map<string, number>();
    for (const m of messages) counts.set(m.topic, (counts.get(m.topic) ?? 0) + 1);
    for (const [topic, count] of counts) {
      try {
        hook.call(this.options.metrics, { topic, count });
      } catch (error) {
        this.errors.emit({ error, topic });
      }
    }
  }

  /**
   * The inbox: records that `consumer` processed `messageId`, in the caller's transaction. True the
   * first time, false on every redelivery, so writing your effects only when it returns true (in
   * the same transaction) gives exactly-once effect. Synchronous with a SQLite transaction.
   * @example `store.db.transaction(() => { if (queue.once(store.db, 'billing', msg.id)) charge.run(msg.payload); })();`
   */
  once(tx: SqliteTransaction, consumer: string, messageId: string): boolean;
  once(tx: PgTransaction, consumer: string, messageId: string): Promise<boolean>;
  once(tx: Transaction, consumer: string, messageId: string): Awaitable<boolean> {
    if (typeof consumer !== 'string' || consumer.length === 0) throw new InvalidOptionError('consumer', 'a non-empty string', consumer);
    if (typeof messageId !== 'string' || messageId.length === 0) throw new InvalidOptionError('messageId', 'a non-empty string', messageId);
    return this.store.inbox.once(tx, consumer, messageId, this.clock.now());
  }

  /**
   * Starts handling a topic in this process (the worker starts with the first handler). Resolves
   * once the topic's policy is registered in the store.
   * @throws InvalidOptionError naming the option; WeirError `WEIR_CANCELLED` after `stop()`.
   */
  handle<T = unknown>(topic: string, handler: Handler<T>, options: HandleOptions = {}): Promise<void> {
    topicName(topic);
    fn(handler, 'handler');
    if (this.stopped) throw new WeirError('WEIR_CANCELLED', 'This queue was stopped; create a new one to handle messages.');
    if (this.regs.has(topic)) throw new InvalidOptionError('topic', 'a topic without a handler in this queue', topic);
    const { policy, classify } = resolveHandleOptions(topic, options, this.options.leaseMs);
    let markRegistered!: () => void;
    const whenRegistered = new Promise<void>((resolve) => {
      markRegistered = resolve;
    });
    const reg: Registration = {
      topic,
      handler: handler as Handler,
      policy,
      classify,
      inflight: 0,
      buffer: [],
      pace: new Pace(policy),
      registered: false,
      dirty: true,
      backlog: false,
      whenRegistered,
      markRegistered,
    };
    this.regs.set(topic, reg);
    this.worker ??= new Worker(this.store, this.options, (event) => this.errors.emit(event));
    this.worker.add(reg);
    return whenRegistered;
  }

  /** Holds a topic (or one key) until `duration` from now, for every worker. @throws InvalidOptionError. */
  async hold(topic: string, duration: number | string, options: { key?: string; reason?: string } = {}): Promise<void> {
    topicName(topic);
    const until = this.clock.now() + toMs(duration, 'duration');
    await this.store.queue.hold({ topic, key: options.key ?? null, until, reason: options.reason ?? 'held' });
    this.worker?.unbuffer(topic, options.key ?? null);
  }

  /** Ends a hold (or a pause) early. */
  release(topic: string, key?: string): Promise<boolean> {
    return this.store.queue.releaseHold(topic, key ?? null);
  }

  /** Pauses a topic for every worker until `resume()`. In-flight messages finish. */
  async pause(topic: string): Promise<void> {
    topicName(topic);
    await this.store.queue.hold({ topic, key: null, until: FOREVER, reason: 'paused' });
    this.worker?.unbuffer(topic, null);
  }

  /** Resumes a paused (or held) topic. */
  resume(topic: string): Promise<boolean> {
    return this.store.queue.releaseHold(topic, null);
  }

  /** Holds and pauses in force now. */
  holds(): Promise<readonly Hold[]> {
    return this.store.queue.holds(this.clock.now());
  }

  /**
   * Creates or replaces a cron schedule that enqueues `payload` to `topic` at each fire time. Running
   * workers fire due schedules (each fire time once, even with many workers); missed times while no
   * worker ran collapse into one.
   * @throws InvalidOptionError naming `cron` (or `timezone`, `name`, `topic`).
   */
  async schedule(name: string, s: ScheduleOptions): Promise<ScheduleRecord> {
    if (typeof name !== 'string' || name.length === 0) throw new InvalidOptionError('name', 'a non-empty string', name);
    topicName(s.topic);
    const timezone = s.timezone ?? 'UTC';
    const nextRunAt = nextCronTime(s.cron, timezone, this.clock.now());
    const record: ScheduleRecord = {
      name,
      cron: s.cron,
      timezone,
      topic: s.topic,
      key: s.key ?? null,
      payload: s.payload ?? null,
      headers: s.headers ?? {},
      nextRunAt,
      lastRunAt: null,
    };
    await this.store.schedules.put(record);
    this.worker?.wake(null);
    return record;
  }

  unschedule(name: string): Promise<boolean> {
    return this.store.schedules.remove(name);
  }

  schedules(): Promise<readonly ScheduleRecord[]> {
    return this.store.schedules.list();
  }

  /** The effective policy of a topic: this process's handler, else as registered by another process, else null. */
  async policy(topic: string): Promise<TopicPolicy | null> {
    const local = this.regs.get(topic);
    if (local !== undefined) return local.policy;
    const stored = (await this.store.queue.topics()).find((t) => t.topic === topic);
    return stored === undefined ? null : (stored.policy as unknown as TopicPolicy);
  }

  /** Depth per topic and state, with the oldest due message's `runAt`. */
  stats(): Promise<readonly TopicStats[]> {
    return this.store.queue.stats(this.clock.now());
  }

  /** Runs maintenance once now: reclaim expired and dead workers' leases, fire due cron schedules, purge by retention. */
  maintain(): Promise<void> {
    return (this.worker ?? new Worker(this.store, this.options, (event) => this.errors.emit(event))).maintain(this.clock.now());
  }

  /**
   * Stops this queue's worker: no new claims; running handlers get `graceMs` (default 10_000) to
   * finish, then their signal aborts and their messages are released to other workers (the delivery
   * is not counted). Enqueueing keeps working. Idempotent.
   */
  async stop(options: { graceMs?: number } = {}): Promise<void> {
    this.stopped = true;
    await this.worker?.stop(options.graceMs ?? 10_000);
  }
}
