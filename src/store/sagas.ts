import type { ErrorRecord } from './queue.js';
import type { Awaitable, Transaction } from './types.js';

/**
 * Where a saga run is:
 * - `running`: steps go forward (a step may be waiting for an event);
 * - `compensating`: a step failed for good; compensations of the completed steps run in reverse;
 * - `completed`: every step completed (terminal);
 * - `compensated`: a step failed and every compensation ran (terminal);
 * - `failed`: a step failed and no completed step had a compensation to run (terminal);
 * - `paused`: a compensation exhausted its retries (or failed permanently); a person resumes or aborts it;
 * - `aborted`: a person stopped it; nothing more runs (terminal).
 */
export type SagaState = 'running' | 'compensating' | 'completed' | 'compensated' | 'paused' | 'aborted' | 'failed';

/** States that never change again. */
export const TERMINAL_SAGA_STATES: readonly SagaState[] = ['completed', 'compensated', 'failed', 'aborted'];

/** What a step record is about: the step's action, its compensation, or the event a waiting step received. */
export type SagaStepPhase = 'action' | 'compensation' | 'event';

/**
 * - `running`: an attempt started (and has not been recorded as finished);
 * - `retrying`: the last attempt failed and a retry is scheduled;
 * - `waiting`: waiting for an event;
 * - `completed`: done, with its output (for `event`: received). A completed record never changes again;
 * - `failed`: failed for good, with its error.
 */
export type SagaStepStatus = 'running' | 'retrying' | 'waiting' | 'completed' | 'failed';

/** A stored saga run. */
export interface SagaRunRecord {
  readonly id: string;
  /** Creation order; pages of `list()` go by it. */
  readonly seq: number;
  /** The saga's name. */
  readonly name: string;
  readonly state: SagaState;
  /** Grows by one with every transition; transitions compare and set it. Starts at 1. */
  readonly version: number;
  /** The step the run is at: the next one to run (`running`) or the one being compensated. */
  readonly stepIndex: number;
  /** That step's name, or null (a completed run). */
  readonly step: string | null;
  readonly input: unknown;
  /** Why the run compensates (the step failure), or null. */
  readonly error: ErrorRecord | null;
  /** Why the run is paused (the compensation failure), or null. */
  readonly compensationError: ErrorRecord | null;
  /** Forward steps must finish by this epoch-ms time, or null. */
  readonly deadline: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** When it reached a terminal state, or null. */
  readonly finishedAt: number | null;
}

/** A run to create. */
export interface NewSagaRun {
  readonly id: string;
  readonly name: string;
  /** The first step's name. */
  readonly step: string;
  readonly input: unknown;
  readonly deadline: number | null;
  readonly now: number;
}

/**
 * A compare-and-set transition: applied only while the run's version is still `version`; the
 * version then grows by one. `error` and `compensationError` are kept when omitted.
 */
export interface SagaTransition {
  readonly id: string;
  readonly version: number;
  readonly state: SagaState;
  readonly stepIndex: number;
  readonly step: string | null;
  readonly error?: ErrorRecord | null;
  readonly compensationError?: ErrorRecord | null;
  readonly now: number;
}

/** One step record: a step's action, its compensation, or the event it received. */
export interface SagaStepRecord {
  readonly runId: string;
  /** Order of first record within the run: the history order. */
  readonly seq: number;
  readonly phase: SagaStepPhase;
  /** The step's position in the saga (0-based). */
  readonly index: number;
  readonly name: string;
  readonly status: SagaStepStatus;
  /** Attempts started so far (crashed attempts count). */
  readonly attempts: number;
  /** The action's or compensation's result, or the event received. */
  readonly output: unknown;
  readonly error: ErrorRecord | null;
  readonly startedAt: number;
  readonly updatedAt: number;
  readonly finishedAt: number | null;
}

/** Identifies a step record. */
export interface SagaStepKey {
  readonly runId: string;
  readonly phase: SagaStepPhase;
  readonly index: number;
  readonly name: string;
  readonly now: number;
}

/** A step record to write: every field but the attempts. */
export interface SagaStepUpdate extends SagaStepKey {
  readonly status: SagaStepStatus;
  readonly output?: unknown;
  readonly error?: ErrorRecord | null;
}

/** Filters of `list()`, newest first. */
export interface SagaRunFilter {
  readonly state?: SagaState;
  readonly name?: string;
  /** Runs created before this `seq` (the next page). */
  readonly beforeSeq?: number;
  /** Default 100, at most 1000. */
  readonly limit?: number;
}

/**
 * Durable state of saga runs: one row per run, one per step phase. A `'sync'` store answers
 * synchronously when given `tx` (and for `get`/`steps`, always), so the saga runtime can record a
 * step inside a better-sqlite3 transaction together with the enqueue of the next message.
 */
export interface SagaStore {
  /** Creates a run (`running`, version 1, step 0). An existing id is left alone. @returns true when created. */
  create(tx: Transaction | undefined, run: NewSagaRun): Awaitable<boolean>;
  get(id: string, tx?: Transaction): Awaitable<SagaRunRecord | null>;
  /** Runs, newest first. */
  list(filter?: SagaRunFilter): Promise<readonly SagaRunRecord[]>;
  /**
   * Moves a run to a new state if its version is still `t.version` (compare and set); sets
   * `finishedAt` when the state is terminal. @returns false when the run moved on (or is missing).
   */
  transition(tx: Transaction | undefined, t: SagaTransition): Awaitable<boolean>;
  /** The run's step records in history order. */
  steps(runId: string, tx?: Transaction): Awaitable<readonly SagaStepRecord[]>;
  /**
   * Counts an attempt: creates the record (`running`, 1 attempt) or adds one and sets it `running`.
   * @returns the attempts so far, or null when the record is already completed.
   */
  attempt(tx: Transaction | undefined, key: SagaStepKey): Awaitable<number | null>;
  /**
   * Writes a step record (created with 0 attempts if missing). A completed record never changes: the
   * first completion wins (`ON CONFLICT … WHERE status <> 'completed'`). @returns false when it was completed already.
   */
  record(tx: Transaction | undefined, update: SagaStepUpdate): Awaitable<boolean>;
  /** Deletes runs (and their steps) that reached a terminal state before `before`. @returns how many runs. */
  purge(before: number): Promise<number>;
}
