import { afterEach, describe, expect, it } from 'vitest';
import { RateLimitedError, permanent } from '../../src/errors.js';
import { sqliteQueue, waitFor } from './harness.js';

type Harness = Awaited<ReturnType<typeof sqliteQueue>>;
let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

const state = async (id: string): Promise<string | undefined> => (await h!.store.queue.get(id))?.state;

describe('queue: retries, holds, timeouts (SQLite, fake clock)', () => {
  it('retries at once, then by the schedule, then dead-letters with the whole history', async () => {
    h = await sqliteQueue();
    const { queue, clock } = h;
    const calls: Array<[number, number, number]> = [];
    await queue.handle(
      'flaky',
      (m, ctx) => {
        calls.push([clock.now(), m.delivery, ctx.attempt]);
        throw new Error(`upstream said no (${calls.length})`);
      },
      { retry: { immediate: 1, schedule: ['1s', '5s'] } },
    );
    const t0 = clock.now();
    const id = await queue.enqueue('flaky', { n: 1 });
    await waitFor(() => calls.length === 2, clock);
    await waitFor(async () => (await h!.store.queue.get(id))?.runAt === t0 + 1000, clock);
    await clock.advance(1000);
    await waitFor(() => calls.length === 4, clock);
    await waitFor(async () => (await h!.store.queue.get(id))?.runAt === t0 + 6000, clock);
    await clock.advance(5000);
    await waitFor(async () => (await state(id)) === 'dead', clock);
    expect(calls).toEqual([
      [t0, 1, 1],
      [t0, 1, 2],
      [t0 + 1000, 2, 1],
      [t0 + 1000, 2, 2],
      [t0 + 6000, 3, 1],
      [t0 + 6000, 3, 2],
    ]);
    const dead = await queue.deadLetters.get(id);
    expect(dead!.history.map((r) => [r.delivery, r.attempt, r.outcome])).toEqual([
      [1, 1, 'retry-now'],
      [1, 2, 'retry'],
      [2, 1, 'retry-now'],
      [2, 2, 'retry'],
      [3, 1, 'retry-now'],
      [3, 2, 'dead'],
    ]);
    expect(dead!.error).toMatchObject({ name: 'Error', message: 'upstream said no (6)', classification: 'transient' });
    expect(dead!.error.stack).toContain('upstream said no');
    expect(dead!.payload).toEqual({ n: 1 });
  });

  it('dead-letters a permanent failure at once, and its key moves on', async () => {
    h = await sqliteQueue();
    const handled: string[] = [];
    await h.queue.handle('p', (m) => {
      if (m.payload === 'bad') throw permanent(new Error('customer does not exist'));
      handled.push(m.payload as string);
    });
    const bad = await h.queue.enqueue('p', 'bad', { key: 'c1' });
    await h.queue.enqueue('p', 'next', { key: 'c1' });
    await waitFor(() => handled.length === 1, h.clock);
    expect(await state(bad)).toBe('dead');
    expect((await h.queue.deadLetters.get(bad))!.history).toHaveLength(1);
  });

  it("with onExhausted 'block-key', stops the key until the message is replayed or discarded; other keys go on", async () => {
    h = await sqliteQueue();
    const handled: string[] = [];
    let healthy = false;
    await h.queue.handle(
      'b',
      (m) => {
        if (m.payload === 'poison' && !healthy) throw permanent(new Error('rejected'));
        handled.push(m.payload as string);
      },
      { onExhausted: 'block-key', concurrency: 2 },
    );
    const poison = await h.queue.enqueue('b', 'poison', { key: 'k' });
    await h.queue.enqueue('b', 'after', { key: 'k' });
    await h.queue.enqueue('b', 'other', { key: 'j' });
    await waitFor(() => handled.includes('other'), h.clock);
    await h.clock.advance(10_000);
    expect(handled).toEqual(['other']);
    expect(await state(poison)).toBe('blocked');
    healthy = true;
    expect(await h.queue.deadLetters.replay({ ids: [poison] })).toEqual([poison]);
    await waitFor(() => handled.length === 3, h.clock);
    expect(handled).toEqual(['other', 'poison', 'after']);
    expect((await h.store.queue.get(poison))!.replays).toBe(1);
  });

  it("reschedules at an error's retryAfterMs instead of the schedule", async () => {
    h = await sqliteQueue();
    const at: number[] = [];
    await h.queue.handle(
      'r',
      () => {
        at.push(h!.clock.now());
        if (at.length === 1) throw new RateLimitedError(30_000);
      },
      { retry: { schedule: ['1s'] } },
    );
    const t0 = h.clock.now();
    await h.queue.enqueue('r', null);
    await waitFor(() => at.length === 1, h.clock);
    await h.clock.advance(29_999);
    expect(at).toHaveLength(1);
    await h.clock.advance(1);
    await waitFor(() => at.length === 2, h.clock);
    expect(at).toEqual([t0, t0 + 30_000]);
  });

  it('lets a handler hold its topic: nothing is claimed until the hold ends, and the delivery is refunded', async () => {
    h = await sqliteQueue();
    const seen: Array<[string, number]> = [];
    await h.queue.handle(
      'api',
      async (m, ctx) => {
        seen.push([m.payload as string, h!.clock.now()]);
        if (seen.length === 1) {
          await ctx.hold('10s');
          throw new Error('503 Service Unavailable');
        }
      },
      { concurrency: 1 },
    );
    const t0 = h.clock.now();
    const first = await h.queue.enqueue('api', 'first');
    await waitFor(() => seen.length === 1, h.clock);
    await h.queue.enqueue('api', 'second');
    await h.clock.advance(9_999);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(seen).toHaveLength(1);
    expect((await h.queue.holds())[0]).toMatchObject({ topic: 'api', key: null, until: t0 + 10_000 });
    await h.clock.advance(1);
    await waitFor(() => seen.length === 3, h.clock);
    expect(seen.map(([p]) => p).toSorted()).toEqual(['first', 'first', 'second']);
    expect(seen.every(([, t]) => t === t0 || t >= t0 + 10_000)).toBe(true);
    const record = await h.store.queue.get(first);
    expect(record!.history.map((r) => r.outcome)).toEqual(['held']);
    expect(record!.attempts).toBe(1);
  });

  it('aborts a handler that exceeds timeoutMs and retries it as a timeout', async () => {
    h = await sqliteQueue();
    const reasons: unknown[] = [];
    let calls = 0;
    await h.queue.handle(
      'slow',
      (_m, ctx) =>
        new Promise<void>((resolve, reject) => {
          calls++;
          if (calls > 1) return resolve();
          ctx.signal.addEventListener('abort', () => {
            reasons.push(ctx.signal.reason);
            reject(new Error('aborted'));
          });
        }),
      { timeoutMs: 1000, retry: { immediate: 0, schedule: ['0s'] } },
    );
    const id = await h.queue.enqueue('slow', null);
    await waitFor(() => calls === 1, h.clock);
    await h.clock.advance(1000);
    await waitFor(async () => (await state(id)) === 'done', h.clock);
    expect(reasons).toEqual([expect.objectContaining({ code: 'WEIR_TIMEOUT' })]);
    expect((await h.store.queue.get(id))!.history[0]!.error).toMatchObject({ code: 'WEIR_TIMEOUT', classification: 'transient' });
  });
});
