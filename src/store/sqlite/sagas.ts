import type { ErrorRecord } from '../queue.js';
import type {
  NewSagaRun,
  SagaRunFilter,
  SagaRunRecord,
  SagaStepKey,
  SagaStepRecord,
  SagaStepUpdate,
  SagaStore,
  SagaTransition,
} from '../sagas.js';
import { sagaRowMappers } from '../saga-rows.js';
import { parseJsonText } from '../rows.js';
import { pageSize } from '../shared.js';
import type { Transaction } from '../types.js';
import type { SqliteConnection } from './connection.js';
import * as sql from './sagas.sql.js';

type Row = Record<string, unknown>;
const { sagaRunRow, sagaStepRow } = sagaRowMappers(parseJsonText);
const errorText = (e: ErrorRecord | null | undefined): string | null => (e === null || e === undefined ? null : JSON.stringify(e));

/**
 * Saga runs and step records in SQLite. Synchronous under the hood: with a caller's transaction
 * (a better-sqlite3 `Database` inside `db.transaction()`) every write completes before it returns.
 */
export class SqliteSagaStore implements SagaStore {
  constructor(private readonly c: SqliteConnection) {}

  create(tx: Transaction | undefined, run: NewSagaRun): boolean {
    const params = { id: run.id, name: run.name, step: run.step, input: JSON.stringify(run.input ?? null), deadline: run.deadline, now: run.now };
    return this.c.stmtOn(tx, sql.CREATE).run(params).changes > 0;
  }

  get(id: string, tx?: Transaction): SagaRunRecord | null {
    const row = this.c.stmtOn(tx, sql.GET).get(id) as Row | undefined;
    return row === undefined ? null : sagaRunRow(row);
  }

  async list(f: SagaRunFilter = {}): Promise<readonly SagaRunRecord[]> {
    const params = {
      state: f.state ?? null,
      name: f.name ?? null,
      beforeSeq: f.beforeSeq ?? Number.MAX_SAFE_INTEGER,
      limit: pageSize(f.limit),
    };
    return (this.c.stmt(sql.LIST).all(params) as Row[]).map(sagaRunRow);
  }

  transition(tx: Transaction | undefined, t: SagaTransition): boolean {
    const params = {
      id: t.id,
      version: t.version,
      state: t.state,
      stepIndex: t.stepIndex,
      step: t.step,
      keepError: t.error === undefined ? 1 : 0,
      error: errorText(t.error),
      keepCompensationError: t.compensationError === undefined ? 1 : 0,
      compensationError: errorText(t.compensationError),
      now: t.now,
    };
    return this.c.stmtOn(tx, sql.TRANSITION).run(params).changes > 0;
  }

  steps(runId: string, tx?: Transaction): readonly SagaStepRecord[] {
    return (this.c.stmtOn(tx, sql.STEPS).all(runId) as Row[]).map(sagaStepRow);
  }

  attempt(tx: Transaction | undefined, k: SagaStepKey): number | null {
    const row = this.c.stmtOn(tx, sql.ATTEMPT).get({ runId: k.runId, phase: k.phase, index: k.index, name: k.name, now: k.now }) as
      | { attempts: number }
      | undefined;
    return row === undefined ? null : row.attempts;
  }

  record(tx: Transaction | undefined, u: SagaStepUpdate): boolean {
    const finished = u.status === 'completed' || u.status === 'failed';
    const params = {
      runId: u.runId,
      phase: u.phase,
      index: u.index,
      name: u.name,
      status: u.status,
      output: u.output === undefined ? null : JSON.stringify(u.output),
      error: errorText(u.error),
      now: u.now,
      finishedAt: finished ? u.now : null,
    };
    return this.c.stmtOn(tx, sql.RECORD).run(params).changes > 0;
  }

  async purge(before: number): Promise<number> {
    return this.c.tx(() => {
      this.c.stmt(sql.PURGE_STEPS).run(before);
      return this.c.stmt(sql.PURGE_RUNS).run(before).changes;
    });
  }
}
