/**
 * The queues under test in `bench/queue.bench.ts`, behind one small interface: Weir on SQLite and on
 * PostgreSQL, pg-boss 10, graphile-worker 0.17 and BullMQ 6. Each gets its own namespace (a temp
 * file, a PostgreSQL schema, a Redis key prefix) that `destroy()` removes at the end.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Queue as BullQueue, Worker as BullWorker } from 'bullmq';
import { Logger, makeWorkerUtils, run, type Runner, type WorkerUtils } from 'graphile-worker';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { createQueue, type Queue } from '../src/queue/index.js';
import { openStore } from '../src/store/index.js';
import type { Store } from '../src/store/types.js';

/** What every message carries: its index, its key (keyed runs) and the time it was sent (latency runs). */
export interface Payload {
  readonly i: number;
  readonly k?: string;
}

export interface Item {
  readonly payload: Payload;
  readonly key?: string;
}

export interface Consumer {
  stop(): Promise<void>;
}

/** The measurements a system takes part in. */
export type Metric = 'enqueue' | 'drain' | 'keyed' | 'latency';

export interface System {
  readonly name: string;
  /** The backend class it is compared within (`postgres` systems are the "best Postgres queue" candidates). */
  readonly backend: 'sqlite' | 'postgres' | 'redis';
  /** Settings, for the report. */
  readonly settings: string;
  /** What the keyed drain guarantees on this system; null when it offers nothing per key. */
  readonly keyed: string | null;
  readonly metrics: readonly Metric[];
  /** Latency samples over all rounds, when not the bench's default (a polling system needs fewer). */
  readonly latencySamples?: number;
  /** Runs at another concurrency than the others: shown for context, left out of the targets. */
  readonly unequal?: boolean;
  open(): Promise<void>;
  enqueue(topic: string, item: Item): Promise<void>;
  enqueueBatch(topic: string, items: readonly Item[]): Promise<void>;
  consume(topic: string, keyed: boolean, handler: (p: Payload) => void): Promise<Consumer>;
  /**
   * Deletes what is left in a topic (untimed), where leftovers would slow later measurements:
   * graphile-worker keeps every task's jobs in one table, so unconsumed jobs slow its fetches.
   */
  purge?(topic: string): Promise<void>;
  close(): Promise<void>;
  /** Removes the namespace (schema, file, keys) after the last round. */
  destroy(): Promise<void>;
}

/** Handler slots per process, the same for every system. */
export const CONCURRENCY = 10;
const SILENT = new Logger(() => () => undefined);

async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** Weir on a store URL; one producer queue, and a fresh consumer queue per `consume` (one worker per process). */
export function weir(
  name: string,
  backend: 'sqlite' | 'postgres',
  url: string,
  schema: string,
  settings: string,
  options: { durability?: 'full' | 'normal' } = {},
  handleOptions: { prefetch?: number | 'auto' } = {},
): System {
  let store: Store | undefined;
  let producer: Queue | undefined;
  return {
    name,
    backend,
    settings,
    keyed: "ordering: 'key': strict FIFO per key (the next message of a key runs only after the previous is done or dead-lettered)",
    metrics: ['enqueue', 'drain', 'keyed', 'latency'],
    async open() {
      store = await openStore(url, { schema, ...options });
      producer = createQueue(store);
    },
    async enqueue(topic, item) {
      await producer!.enqueue(topic, item.payload, item.key === undefined ? {} : { key: item.key });
    },
    async enqueueBatch(topic, items) {
      await producer!.enqueueMany(items.map((it) => ({ topic, payload: it.payload, ...(it.key === undefined ? {} : { key: it.key }) })));
    },
    async consume(topic, keyed, handler) {
      const queue = createQueue(store!);
      await queue.handle<Payload>(topic, async (msg) => handler(msg.payload), { concurrency: CONCURRENCY, ordering: keyed ? 'key' : 'none', ...handleOptions });
      return { stop: () => queue.stop({ graceMs: 5_000 }) };
    },
    async close() {
      await store?.close();
      store = undefined;
    },
    async destroy() {
      if (backend === 'postgres') await dropSchema(url, schema);
      else for (const suffix of ['', '-wal', '-shm']) rmSync(`${url.slice('sqlite:'.length)}${suffix}`, { force: true });
    },
  };
}

export function weirSqliteFile(): string {
  return join(tmpdir(), `weir-bench-queue-${process.pid}-${Date.now()}.db`);
}

