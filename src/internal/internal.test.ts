import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { isWeirError } from '../errors.js';
import { FakeClock } from '../testing/fake-clock.js';
import { systemClock } from './clock.js';
import { toMs } from './duration.js';
import { Emitter } from './events.js';
import { uuidv7 } from './ids.js';
import { TimerScheduler } from './scheduler.js';

describe('systemClock.sleep', () => {
  it('resolves after the delay and leaves no listener', async () => {
    const c = new AbortController();
    await systemClock.sleep(5, c.signal);
    expect(getEventListeners(c.signal, 'abort')).toHaveLength(0);
  });

  it('rejects with WEIR_CANCELLED at once on abort, clearing its timer', async () => {
    const c = new AbortController();
    const p = systemClock.sleep(60_000, c.signal);
    c.abort(new Error('stop'));
    const err = await p.catch((e: unknown) => e);
    expect(isWeirError(err, 'WEIR_CANCELLED')).toBe(true);
    expect(getEventListeners(c.signal, 'abort')).toHaveLength(0);
  });

  it('rejects at once for an already aborted signal and resolves at once for 0 ms', async () => {
    await expect(systemClock.sleep(10, AbortSignal.abort())).rejects.toMatchObject({ code: 'WEIR_CANCELLED' });
    await expect(systemClock.sleep(0)).resolves.toBeUndefined();
  });

  it('chains timers longer than 2^31-1 ms instead of firing at once', async () => {
    let fired = false;
    const t = systemClock.setTimer(2 ** 32, () => (fired = true));
    await new Promise((r) => setTimeout(r, 5));
    t.close();
    expect(fired).toBe(false);
  });
});

describe('TimerScheduler', () => {
  it('fires entries in due order across durations and skips cancelled ones', async () => {
    const clock = new FakeClock();
    const s = new TimerScheduler(clock);
    const fired: string[] = [];
    s.schedule(30, () => fired.push('a30'));
    const b = s.schedule(10, () => fired.push('b10'));
    s.schedule(10, () => fired.push('c10'));
    s.schedule(20, () => fired.push('d20'));
    b.cancel();
    b.cancel();
    expect(s.pending).toBe(3);
    await clock.advance(15);
    expect(fired).toEqual(['c10']);
    await clock.advance(100);
    expect(fired).toEqual(['c10', 'd20', 'a30']);
    expect(s.pending).toBe(0);
  });

  it('re-arms for entries added after the head, one timer per duration', async () => {
    const clock = new FakeClock();
    const s = new TimerScheduler(clock);
    const fired: number[] = [];
    s.schedule(10, () => fired.push(clock.now()));
    await clock.advance(5);
    s.schedule(10, () => fired.push(clock.now()));
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(20);
    const start = Date.UTC(2026, 0, 1);
    expect(fired).toEqual([start + 10, start + 15]);
  });

  it('costs no timer churn for add/cancel pairs', () => {
    const clock = new FakeClock();
    const s = new TimerScheduler(clock);
    for (let i = 0; i < 10_000; i++) s.schedule(1000, () => {}).cancel();
    expect(clock.pendingTimers).toBe(1);
    expect(s.pending).toBe(0);
  });
});

describe('FakeClock', () => {
  it('runs chained async timers in order within one advance', async () => {
    const clock = new FakeClock(0);
    const log: number[] = [];
    const loop = async (): Promise<void> => {
      for (let i = 0; i < 3; i++) {
        await clock.sleep(10);
        log.push(clock.now());
      }
    };
    const done = loop();
    await clock.advance(30);
    await done;
    expect(log).toEqual([10, 20, 30]);
  });

  it('runAll drains and reports runaway loops', async () => {
    const clock = new FakeClock(0);
    void clock.sleep(5);
    await clock.runAll();
    expect(clock.pendingTimers).toBe(0);
    const forever = (): void => void clock.setTimer(1, forever);
    forever();
    await expect(clock.runAll(50)).rejects.toThrow(/still pending/);
  });
});

describe('durations', () => {
  it('parses units and rejects bad values naming the option', () => {
    expect(toMs('250ms', 'x')).toBe(250);
    expect(toMs('5s', 'x')).toBe(5000);
    expect(toMs('5m', 'x')).toBe(300_000);
    expect(toMs('2h', 'x')).toBe(7_200_000);
    expect(toMs('1.5s', 'x')).toBe(1500);
    expect(toMs(0, 'x')).toBe(0);
    for (const bad of ['5', '-1s', 'soon', Number.NaN, -1, Number.POSITIVE_INFINITY]) {
      expect(() => toMs(bad as never, 'retry.backoff')).toThrow(expect.objectContaining({ option: 'retry.backoff' }));
    }
  });
});

describe('uuidv7', () => {
  it('is a version 7 RFC 9562 UUID and sorts by creation', () => {
    const ids = Array.from({ length: 5000 }, () => uuidv7());
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.toSorted()).toEqual(ids);
    expect(Number.parseInt(uuidv7(Date.UTC(2030, 0, 1)).replace(/-/g, '').slice(0, 12), 16)).toBeGreaterThanOrEqual(Date.UTC(2030, 0, 1));
  });
});

describe('Emitter', () => {
  it('delivers to listeners until disposed; a throwing listener does not break the emitter', async () => {
    const e = new Emitter<number>();
    const got: number[] = [];
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => void uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    const bad = e.event(() => {
      throw new Error('listener bug');
    });
    const sub = e.event((v) => got.push(v));
    e.emit(1);
    sub[Symbol.dispose]();
    bad.dispose();
    e.emit(2);
    await new Promise((r) => setImmediate(r));
    process.off('uncaughtException', onUncaught);
    expect(got).toEqual([1]);
    expect(e.size).toBe(0);
    expect(uncaught).toHaveLength(1);
  });
});
