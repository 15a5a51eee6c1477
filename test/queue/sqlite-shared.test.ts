import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createQueue } from '../../src/queue/index.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/index.js';
import { waitFor } from './harness.js';

const file = join(tmpdir(), `weir-shared-${randomUUID()}.db`);
const stores: SqliteStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
});

describe('queue: one SQLite file shared by several connections (as by several processes)', () => {
  it("notices another connection's commit through PRAGMA data_version, without waiting for the poll", async () => {
    const a = await openSqliteStore(file);
    const b = await openSqliteStore(file);
    stores.push(a, b);
    const worker = createQueue(a, { pollMs: 60_000 });
    const producer = createQueue(b);
    const handled: string[] = [];
    await worker.handle('x', (m) => {
      handled.push(m.id);
    });
    const id = await producer.enqueue('x', null);
    await waitFor(() => handled.length === 1, undefined, 3000);
    expect(handled).toEqual([id]);
    await worker.stop();
  });

  it('splits keyed work between two workers on one file without breaking per-key order', async () => {
    const a = await openSqliteStore(file);
    const b = await openSqliteStore(file);
    stores.push(a, b);
    const order = new Map<string, number[]>();
    const handler = (m: { payload: unknown }): void => {
      const { key, n } = m.payload as { key: string; n: number };
      order.set(key, [...(order.get(key) ?? []), n]);
    };
    const qa = createQueue(a, { workerId: 'a' });
    const qb = createQueue(b, { workerId: 'b' });
    await qa.handle('k', handler, { concurrency: 3 });
    await qb.handle('k', handler, { concurrency: 3 });
    const items = [];
    for (let n = 0; n < 40; n++) for (const key of ['p', 'q', 'r', 's']) items.push({ topic: 'k', key, payload: { key, n } });
    await qa.enqueueMany(items);
    await waitFor(() => [...order.values()].reduce((s, l) => s + l.length, 0) === 160, undefined, 10_000);
    for (const list of order.values()) expect(list).toEqual(Array.from({ length: 40 }, (_, i) => i));
    await Promise.all([qa.stop(), qb.stop()]);
  });
});
