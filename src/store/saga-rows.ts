import type { JsonDecoder } from './rows.js';
import type { ErrorRecord } from './queue.js';
import type { SagaRunRecord, SagaState, SagaStepPhase, SagaStepRecord, SagaStepStatus } from './sagas.js';
import { num, numOrNull } from './shared.js';

type Row = Record<string, unknown>;

/** Saga row mappers for a dialect's JSON decoding (SQLite: text; pg: parsed `jsonb`). */
export function sagaRowMappers(fromJson: JsonDecoder) {
  const errorOf = (value: unknown): ErrorRecord | null => (value === null || value === undefined ? null : fromJson<ErrorRecord>(value));

  function sagaRunRow(r: Row): SagaRunRecord {
    return {
      id: r.id as string,
      seq: num(r.seq),
      name: r.name as string,
      state: r.state as SagaState,
      version: num(r.version),
      stepIndex: num(r.step_index),
      step: (r.step as string | null) ?? null,
      input: fromJson(r.input),
      error: errorOf(r.error),
      compensationError: errorOf(r.compensation_error),
      deadline: numOrNull(r.deadline),
      createdAt: num(r.created_at),
      updatedAt: num(r.updated_at),
      finishedAt: numOrNull(r.finished_at),
    };
  }

  function sagaStepRow(r: Row): SagaStepRecord {
    return {
      runId: r.run_id as string,
      seq: num(r.seq),
      phase: r.phase as SagaStepPhase,
      index: num(r.idx),
      name: r.name as string,
      status: r.status as SagaStepStatus,
      attempts: num(r.attempts),
      output: r.output === null || r.output === undefined ? null : fromJson(r.output),
      error: errorOf(r.error),
      startedAt: num(r.started_at),
      updatedAt: num(r.updated_at),
      finishedAt: numOrNull(r.finished_at),
    };
  }
  return { sagaRunRow, sagaStepRow };
}
