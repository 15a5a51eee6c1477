import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { createQueue } from '../../src/queue/index.js';
import { sagaRuntime } from '../../src/saga/index.js';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres/index.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/types.js';
import { until } from '../chaos/harness.js';
import { dropSchemas, postgresUrl, service, testSchema } from '../helpers/services.js';
import { createEffectTables, crashSaga } from './fixtures/crash-saga.js';
import { SagaFleet } from './fixtures/fleet.js';

/**
 * Crash tests with real processes (`node --import tsx`): saga workers are SIGKILLed at random
 * instants, or at a chosen point right after a remote effect and before the step is recorded.
 * Afterwards every run finished as it should, every step and compensation had its effect exactly
 * once (the simulated remote API keeps one effect per idempotency key, and the list of effects per
 * run shows none missing), and compensations ran in reverse order.
 */
const RUNS = Number(process.env.WEIR_SAGA_CHAOS_RUNS ?? 200);
const TIMEOUT_MS = 180_000;
const pgUp = await service('postgres', 'the saga crash tests on PostgreSQL (test/saga/crash.test.ts)');
const base = testSchema(import.meta.url);
const schemas: string[] = [];
afterAll(async () => {
  if (pgUp) await dropSchemas(schemas);
});

interface Backend {
  readonly store: Store;
  readonly url: string;
  readonly schema: string;
  rows<T>(sql: string): Promise<T[]>;
  /** A table name: prefixed on SQLite, schema-qualified on PostgreSQL. */
  t(name: 'runs' | 'steps' | 'messages' | 'saga_calls' | 'saga_effects'): string;
}

async function sqlite(): Promise<Backend> {
  const file = join(tmpdir(), `weir-saga-crash-${randomUUID()}.db`);
  const store = await openSqliteStore(file, { durability: 'normal' });
  onTestFinished(async () => {
    await store.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
  });
  const names = { runs: 'weir_saga_runs', steps: 'weir_saga_steps', messages: 'weir_messages', saga_calls: 'saga_calls', saga_effects: 'saga_effects' };
  return { store, url: `sqlite:${file}`, schema: 'unused', rows: async <T>(sql: string) => (store as SqliteStore).db.prepare(sql).all() as T[], t: (n) => names[n] };
}

async function postgres(): Promise<Backend> {
  const schema = `${base}_${schemas.length}`;
  schemas.push(schema);
  const url = await postgresUrl();
  const store = await openPostgresStore({ connectionString: url, schema, max: 4 });
  onTestFinished(() => store.close());
  const names = { runs: 'saga_runs', steps: 'saga_steps', messages: 'messages', saga_calls: 'saga_calls', saga_effects: 'saga_effects' };
  return { store, url, schema, rows: async <T>(sql: string) => (await (store as PostgresStore).pool.query(sql)).rows as T[], t: (n) => `"${schema}".${names[n]}` };
}

/** Starts runs `run-0…` (odd ones fail at step 3) from a process that does not handle them. */
async function startRuns(b: Backend, n: number, fail: (i: number) => boolean): Promise<void> {
  await createEffectTables(b.store);
  const queue = createQueue(b.store);
  const order = crashSaga(async () => false);
  const runtime = sagaRuntime({ queue, sagas: [order], handle: false });
  for (let i = 0; i < n; i++) await runtime.start(order, { fail: fail(i) }, { id: `run-${i}` });
}

const finished = async (b: Backend): Promise<number> =>
  Number((await b.rows<{ n: number }>(`SELECT count(*) AS n FROM ${b.t('runs')} WHERE state IN ('completed', 'compensated', 'failed', 'paused', 'aborted')`))[0]!.n);

/** Every run ended as expected, with each effect once, in order (forward, then compensations in reverse). */
async function checkRuns(b: Backend, n: number, fail: (i: number) => boolean): Promise<void> {
  const runs = await b.rows<{ id: string; state: string }>(`SELECT id, state FROM ${b.t('runs')}`);
  expect(runs).toHaveLength(n);
  const effects = await b.rows<{ run: string; op: string }>(`SELECT run, op FROM ${b.t('saga_effects')} ORDER BY seq`);
  const byRun = new Map<string, string[]>();
  for (const e of effects) byRun.set(e.run, [...(byRun.get(e.run) ?? []), e.op]);
  const wrong: string[] = [];
  for (const run of runs) {
    const failing = fail(Number(run.id.slice('run-'.length)));
    const state = failing ? 'compensated' : 'completed';
    const ops = failing ? ['reserve', 'charge', 'refund', 'release'] : ['reserve', 'charge', 'ship'];
    const got = byRun.get(run.id) ?? [];
    if (run.state !== state || got.join() !== ops.join()) wrong.push(`${run.id}: ${run.state} ${got.join(',')}`);
  }
  expect(wrong).toEqual([]);
  expect(await b.rows(`SELECT id FROM ${b.t('messages')} WHERE state IN ('dead', 'blocked')`)).toEqual([]);
}