/**
 * pg-boss 10.4: no LISTEN/NOTIFY (a worker polls every `pollingIntervalSeconds`, minimum 0.5 s). Its
 * in-process wake-up is `notifyWorker(id)`; with `notify`, the bench calls it after every send (the
 * best a single process can get) and after every non-empty batch (so a busy worker fetches again at
 * once instead of sleeping out the interval).
 */
export function pgBoss(name: string, url: string, schema: string, o: { workers: number; batchSize: number; notify: boolean; metrics: readonly Metric[]; latencySamples?: number; unequal?: boolean }): System {
  let boss: PgBoss | undefined;
  const created = new Set<string>();
  const workerIds = new Map<string, string[]>();
  const ensure = async (topic: string, keyed: boolean): Promise<void> => {
    if (created.has(topic)) return;
    await boss!.createQueue(topic, { name: topic, policy: keyed ? 'singleton' : 'standard' });
    created.add(topic);
  };
  const wake = (topic: string): void => {
    if (o.notify) for (const id of workerIds.get(topic) ?? []) boss!.notifyWorker(id);
  };
  return {
    name,
    backend: 'postgres',
    settings:
      `${o.workers} work() workers × batchSize ${o.batchSize} (≤ ${o.workers * o.batchSize} messages in handlers), pollingIntervalSeconds 0.5 (the minimum), ` +
      (o.notify ? 'notifyWorker() after each send and after each non-empty batch' : 'polling only') +
      '; keyed: queue policy singleton + singletonKey',
    keyed: 'policy singleton + singletonKey: at most one active job per key, but no FIFO (fetch orders by created_on, then a random uuid: a batch shares created_on)',
    metrics: o.metrics,
    ...(o.latencySamples === undefined ? {} : { latencySamples: o.latencySamples }),
    ...(o.unequal === true ? { unequal: true } : {}),
    async open() {
      boss = new PgBoss({ connectionString: url, schema, max: 10, schedule: false });
      boss.on('error', () => undefined);
      await boss.start();
      created.clear();
      workerIds.clear();
    },
    async enqueue(topic, item) {
      await ensure(topic, item.key !== undefined);
      await boss!.send(topic, item.payload, item.key === undefined ? {} : { singletonKey: item.key });
      wake(topic);
    },
    async enqueueBatch(topic, items) {
      await ensure(topic, items[0]?.key !== undefined);
      await boss!.insert(items.map((it) => ({ name: topic, data: it.payload, ...(it.key === undefined ? {} : { singletonKey: it.key }) })));
      wake(topic);
    },
    async consume(topic, keyed, handler) {
      await ensure(topic, keyed);
      const ids: string[] = [];
      for (let w = 0; w < o.workers; w++) {
        const id: string = await boss!.work<Payload>(topic, { batchSize: o.batchSize, pollingIntervalSeconds: 0.5 }, async (jobs) => {
          for (const job of jobs) handler(job.data);
          if (o.notify && jobs.length > 0) boss!.notifyWorker(id);
        });
        ids.push(id);
      }
      workerIds.set(topic, ids);
      return {
        async stop() {
          workerIds.delete(topic);
          await boss!.offWork(topic);
        },
      };
    },
    async purge(topic) {
      if (created.has(topic)) await boss!.purgeQueue(topic);
    },
    async close() {
      await boss?.stop({ graceful: true, wait: true, timeout: 5_000 });
      boss = undefined;
    },
    destroy: () => dropSchema(url, schema),
  };
}

