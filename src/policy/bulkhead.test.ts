import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { isWeirError } from '../errors.js';
import { FakeClock, flushMicrotasks } from '../testing/fake-clock.js';
import { bulkhead } from './bulkhead.js';
import { Deadline } from './deadline.js';

/** A task that runs until `finish()` is called; records that it started. */
function gate<T = string>(value?: T) {
  let finish!: () => void;
  let fail!: (err: unknown) => void;
  const state = { started: false };
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const task = async (): Promise<T | undefined> => {
    state.started = true;
    await done;
    return value;
  };
  return { task, finish, fail, state };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

describe('bulkhead', () => {
  it('runs at most maxConcurrent calls at once and counts them', async () => {
    const b = bulkhead({ maxConcurrent: 2, maxQueue: 5 });
    const gates = [gate('a'), gate('b'), gate('c')];
    const results = gates.map((g) => b.execute(g.task));
    await flushMicrotasks();
    expect(gates.map((g) => g.state.started)).toEqual([true, true, false]);
    expect(b.running).toBe(2);
    expect(b.queued).toBe(1);
    gates[0]!.finish();
    await flushMicrotasks();
    expect(gates[2]!.state.started).toBe(true);
    expect(b.running).toBe(2);
    expect(b.queued).toBe(0);
    gates[1]!.finish();
    gates[2]!.finish();
    expect(await Promise.all(results)).toEqual(['a', 'b', 'c']);
    expect(b.running).toBe(0);
  });

  it('starts queued calls in FIFO order', async () => {
    const b = bulkhead({ maxConcurrent: 1, maxQueue: 10 });
    const order: number[] = [];
    const first = gate();
    const running = b.execute(first.task);
    const queued = [1, 2, 3, 4].map((n) => b.execute(() => void order.push(n)));
    expect(b.queued).toBe(4);
    first.finish();
    await Promise.all([running, ...queued]);
    expect(order).toEqual([1, 2, 3, 4]);
  });

  it('rejects with WEIR_BULKHEAD_FULL when every slot and queue place is taken, and emits onReject', async () => {
    const b = bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    const events: unknown[] = [];
    b.onReject((e) => events.push(e));
    const g = gate();
    const a = b.execute(g.task);
    const q = b.execute(() => 'queued');
    const err = await rejection(b.execute(() => 'never'));
    expect(isWeirError(err, 'WEIR_BULKHEAD_FULL')).toBe(true);
    expect(events).toEqual([{ running: 1, queued: 1, maxConcurrent: 1, maxQueue: 1 }]);
    g.finish();
    await a;
    expect(await q).toBe('queued');
  });

  it('rejects at once with maxQueue 0 (the default)', async () => {
    const b = bulkhead({ maxConcurrent: 1 });
    const g = gate();
    const a = b.execute(g.task);
    expect((await rejection(b.execute(() => 1)) as { code: string }).code).toBe('WEIR_BULKHEAD_FULL');
    g.finish();
    await a;
  });

  it('an aborted queued call leaves at once: its place is free, the next queued call runs, no listener is left', async () => {
    const b = bulkhead({ maxConcurrent: 1, maxQueue: 2 });
    const g = gate();
    const running = b.execute(g.task);
    const controller = new AbortController();
    let abortedRan = false;
    const aborted = b.execute(() => void (abortedRan = true), { signal: controller.signal });
    const next = b.execute(() => 'next');
    expect(b.queued).toBe(2);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);

    controller.abort();
    expect(b.queued).toBe(1); // synchronously, not when the queue reaches it
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    const err = await rejection(aborted);
    expect(isWeirError(err, 'WEIR_CANCELLED')).toBe(true);
    // The freed place takes a new caller (the queue would otherwise be full).
    const late = b.execute(() => 'late');
    expect(b.queued).toBe(2);

    g.finish();
    expect(await next).toBe('next');
    expect(await late).toBe('late');
    await running;
    expect(abortedRan).toBe(false);
    expect(b.running).toBe(0);
    expect(b.queued).toBe(0);
  });

  it('removes the abort listener of a queued call once it starts and finishes', async () => {
    const b = bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    const g = gate();
    const running = b.execute(g.task);
    const controller = new AbortController();
    const queued = b.execute(() => 'ok', { signal: controller.signal });
    g.finish();
    expect(await queued).toBe('ok');
    await running;
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('rejects an already aborted call without running it', async () => {
    const b = bulkhead({ maxConcurrent: 1 });
    let ran = false;
    const err = await rejection(b.execute(() => void (ran = true), { signal: AbortSignal.abort() }));
    expect(isWeirError(err, 'WEIR_CANCELLED')).toBe(true);
    expect(ran).toBe(false);
    expect(b.running).toBe(0);
  });

  it('a queued call whose deadline passes rejects with WEIR_TIMEOUT, frees its place, and leaves no timer', async () => {
    const clock = new FakeClock();
    const b = bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    const g = gate();
    const running = b.execute(g.task);
    let ran = false;
    const signal = new AbortController().signal;
    const queued = b.execute(() => void (ran = true), { deadline: Deadline.after(500, clock), signal });
    const outcome = rejection(queued);
    await clock.advance(499);
    expect(b.queued).toBe(1);
    await clock.advance(1);
    expect(b.queued).toBe(0);
    expect(isWeirError(await outcome, 'WEIR_TIMEOUT')).toBe(true);
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    g.finish();
    await running;
    expect(ran).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });

  it('clears the deadline timer when a queued call gets its slot', async () => {
    const clock = new FakeClock();
    const b = bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    const g = gate();
    const running = b.execute(g.task);
    const queued = b.execute(() => 'ok', { deadline: Deadline.after(500, clock) });
    expect(clock.pendingTimers).toBe(1);
    g.finish();
    expect(await queued).toBe('ok');
    await running;
    expect(clock.pendingTimers).toBe(0);
  });

  it('clears the deadline timer when a queued call is aborted', async () => {
    const clock = new FakeClock();
    const b = bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    const g = gate();
    const running = b.execute(g.task);
    const controller = new AbortController();
    const queued = rejection(b.execute(() => 1, { deadline: Deadline.after(500, clock), signal: controller.signal }));
    controller.abort();
    expect(isWeirError(await queued, 'WEIR_CANCELLED')).toBe(true);
    expect(clock.pendingTimers).toBe(0);
    g.finish();
    await running;
  });

  it('rejects a call that would queue with an expired deadline at once', async () => {
    const clock = new FakeClock();
    const b = bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    const g = gate();
    const running = b.execute(g.task);
    const err = await rejection(b.execute(() => 1, { deadline: new Deadline(clock.now() - 1, clock) }));
    expect(isWeirError(err, 'WEIR_TIMEOUT')).toBe(true);
    expect(b.queued).toBe(0);
    g.finish();
    await running;
  });

  it('frees the slot when the task throws synchronously or rejects', async () => {
    const b = bulkhead({ maxConcurrent: 1 });
    const boom = new Error('boom');
    await expect(
      b.execute(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(b.running).toBe(0);
    await expect(b.execute(() => Promise.reject(boom))).rejects.toBe(boom);
    expect(b.running).toBe(0);
    expect(await b.execute(() => 'fine')).toBe('fine');
  });

  it('passes the context through to the task', async () => {
    const b = bulkhead({ maxConcurrent: 1 });
    const signal = new AbortController().signal;
    const ctx = await b.execute((c) => c, { signal, key: 'k' });
    expect(ctx).toMatchObject({ signal, key: 'k', attempt: 1 });
  });

  it('executeOutcome never rejects', async () => {
    const b = bulkhead({ maxConcurrent: 1 });
    const g = gate();
    const running = b.execute(g.task);
    const outcome = await b.executeOutcome(() => 1);
    expect(outcome.ok).toBe(false);
    g.finish();
    await running;
  });

  it.each([
    [{ maxConcurrent: 0 }, 'bulkhead.maxConcurrent'],
    [{ maxConcurrent: 1.5 }, 'bulkhead.maxConcurrent'],
    [{ maxConcurrent: Number.NaN }, 'bulkhead.maxConcurrent'],
    [{ maxConcurrent: 1, maxQueue: -1 }, 'bulkhead.maxQueue'],
    [{ maxConcurrent: 1, maxQueue: Number.POSITIVE_INFINITY }, 'bulkhead.maxQueue'],
  ])('rejects invalid options %j naming %s', (options, option) => {
    expect(() => bulkhead(options)).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION', option }));
  });
});
