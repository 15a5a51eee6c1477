import { InvalidOptionError } from '../errors.js';
import { fn, integer } from '../internal/validate.js';
import { topicName } from '../queue/options.js';
import type { EmitOptions, SagaEvent, StepAction, StepContext } from './types.js';

/**
 * The header that carries a saga run's id on every event a step emits. A service that answers an
 * event copies it onto its reply, and `on()` finds the waiting run by it (unless `correlate` says otherwise).
 */
export const SAGA_RUN_HEADER = 'weir-saga-run';

/** Options of {@link on}. */
export interface OnOptions<O = unknown> {
  /** How long the step waits for the event, in ms; then it fails permanently with `WEIR_TIMEOUT`. Default: no limit (the saga's deadline still applies). */
  timeoutMs?: number;
  /** The run an event belongs to. Default: the `weir-saga-run` header. Return null to ignore the event. */
  correlate?: (event: SagaEvent) => string | null | undefined;
  /**
   * Turns the event into the step's output (default: its payload). Throw to fail the step: for a
   * failure event, `throw permanent(…)` starts compensation.
   */
  accept?: (event: SagaEvent, ctx: StepContext) => O | PromiseLike<O>;
}

/** A step action that waits for an event instead of calling something. Made by {@link on}. */
export interface EventWait<O = unknown> {
  readonly kind: 'event-wait';
  readonly topics: readonly string[];
  readonly timeoutMs: number | null;
  readonly correlate: (event: SagaEvent) => string | null | undefined;
  readonly accept: ((event: SagaEvent, ctx: StepContext) => O | PromiseLike<O>) | undefined;
}

/** True for a step action made by {@link on}. */
export function isEventWait(value: unknown): value is EventWait {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'event-wait';
}

const byHeader = (event: SagaEvent): string | null => event.headers[SAGA_RUN_HEADER] ?? null;

/**
 * Choreography: a step that waits for an event from another service (a queue message of `topic`,
 * delivered by a transport or a webhook receiver), with an optional time limit. The runtime handles
 * the topic: an event is stored when it arrives, even before the run reaches the step, and the
 * first one for the run wins. Import from `weir/saga`.
 *
 * @param topic one topic, or several (e.g. a success and a failure event).
 * @throws InvalidOptionError naming the option.
 * @example
 * ```ts
 * step('paid', on(['payment.charged', 'payment.declined'], {
 *   timeoutMs: 15 * 60_000,
 *   accept: (e) => { if (e.topic === 'payment.declined') throw permanent(new Error('declined')); return e.payload; },
 * }))
 * ```
 */
export function on<O = unknown>(topic: string | readonly string[], options: OnOptions<O> = {}): EventWait<O> {
  const topics = typeof topic === 'string' ? [topic] : topic;
  if (!Array.isArray(topics) || topics.length === 0) throw new InvalidOptionError('topic', 'a topic or a non-empty array of topics', topic);
  topics.forEach((t, i) => topicName(t, typeof topic === 'string' ? 'topic' : `topic[${i}]`));
  return {
    kind: 'event-wait',
    topics: [...new Set(topics)],
    timeoutMs: options.timeoutMs === undefined ? null : integer(options.timeoutMs, 'timeoutMs', 1),
    correlate: options.correlate === undefined ? byHeader : fn(options.correlate, 'correlate'),
    accept: options.accept === undefined ? undefined : fn(options.accept, 'accept'),
  };
}

/**
 * Choreography: a step action that publishes an event (through the outbox, once the step is recorded)
 * and returns its payload as the step's output. The payload is built by `build` (default: the run's
 * input). The event carries the `weir-saga-run` header. Use it as an action or as a compensation.
 * Import from `weir/saga`.
 * @throws InvalidOptionError naming the option.
 * @example
 * ```ts
 * step('announce', emits('order.placed', (ctx) => ({ orderId: ctx.input.id })), emits('order.cancelled'))
 * ```
 */
export function emits<I = unknown>(topic: string): StepAction<I, I>;
export function emits<I, P>(topic: string, build: (ctx: StepContext<I>) => P | PromiseLike<P>, options?: EmitOptions): StepAction<I, P>;
export function emits<I, P>(topic: string, build?: (ctx: StepContext<I>) => P | PromiseLike<P>, options: EmitOptions = {}): StepAction<I, P> {
  topicName(topic);
  if (build !== undefined) fn(build, 'build');
  return async function emit(ctx: StepContext<I>): Promise<P> {
    const payload = build === undefined ? (ctx.input as unknown as P) : await build(ctx);
    ctx.emit(topic, payload, options);
    return payload;
  };
}
