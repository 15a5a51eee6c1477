import { describe, expect, expectTypeOf, it } from 'vitest';
import { CancelledError, permanent, TimeoutError } from '../errors.js';
import { bulkhead } from './bulkhead.js';
import { fallback } from './fallback.js';
import { wrap } from './wrap.js';

describe('fallback', () => {
  it('replaces a failure with a value', async () => {
    const f = fallback('cached');
    expect(await f.execute(() => Promise.reject(new Error('down')))).toBe('cached');
    expect(
      await f.execute(() => {
        throw new Error('sync');
      }),
    ).toBe('cached');
  });

  it('passes a success through untouched and emits nothing', async () => {
    const f = fallback('cached');
    let events = 0;
    f.onFallback(() => events++);
    expect(await f.execute(() => 'fresh')).toBe('fresh');
    expect(events).toBe(0);
  });

  it('computes the fallback from the error and the context (sync or async)', async () => {
    const seen: unknown[] = [];
    const err = new TimeoutError(100);
    const f = fallback(async (error: unknown, ctx) => {
      seen.push(error, ctx.key);
      return 'computed';
    });
    expect(await f.execute(() => Promise.reject(err), { key: 'k' })).toBe('computed');
    expect(seen).toEqual([err, 'k']);
    expect(await fallback(() => 42).execute(() => Promise.reject(new Error('x')))).toBe(42);
  });

  it('emits onFallback with the classification and the error', async () => {
    const f = fallback(0);
    const events: unknown[] = [];
    f.onFallback((e) => events.push(e));
    const err = new TimeoutError(5);
    await f.execute(() => Promise.reject(err));
    expect(events).toEqual([{ classification: 'transient', error: err }]);
  });

  it('replaces only what `when` accepts', async () => {
    const calls: unknown[] = [];
    const f = fallback('fallback', {
      when: (classification, error) => {
        calls.push([classification, (error as Error).message]);
        return classification === 'transient';
      },
    });
    expect(await f.execute(() => Promise.reject(new Error('flaky')))).toBe('fallback');
    const fatal = permanent(new Error('gone'));
    await expect(f.execute(() => Promise.reject(fatal))).rejects.toBe(fatal);
    expect(calls).toEqual([
      ['transient', 'flaky'],
      ['permanent', 'gone'],
    ]);
  });

  it('never replaces a cancellation, whatever `when` says', async () => {
    const f = fallback('fallback', { when: () => true });
    const cancelled = new CancelledError();
    await expect(f.execute(() => Promise.reject(cancelled))).rejects.toBe(cancelled);
    // Any failure after the caller aborted is the caller's cancellation, not something to paper over.
    const controller = new AbortController();
    controller.abort();
    const other = new Error('socket closed');
    await expect(f.execute(() => Promise.reject(other), { signal: controller.signal })).rejects.toBe(other);
    const abortError = Object.assign(new Error('aborted'), { name: 'AbortError' });
    await expect(fallback('x').execute(() => Promise.reject(abortError))).rejects.toBe(abortError);
  });

  it('uses a custom classifier, which may call a value a failure', async () => {
    const f = fallback((failure: unknown) => ({ status: 200, from: failure }), {
      classify: (outcome) => (outcome.ok ? ((outcome.value as { status: number }).status >= 500 ? 'transient' : 'success') : 'permanent'),
      when: (classification) => classification === 'transient',
    });
    const bad = { status: 503 };
    expect(await f.execute(() => bad)).toEqual({ status: 200, from: bad });
    expect(await f.execute(() => ({ status: 201 }))).toEqual({ status: 201 });
    const err = new Error('x');
    await expect(f.execute(() => Promise.reject(err))).rejects.toBe(err); // classified permanent: kept
  });

  it('rejects with what the fallback function throws', async () => {
    const second = new Error('second');
    const f = fallback(() => {
      throw second;
    });
    await expect(f.execute(() => Promise.reject(new Error('first')))).rejects.toBe(second);
  });

  it('composes with wrap: a full bulkhead falls back', async () => {
    const b = bulkhead({ maxConcurrent: 1 });
    let release!: () => void;
    const busy = b.execute(() => new Promise<void>((resolve) => (release = resolve)));
    const policy = wrap(fallback('busy'), b);
    expect(await policy.execute(() => 'ran')).toBe('busy');
    release();
    await busy;
    expect(await policy.execute(() => 'ran')).toBe('ran');
  });

  it('types the result as the task result or the fallback', () => {
    expectTypeOf(fallback('x').execute(() => 1)).toEqualTypeOf<Promise<number | string>>();
    expectTypeOf(fallback((_err: unknown) => null).execute(async () => 'a')).toEqualTypeOf<Promise<string | null>>();
  });

  it.each([
    [{ when: 'transient' }, 'fallback.when'],
    [{ classify: 1 }, 'fallback.classify'],
  ])('rejects invalid options %j naming %s', (options, option) => {
    expect(() => fallback(1, options as never)).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION', option }));
  });
});
