import type { Classification } from '../errors.js';
import { InvalidOptionError } from '../errors.js';
import { fn, integer } from '../internal/validate.js';
import { resolveHandleOptions } from '../queue/options.js';
import type { RetryOptions, TopicPolicy } from '../queue/types.js';
import { type EventWait, isEventWait } from './events.js';
import type { Compensation, StepAction } from './types.js';

/** Options of {@link step}. */
export interface StepOptions {
  /** Budget of one attempt of the action (and of the compensation), in ms: `ctx.signal` aborts and the attempt fails with `WEIR_TIMEOUT` (transient: retried). Default none. */
  timeoutMs?: number;
}

/** One step of a saga: made by {@link step}. */
export interface Step<I = unknown, O = unknown> {
  readonly name: string;
  /** A function, or an event wait made by `on()`. */
  readonly action: StepAction<I, O> | EventWait<O>;
  readonly compensate: Compensation<I, O> | undefined;
  readonly timeoutMs: number | null;
}

/** Any step of a saga with input `I` (a step whose action only throws has output `never`). */
export type AnyStep<I = unknown> = Step<I, any> | Step<I, never>;

/** Options of {@link saga}. */
export interface SagaOptions {
  /** Every run must finish its forward steps within this many ms of its start; then it compensates. Default: no limit. */
  timeoutMs?: number;
  /**
   * Retries of a failed step or compensation, on the queue's schedule (the queue's `RetryOptions`,
   * with its defaults). `classify` decides: permanent (or retries exhausted) → compensate (or, for a
   * compensation, pause). Default classifier: `classifyError` from `weir/policy`.
   */
  retry?: RetryOptions;
  /** Runs of this saga advanced at once by one process. Default 10. */
  concurrency?: number;
}

const NAME_MAX = 100;

function name(value: unknown, option: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > NAME_MAX) {
    throw new InvalidOptionError(option, `a non-empty string of at most ${NAME_MAX} characters`, value);
  }
  return value;
}

/**
 * A step: an action, and optionally the compensation that undoes it. The action's value is
 * recorded as the step's output (any JSON); the compensation gets it as `ctx.output`. Both get a
 * step-scoped `ctx.idempotencyKey` to send with their outbound writes. Import from `weir/saga`.
 *
 * @param action a function, or `on(topic)` to wait for an event.
 * @throws InvalidOptionError naming the option.
 * @example
 * ```ts
 * step('charge', (ctx) => payments.charge(ctx.input, { idempotencyKey: ctx.idempotencyKey }),
 *   (ctx) => payments.refund(ctx.output.chargeId, { idempotencyKey: ctx.idempotencyKey }), { timeoutMs: 10_000 })
 * ```
 */
export function step<I = unknown, O = unknown>(
  stepName: string,
  action: StepAction<I, O> | EventWait<O>,
  compensate?: Compensation<I, O>,
  options: StepOptions = {},
): Step<I, O> {
  name(stepName, 'name');
  if (typeof action !== 'function' && !isEventWait(action)) throw new InvalidOptionError('action', 'a function or on(topic)', action);
  return {
    name: stepName,
    action,
    compensate: compensate === undefined ? undefined : fn<Compensation<I, O>>(compensate, 'compensate'),
    timeoutMs: options.timeoutMs === undefined ? null : integer(options.timeoutMs, 'timeoutMs', 1),
  };
}

/**
 * A saga definition: steps run in order, each recorded durably once it completes; when a step fails
 * for good, the compensations of the completed steps run in reverse. Run it with `sagaRuntime()`.
 * Import from `weir/saga`.
 * @throws InvalidOptionError naming the option.
 * @example
 * ```ts
 * const order = saga<Order>('order', [
 *   step('reserve', reserve, release),
 *   step('charge', charge, refund),
 *   step('ship', ship),
 * ], { timeoutMs: 3_600_000, retry: { schedule: ['1s', '10s', '1m', '10m'] } });
 * ```
 */
export function saga<I = unknown>(sagaName: string, steps: readonly AnyStep<I>[], options: SagaOptions = {}): Saga<I> {
  return new Saga(sagaName, steps, options);
}

/** A saga definition: see {@link saga}. */
export class Saga<I = unknown> {
  readonly name: string;
  readonly steps: readonly AnyStep<I>[];
  /** The queue topic that carries its runs' messages: `weir.saga.<name>`. */
  readonly topic: string;
  readonly timeoutMs: number | null;
  readonly concurrency: number;
  readonly retry: RetryOptions;
  /** @internal the queue policy its topic runs with (for the last-attempt decision). */
  readonly policy: TopicPolicy;
  /** @internal */
  readonly classify: (error: unknown) => Classification;

  constructor(sagaName: string, steps: readonly AnyStep<I>[], options: SagaOptions = {}) {
    this.name = name(sagaName, 'name');
    if (!Array.isArray(steps) || steps.length === 0) throw new InvalidOptionError('steps', 'a non-empty array of step()', steps);
    const names = new Set<string>();
    const topics = new Set<string>();
    steps.forEach((s, i) => {
      if (typeof s !== 'object' || s === null || typeof s.name !== 'string') throw new InvalidOptionError(`steps[${i}]`, 'a step()', s);
      if (names.has(s.name)) throw new InvalidOptionError(`steps[${i}].name`, 'a name not used by another step', s.name);
      names.add(s.name);
      if (!isEventWait(s.action)) return;
      for (const t of s.action.topics) {
        if (topics.has(t)) throw new InvalidOptionError(`steps[${i}].action`, 'a topic no other step of this saga waits for', t);
        topics.add(t);
      }
    });
    this.steps = [...steps];
    this.topic = `weir.saga.${this.name}`;
    this.timeoutMs = options.timeoutMs === undefined ? null : integer(options.timeoutMs, 'timeoutMs', 1);
    this.concurrency = integer(options.concurrency ?? 10, 'concurrency', 1, 10_000);
    this.retry = options.retry ?? {};
    const { policy, classify } = resolveHandleOptions(this.topic, { retry: this.retry, concurrency: this.concurrency }, 1);
    this.policy = policy;
    this.classify = classify;
  }

  /** The topics its event steps wait for, with the step index of each. */
  get waits(): ReadonlyMap<string, number> {
    const map = new Map<string, number>();
    this.steps.forEach((s, i) => {
      if (isEventWait(s.action)) for (const t of s.action.topics) map.set(t, i);
    });
    return map;
  }
}
