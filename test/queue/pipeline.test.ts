import { afterEach, describe, expect, it } from 'vitest';
import { gate, sqliteQueue, waitFor } from './harness.js';

/**
 * The fetcher settles in the background: a claim never waits for a settle round trip. A slow settle
 * delays only the settlements (they collect for the next batch), not the next deliveries.
 */
describe('pipelined settling', () => {
  let cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.toReversed()) await c();
    cleanups = [];
  });

  it('keeps claiming while a settle batch hangs, then settles everything that finished meanwhile', async () => {
    const h = await sqliteQueue();
    const held = gate();
    cleanups.push(async () => {
      held.release();
      await h.cleanup();
    });
    const q = h.store.queue;
    const settle = q.settle.bind(q);
    const batches: number[] = [];
    q.settle = async (settlements, now) => {
      batches.push(settlements.length);
      if (batches.length === 1) await held.wait; // the first batch hangs until released
      return settle(settlements, now);
    };
    const handled = new Set<number>();
    await h.queue.enqueueMany(Array.from({ length: 30 }, (_, n) => ({ topic: 't', payload: { n } })));
    await h.queue.handle<{ n: number }>('t', async (m) => {
      handled.add(m.payload.n);
    }, { concurrency: 5 });
    // 30 messages through 5 slots take at least 6 claims; all run while the first settle hangs.
    await waitFor(() => handled.size === 30, h.clock);
    expect(batches).toHaveLength(1);
    const stats = async () => (await h.store.queue.stats(h.clock.now())).find((s) => s.topic === 't');
    expect((await stats())?.done).toBe(0);
    held.release();
    await waitFor(async () => (await stats())?.done === 30, h.clock);
    // What finished while the first batch hung went out together, not one batch per claim.
    expect(batches.length).toBeLessThanOrEqual(3);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(30);
  });
});
