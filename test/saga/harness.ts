import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createQueue, type Queue } from '../../src/queue/index.js';
import type { Saga, SagaRuntime, SagaRuntimeOptions, SagaState } from '../../src/saga/index.js';
import { sagaRuntime } from '../../src/saga/index.js';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres/index.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/index.js';
import type { Store, Transaction } from '../../src/store/types.js';
import { FakeClock } from '../../src/testing/index.js';
import { dropSchemas, postgresUrl } from '../helpers/services.js';

/** A store, a FakeClock and a queue on them, for one test; `cleanup()` stops and deletes everything. */
export interface Harness {
  readonly store: Store;
  readonly clock: FakeClock;
  readonly queue: Queue;
  /** Errors the queue reported (store failures, lost leases). */
  readonly errors: unknown[];
  runtime(sagas: readonly Saga<any>[], options?: Partial<SagaRuntimeOptions>): SagaRuntime;
  /** Runs `fn` in a caller's transaction (a better-sqlite3 `db.transaction()` or a pg `BEGIN`), committed or rolled back. */
  inCallerTx(fn: (tx: Transaction) => unknown, commit: boolean): Promise<void>;
  cleanup(): Promise<void>;
}

export type MakeHarness = () => Promise<Harness>;

function wrap(store: Store, destroy: () => Promise<void>): Harness {
  const clock = new FakeClock();
  const queue = createQueue(store, { clock, random: () => 0.5 });
  const errors: unknown[] = [];
  queue.onError((e) => errors.push(e.error));
  return {
    store,
    clock,
    queue,
    errors,
    runtime: (sagas, options = {}) => sagaRuntime({ queue, sagas, clock, ...options }),
    async inCallerTx(fn, commit) {
      if (store.capabilities.transactions === 'sync') {
        const db = (store as SqliteStore).db;
        try {
          db.transaction(() => {
            fn(db);
            if (!commit) throw new Error('rollback');
          })();
        } catch (error) {
          if (commit) throw error;
        }
        return;
      }
      const client = await (store as PostgresStore).pool.connect();
      try {
        await client.query('BEGIN');
        await fn(client);
        await client.query(commit ? 'COMMIT' : 'ROLLBACK');
      } finally {
        client.release();
      }
    },
    async cleanup() {
      const stopping = queue.stop({ graceMs: 0 });
      await clock.advance(0);
      await stopping;
      await store.close();
      await destroy();
    },
  };
}

/** A SQLite file store. */
export const sqliteHarness: MakeHarness = async () => {
  const file = join(tmpdir(), `weir-saga-${randomUUID()}.db`);
  const store = await openSqliteStore(file, { durability: 'normal' });
  return wrap(store, async () => {
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
  });
};

/** PostgreSQL stores, each in a fresh schema `<base>_<n>`, dropped at cleanup. */
export function postgresHarness(base: string): MakeHarness {
  let n = 0;
  return async () => {
    const schema = `${base}_${n++}`;
    const store = await openPostgresStore({ connectionString: await postgresUrl(), schema, max: 6 });
    return wrap(store, () => dropSchemas([schema]));
  };
}

/**
 * Polls `condition` in real time (up to `timeoutMs`), letting the fake clock's due timers fire at
 * the current time, so tests never depend on how fast a machine is.
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, clock?: FakeClock, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error('waitFor: condition still false');
    if (clock !== undefined) await clock.advance(0);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Waits until the run is in `state`. */
export async function until(h: Harness, runtime: SagaRuntime, runId: string, state: SagaState): Promise<void> {
  await waitFor(async () => (await runtime.get(runId))?.state === state, h.clock);
}

/** Waits until the queue has nothing left to do now: no message of a handled topic due, waiting or active. */
export async function settled(h: Harness): Promise<void> {
  await waitFor(async () => {
    if (h.queue.inFlight > 0) return false;
    for (const s of await h.queue.stats()) {
      if ((await h.queue.policy(s.topic)) === null) continue;
      if (s.ready > 0 || s.active > 0 || s.waiting > 0) return false;
    }
    return true;
  }, h.clock);
}

/** Fast, deterministic retries: 3 deliveries, 1 s then 5 s apart, no immediate retries, no jitter. */
export const fastRetry = { immediate: 0, schedule: ['1s', '5s'], jitter: 0 } as const;

/**
 * Lets everything due now finish (so retries are scheduled from the current time), then moves the
 * clock. On PostgreSQL it then sends a wake-up for every topic: the queue worker computes its sleep
 * from the time read before its `nextDueAt` round trip, so a clock moved during that round trip
 * would make it wake late (a real clock never jumps like a fake one does).
 */
export async function tick(h: Harness, ms: number): Promise<void> {
  await settled(h);
  await h.clock.advance(ms);
  if (h.store.capabilities.dialect !== 'postgres') return;
  const pg = h.store as PostgresStore;
  for (const { topic } of await h.queue.stats()) await pg.pool.query('SELECT pg_notify($1, $2)', [`weir_${pg.schema}`, topic]);
}
