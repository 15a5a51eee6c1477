import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '../../src/queue/index.js';
import { sqliteQueue, waitFor } from './harness.js';

type Harness = Awaited<ReturnType<typeof sqliteQueue>>;
let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

const noop = (): void => undefined;

describe('queue: enqueue and handle (SQLite, fake clock)', () => {
  it('delivers a message with its payload, key and headers, then marks it done', async () => {
    h = await sqliteQueue();
    const seen: Message[] = [];
    await h.queue.handle('greet', (m) => {
      seen.push(m);
    });
    const id = await h.queue.enqueue('greet', { name: 'Ada' }, { key: 'k1', headers: { traceparent: 't' } });
    await waitFor(async () => (await h!.store.queue.get(id))?.state === 'done', h.clock);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ id, topic: 'greet', key: 'k1', payload: { name: 'Ada' }, headers: { traceparent: 't' }, delivery: 1, history: [] });
    expect(seen[0]!.enqueuedAt).toBe(h.clock.now());
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('enqueues an id once: a second enqueue of the same id is a no-op', async () => {
    h = await sqliteQueue();
    let calls = 0;
    await h.queue.handle('t', () => {
      calls++;
    });
    expect(await h.queue.enqueue('t', 1, { id: 'same' })).toBe('same');
    await waitFor(async () => (await h!.store.queue.get('same'))?.state === 'done', h.clock);
    expect(await h.queue.enqueue('t', 2, { id: 'same' })).toBe('same');
    await h.clock.advance(5000);
    expect(calls).toBe(1);
    expect((await h.store.queue.get('same'))!.payload).toBe(1);
  });

  it('is a transactional outbox on SQLite: the message commits or rolls back with the business rows', async () => {
    h = await sqliteQueue();
    const { store, queue } = h;
    store.db.exec('CREATE TABLE orders (id TEXT PRIMARY KEY)');
    const handled: string[] = [];
    await queue.handle('order-placed', (m) => {
      handled.push((m.payload as { id: string }).id);
    });
    const place = store.db.transaction((orderId: string, fail: boolean): string => {
      store.db.prepare('INSERT INTO orders (id) VALUES (?)').run(orderId);
      const id = queue.enqueue(store.db, 'order-placed', { id: orderId });
      if (fail) throw new Error('payment declined');
      return id;
    });
    const id = place('o1', false);
    expect(typeof id).toBe('string');
    expect(() => place('o2', true)).toThrow('payment declined');
    await waitFor(() => handled.length === 1, h.clock);
    await h.clock.advance(2000);
    expect(handled).toEqual(['o1']);
    expect(store.db.prepare('SELECT count(*) FROM orders').pluck().get()).toBe(1);
  });

  it('throws synchronously inside a SQLite transaction, so it rolls back', async () => {
    h = await sqliteQueue();
    const { store, queue } = h;
    store.db.exec('CREATE TABLE rows (id INTEGER)');
    const tx = store.db.transaction(() => {
      store.db.prepare('INSERT INTO rows VALUES (1)').run();
      queue.enqueue(store.db, '', {});
    });
    expect(() => tx()).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION', option: 'topic' }));
    expect(store.db.prepare('SELECT count(*) FROM rows').pluck().get()).toBe(0);
  });

  it('rejects invalid enqueue options, naming them', async () => {
    h = await sqliteQueue();
    const { queue } = h;
    await expect(queue.enqueue('', 1)).rejects.toMatchObject({ code: 'WEIR_INVALID_OPTION', option: 'topic' });
    await expect(queue.enqueue('t', 1, { runAt: Number.NaN })).rejects.toMatchObject({ option: 'runAt' });
    await expect(queue.enqueue('t', 1, { delay: 'soon' })).rejects.toMatchObject({ option: 'delay' });
    await expect(queue.enqueue('t', 1, { headers: { n: 1 as never } })).rejects.toMatchObject({ option: 'headers' });
    await expect(queue.enqueueMany([{ topic: 't', payload: 1 }, { topic: 't', payload: 2, key: 3 as never }])).rejects.toMatchObject({
      option: 'items[1].key',
    });
  });

  it('rejects invalid handler options, naming them, and a second handler for a topic', async () => {
    h = await sqliteQueue();
    const { queue } = h;
    expect(() => queue.handle('t', noop, { concurrency: 0 })).toThrow(expect.objectContaining({ option: 'concurrency' }));
    expect(() => queue.handle('t', noop, { retry: { schedule: ['1s', 'x'] } })).toThrow(expect.objectContaining({ option: 'retry.schedule[1]' }));
    expect(() => queue.handle('t', noop, { ordering: 'fifo' as never })).toThrow(expect.objectContaining({ option: 'ordering' }));
    expect(() => queue.handle('t', noop, { retry: { jitter: 2 } })).toThrow(expect.objectContaining({ option: 'retry.jitter' }));
    expect(() => queue.handle('t', 'nope' as never)).toThrow(expect.objectContaining({ option: 'handler' }));
    void queue.handle('t', noop);
    expect(() => queue.handle('t', noop)).toThrow(expect.objectContaining({ option: 'topic' }));
  });

  it('holds a delayed message until its time', async () => {
    h = await sqliteQueue();
    const at: number[] = [];
    await h.queue.handle('later', () => {
      at.push(h!.clock.now());
    });
    const start = h.clock.now();
    await h.queue.enqueue('later', null, { delay: '5s' });
    await h.queue.enqueue('later', null, { runAt: new Date(start + 2000) });
    await h.clock.advance(1999);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(at).toEqual([]);
    await h.clock.advance(1);
    await waitFor(() => at.length === 1, h.clock);
    await h.clock.advance(3000);
    await waitFor(() => at.length === 2, h.clock);
    expect(at).toEqual([start + 2000, start + 5000]);
  });

  it('enqueues many at once, returning ids in order', async () => {
    h = await sqliteQueue();
    const ids = await h.queue.enqueueMany([
      { topic: 'a', payload: 1, id: 'x1' },
      { topic: 'b', payload: 2 },
      { topic: 'a', payload: 3, key: 'k' },
    ]);
    expect(ids[0]).toBe('x1');
    expect(ids).toHaveLength(3);
    expect((await h.queue.stats()).map((s) => [s.topic, s.ready])).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
  });

  it('pauses a topic for every worker until resumed', async () => {
    h = await sqliteQueue();
    const handled: number[] = [];
    await h.queue.handle('p', (m) => {
      handled.push(m.payload as number);
    });
    await h.queue.pause('p');
    await h.queue.enqueue('p', 1);
    await h.clock.advance(60_000);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(handled).toEqual([]);
    expect((await h.queue.holds()).map((x) => x.reason)).toEqual(['paused']);
    expect(await h.queue.resume('p')).toBe(true);
    await waitFor(() => handled.length === 1, h.clock);
  });

  it('reports the effective policy of a topic, from this process or from the store', async () => {
    h = await sqliteQueue();
    await h.queue.handle('t', () => undefined, { concurrency: 3, retry: { schedule: ['1s', '1m'], immediate: 1 } });
    const expected = {
      topic: 't',
      concurrency: 3,
      ordering: 'key',
      onExhausted: 'dead-letter',
      retry: { immediate: 1, scheduleMs: [1000, 60_000], jitter: 0.2, maxDeliveries: 3, maxRetryAfterMs: 3_600_000 },
    };
    expect(await h.queue.policy('t')).toMatchObject(expected);
    const { createQueue } = await import('../../src/queue/index.js');
    expect(await createQueue(h.store).policy('t')).toMatchObject(expected);
    expect(await h.queue.policy('nope')).toBeNull();
  });
});
