import { InvalidOptionError, WeirError } from '../errors.js';
import { type Clock, systemClock } from '../internal/clock.js';
import { uuidv7 } from '../internal/ids.js';
import { integer } from '../internal/validate.js';
import type { Queue } from '../queue/queue.js';
import type { EnqueueItem, Message } from '../queue/types.js';
import { TERMINAL_SAGA_STATES, type SagaRunFilter, type SagaRunRecord } from '../store/sagas.js';
import type { Awaitable, PgTransaction, SqliteTransaction, Store, Transaction } from '../store/types.js';
import { enqueueIn, inTransaction, type Work } from './drive.js';
import type { EventWait } from './events.js';
import { outputsOf, SagaExecutor } from './execute.js';
import { type SagaMessage, stepMessage, timerMessage } from './messages.js';
import { Saga } from './saga.js';
import type { SagaEvent, SagaRunDetail, StartOptions } from './types.js';

/** Options of {@link sagaRuntime}. */
export interface SagaRuntimeOptions {
  /** The queue whose messages advance the runs (one per process). */
  queue: Queue;
  /** The store; must be the queue's. Default `queue.store`. */
  store?: Store;
  /** The sagas this runtime starts and runs. Names must be unique. */
  sagas: readonly Saga<any>[];
  /** Default: the system clock. Pass the queue's clock (a `FakeClock` in tests). */
  clock?: Clock;
  /**
   * Register the queue handlers that run the sagas (their topics `weir.saga.<name>` and the topics
   * their `on()` steps wait for) in this process. Default true; false for a process that only starts
   * and inspects runs.
   */
  handle?: boolean;
}

/**
 * The saga runtime of a process: starts runs (inside your transaction: the outbox), registers the
 * queue handlers that advance them, and lists, resumes and aborts them. Import from `weir/saga`.
 * @throws InvalidOptionError naming the option (a saga name used twice, a topic that already has a handler).
 * @example
 * ```ts
 * const sagas = sagaRuntime({ queue, sagas: [order] });
 * store.db.transaction(() => { insertOrder.run(o); sagas.start(store.db, order, o, { id: o.id }); })();
 * const run = await sagas.get(o.id); // state, step, history
 * ```
 */
export function sagaRuntime(options: SagaRuntimeOptions): SagaRuntime {
  return new SagaRuntime(options);
}

/** See {@link sagaRuntime}. */
export class SagaRuntime {
  /** Resolves once every handler is registered with the queue. */
  readonly ready: Promise<void>;
  private readonly store: Store;
  private readonly queue: Queue;
  private readonly clock: Clock;
  private readonly sagas = new Map<string, Saga<any>>();
  private readonly executor: SagaExecutor;

  constructor(options: SagaRuntimeOptions) {
    if (typeof options?.queue?.enqueue !== 'function') throw new InvalidOptionError('queue', 'a queue from createQueue()', options?.queue);
    this.queue = options.queue;
    this.store = options.store ?? options.queue.store;
    if (this.store !== options.queue.store) throw new InvalidOptionError('store', "the queue's store", options.store);
    this.clock = options.clock ?? systemClock;
    if (!Array.isArray(options.sagas)) throw new InvalidOptionError('sagas', 'an array of saga()', options.sagas);
    options.sagas.forEach((s, i) => {
      if (!(s instanceof Saga)) throw new InvalidOptionError(`sagas[${i}]`, 'a saga()', s);
      if (this.sagas.has(s.name)) throw new InvalidOptionError(`sagas[${i}]`, 'a saga whose name no other saga uses', s.name);
      this.sagas.set(s.name, s);
    });
    this.executor = new SagaExecutor(this.store, this.queue, this.clock);
    this.ready = options.handle === false ? Promise.resolve() : this.register();
  }