/** graphile-worker 0.17: LISTEN/NOTIFY built in; local queue (batched fetch) and batched completion as its performance docs suggest. */
export function graphile(name: string, url: string, schema: string): System {
  let utils: WorkerUtils | undefined;
  const localQueueSize = CONCURRENCY + 1;
  return {
    name,
    backend: 'postgres',
    settings: `concurrency ${CONCURRENCY}, pollInterval 2000 (default; LISTEN/NOTIFY wakes it), localQueue.size ${localQueueSize} (concurrency + 1, per its docs), completeJobBatchDelay 0, pool 10; keyed: queueName = key`,
    keyed: 'queueName = key: jobs of one named queue run one at a time, in job order (a failed job is retried later while the queue moves on)',
    metrics: ['enqueue', 'drain', 'keyed', 'latency'],
    async open() {
      utils = await makeWorkerUtils({ connectionString: url, schema, logger: SILENT });
      await utils.migrate();
    },
    async enqueue(topic, item) {
      await utils!.addJob(topic, item.payload, item.key === undefined ? {} : { queueName: item.key });
    },
    async enqueueBatch(topic, items) {
      await utils!.addJobs(items.map((it) => ({ identifier: topic, payload: it.payload, ...(it.key === undefined ? {} : { queueName: it.key }) })));
    },
    async consume(topic, _keyed, handler) {
      const runner: Runner = await run({
        connectionString: url,
        schema,
        concurrency: CONCURRENCY,
        pollInterval: 2000,
        noHandleSignals: true,
        logger: SILENT,
        taskList: { [topic]: async (payload) => handler(payload as Payload) },
        preset: { worker: { localQueue: { size: localQueueSize }, completeJobBatchDelay: 0, maxPoolSize: 10 } },
      });
      return { stop: () => runner.stop() };
    },
    async purge(topic) {
      await utils!.withPgClient((client) =>
        client.query(`SELECT "${schema}".complete_jobs(array(SELECT id FROM "${schema}".jobs WHERE task_identifier = $1 AND locked_at IS NULL))`, [topic]),
      );
    },
    async close() {
      await utils?.release();
      utils = undefined;
    },
    destroy: () => dropSchema(url, schema),
  };
}

/**
 * Not a queue: the floor of SQLite idle latency on this disk. Each enqueue is one bare `INSERT` in
 * autocommit through better-sqlite3 with the same pragmas as Weir's `'full'` store (WAL,
 * `synchronous = FULL`), and the handler is called on the next macrotask with the payload it was
 * given: no claim, no lease, no read back. Whatever a durable SQLite queue adds, it cannot go below this.
 */
export function sqliteFloor(name: string): System {
  const file = join(tmpdir(), `weir-bench-floor-${process.pid}-${Date.now()}.db`);
  let db: Database.Database | undefined;
  let insert: Database.Statement | undefined;
  const handlers = new Map<string, (p: Payload) => void>();
  return {
    name,
    backend: 'sqlite',
    settings: 'temp file, WAL, synchronous = FULL; one INSERT per enqueue, then the handler on the next macrotask',
    keyed: null,
    metrics: ['latency'],
    async open() {
      db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.exec('CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload TEXT NOT NULL)');
      insert = db.prepare('INSERT INTO messages (topic, payload) VALUES (?, ?)');
    },
    async enqueue(topic, item) {
      insert!.run(topic, JSON.stringify(item.payload));
      const handler = handlers.get(topic);
      if (handler !== undefined) setImmediate(handler, item.payload);
    },
    async enqueueBatch() {
      throw new Error(`${name} measures idle latency only`);
    },
    async consume(topic, _keyed, handler) {
      handlers.set(topic, handler);
      return { stop: async () => void handlers.delete(topic) };
    },
    async close() {
      db?.close();
      db = undefined;
    },
    async destroy() {
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
    },
  };
}

/** BullMQ 6 on the machine's Redis: its own key prefix; `concurrency` per worker; default job retention. */
export function bullmq(name: string, prefix: string): System {
  const connection = { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null };
  const queues = new Map<string, BullQueue>();
  const queue = (topic: string): BullQueue => {
    let q = queues.get(topic);
    if (q === undefined) {
      q = new BullQueue(topic, { connection, prefix });
      queues.set(topic, q);
    }
    return q;
  };
  const topics = new Set<string>();
  return {
    name,
    backend: 'redis',
    settings: `Worker concurrency ${CONCURRENCY}, prefix ${prefix}, default options (completed jobs kept); Redis 7 without persistence (appendonly no, no RDB save): nothing survives a Redis restart`,
    keyed: null,
    metrics: ['enqueue', 'drain', 'latency'],
    async open() {},
    async enqueue(topic, item) {
      topics.add(topic);
      await queue(topic).add('m', item.payload);
    },
    async enqueueBatch(topic, items) {
      topics.add(topic);
      await queue(topic).addBulk(items.map((it) => ({ name: 'm', data: it.payload })));
    },
    async consume(topic, _keyed, handler) {
      topics.add(topic);
      const worker = new BullWorker<Payload>(topic, async (job) => handler(job.data), { connection, prefix, concurrency: CONCURRENCY });
      worker.on('error', () => undefined);
      await worker.waitUntilReady();
      return { stop: () => worker.close() };
    },
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close()));
      queues.clear();
    },
    async destroy() {
      for (const topic of topics) await queue(topic).obliterate({ force: true });
      await this.close();
    },
  };
}
