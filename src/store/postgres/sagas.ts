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
import { jsonAsIs } from '../rows.js';
import { pageSize } from '../shared.js';
import type { Transaction } from '../types.js';
import type { PgConnection } from './connection.js';
import { sql } from './sagas.sql.js';

const { sagaRunRow, sagaStepRow } = sagaRowMappers(jsonAsIs);
const json = (value: ErrorRecord | null | undefined): string | null => (value === undefined || value === null ? null : JSON.stringify(value));

/** Saga runs and step records in PostgreSQL. With `tx` (a `pg` client inside `BEGIN`) each statement joins it. */
export class PostgresSagaStore implements SagaStore {
  private readonly q: ReturnType<typeof sql>;

  constructor(private readonly c: PgConnection) {
    this.q = sql(`"${c.schema}"`);
  }

  async create(tx: Transaction | undefined, run: NewSagaRun): Promise<boolean> {
    const params = [run.id, run.name, run.step, JSON.stringify(run.input ?? null), run.deadline, run.now];
    return (await this.c.run(this.q.create, params, tx)) > 0;
  }

  async get(id: string, tx?: Transaction): Promise<SagaRunRecord | null> {
    const row = (await this.c.query(this.q.get, [id], tx))[0];
    return row === undefined ? null : sagaRunRow(row);
  }

  async list(f: SagaRunFilter = {}): Promise<readonly SagaRunRecord[]> {
    const rows = await this.c.query(this.q.list, [f.state ?? null, f.name ?? null, f.beforeSeq ?? Number.MAX_SAFE_INTEGER, pageSize(f.limit)]);
    return rows.map(sagaRunRow);
  }

  async transition(tx: Transaction | undefined, t: SagaTransition): Promise<boolean> {
    const params = [
      t.id,
      t.version,
      t.state,
      t.stepIndex,
      t.step,
      t.error === undefined,
      json(t.error),
      t.compensationError === undefined,
      json(t.compensationError),
      t.now,
    ];
    return (await this.c.run(this.q.transition, params, tx)) > 0;
  }

  async steps(runId: string, tx?: Transaction): Promise<readonly SagaStepRecord[]> {
    return (await this.c.query(this.q.steps, [runId], tx)).map(sagaStepRow);
  }

  async attempt(tx: Transaction | undefined, k: SagaStepKey): Promise<number | null> {
    const row = (await this.c.query(this.q.attempt, [k.runId, k.phase, k.index, k.name, k.now], tx))[0];
    return row === undefined ? null : Number(row.attempts);
  }

  async record(tx: Transaction | undefined, u: SagaStepUpdate): Promise<boolean> {
    const finished = u.status === 'completed' || u.status === 'failed';
    // JSON null must stay distinguishable from "no output": store it as the jsonb value null.
    const output = u.output === undefined ? null : JSON.stringify(u.output);
    const params = [u.runId, u.phase, u.index, u.name, u.status, output, json(u.error), u.now, finished ? u.now : null];
    return (await this.c.run(this.q.record, params, tx)) > 0;
  }

  async purge(before: number): Promise<number> {
    return Number((await this.c.query(this.q.purge, [before]))[0]?.n ?? 0);
  }
}
