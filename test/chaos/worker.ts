/**
 * A chaos worker process: `node --import tsx test/chaos/worker.ts <store-url> <schema> <worker-id>`.
 * Handles topic `chaos`; each message's effect (a row in `chaos_effects`) is written in the same
 * transaction as the inbox record of `queue.once()`, so a redelivery has no second effect. The
 * parent kills this process with SIGKILL at random instants.
 */
import { createQueue, type Message } from '../../src/queue/index.js';
import { openStore } from '../../src/store/index.js';
import type { PostgresStore } from '../../src/store/postgres/index.js';
import type { SqliteStore } from '../../src/store/sqlite/index.js';

const [url, schema, workerId] = process.argv.slice(2) as [string, string, string];
const store = await openStore(url, { schema, durability: 'normal', max: 6, migrate: false });
const queue = createQueue(store, { workerId, leaseMs: 4000, heartbeatMs: 500, deadWorkerMs: 2000, maintenanceMs: 250, pollMs: 1000 });
let errors = 0;
queue.onError(() => {
  errors++;
});

const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.random() * 2));
type Payload = { key: string; n: number };

async function sqliteHandler(m: Message): Promise<void> {
  const s = store as SqliteStore;
  const { key, n } = m.payload as Payload;
  await pause();
  s.db.transaction(() => {
    if (queue.once(s.db, 'chaos', m.id)) {
      s.db.prepare('INSERT INTO chaos_effects (message_id, k, n, worker) VALUES (?, ?, ?, ?)').run(m.id, key, n, workerId);
    }
  })();
}

async function postgresHandler(m: Message): Promise<void> {
  const s = store as PostgresStore;
  const { key, n } = m.payload as Payload;
  await pause();
  await s.transaction(async (client) => {
    if (await queue.once(client, 'chaos', m.id)) {
      await client.query(`INSERT INTO "${schema}".chaos_effects (message_id, k, n, worker) VALUES ($1, $2, $3, $4)`, [m.id, key, n, workerId]);
    }
  });
}

await queue.handle('chaos', store.capabilities.dialect === 'sqlite' ? sqliteHandler : postgresHandler, {
  concurrency: 8,
  // The default 'auto' claims ahead of free slots as the pace allows (those messages die with the
  // process too); WEIR_CHAOS_PREFETCH=n fixes it at n.
  prefetch: process.env.WEIR_CHAOS_PREFETCH === undefined ? 'auto' : Number(process.env.WEIR_CHAOS_PREFETCH),
  // Crashes and outages cost deliveries; a long schedule of short steps keeps every message alive.
  retry: { immediate: 1, schedule: Array.from({ length: 40 }, () => '100ms'), jitter: 0 },
});
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void queue.stop({ graceMs: 1000 }).then(() => {
    process.stderr.write(`worker ${workerId}: ${errors} errors reported\n`);
    process.exit(0);
  });
});
