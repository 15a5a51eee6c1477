import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { createQueue } from '../../src/queue/index.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { dropSchemas, postgresUrl, service, testSchema } from '../helpers/services.js';
import { chaosMessages, killUntil, orderViolations, PgProxy, until, WorkerFleet } from './harness.js';

/**
 * Crash tests with real processes: workers are SIGKILLed at random instants while keyed messages
 * flow; afterwards every message has exactly one effect (a unique constraint would reject a second
 * one, and the count shows none is missing), and per-key order was never violated.
 * WEIR_CHAOS_MESSAGES sets the size (default 10,000 = 100 keys x 100); the workers run with the
 * default `prefetch: 'auto'`, WEIR_CHAOS_PREFETCH=n gives them `prefetch: n`.
 *
 * The PostgreSQL run cuts every connection through a proxy and refuses new ones for 3 s, which is a
 * server restart as clients see it, without disturbing anyone else on a shared server. With
 * WEIR_CHAOS_RESTART_PG=1 it restarts the real server instead (`pg_ctlcluster … restart`, as root).
 */
const TOTAL = Number(process.env.WEIR_CHAOS_MESSAGES ?? 10_000);
const KEYS = 100;
const PER_KEY = Math.max(1, Math.round(TOTAL / KEYS));
const N = KEYS * PER_KEY;
const TIMEOUT_MS = 240_000;
/** Besides the kills by time, one kill every STEP effects, however fast the backend drains. */
const STEP = Math.max(1, Math.floor(N / 12));
const RESTART_PG = process.env.WEIR_CHAOS_RESTART_PG === '1';

function restartPostgres(): void {
  const version = readdirSync('/etc/postgresql')[0];
  if (version === undefined) throw new Error('WEIR_CHAOS_RESTART_PG=1 needs a Debian PostgreSQL cluster in /etc/postgresql');
  execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'restart'], { stdio: 'inherit' });
}

const pgUp = await service('postgres', 'the crash test on PostgreSQL (test/chaos/crash.test.ts)');
const schema = testSchema(import.meta.url);
afterAll(async () => {
  if (pgUp) await dropSchemas([schema]);
});

