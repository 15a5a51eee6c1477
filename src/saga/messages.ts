import type { EnqueueItem } from '../queue/types.js';

/**
 * The messages that advance a run, all on the saga's topic. Keyed ones carry the run id as key, so
 * one run's messages are handled one at a time, in order; timers are unkeyed (a delayed keyed
 * message would hold the key) and, when due, enqueue their keyed `fire` message behind the run's others.
 * @internal
 */
export type SagaMessage =
  /** Do what the run's state says, if the run is still at `version` (every transition bumps it). */
  | { readonly kind: 'step'; readonly run: string; readonly version: number }
  /** An event for the waiting step `index` arrived (it is stored already). */
  | { readonly kind: 'event'; readonly run: string; readonly index: number }
  /** The waiting step `index` timed out, if the run is still at `version`. */
  | { readonly kind: 'timeout'; readonly run: string; readonly index: number; readonly version: number }
  /** The run's deadline passed. */
  | { readonly kind: 'deadline'; readonly run: string }
  | { readonly kind: 'timer'; readonly fire: KeyedMessage };

/** @internal */
export type KeyedMessage = Exclude<SagaMessage, { kind: 'timer' }>;

/** The message that runs a run's next move at `version`. @internal */
export function stepMessage(topic: string, run: string, version: number, suffix = ''): EnqueueItem<SagaMessage> {
  return { topic, payload: { kind: 'step', run, version }, key: run, id: `saga:${run}:v${version}${suffix}` };
}

/** A timer that enqueues `fire` for the run at `runAt`. @internal */
export function timerMessage(topic: string, fire: KeyedMessage, id: string, runAt: number): EnqueueItem<SagaMessage> {
  return { topic, payload: { kind: 'timer', fire }, key: null, id, runAt };
}
