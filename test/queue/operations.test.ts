import { afterEach, describe, expect, it } from 'vitest';
import { permanent } from '../../src/errors.js';
import { createQueue, type QueueMetrics } from '../../src/queue/index.js';
import { sqliteQueue, waitFor } from './harness.js';

type Harness = Awaited<ReturnType<typeof sqliteQueue>>;
let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

describe('queue: dead letters as a product', () => {
  it('groups by error signature, replays a filtered group rate-limited under the same ids, and discards', async () => {
    h = await sqliteQueue();
    const { queue, clock } = h;
    let fixed = false;
    const handled: string[] = [];
    await queue.handle(
      'sync',
      (m) => {
        const p = m.payload as { kind: string; n: number };
        if (!fixed || p.kind === 'invalid') {
          throw p.kind === 'missing' ? permanent(new Error(`contact ${p.n} not found`)) : permanent(new Error(`field "email${p.n}" is invalid`));
        }
        handled.push(m.id);
      },
      { concurrency: 4 },
    );
    const ids = await queue.enqueueMany([
      ...[1, 2, 3].map((n) => ({ topic: 'sync', payload: { kind: 'missing', n } })),
      ...[4, 5].map((n) => ({ topic: 'sync', payload: { kind: 'invalid', n } })),
    ]);
    await waitFor(async () => (await queue.deadLetters.count()) === 5, clock);
    const groups = await queue.deadLetters.groups();
    expect(groups.map((g) => [g.count, g.message])).toEqual([
      [3, expect.stringMatching(/^contact \d not found$/)],
      [2, expect.stringMatching(/^field "email\d" is invalid$/)],
    ]);
    fixed = true;
    const start = clock.now();
    const replayed = await queue.deadLetters.replay({ topic: 'sync', signature: groups[0]!.signature }, { perSecond: 2 });
    expect(replayed).toEqual(ids.slice(0, 3));
    expect((await Promise.all(replayed.map((id) => h!.store.queue.get(id)))).map((m) => m!.runAt)).toEqual([start, start + 500, start + 1000]);
    await waitFor(() => handled.length === 1, clock);
    await clock.advance(500);
    await waitFor(() => handled.length === 2, clock);
    await clock.advance(500);
    await waitFor(() => handled.length === 3, clock);
    expect(handled).toEqual(ids.slice(0, 3));
    expect(await queue.deadLetters.discard({ topic: 'sync' })).toEqual(ids.slice(3));
    expect(await queue.deadLetters.count()).toBe(0);
  });
});

describe('queue: cron schedules', () => {
  it('enqueues at each fire time once, even with two workers, with an id per fire time', async () => {
    h = await sqliteQueue();
    const { queue, clock, store } = h;
    const second = createQueue(store, { clock, workerId: 'second' });
    const fired: string[] = [];
    await queue.handle('tick', (m) => {
      fired.push(m.id);
    });
    await second.handle('tock', () => undefined);
    const start = clock.now();
    const record = await queue.schedule('every-10s', { cron: '*/10 * * * * *', topic: 'tick', payload: { hello: 1 } });
    expect(record.nextRunAt).toBe(start + 10_000);
    for (let i = 0; i < 25; i++) await clock.advance(1000);
    await waitFor(() => fired.length === 2, clock);
    expect(fired).toEqual([`cron:every-10s:${start + 10_000}`, `cron:every-10s:${start + 20_000}`]);
    expect((await queue.schedules())[0]).toMatchObject({ lastRunAt: start + 20_000, nextRunAt: start + 30_000 });
    expect(await queue.unschedule('every-10s')).toBe(true);
    const stopping = second.stop({ graceMs: 0 });
    await clock.advance(0);
    await stopping;
  });

  it('rejects an invalid cron expression or time zone', async () => {
    h = await sqliteQueue();
    await expect(h.queue.schedule('x', { cron: 'every day', topic: 't' })).rejects.toMatchObject({ code: 'WEIR_INVALID_OPTION', option: 'cron' });
    await expect(h.queue.schedule('x', { cron: '* * * * *', topic: 't', timezone: 'Nowhere/City' })).rejects.toMatchObject({ option: 'cron' });
  });
});

describe('queue: metrics hooks', () => {
  it('reports enqueues, starts, settlements with end-to-end time, retries, dead letters and depth', async () => {
    const events: Array<[string, Record<string, unknown>]> = [];
    const record = (name: string) => (e: object) => events.push([name, { ...e }]);
    const metrics: QueueMetrics = {
      enqueued: record('enqueued'),
      started: record('started'),
      settled: record('settled'),
      retried: record('retried'),
      deadLettered: record('deadLettered'),
      depth: record('depth'),
    };
    h = await sqliteQueue({ metrics, metricsIntervalMs: 5000 });
    const { queue, clock } = h;
    await queue.handle('m', (msg) => {
      clock.set(clock.now() + 7);
      if (msg.payload === 'bad') throw permanent(new Error('nope'));
      if (msg.payload === 'flaky' && msg.delivery === 1) throw new Error('once');
    }, { retry: { immediate: 0, schedule: ['0s'] } });
    await queue.enqueueMany([{ topic: 'm', payload: 'ok' }, { topic: 'm', payload: 'bad' }, { topic: 'm', payload: 'flaky' }]);
    await waitFor(() => events.filter(([n, e]) => n === 'settled' && e.outcome === 'done').length === 2, clock);
    await clock.advance(5000);
    await waitFor(() => events.some(([n]) => n === 'depth'), clock);
    const of = (name: string) => events.filter(([n]) => n === name).map(([, e]) => e);
    expect(of('enqueued')).toEqual([{ topic: 'm', count: 3 }]);
    expect(of('started')).toHaveLength(4);
    expect(of('settled').map((e) => e.outcome).toSorted()).toEqual(['dead', 'done', 'done', 'retry']);
    const done = of('settled').find((e) => e.outcome === 'done')!;
    expect(done).toMatchObject({ topic: 'm', durationMs: 7, delivery: 1 });
    expect(done.endToEndMs).toBeGreaterThanOrEqual(7);
    expect(of('retried')).toEqual([expect.objectContaining({ immediate: false, delayMs: 0, classification: 'transient' })]);
    expect(of('deadLettered')).toEqual([expect.objectContaining({ code: 'WEIR_PERMANENT', blockKey: false })]);
    expect(of('depth')[0]).toMatchObject({ inFlight: 0, topics: [expect.objectContaining({ topic: 'm', done: 2, dead: 1 })] });
  });

  it('reports a throwing hook on onError and keeps working', async () => {
    h = await sqliteQueue({ metrics: { started: () => { throw new Error('exporter down'); } } });
    let handled = 0;
    await h.queue.handle('t', () => {
      handled++;
    });
    await h.queue.enqueue('t', null);
    await waitFor(() => handled === 1, h.clock);
    expect(h.errors).toEqual([expect.objectContaining({ message: 'exporter down' })]);
  });
});
