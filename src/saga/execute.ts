import { type Classification, permanent, TimeoutError, WeirError } from '../errors.js';
import type { Clock } from '../internal/clock.js';
import { topicName } from '../queue/options.js';
import type { Queue } from '../queue/queue.js';
import { decide, errorRecord } from '../queue/retry.js';
import type { EnqueueItem, HandlerContext, Message } from '../queue/types.js';
import type { ErrorRecord } from '../store/queue.js';
import type { SagaRunRecord, SagaStepPhase, SagaStepRecord, SagaTransition } from '../store/sagas.js';
import type { Store } from '../store/types.js';
import { enqueueIn, inTransaction } from './drive.js';
import { type EventWait, isEventWait, SAGA_RUN_HEADER } from './events.js';
import { type SagaMessage, stepMessage, timerMessage } from './messages.js';
import { timed } from './timed.js';
import type { AnyStep, Saga } from './saga.js';
import type { Compensation, CompensationContext, EmitOptions, SagaEvent, StepContext } from './types.js';

/** One handling of one message of a run. */
interface Turn {
  readonly saga: Saga;
  readonly run: SagaRunRecord;
  readonly message: Message<SagaMessage>;
  readonly qctx: HandlerContext;
}

type Attempted = { readonly ok: true; readonly output: unknown; readonly emitted: readonly EnqueueItem[] } | { readonly ok: false; readonly error: unknown };
type Phase = Exclude<SagaStepPhase, 'event'>;
type Move = Pick<SagaTransition, 'state' | 'stepIndex' | 'step'>;

/** The outputs of the completed actions, by step name. */
export function outputsOf(history: readonly SagaStepRecord[]): Record<string, unknown> {
  const outputs: Record<string, unknown> = {};
  for (const h of history) if (h.phase === 'action' && h.status === 'completed') outputs[h.name] = h.output;
  return outputs;
}

/** The last step at or before `from` that has a compensation, or -1. */
function lastCompensable(saga: Saga, from: number): number {
  for (let i = from; i >= 0; i--) if (saga.steps[i]?.compensate !== undefined) return i;
  return -1;
}

function deadlineError(run: SagaRunRecord, cause?: unknown): TimeoutError {
  const budget = (run.deadline ?? run.createdAt) - run.createdAt;
  return new TimeoutError(budget, { classification: 'permanent', cause, details: { scope: 'saga', deadline: run.deadline } });
}

const stored = (error: unknown, classification: Classification): ErrorRecord => errorRecord(error, classification, true);

/** The value as it will read back from the store. @throws WeirError `WEIR_PERMANENT` when it is not JSON-serialisable. */
function asJson(value: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(value ?? null)) as unknown;
  } catch (error) {
    throw permanent(error, 'A step output or event payload must be JSON-serialisable.');
  }
}

/**
 * Advances runs, one queue message at a time. Every move is a compare-and-set transition on the
 * run's version, committed in one transaction with the step record and the enqueue of the next
 * message (the outbox): a crash anywhere repeats at most the one attempt that was in flight, and a
 * stale or repeated message finds the version moved on and does nothing.
 * @internal
 */
export class SagaExecutor {
  constructor(
    private readonly store: Store,
    private readonly queue: Queue,
    private readonly clock: Clock,
  ) {}

  /** The handler of a saga's topic. */
  async handle(saga: Saga, message: Message<SagaMessage>, qctx: HandlerContext): Promise<void> {
    const p = message.payload;
    if (p.kind === 'timer') {
      await this.queue.enqueue(saga.topic, p.fire, { key: p.fire.run, id: `${message.id}:fire` });
      return;
    }
    const run = await this.store.sagas.get(p.run);
    if (run === null || run.name !== saga.name) return;
    if (p.kind === 'timeout') {
      if (run.version !== p.version || run.state !== 'running' || run.stepIndex !== p.index) return;
      const wait = saga.steps[p.index]?.action as EventWait | undefined;
      const error = new TimeoutError(wait?.timeoutMs ?? 0, { classification: 'permanent', details: { scope: 'event', topics: wait?.topics } });
      return this.beginCompensation(saga, run, stored(error, 'permanent'));
    }
    if (p.kind === 'deadline') {
      if (run.state === 'running') await this.beginCompensation(saga, run, stored(deadlineError(run), 'permanent'));
      return;
    }
    if (p.kind === 'step' && run.version !== p.version) return;
    if (p.kind === 'event' && (run.state !== 'running' || run.stepIndex !== p.index)) return;
    const turn: Turn = { saga, run, message, qctx };
    if (run.state === 'running') await this.forward(turn);
    else if (run.state === 'compensating') await this.compensate(turn);
  }