describe('crash safety: SIGKILL at random instants', () => {
  it(`SQLite, 3 worker processes on one file: ${N} keyed messages, each with exactly one effect, in per-key order`, { timeout: TIMEOUT_MS }, async () => {
    const file = join(tmpdir(), `weir-chaos-${randomUUID()}.db`);
    const store = await openSqliteStore(file, { durability: 'normal' });
    onTestFinished(async () => {
      await store.close();
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
    });
    store.db.exec('CREATE TABLE chaos_effects (seq INTEGER PRIMARY KEY, message_id TEXT NOT NULL UNIQUE, k TEXT NOT NULL, n INTEGER NOT NULL, worker TEXT NOT NULL)');
    await createQueue(store).enqueueMany(chaosMessages(KEYS, PER_KEY));
    const fleet = new WorkerFleet(`sqlite:${file}`, 'unused');
    const count = (sql: string): number => store.db.prepare(sql).pluck().get() as number;
    try {
      await Promise.all([fleet.spawn(), fleet.spawn(), fleet.spawn()]);
      fleet.startKilling(500);
      await killUntil(fleet, async () => count('SELECT count(*) FROM chaos_effects'), N * 0.9, STEP, TIMEOUT_MS - 60_000, 'most effects');
      fleet.stopKilling();
      await until(async () => count("SELECT count(*) FROM weir_messages WHERE state = 'done'") === N, 60_000, 'every message done');
    } finally {
      await fleet.killAll();
    }
    const rows = store.db.prepare('SELECT k, n FROM chaos_effects ORDER BY seq').all() as Array<{ k: string; n: number }>;
    const redelivered = count('SELECT count(*) FROM weir_messages WHERE attempts > 1');
    console.log(`sqlite chaos: ${fleet.kills} SIGKILLs, ${redelivered} messages delivered more than once, ${rows.length} effects`);
    expect(fleet.kills).toBeGreaterThan(N >= 5000 ? 5 : 0);
    expect(rows.length).toBe(N);
    expect(count('SELECT count(DISTINCT message_id) FROM chaos_effects')).toBe(N);
    expect(orderViolations(rows, PER_KEY)).toEqual([]);
    expect(count("SELECT count(*) FROM weir_messages WHERE state <> 'done'")).toBe(0);
  });

  it.skipIf(!pgUp)(
    `PostgreSQL, 4 worker processes and a server outage mid-run: ${N} keyed messages, each with exactly one effect, in per-key order`,
    { timeout: TIMEOUT_MS },
    async () => {
      const url = await postgresUrl();
      const store = await openPostgresStore({ connectionString: url, schema, max: 4 });
      onTestFinished(() => store.close());
      const one = async (sql: string): Promise<number> => Number(((await store.pool.query(sql)).rows[0] as { n: unknown }).n);
      const q = async (sql: string): Promise<unknown[]> => (await store.pool.query(sql).catch(() => ({ rows: [] as unknown[] }))).rows;
      await store.pool.query(
        `CREATE TABLE "${schema}".chaos_effects (seq bigserial PRIMARY KEY, message_id text NOT NULL UNIQUE, k text NOT NULL, n integer NOT NULL, worker text NOT NULL)`,
      );
      await createQueue(store).enqueueMany(chaosMessages(KEYS, PER_KEY));
      const proxy = new PgProxy();
      const port = await proxy.start();
      const viaProxy = new URL(url);
      viaProxy.port = String(port);
      const fleet = new WorkerFleet(viaProxy.toString(), schema);
      let outages = 0;
      try {
        await Promise.all([fleet.spawn(), fleet.spawn(), fleet.spawn(), fleet.spawn()]);
        fleet.startKilling();
        const effects = (): Promise<number> => one(`SELECT count(*) AS n FROM "${schema}".chaos_effects`);
        await killUntil(fleet, effects, N * 0.4, STEP, TIMEOUT_MS / 2, '40% of effects');
        // What clients see when the server restarts: every connection drops, new ones are refused for a while.
        fleet.stopKilling();
        if (RESTART_PG) restartPostgres();
        else await proxy.outage(3000);
        outages++;
        fleet.startKilling();
        await killUntil(fleet, effects, N * 0.9, STEP, TIMEOUT_MS / 2, '90% of effects');
        fleet.stopKilling();
        await until(async () => (await one(`SELECT count(*) AS n FROM "${schema}".messages WHERE state = 'done'`)) === N, 60_000, 'every message done').catch(
          async (error: unknown) => {
            // What was left, for the report: a stuck key, a poisoned message, or just slow progress.
            const states = await q(`SELECT state, count(*) AS n, max(attempts) AS max_attempts FROM "${schema}".messages GROUP BY state`);
            const left = await q(`SELECT id, key, state, attempts, lease_owner, lease_until, run_at, error_code FROM "${schema}".messages WHERE state <> 'done' ORDER BY seq LIMIT 10`);
            const workers = await q(`SELECT id, pid, heartbeat_at FROM "${schema}".workers`);
            console.error('postgres chaos, not done:', JSON.stringify({ now: Date.now(), states, left, workers, kills: fleet.kills }, null, 1));
            throw error;
          },
        );
      } finally {
        await fleet.killAll();
        await proxy.stop();
      }
      const rows = (await store.pool.query(`SELECT k, n FROM "${schema}".chaos_effects ORDER BY seq`)).rows as Array<{ k: string; n: number }>;
      const redelivered = await one(`SELECT count(*) AS n FROM "${schema}".messages WHERE attempts > 1`);
      console.log(`postgres chaos: ${fleet.kills} SIGKILLs, ${outages} ${RESTART_PG ? 'server restart' : 'outage'}, ${redelivered} messages delivered more than once, ${rows.length} effects`);
      expect(fleet.kills).toBeGreaterThan(N >= 5000 ? 5 : 0);
      expect(rows.length).toBe(N);
      expect(await one(`SELECT count(DISTINCT message_id) AS n FROM "${schema}".chaos_effects`)).toBe(N);
      expect(orderViolations(rows, PER_KEY)).toEqual([]);
      expect(await one(`SELECT count(*) AS n FROM "${schema}".messages WHERE state <> 'done'`)).toBe(0);
    },
  );
});
