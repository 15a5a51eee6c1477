import { describe, expect, it } from 'vitest';
import { drive } from './drive.js';
import { emits, isEventWait, on, SAGA_RUN_HEADER } from './events.js';
import { saga, step } from './saga.js';
import type { SagaEvent, StepContext } from './types.js';

const noop = (): null => null;
const option = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (error) {
    return { code: (error as { code?: unknown }).code, option: (error as { option?: unknown }).option };
  }
  return 'no error';
};

describe('saga() and step()', () => {
  it('builds a definition on the topic weir.saga.<name>, with the queue retry policy of that topic', () => {
    const s = saga('order', [step('a', noop, noop), step('b', on(['x', 'y']))], { timeoutMs: 1000, retry: { schedule: ['1s', '2s'] }, concurrency: 3 });
    expect(s).toMatchObject({ name: 'order', topic: 'weir.saga.order', timeoutMs: 1000, concurrency: 3 });
    expect(s.policy.retry).toMatchObject({ scheduleMs: [1000, 2000], maxDeliveries: 3, immediate: 2 });
    expect([...s.waits]).toEqual([
      ['x', 1],
      ['y', 1],
    ]);
    expect(s.steps[0]).toMatchObject({ name: 'a', timeoutMs: null });
    expect(step('t', noop, undefined, { timeoutMs: 5 }).timeoutMs).toBe(5);
  });

  it('rejects bad definitions eagerly, naming the option', () => {
    expect(option(() => saga('', [step('a', noop)]))).toEqual({ code: 'WEIR_INVALID_OPTION', option: 'name' });
    expect(option(() => saga('s', []))).toEqual({ code: 'WEIR_INVALID_OPTION', option: 'steps' });
    expect(option(() => saga('s', [step('a', noop), step('a', noop)]))).toEqual({ code: 'WEIR_INVALID_OPTION', option: 'steps[1].name' });
    expect(option(() => saga('s', [{} as never]))).toEqual({ code: 'WEIR_INVALID_OPTION', option: 'steps[0]' });
    expect(option(() => saga('s', [step('a', on('x')), step('b', on(['y', 'x']))]))).toEqual({ code: 'WEIR_INVALID_OPTION', option: 'steps[1].action' });
    expect(option(() => saga('s', [step('a', noop)], { timeoutMs: 0 }))).toEqual({ code: 'WEIR_INVALID_OPTION', option: 'timeoutMs' });
    expect(option(() => saga('s', [step('a', noop)], { concurrency: 0 }))).toEqual({ code: 'WEIR_INVALID_OPTION', option: 'concurrency' });
    expect(option(() => saga('s', [step('a', noop)], { retry: { schedule: ['soon'] } }))).toEqual({ code: 'WEIR_INVALID_OPTION', option: 'retry.schedule[0]' });
    expect(option(() => step('', noop))).toEqual({ code: 'WEIR_INVALID_OPTION', option: 'name' });
    expect(option(() => step('a', 'x' as never))).toEqual({ code: 'WEIR_INVALID_OPTION', option: 'action' });
    expect(option(() => step('a', noop, 1 as never))).toEqual({ code: 'WEIR_INVALID_OPTION', option: 'compensate' });
    expect(option(() => step('a', noop, noop, { timeoutMs: 1.5 }))).toEqual({ code: 'WEIR_INVALID_OPTION', option: 'timeoutMs' });
  });
});

const event = (headers: Record<string, string>, payload: unknown = {}): SagaEvent => ({ id: 'm1', topic: 'x', payload, headers });

describe('on() and emits()', () => {
  it('on() correlates by the weir-saga-run header unless told otherwise, and validates its options', () => {
    const wait = on('x', { timeoutMs: 10 });
    expect(isEventWait(wait)).toBe(true);
    expect(isEventWait(noop)).toBe(false);
    expect(wait).toMatchObject({ topics: ['x'], timeoutMs: 10, accept: undefined });
    expect(wait.correlate(event({ [SAGA_RUN_HEADER]: 'r1' }))).toBe('r1');
    expect(wait.correlate(event({}))).toBeNull();
    expect(on('x', { correlate: (e) => (e.payload as { id: string }).id }).correlate(event({}, { id: 'o7' }))).toBe('o7');
    expect(option(() => on([]))).toEqual({ code: 'WEIR_INVALID_OPTION', option: 'topic' });
    expect(option(() => on(['a', '']))).toEqual({ code: 'WEIR_INVALID_OPTION', option: 'topic[1]' });
    expect(option(() => on('x', { timeoutMs: -1 }))).toEqual({ code: 'WEIR_INVALID_OPTION', option: 'timeoutMs' });
    expect(option(() => on('x', { correlate: 'h' as never }))).toEqual({ code: 'WEIR_INVALID_OPTION', option: 'correlate' });
    expect(option(() => on('x', { accept: 1 as never }))).toEqual({ code: 'WEIR_INVALID_OPTION', option: 'accept' });
  });

  it('emits() publishes its payload (default: the input) with ctx.emit and returns it as the output', async () => {
    const sent: unknown[][] = [];
    const ctx = { input: { id: 'o1' }, emit: (...args: unknown[]) => void sent.push(args) } as unknown as StepContext<{ id: string }>;
    expect(await emits<{ id: string }>('order.placed')(ctx)).toEqual({ id: 'o1' });
    expect(await emits('order.placed', (c: StepContext<{ id: string }>) => ({ order: c.input.id }), { key: 'k' })(ctx)).toEqual({ order: 'o1' });
    expect(sent).toEqual([
      ['order.placed', { id: 'o1' }, {}],
      ['order.placed', { order: 'o1' }, { key: 'k' }],
    ]);
    expect(option(() => emits(''))).toEqual({ code: 'WEIR_INVALID_OPTION', option: 'topic' });
    expect(option(() => emits('t', 1 as never))).toEqual({ code: 'WEIR_INVALID_OPTION', option: 'build' });
  });
});

function* work(values: unknown[]): Generator<unknown, unknown[], unknown> {
  const got: unknown[] = [];
  for (const v of values) got.push(yield v);
  return got;
}

describe('drive()', () => {
  it('runs synchronously while every yielded value is plain (a better-sqlite3 transaction cannot await)', () => {
    expect(drive(work([1, 'a', null]))).toEqual([1, 'a', null]);
  });

  it('continues asynchronously from the first promise, and passes rejections on', async () => {
    const result = drive(work([1, Promise.resolve(2), 3]));
    expect(result).toBeInstanceOf(Promise);
    expect(await result).toEqual([1, 2, 3]);
    const boom = new Error('boom');
    await expect(drive(work([Promise.reject(boom)]))).rejects.toBe(boom);
    function* throwing(): Generator<unknown, void, unknown> {
      yield 1;
      throw boom;
    }
    expect(() => drive(throwing())).toThrow(boom);
  });
});