/** Odd runs fail at step 3. */
const fail = (i: number): boolean => i % 2 === 1;

async function randomKills(b: Backend): Promise<void> {
  await startRuns(b, RUNS, fail);
  const fleet = new SagaFleet(b.url, b.schema);
  let kills = 0;
  try {
    await Promise.all([fleet.spawn(), fleet.spawn(), fleet.spawn()]);
    // SQLite runs faster than PostgreSQL here: kill more often so several kills land mid-run.
    const [minMs, maxMs] = b.store.capabilities.dialect === 'sqlite' ? [300, 900] : [800, 2000];
    fleet.startKilling(200 + Math.random() * 300, minMs, maxMs);
    await until(async () => (await finished(b)) >= RUNS * 0.8, TIMEOUT_MS - 60_000, 'most runs finished');
    fleet.stopKilling();
    kills = fleet.kills;
    await until(async () => (await finished(b)) === RUNS, 60_000, 'every run finished');
  } finally {
    await fleet.killAll();
  }
  await checkRuns(b, RUNS, fail);
  const calls = await b.rows<{ n: number }>(`SELECT count(*) AS n FROM ${b.t('saga_calls')}`);
  const resumed = await b.rows<{ n: number }>(`SELECT count(*) AS n FROM ${b.t('steps')} WHERE attempts > 1`);
  console.log(`${b.store.capabilities.dialect} saga chaos: ${kills} SIGKILLs, ${resumed[0]!.n} steps attempted again after a crash, ${calls[0]!.n} remote calls`);
  expect(kills).toBeGreaterThan(0);
  // A kill landed in the middle of at least one step, and its run resumed there.
  expect(Number(resumed[0]!.n)).toBeGreaterThan(0);
}

/** Kills the only worker right after the first effect of `op` (before its step is recorded), then lets a new worker finish. */
async function crashAt(b: Backend, op: string, failing: boolean): Promise<void> {
  await startRuns(b, 1, () => failing);
  const fleet = new SagaFleet(b.url, b.schema);
  try {
    let crashed!: (id: string) => void;
    const atCrashPoint = new Promise<string>((resolve) => {
      crashed = resolve;
    });
    await fleet.spawn(op, (line, id) => {
      if (line === `crash-point ${op}`) crashed(id);
    });
    await fleet.kill(await atCrashPoint);
    await fleet.spawn();
    await until(async () => (await finished(b)) === 1, 60_000, 'the run finished');
  } finally {
    await fleet.killAll();
  }
  await checkRuns(b, 1, () => failing);
  const calls = await b.rows<{ op: string }>(`SELECT op FROM ${b.t('saga_calls')} ORDER BY seq`);
  // The crashed call was made again by the new worker (same idempotency key), and had no second effect.
  expect(calls.map((c) => c.op)).toEqual(failing ? ['reserve', 'charge', 'refund', 'refund', 'release'] : ['reserve', 'charge', 'charge', 'ship']);
  const phase = failing ? 'compensation' : 'action';
  const step = await b.rows<{ attempts: number; status: string }>(
    `SELECT attempts, status FROM ${b.t('steps')} WHERE phase = '${phase}' AND name = 'charge'`,
  );
  expect(step.map((s) => [Number(s.attempts), s.status])).toEqual([[2, 'completed']]);
}

describe('sagas survive SIGKILL (child processes)', () => {
  describe('SQLite, worker processes on one file', () => {
    it(`kill -9 at random instants while ${RUNS} runs flow: each resumes after its last recorded step; each effect once`, { timeout: TIMEOUT_MS }, async () => {
      await randomKills(await sqlite());
    });
    it('kill -9 right after a step\'s effect: the run resumes there, and the effect is not repeated', { timeout: 60_000 }, async () => {
      await crashAt(await sqlite(), 'charge', false);
    });
    it('step 3 fails permanently: steps 2 and 1 are compensated in that order exactly once each, across a kill -9 mid-compensation', { timeout: 60_000 }, async () => {
      await crashAt(await sqlite(), 'refund', true);
    });
  });

  describe.skipIf(!pgUp)('PostgreSQL, worker processes on one schema', () => {
    it(`kill -9 at random instants while ${RUNS} runs flow: each resumes after its last recorded step; each effect once`, { timeout: TIMEOUT_MS }, async () => {
      await randomKills(await postgres());
    });
    it('kill -9 right after a step\'s effect: the run resumes there, and the effect is not repeated', { timeout: 60_000 }, async () => {
      await crashAt(await postgres(), 'charge', false);
    });
    it('step 3 fails permanently: steps 2 and 1 are compensated in that order exactly once each, across a kill -9 mid-compensation', { timeout: 60_000 }, async () => {
      await crashAt(await postgres(), 'refund', true);
    });
  });
});
