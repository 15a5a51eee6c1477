import { afterEach, describe, expect, it } from 'vitest';
import { createQueue } from '../../src/queue/index.js';
import type { SqliteStore } from '../../src/store/sqlite/index.js';
import { gated, sqliteQueue, waitFor } from './harness.js';

/** The row as it is at this instant (a synchronous read on the store's own connection). */
const row = (store: SqliteStore, id: string) =>
  store.db.prepare('SELECT state, lease_owner AS owner, attempts FROM weir_messages WHERE id = ?').get(id) as
    | { state: string; owner: string | null; attempts: number }
    | undefined;

/**
 * SQLite: an enqueue in its own transaction leases its message to an idle worker of this process in
 * that same transaction (`LocalClaimer`), so the message starts without a wake-up and a claim.
 */
describe('queue: messages leased at enqueue to a local worker (SQLite, fake clock)', () => {
  let cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.toReversed()) await c();
    cleanups = [];
  });

  async function setup() {
    const h = await sqliteQueue();
    cleanups.push(h.cleanup);
    return h;
  }

  /** A consumer queue handling 't' (2 slots, registered) and a producer queue on the same store. */
  async function split() {
    const h = await setup();
    const producer = createQueue(h.store, { clock: h.clock });
    cleanups.push(() => producer.stop());
    const g = gated();
    await h.queue.handle('t', g.handler, { concurrency: 2, ordering: 'none' });
    await waitFor(async () => (await h.queue.policy('t')) !== null, h.clock);
    return { ...h, consumer: h.queue, producer, g };
  }

  it("is leased to another queue's idle worker on the same store by the time enqueue() resolves, and runs", async () => {
    const { store, clock, consumer, producer, g } = await split();

    const id = await producer.enqueue('t', { n: 1 });
    expect(row(store, id)).toEqual({ state: 'active', owner: consumer.workerId, attempts: 1 });
    await waitFor(() => g.started.includes(id), clock);
    g.release(id);
    await waitFor(async () => (await store.queue.get(id))?.state === 'done', clock);
    expect((await store.queue.get(id))?.attempts).toBe(1);
  });

  it('leases as much of a batch as the free slots allow; a delayed message, one behind its key and a repeated id are not leased', async () => {
    const { store, clock, consumer, producer, g } = await split();
    await consumer.handle('k', g.handler, { concurrency: 5, ordering: 'key' });
    await waitFor(async () => (await consumer.policy('k')) !== null, clock);

    const [first, second, third] = await producer.enqueueMany([
      { topic: 't', payload: { n: 1 } },
      { topic: 't', payload: { n: 2 } },
      { topic: 't', payload: { n: 3 } },
    ]);
    const [later, head, behind] = await producer.enqueueMany([
      { topic: 'k', payload: { n: 4 }, key: 'a', delay: 10_000 },
      { topic: 'k', payload: { n: 5 }, key: 'b' },
      { topic: 'k', payload: { n: 6 }, key: 'b' },
    ]);
    // 't' has two slots: the third message waits for the worker's claim.
    expect([first, second, third].map((id) => row(store, id!))).toEqual([
      { state: 'active', owner: consumer.workerId, attempts: 1 },
      { state: 'active', owner: consumer.workerId, attempts: 1 },
      { state: 'ready', owner: null, attempts: 0 },
    ]);
    expect([later, head, behind].map((id) => row(store, id!)?.state)).toEqual(['ready', 'active', 'waiting']);
    // The same id again: one message, still leased once.
    expect(await producer.enqueue('t', { n: 1 }, { id: first! })).toBe(first);
    expect(row(store, first!)).toEqual({ state: 'active', owner: consumer.workerId, attempts: 1 });

    for (const id of [first, second, head]) {
      await waitFor(() => g.started.includes(id!), clock);
      g.release(id!);
    }
    await waitFor(() => g.started.includes(third!) && g.started.includes(behind!), clock);
    for (const id of [third, behind]) g.release(id!);
    expect(g.started).not.toContain(later);
    await waitFor(async () => (await store.queue.get(behind!))?.state === 'done', clock);
    expect((await store.queue.get(head!))?.attempts).toBe(1);
  });

  it('leaves the message ready when no slot is free, and the worker claims it once one frees', async () => {
    const { store, clock, queue } = await setup();
    const g = gated();
    await queue.handle('t', g.handler, { concurrency: 1, prefetch: 0, ordering: 'none' });
    const first = await queue.enqueue('t', { n: 1 });
    await waitFor(() => g.started.includes(first), clock);

    const second = await queue.enqueue('t', { n: 2 });
    expect(row(store, second)).toMatchObject({ state: 'ready', owner: null, attempts: 0 });
    g.release(first);
    await waitFor(() => g.started.includes(second), clock);
    g.release(second);
    await waitFor(async () => (await store.queue.get(second))?.state === 'done', clock);
  });

  it('does not lease a message of a paused topic, a held key, or a key still occupied', async () => {
    const { store, clock, queue } = await setup();
    const g = gated();
    await queue.handle('t', g.handler, { concurrency: 5, ordering: 'key' });
    await waitFor(async () => (await queue.policy('t')) !== null, clock);

    await queue.hold('t', 60_000, { key: 'held' });
    const held = await queue.enqueue('t', { n: 1 }, { key: 'held' });
    expect(row(store, held)?.state).toBe('ready');

    const head = await queue.enqueue('t', { n: 2 }, { key: 'k' });
    const behind = await queue.enqueue('t', { n: 3 }, { key: 'k' });
    expect(row(store, head)?.state).toBe('active');
    expect(row(store, behind)?.state).toBe('waiting');

    await queue.pause('t');
    const paused = await queue.enqueue('t', { n: 4 }, { key: 'other' });
    expect(row(store, paused)?.state).toBe('ready');
    await queue.resume('t');
    await waitFor(() => g.started.includes(paused), clock);
    expect(g.started).not.toContain(held);
    expect(g.started).not.toContain(behind);
    for (const id of [head, paused]) g.release(id);
    await waitFor(() => g.started.includes(behind), clock);
    g.release(behind);
  });

  it('gives a message leased at enqueue back when stop() comes before it starts', async () => {
    const { store, clock, consumer, producer, g } = await split();
    const enqueued = producer.enqueue('t', { n: 1 });
    // stop() in the same turn: the message is leased and buffered, its start a microtask away.
    const stopping = consumer.stop({ graceMs: 0 });
    const id = await enqueued;
    await clock.advance(0);
    await stopping;
    expect(g.started).toEqual([]);
    expect(row(store, id)).toMatchObject({ state: 'ready', owner: null });

    const next = createQueue(store, { clock });
    cleanups.push(() => next.stop({ graceMs: 0 }));
    const h = gated();
    await next.handle('t', h.handler, { concurrency: 1 });
    await waitFor(() => h.started.includes(id), clock);
    h.release(id);
  });

  it("never leases inside a caller's transaction: a rolled-back outbox message is never handled", async () => {
    const { store, clock, queue } = await setup();
    const g = gated();
    await queue.handle('t', g.handler, { concurrency: 2, ordering: 'none' });
    await waitFor(async () => (await queue.policy('t')) !== null, clock);

    let rolledBack = '';
    expect(() =>
      store.db.transaction(() => {
        rolledBack = queue.enqueue(store.db, 't', { n: 1 });
        expect(row(store, rolledBack)?.state).toBe('ready');
        throw new Error('business write failed');
      })(),
    ).toThrow('business write failed');
    const committed = store.db.transaction(() => queue.enqueue(store.db, 't', { n: 2 }))();
    await waitFor(() => g.started.includes(committed), clock);
    expect(row(store, rolledBack)).toBeUndefined();
    expect(g.started).toEqual([committed]);
    g.release(committed);
  });
});
