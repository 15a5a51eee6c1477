import { afterEach, describe, expect, it } from 'vitest';
import { gate, sqliteQueue, waitFor } from './harness.js';

/**
 * Maintenance (reclaim, cron, purge) runs beside the fetch loop on its own timer. A slow pass must
 * neither hold back deliveries nor make the fetch loop spin while the pass is overdue.
 */
describe('maintenance beside the fetch loop', () => {
  let cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.toReversed()) await c();
    cleanups = [];
  });

  it('delivers while a maintenance pass hangs, and the idle fetch loop does not spin while the pass is overdue', async () => {
    const h = await sqliteQueue({ maintenanceMs: 100, pollMs: 3_600_000 });
    const held = gate();
    cleanups.push(async () => {
      held.release();
      await h.cleanup();
    });
    const q = h.store.queue;
    const workers = q.workers.bind(q);
    let maintenanceCalls = 0;
    q.workers = async () => {
      maintenanceCalls++;
      if (maintenanceCalls === 2) await held.wait; // the second pass hangs until released
      return workers();
    };
    const nextDueAt = q.nextDueAt.bind(q);
    let dueQueries = 0;
    q.nextDueAt = (topics, now) => {
      dueQueries++;
      return nextDueAt(topics, now);
    };
    const handled: string[] = [];
    await h.queue.handle('t', async (m) => {
      handled.push(m.id);
    });
    await h.queue.enqueue('t', { n: 1 });
    await waitFor(() => handled.length === 1, h.clock);
    await h.clock.advance(150); // the second pass starts, and hangs
    await waitFor(() => maintenanceCalls === 2, h.clock);
    await h.clock.advance(500); // the hanging pass is long overdue now
    const before = dueQueries;
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Idle: at most the wake-ups of the two enqueues below could add a look-up; a spinning loop adds thousands.
    expect(dueQueries - before).toBeLessThanOrEqual(2);
    await h.queue.enqueue('t', { n: 2 });
    await waitFor(() => handled.length === 2, h.clock);
    expect(maintenanceCalls).toBe(2);
    held.release();
    await h.clock.advance(100);
    await waitFor(() => maintenanceCalls >= 3, h.clock);
  });
});