  /**
   * Stores an event for the waiting step `index` of a run (the first one wins), and enqueues the
   * run's `event` message in the same transaction. Events for runs that are gone, past the step or
   * not running are dropped.
   */
  async deliver(saga: Saga, index: number, runId: string, event: SagaEvent): Promise<void> {
    const run = await this.store.sagas.get(runId);
    if (run === null || run.name !== saga.name || run.state !== 'running' || run.stepIndex > index) return;
    const { store, queue } = this;
    const now = this.clock.now();
    const name = saga.steps[index]?.name ?? `#${index}`;
    await inTransaction(store, undefined, function* (tx) {
      const fresh = yield store.sagas.record(tx, { runId, phase: 'event', index, name, status: 'completed', output: event, now });
      if (fresh !== true) return;
      const item = { topic: saga.topic, payload: { kind: 'event', run: runId, index }, key: runId, id: `saga:${runId}:event:${index}` };
      yield enqueueIn(queue, tx, [item]);
    });
  }

  private async forward(turn: Turn): Promise<void> {
    const { saga, run } = turn;
    const def = saga.steps[run.stepIndex];
    if (def === undefined) {
      const error = new WeirError('WEIR_INVALID_STATE', `Saga ${saga.name} has no step #${run.stepIndex}; was its definition changed?`);
      return this.beginCompensation(saga, run, stored(error, 'permanent'));
    }
    if (run.deadline !== null && this.clock.now() >= run.deadline) return this.beginCompensation(saga, run, stored(deadlineError(run), 'permanent'));
    const history = await this.store.sagas.steps(run.id);
    let act = def.action as (ctx: StepContext) => unknown;
    if (isEventWait(def.action)) {
      const wait = def.action;
      const event = history.find((h) => h.phase === 'event' && h.index === run.stepIndex);
      if (event === undefined) return this.startWaiting(turn, def, wait, history);
      const received = event.output as SagaEvent;
      act = (ctx) => (wait.accept === undefined ? received.payload : wait.accept(received, ctx));
    }
    const result = await this.attempt(turn, 'action', def, history, (ctx) => act(ctx));
    if (result === null) return;
    if (!result.ok) return this.failed(turn, 'action', def, result.error);
    const { store, queue } = this;
    const next = saga.steps[run.stepIndex + 1];
    const now = this.clock.now();
    await inTransaction(store, undefined, function* (tx) {
      const transition = { id: run.id, version: run.version, stepIndex: run.stepIndex + 1, step: next?.name ?? null, now };
      if ((yield store.sagas.transition(tx, { ...transition, state: next === undefined ? 'completed' : 'running' })) !== true) return;
      yield store.sagas.record(tx, { runId: run.id, phase: 'action', index: run.stepIndex, name: def.name, status: 'completed', output: result.output, now });
      const after = next === undefined ? [] : [stepMessage(saga.topic, run.id, run.version + 1)];
      yield enqueueIn(queue, tx, [...result.emitted, ...after]);
    });
  }

  /** First visit of a waiting step with no event yet: mark it waiting, and arm its timeout. */
  private async startWaiting(turn: Turn, def: AnyStep, wait: EventWait, history: readonly SagaStepRecord[]): Promise<void> {
    const { saga, run } = turn;
    const index = run.stepIndex;
    if (history.some((h) => h.phase === 'action' && h.index === index && h.status === 'waiting')) return;
    const { store, queue } = this;
    const now = this.clock.now();
    await inTransaction(store, undefined, function* (tx) {
      yield store.sagas.record(tx, { runId: run.id, phase: 'action', index, name: def.name, status: 'waiting', now });
      if (wait.timeoutMs === null) return;
      const fire = { kind: 'timeout', run: run.id, index, version: run.version } as const;
      yield enqueueIn(queue, tx, [timerMessage(saga.topic, fire, `saga:${run.id}:timeout:${index}:v${run.version}`, now + wait.timeoutMs)]);
    });
  }

  private async compensate(turn: Turn): Promise<void> {
    const { run, saga } = turn;
    const def = saga.steps[run.stepIndex];
    const compensation = def?.compensate as Compensation | undefined;
    let result: Attempted | null = null;
    if (def !== undefined && compensation !== undefined) {
      const history = await this.store.sagas.steps(run.id);
      result = await this.attempt(turn, 'compensation', def, history, (ctx) => compensation(ctx as CompensationContext));
      if (result !== null && !result.ok) return this.failed(turn, 'compensation', def, result.error);
    }
    const { store, queue } = this;
    const next = lastCompensable(saga, run.stepIndex - 1);
    const now = this.clock.now();
    await inTransaction(store, undefined, function* (tx) {
      const transition: Move =
        next < 0
          ? { state: 'compensated', stepIndex: run.stepIndex, step: null }
          : { state: 'compensating', stepIndex: next, step: (saga.steps[next] as AnyStep).name };
      if ((yield store.sagas.transition(tx, { id: run.id, version: run.version, now, ...transition })) !== true) return;
      const ran = def !== undefined && result !== null && result.ok ? { def, result } : undefined;
      if (ran !== undefined) {
        const { def: d, result: r } = ran;
        yield store.sagas.record(tx, { runId: run.id, phase: 'compensation', index: run.stepIndex, name: d.name, status: 'completed', output: r.output, now });
      }
      yield enqueueIn(queue, tx, [...(ran?.result.emitted ?? []), ...(next < 0 ? [] : [stepMessage(saga.topic, run.id, run.version + 1)])]);
    });
  }

