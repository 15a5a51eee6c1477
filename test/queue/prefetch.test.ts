import { afterEach, describe, expect, it } from 'vitest';
import type { Queue } from '../../src/queue/index.js';
import type { SqliteStore } from '../../src/store/sqlite/index.js';
import { Pace } from '../../src/queue/delivery.js';
import { resolveHandleOptions } from '../../src/queue/options.js';
import { gated, sqliteQueue, waitFor } from './harness.js';

const states = async (store: SqliteStore, ids: readonly string[]) =>
  Promise.all(ids.map(async (id) => {
    const m = await store.queue.get(id);
    return { state: m?.state, attempts: m?.attempts, history: m?.history.length };
  }));

async function enqueueAll(queue: Queue, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(await queue.enqueue('t', { i }));
  return ids;
}

/** `prefetch`: messages claimed ahead of free slots, kept leased until a slot frees, given back at holds and stop(). */
describe('queue: prefetch (SQLite, fake clock)', () => {
  let cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.toReversed()) await c();
    cleanups = [];
  });

  async function setup(options: { leaseMs?: number; heartbeatMs?: number } = {}) {
    const h = await sqliteQueue(options);
    cleanups.push(h.cleanup);
    return h;
  }

  it('claims ahead of free slots, renews the prefetched leases, and starts them in order as slots free', async () => {
    const { store, clock, queue } = await setup({ leaseMs: 3000, heartbeatMs: 1000 });
    const ids = await enqueueAll(queue, 3);
    const g = gated();
    await queue.handle('t', g.handler, { concurrency: 1, prefetch: 2, ordering: 'none' });
    await waitFor(() => g.started.length === 1, clock);
    // One running, two leased and waiting in this process.
    expect((await states(store, ids)).map((s) => s.state)).toEqual(['active', 'active', 'active']);
    expect(queue.inFlight).toBe(1);
    const leaseBefore = (await store.db.prepare('SELECT lease_until FROM weir_messages WHERE id = ?').pluck().get(ids[2])) as number;
    await clock.advance(1000);
    await waitFor(async () => ((await store.db.prepare('SELECT lease_until FROM weir_messages WHERE id = ?').pluck().get(ids[2])) as number) > leaseBefore, clock);
    g.release(ids[0] as string);
    await waitFor(() => g.started.length === 2, clock);
    g.release(ids[1] as string);
    await waitFor(() => g.started.length === 3, clock);
    g.release(ids[2] as string);
    await waitFor(async () => (await states(store, ids)).every((s) => s.state === 'done'), clock);
    expect(g.started).toEqual(ids);
    expect((await states(store, ids)).map((s) => s.attempts)).toEqual([1, 1, 1]);
  });

  it('stop() gives prefetched messages back unstarted, without counting a delivery', async () => {
    const { store, clock, queue } = await setup();
    const ids = await enqueueAll(queue, 3);
    const g = gated();
    await queue.handle('t', g.handler, { concurrency: 1, prefetch: 2, ordering: 'none' });
    await waitFor(() => g.started.length === 1, clock);
    const stopped = queue.stop({ graceMs: 5000 });
    // Released before the grace period ends, while the first handler still runs.
    await waitFor(async () => (await states(store, ids.slice(1))).every((s) => s.state === 'ready'), clock);
    expect(await states(store, ids.slice(1))).toEqual([
      { state: 'ready', attempts: 0, history: 0 },
      { state: 'ready', attempts: 0, history: 0 },
    ]);
    g.release(ids[0] as string);
    await stopped;
    expect(g.started).toEqual([ids[0]]);
    expect((await states(store, ids)).map((s) => s.state)).toEqual(['done', 'ready', 'ready']);
  });

  it("a handler's hold gives back the prefetched messages of its topic, which then wait for the hold", async () => {
    const { store, clock, queue } = await setup();
    const a1 = await queue.enqueue('t', 1, { key: 'a' });
    const b1 = await queue.enqueue('t', 2, { key: 'b' });
    const c1 = await queue.enqueue('t', 3, { key: 'c' });
    const started: string[] = [];
    let proceed!: () => void;
    const gate = new Promise<void>((resolve) => (proceed = resolve));
    await queue.handle(
      't',
      async (m, ctx) => {
        started.push(m.id);
        if (m.id === a1) {
          await gate;
          await ctx.hold('1m', 'topic');
        }
      },
      { concurrency: 1, prefetch: 2 },
    );
    await waitFor(() => started.length === 1, clock);
    expect((await states(store, [b1, c1])).map((s) => s.state)).toEqual(['active', 'active']);
    proceed();
    await waitFor(async () => (await states(store, [b1, c1])).every((s) => s.state === 'ready'), clock);
    expect(await states(store, [b1, c1])).toEqual([
      { state: 'ready', attempts: 0, history: 0 },
      { state: 'ready', attempts: 0, history: 0 },
    ]);
    await clock.advance(30_000);
    expect(started).toEqual([a1]);
    await clock.advance(31_000);
    await waitFor(() => started.length === 3, clock);
    expect(started).toEqual([a1, b1, c1]);
  });

  it("rejects a negative or fractional prefetch, or a word other than 'auto'", async () => {
    const { queue } = await setup();
    expect(() => queue.handle('t', () => undefined, { prefetch: -1 })).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION', option: 'prefetch' }));
    expect(() => queue.handle('u', () => undefined, { prefetch: 1.5 })).toThrow(expect.objectContaining({ option: 'prefetch' }));
    const word = (): unknown => queue.handle('v', () => undefined, { prefetch: 'fast' as unknown as 'auto' });
    expect(word).toThrow(expect.objectContaining({ option: 'prefetch', message: expect.stringContaining("'auto' or an integer") }));
  });

  it("with the default 'auto' and a fake clock (round trips take no time) claims only free slots", async () => {
    const { store, clock, queue } = await setup();
    const ids = await enqueueAll(queue, 4);
    const g = gated();
    await queue.handle('t', g.handler, { concurrency: 2, ordering: 'none' });
    await waitFor(() => g.started.length === 2, clock);
    expect((await states(store, ids)).map((s) => s.state)).toEqual(['active', 'active', 'ready', 'ready']);
    for (const id of ids) g.release(id);
  });
});

