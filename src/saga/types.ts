import type { Deadline } from '../policy/deadline.js';
import type { ErrorRecord } from '../store/queue.js';
import type { SagaRunRecord, SagaStepRecord } from '../store/sagas.js';

/** Options of `ctx.emit()`. */
export interface EmitOptions {
  /** Per-key order for the event's consumers. Default none. */
  key?: string | null;
  /** Extra string headers; the saga headers (`weir-saga-run`, `weir-saga`, `weir-saga-step`) are always added. */
  headers?: Readonly<Record<string, string>>;
}

/**
 * What a step's action gets. It is also a policy context (`signal`, `deadline`, `attempt`): pass it
 * to `policy.execute(fn, ctx)` or a Weir connection so the step's time budget flows into the call.
 */
export interface StepContext<I = unknown> {
  readonly runId: string;
  /** The saga's name. */
  readonly saga: string;
  /** This step's name. */
  readonly step: string;
  /**
   * Send it as the Idempotency-Key of the step's outbound writes: `${runId}:${step}` for an action,
   * `${runId}:${step}:compensate` for a compensation. Stable across retries, redeliveries and crashes.
   */
  readonly idempotencyKey: string;
  /** Aborts at the step's timeout, the saga's deadline, or when the worker loses the message (lease lost, stop). */
  readonly signal: AbortSignal;
  /** The earlier of the step's timeout and the saga's deadline, or undefined when neither is set. */
  readonly deadline: Deadline | undefined;
  /** 1 for the first attempt of this step; counts every attempt, including ones cut short by a crash. */
  readonly attempt: number;
  /** The run's input, as given to `start()` (after a JSON round trip). */
  readonly input: I;
  /** Outputs of the steps completed so far, by step name. */
  readonly outputs: Readonly<Record<string, unknown>>;
  /**
   * Publishes an event to a queue topic in the same transaction that records this step as done (the
   * outbox), so it is published once the step completes, and never for an attempt that failed.
   * Its id is `${idempotencyKey}:emit:<n>`, so a retried attempt does not publish twice.
   * @throws InvalidOptionError for a bad topic; WeirError `WEIR_INVALID_STATE` after the step returned.
   */
  emit(topic: string, payload: unknown, options?: EmitOptions): void;
}

/** What a compensation gets: the step context plus what the action returned and why the run compensates. */
export interface CompensationContext<I = unknown, O = unknown> extends StepContext<I> {
  /** The action's output, as recorded. */
  readonly output: O;
  /** The step failure that started the compensation. */
  readonly error: ErrorRecord | null;
}

/** A step's action: its resolved value (any JSON) is recorded as the step's output. Throw to fail. */
export type StepAction<I = unknown, O = unknown> = (ctx: StepContext<I>) => O | PromiseLike<O>;

/** Undoes a completed step. Throw to fail (a transient error is retried; an exhausted one pauses the run). */
export type Compensation<I = unknown, O = unknown> = (ctx: CompensationContext<I, O>) => unknown;

/** An event as a waiting step sees it (a queue message of one of its topics). */
export interface SagaEvent<T = unknown> {
  /** The queue message id. */
  readonly id: string;
  readonly topic: string;
  readonly payload: T;
  readonly headers: Readonly<Record<string, string>>;
}

/** A run as listed: see {@link SagaRunRecord}. */
export type SagaRun = SagaRunRecord;

/** A run with its step history (oldest first) and the outputs of its completed steps. */
export interface SagaRunDetail extends SagaRunRecord {
  readonly history: readonly SagaStepRecord[];
  readonly outputs: Readonly<Record<string, unknown>>;
}

/** Options of `start()`. */
export interface StartOptions {
  /**
   * The run id (at most 200 characters): starting again with the same id does nothing and returns
   * it, so a natural key (an order id) makes `start()` idempotent. Default: a new UUIDv7.
   */
  id?: string;
  /** Overrides the saga's `timeoutMs` for this run, in ms. */
  timeoutMs?: number;
}