  /** Counts an attempt and runs `fn` under the step's budget; null when the record is completed already. */
  private async attempt(turn: Turn, phase: Phase, def: AnyStep, history: readonly SagaStepRecord[], fn: (ctx: StepContext) => unknown): Promise<Attempted | null> {
    const { saga, run, qctx } = turn;
    const now = this.clock.now();
    const attempt = await this.store.sagas.attempt(undefined, { runId: run.id, phase, index: run.stepIndex, name: def.name, now });
    if (attempt === null) return null;
    const outputs = outputsOf(history);
    const idempotencyKey = phase === 'action' ? `${run.id}:${def.name}` : `${run.id}:${def.name}:compensate`;
    const emitted: EnqueueItem[] = [];
    let open = true;
    const emit = (topic: string, payload: unknown, options: EmitOptions = {}): void => {
      if (!open) throw new WeirError('WEIR_INVALID_STATE', `Step ${def.name} of run ${run.id} has returned; emit() before returning.`);
      topicName(topic);
      const headers = { ...options.headers, [SAGA_RUN_HEADER]: run.id, 'weir-saga': saga.name, 'weir-saga-step': def.name };
      emitted.push({ topic, payload, key: options.key ?? null, headers, id: `${idempotencyKey}:emit:${emitted.length}` });
    };
    try {
      const output = await timed(this.clock, def.timeoutMs, phase === 'action' ? run.deadline : null, qctx.signal, (pctx) => {
        const ctx = {
          runId: run.id,
          saga: saga.name,
          step: def.name,
          idempotencyKey,
          get signal(): AbortSignal {
            return pctx.signal ?? qctx.signal;
          },
          get deadline() {
            return pctx.deadline;
          },
          attempt,
          input: run.input,
          outputs,
          emit,
        };
        return fn(phase === 'action' ? ctx : Object.assign(ctx, { output: outputs[def.name] ?? null, error: run.error }));
      });
      // Outputs and events are stored as JSON: a value that is not fails the step for good (a retry
      // would fail the same way), instead of failing the commit below again and again.
      for (const item of emitted) asJson(item.payload);
      return { ok: true, output: asJson(output), emitted };
    } catch (error) {
      return { ok: false, error };
    } finally {
      open = false;
    }
  }

  /**
   * A failed attempt. Transient with retries left: recorded as `retrying` and rethrown, so the queue
   * reschedules it. Permanent, or the last attempt the queue would make: the run compensates (an
   * action) or pauses (a compensation). The decision is the queue's own (`decide`), so both agree.
   */
  private async failed(turn: Turn, phase: Phase, def: AnyStep, error: unknown): Promise<void> {
    const { saga, run, message, qctx } = turn;
    // The worker lost the message (lease lost, stopping): whoever handles it next carries on.
    if (qctx.signal.aborted) throw error;
    const now = this.clock.now();
    const overdue = phase === 'action' && run.deadline !== null && now >= run.deadline;
    const classification = overdue ? 'permanent' : saga.classify(error);
    const decision = decide(saga.policy, { error, classification, delivery: message.delivery, attempt: qctx.attempt, now, heldUntil: undefined }, () => 0.5);
    // A retry that could only start after the deadline would fail anyway: give up now.
    const late = phase === 'action' && run.deadline !== null && decision.kind === 'retry' && decision.runAt >= run.deadline;
    const record = overdue || late ? stored(deadlineError(run, error), 'permanent') : stored(error, classification);
    if (decision.kind !== 'dead' && !late) {
      await this.store.sagas.record(undefined, { runId: run.id, phase, index: run.stepIndex, name: def.name, status: 'retrying', error: record, now });
      throw error;
    }
    if (phase === 'action') return this.beginCompensation(saga, run, record);
    const { store } = this;
    await inTransaction(store, undefined, function* (tx) {
      const paused = { id: run.id, version: run.version, state: 'paused', stepIndex: run.stepIndex, step: def.name, compensationError: record, now } as const;
      if ((yield store.sagas.transition(tx, paused)) !== true) return;
      yield store.sagas.record(tx, { runId: run.id, phase: 'compensation', index: run.stepIndex, name: def.name, status: 'failed', error: record, now });
    });
  }

  /** The step at the run's position failed for good: compensate the completed steps (or fail when none has a compensation). */
  private async beginCompensation(saga: Saga, run: SagaRunRecord, error: ErrorRecord): Promise<void> {
    const { store, queue } = this;
    const index = run.stepIndex;
    const name = saga.steps[index]?.name ?? `#${index}`;
    const target = lastCompensable(saga, index - 1);
    const now = this.clock.now();
    await inTransaction(store, undefined, function* (tx) {
      const transition: Move =
        target < 0
          ? { state: 'failed', stepIndex: index, step: name }
          : { state: 'compensating', stepIndex: target, step: (saga.steps[target] as AnyStep).name };
      if ((yield store.sagas.transition(tx, { id: run.id, version: run.version, error, now, ...transition })) !== true) return;
      yield store.sagas.record(tx, { runId: run.id, phase: 'action', index, name, status: 'failed', error, now });
      if (target >= 0) yield enqueueIn(queue, tx, [stepMessage(saga.topic, run.id, run.version + 1)]);
    });
  }
}
