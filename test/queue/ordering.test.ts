import { afterEach, describe, expect, it } from 'vitest';
import { HANDOFF_CHAIN } from '../../src/queue/worker.js';
import { sqliteQueue, waitFor } from './harness.js';

type Harness = Awaited<ReturnType<typeof sqliteQueue>>;
let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.random() * 3));

describe('queue: per-key order (SQLite)', () => {
  it('handles each key in enqueue order while different keys run in parallel', async () => {
    h = await sqliteQueue();
    const byKey = new Map<string, number[]>();
    let running = 0;
    let maxRunning = 0;
    const perKeyRunning = new Map<string, number>();
    await h.queue.handle(
      'orders',
      async (m) => {
        const key = m.key as string;
        running++;
        perKeyRunning.set(key, (perKeyRunning.get(key) ?? 0) + 1);
        maxRunning = Math.max(maxRunning, running);
        expect(perKeyRunning.get(key)).toBe(1);
        await tick();
        byKey.set(key, [...(byKey.get(key) ?? []), m.payload as number]);
        perKeyRunning.set(key, (perKeyRunning.get(key) ?? 0) - 1);
        running--;
      },
      { concurrency: 4 },
    );
    const items = [];
    for (let n = 0; n < 10; n++) for (const key of ['a', 'b', 'c']) items.push({ topic: 'orders', payload: n, key });
    await h.queue.enqueueMany(items);
    await waitFor(() => [...byKey.values()].reduce((sum, list) => sum + list.length, 0) === 30, h.clock);
    for (const key of ['a', 'b', 'c']) expect(byKey.get(key)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(maxRunning).toBeGreaterThan(1);
  });

  it('never lets one stuck key stall the others', async () => {
    h = await sqliteQueue();
    const done: string[] = [];
    await h.queue.handle(
      't',
      (m) => {
        if (m.key === 'stuck') throw new Error('downstream for this customer is broken');
        done.push(m.payload as string);
      },
      { concurrency: 2, retry: { immediate: 0, schedule: ['1h'] } },
    );
    await h.queue.enqueue('t', 's1', { key: 'stuck' });
    await h.queue.enqueue('t', 's2', { key: 'stuck' });
    for (let i = 0; i < 5; i++) await h.queue.enqueue('t', `ok${i}`, { key: `k${i}` });
    await waitFor(() => done.length === 5, h.clock);
    // The last handler has returned; its settle may still be on its way.
    await waitFor(async () => (await h!.queue.stats())[0]?.done === 5, h.clock);
    expect((await h.queue.stats())[0]).toMatchObject({ scheduled: 1, waiting: 1, done: 5 });
  });

  it('hands a key to the worker that finished its message, at most HANDOFF_CHAIN times in a row', async () => {
    h = await sqliteQueue();
    const order: string[] = [];
    // b1 is older than a2…a40: without hand-offs it runs second; with unbounded hand-offs, last.
    await h.queue.enqueueMany([
      { topic: 't', payload: 'a1', key: 'a' },
      { topic: 't', payload: 'b1', key: 'b' },
      ...Array.from({ length: 39 }, (_, i) => ({ topic: 't', payload: `a${i + 2}`, key: 'a' })),
    ]);
    await h.queue.handle('t', (m) => void order.push(m.payload as string), { concurrency: 1 });
    await waitFor(() => order.length === 41, h.clock);
    expect(order.filter((p) => p.startsWith('a'))).toEqual(Array.from({ length: 40 }, (_, i) => `a${i + 1}`));
    const b = order.indexOf('b1');
    expect(b).toBeGreaterThan(1);
    expect(b).toBeLessThanOrEqual(HANDOFF_CHAIN + 1);
    await waitFor(async () => (await h!.queue.stats())[0]?.done === 41, h.clock);
    expect((await h.queue.stats())[0]).toMatchObject({ active: 0, waiting: 0, ready: 0 });
  });

  it("with ordering 'none', runs messages of one key in parallel", async () => {
    h = await sqliteQueue();
    let running = 0;
    let maxRunning = 0;
    const release: Array<() => void> = [];
    await h.queue.handle(
      'free',
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise<void>((resolve) => release.push(resolve));
        running--;
      },
      { concurrency: 3, ordering: 'none' },
    );
    for (let i = 0; i < 3; i++) await h.queue.enqueue('free', i, { key: 'same' });
    await waitFor(() => running === 3, h.clock);
    expect(maxRunning).toBe(3);
    for (const r of release) r();
    await waitFor(() => running === 0, h.clock);
  });
});