const policy = (prefetch: number | 'auto', concurrency = 10) => resolveHandleOptions('t', { prefetch, concurrency }, 30_000).policy;

/** `prefetch: 'auto'`: finish rate × claim round trip, at most `concurrency`. */
describe('queue: prefetch pace', () => {
  it('keeps a fixed prefetch as given', () => {
    const pace = new Pace(policy(3));
    pace.onClaim(0, 5);
    expect(pace.ahead).toBe(3);
    expect(policy(3).batchSize).toBe(13);
    expect(policy('auto').batchSize).toBe(20);
  });

  it('claims a second batch ahead for fast handlers, capped at concurrency', () => {
    const pace = new Pace(policy('auto'));
    expect(pace.ahead).toBe(0);
    // Every claim takes 2 ms and its 10 messages finish at once: 5 per ms × 2 ms → 10 ahead.
    for (let t = 0; t < 40; t += 2) {
      pace.onClaim(t, t + 2);
      for (let i = 0; i < 10; i++) pace.onFinish();
    }
    expect(pace.ahead).toBe(10);
    for (let t = 40; t < 80; t += 2) {
      pace.onClaim(t, t + 2);
      for (let i = 0; i < 40; i++) pace.onFinish();
    }
    expect(pace.ahead).toBe(10);
  });

  it('claims nothing ahead for slow handlers, nor after a quiet spell', () => {
    const slow = new Pace(policy('auto'));
    // 10 slots, 50 ms handlers: 0.2 finishes per ms × 1 ms round trip.
    for (let t = 0; t < 1000; t += 50) {
      slow.onClaim(t, t + 1);
      for (let i = 0; i < 10; i++) slow.onFinish();
    }
    expect(slow.ahead).toBe(0);
    const fast = new Pace(policy('auto', 4));
    for (let t = 0; t < 20; t += 1) {
      fast.onClaim(t, t + 1);
      for (let i = 0; i < 8; i++) fast.onFinish();
    }
    expect(fast.ahead).toBe(4);
    // A quiet spell (claims find nothing to finish): the rate decays, and so does the prefetch.
    for (let t = 60_000; t < 60_020; t += 2) fast.onClaim(t, t + 1);
    expect(fast.ahead).toBe(0);
  });
});