  private register(): Promise<void> {
    const registered: Promise<void>[] = [];
    const waiters = new Map<string, Array<{ saga: Saga; index: number; wait: EventWait }>>();
    for (const saga of this.sagas.values()) {
      const handler = (m: Message<SagaMessage>, ctx: Parameters<SagaExecutor['handle']>[2]): Promise<void> => this.executor.handle(saga, m, ctx);
      registered.push(this.queue.handle(saga.topic, handler, { concurrency: saga.concurrency, retry: saga.retry, ordering: 'key' }));
      for (const [topic, index] of saga.waits) {
        const wait = saga.steps[index]?.action as EventWait;
        waiters.set(topic, [...(waiters.get(topic) ?? []), { saga, index, wait }]);
      }
    }
    for (const [topic, list] of waiters) {
      registered.push(
        this.queue.handle(topic, async (m) => {
          const event: SagaEvent = { id: m.id, topic, payload: m.payload, headers: m.headers };
          for (const { saga, index, wait } of list) {
            const runId = wait.correlate(event);
            if (typeof runId === 'string' && runId.length > 0) await this.executor.deliver(saga, index, runId, event);
          }
        }, { concurrency: 10 }),
      );
    }
    return Promise.all(registered).then(() => undefined);
  }

  /**
   * Starts a run; resolves to its id. With a transaction first, the run is created and its first
   * message enqueued in it (the outbox): a better-sqlite3 `Database` inside `db.transaction()` (then
   * `start` is synchronous: it returns the id, and throws so your transaction rolls back), or a `pg`
   * client inside `BEGIN`. Idempotent by `id`: a run that exists already is left alone.
   * @throws InvalidOptionError naming the option (also `id` when another saga's run has that id).
   */
  start<I>(saga: Saga<I>, input: I, options?: StartOptions): Promise<string>;
  start<I>(tx: SqliteTransaction, saga: Saga<I>, input: I, options?: StartOptions): string;
  start<I>(tx: PgTransaction, saga: Saga<I>, input: I, options?: StartOptions): Promise<string>;
  start(...args: unknown[]): Awaitable<string> {
    const [tx, saga, input, options] = (args[0] instanceof Saga ? [undefined, ...args] : args) as [
      Transaction | undefined,
      Saga,
      unknown,
      StartOptions | undefined,
    ];
    const run = (): Awaitable<string> => {
      if (!(saga instanceof Saga)) throw new InvalidOptionError('saga', 'a saga()', saga);
      const o = options ?? {};
      const now = this.clock.now();
      const id = o.id ?? uuidv7(now);
      if (typeof id !== 'string' || id.length === 0 || id.length > 200) throw new InvalidOptionError('id', 'a non-empty string of at most 200 characters', id);
      const timeoutMs = o.timeoutMs === undefined ? saga.timeoutMs : integer(o.timeoutMs, 'timeoutMs', 1);
      const deadline = timeoutMs === null ? null : now + timeoutMs;
      return inTransaction(this.store, tx, (t) => this.create(t, saga, input, id, deadline, now));
    };
    if (tx !== undefined && this.store.capabilities.transactions === 'sync') return run();
    try {
      return Promise.resolve(run());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private *create(tx: Transaction, saga: Saga, input: unknown, id: string, deadline: number | null, now: number): Work<string> {
    const { store, queue } = this;
    const first = saga.steps[0]?.name as string;
    const created = yield store.sagas.create(tx, { id, name: saga.name, step: first, input: input ?? null, deadline, now });
    if (created !== true) {
      const existing = (yield store.sagas.get(id, tx)) as SagaRunRecord | null;
      if (existing !== null && existing.name !== saga.name) {
        throw new InvalidOptionError('id', `an id not used by a run of another saga (${existing.name})`, id);
      }
      return id;
    }
    const items: EnqueueItem[] = [stepMessage(saga.topic, id, 1)];
    if (deadline !== null) items.push(timerMessage(saga.topic, { kind: 'deadline', run: id }, `saga:${id}:deadline`, deadline));
    yield enqueueIn(queue, tx, items);
    return id;
  }

  /** A run with its step history and outputs, or null. */
  async get(runId: string): Promise<SagaRunDetail | null> {
    const run = await this.store.sagas.get(runId);
    if (run === null) return null;
    const history = await this.store.sagas.steps(runId);
    return { ...run, history, outputs: outputsOf(history) };
  }

  /** Runs, newest first: by `state`, by saga `name`, paged with `beforeSeq` (default 100 per page, at most 1000). */
  list(filter: SagaRunFilter = {}): Promise<readonly SagaRunRecord[]> {
    return this.store.sagas.list(filter);
  }

  /**
   * A person's decision to go on. A `paused` run compensates again from the compensation that
   * failed, with fresh retries. A `running` or `compensating` run gets a fresh message for its
   * current position (harmless if one is pending): use it when a run's message was dead-lettered.
   * @returns the run after the change.
   * @throws WeirError `WEIR_NOT_FOUND`; `WEIR_INVALID_STATE` for a finished run, or one that changed meanwhile.
   */
  async resume(runId: string): Promise<SagaRunRecord> {
    const run = await this.existing(runId);
    const { store, queue } = this;
    const topic = `weir.saga.${run.name}`;
    const now = this.clock.now();
    await inTransaction(store, undefined, function* (tx) {
      if (run.state !== 'paused') {
        yield enqueueIn(queue, tx, [stepMessage(topic, run.id, run.version, `:resume:${now}`)]);
        return;
      }
      const moved = yield store.sagas.transition(tx, {
        id: run.id,
        version: run.version,
        state: 'compensating',
        stepIndex: run.stepIndex,
        step: run.step,
        compensationError: null,
        now,
      });
      if (moved !== true) throw changed(run);
      yield enqueueIn(queue, tx, [stepMessage(topic, run.id, run.version + 1)]);
    });
    return (await this.store.sagas.get(runId)) as SagaRunRecord;
  }

  /**
   * A person's decision to stop: the run becomes `aborted` where it is, and nothing more runs (no
   * compensation). Meant for a `paused` run whose remaining compensations a person handles; on a
   * running run, an attempt in flight may still have its effect.
   * @returns the run after the change.
   * @throws WeirError `WEIR_NOT_FOUND`; `WEIR_INVALID_STATE` for a finished run, or one that changed meanwhile.
   */
  async abort(runId: string): Promise<SagaRunRecord> {
    const run = await this.existing(runId);
    const moved = await this.store.sagas.transition(undefined, {
      id: run.id,
      version: run.version,
      state: 'aborted',
      stepIndex: run.stepIndex,
      step: run.step,
      now: this.clock.now(),
    });
    if (!moved) throw changed(run);
    return (await this.store.sagas.get(runId)) as SagaRunRecord;
  }

  /** Deletes finished runs (completed, compensated, failed, aborted) older than `olderThanMs`, with their history. @returns how many. */
  purge(options: { olderThanMs: number }): Promise<number> {
    const olderThanMs = integer(options?.olderThanMs, 'olderThanMs', 0);
    return this.store.sagas.purge(this.clock.now() - olderThanMs);
  }

  private async existing(runId: string): Promise<SagaRunRecord> {
    const run = await this.store.sagas.get(runId);
    if (run === null) throw new WeirError('WEIR_NOT_FOUND', `No saga run ${JSON.stringify(runId)}.`, { details: { runId } });
    if (TERMINAL_SAGA_STATES.includes(run.state)) {
      throw new WeirError('WEIR_INVALID_STATE', `Saga run ${runId} is ${run.state}; it cannot change any more.`, { details: { runId, state: run.state } });
    }
    return run;
  }
}

function changed(run: SagaRunRecord): WeirError<'WEIR_INVALID_STATE'> {
  return new WeirError('WEIR_INVALID_STATE', `Saga run ${run.id} changed meanwhile; read it again and retry.`, { details: { runId: run.id } });
}

