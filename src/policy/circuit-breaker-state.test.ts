import diagnostics_channel from 'node:diagnostics_channel';
import { getEventListeners } from 'node:events';
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { schedulerFor } from '../internal/scheduler.js';
import { FakeClock } from '../testing/fake-clock.js';
import type { CountWindow } from './breaker-window.js';
import {
  BREAKER_CHANNEL,
  type BreakerSnapshot,
  type BreakerStateChange,
  type BreakerStrategy,
  circuitBreaker,
  type CircuitBreakerOptions,
} from './circuit-breaker.js';

const fail = (): never => {
  throw new Error('boom');
};

describe('isolate()', () => {
  it('holds the breaker open until every handle is disposed, then closes it', async () => {
    const clock = new FakeClock();
    const b = circuitBreaker({ consecutive: 5 }, { clock, openMs: 2_000, name: 'crm' });
    const seen: string[] = [];
    b.onStateChange(({ from, to, reason }) => seen.push(`${from}>${to}:${reason}`));
    const first = b.isolate();
    const second = b.isolate();
    expect(b.state).toBe('isolated');
    const err = await b.execute(() => 'never').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WEIR_CIRCUIT_OPEN', retryAfterMs: 2_000, details: { state: 'isolated', name: 'crm' } });
    first.dispose();
    first.dispose(); // harmless
    expect(b.state).toBe('isolated');
    await clock.advance(60_000); // time alone never lifts an isolation
    expect(b.state).toBe('isolated');
    second[Symbol.dispose]();
    expect(b.state).toBe('closed');
    expect(await b.execute(() => 'ok')).toBe('ok');
    expect(seen).toEqual(['closed>isolated:isolated', 'isolated>closed:isolation-released']);
  });

  it('ignores calls that were running when isolated, and reset() does not lift it', async () => {
    const b = circuitBreaker({ consecutive: 1 }, { clock: new FakeClock() });
    let rejectOld!: (e: unknown) => void;
    const old = b.executeOutcome(() => new Promise((_, reject) => (rejectOld = reject)));
    const handle = b.isolate();
    rejectOld(new Error('late'));
    await old;
    b.reset();
    expect(b.state).toBe('isolated');
    handle.dispose();
    expect(b.state).toBe('closed');
  });
});

const roundTrip = (value: BreakerSnapshot): BreakerSnapshot => JSON.parse(JSON.stringify(value)) as BreakerSnapshot;

describe('toJSON() and hydration', () => {
  it('restores an open breaker with its open time, backoff position and generation', async () => {
    const clock = new FakeClock();
    const openMs = { delayMs: (n: number) => 1_000 * n };
    const b = circuitBreaker({ consecutive: 1 }, { clock, openMs });
    await b.executeOutcome(fail);
    await clock.advance(1_000);
    await b.executeOutcome(fail); // re-open for 2 000
    await clock.advance(500);
    const snapshot = roundTrip(b.toJSON());
    expect(snapshot).toMatchObject({ version: 1, state: 'open', reopenCount: 1, lastOpenMs: 2_000, openUntil: clock.now() + 1_500 });
    const copy = circuitBreaker({ consecutive: 1 }, { clock, openMs, snapshot });
    expect([copy.state, copy.generation, copy.retryAfterMs(), copy.reopenCount]).toEqual(['open', b.generation, 1_500, 1]);
    await clock.advance(1_500);
    await copy.executeOutcome(fail); // the next re-open continues the backoff
    expect(copy.retryAfterMs()).toBe(3_000);
  });

  it('restores a count window so the copy opens at the same call as the original', async () => {
    const clock = new FakeClock();
    const strategy: BreakerStrategy = { failureRate: 0.5, minimumCalls: 4, windowSize: 4 };
    const b = circuitBreaker(strategy, { clock });
    for (const fn of [fail, () => 1, fail]) await b.executeOutcome(fn);
    const copy = circuitBreaker(strategy, { clock, snapshot: roundTrip(b.toJSON()) });
    expect(copy.toJSON()).toEqual(b.toJSON());
    await copy.executeOutcome(() => 1); // 2 of 4
    expect(copy.state).toBe('open');
  });

  it('restores a time window, which then ages on the clock', async () => {
    const clock = new FakeClock();
    const strategy: BreakerStrategy = { failureRate: 0.5, minimumCalls: 2, windowMs: 1_000 };
    const b = circuitBreaker(strategy, { clock });
    await b.executeOutcome(fail);
    const snapshot = roundTrip(b.toJSON());
    expect(snapshot.window).toMatchObject({ kind: 'time', calls: 1, failures: 1 });
    const copy = circuitBreaker(strategy, { clock, snapshot });
    await copy.executeOutcome(fail);
    expect(copy.state).toBe('open');
    await clock.advance(1_000);
    const aged = circuitBreaker(strategy, { clock, snapshot });
    await aged.executeOutcome(fail);
    expect(aged.state).toBe('closed');
  });

  it('hydrates half-open without probes, and an isolated snapshot as open for one open period', async () => {
    const clock = new FakeClock();
    const b = circuitBreaker({ consecutive: 1 }, { clock, openMs: 1_000 });
    await b.executeOutcome(fail);
    await clock.advance(1_000);
    const halfOpen = circuitBreaker({ consecutive: 1 }, { clock, openMs: 1_000, snapshot: roundTrip(b.toJSON()) });
    expect(halfOpen.state).toBe('half-open');
    expect(await halfOpen.execute(() => 'probe')).toBe('probe');
    expect(halfOpen.state).toBe('closed');
    const handle = b.isolate();
    const snapshot = roundTrip(b.toJSON());
    handle.dispose();
    expect(snapshot).toMatchObject({ state: 'isolated', openUntil: null });
    const restored = circuitBreaker({ consecutive: 1 }, { clock, openMs: 1_000, snapshot });
    expect([restored.state, restored.retryAfterMs()]).toEqual(['open', 1_000]);
  });

  it('keeps the state but starts an empty window when the strategy changed', async () => {
    const clock = new FakeClock();
    const b = circuitBreaker({ failureRate: 0.5, minimumCalls: 1, windowSize: 4 }, { clock });
    await b.executeOutcome(() => 1);
    const copy = circuitBreaker({ failureRate: 0.5, minimumCalls: 1, windowSize: 8 }, { clock, snapshot: roundTrip(b.toJSON()) });
    expect(copy.toJSON().window).toMatchObject({ kind: 'count', size: 8, calls: 0 });
    const consecutive = circuitBreaker({ consecutive: 3 }, { clock, snapshot: { ...b.toJSON(), window: { kind: 'consecutive', failures: 9 } } });
    await consecutive.executeOutcome(fail); // clamped to threshold - 1, so one more failure opens
    expect(consecutive.state).toBe('open');
  });

  it('rejects a malformed snapshot, naming the field', () => {
    const good = circuitBreaker({ consecutive: 1 }, { clock: new FakeClock() }).toJSON();
    const bad = (patch: Record<string, unknown>): CircuitBreakerOptions => ({ snapshot: { ...good, ...patch } as BreakerSnapshot });
    const cases: Array<[CircuitBreakerOptions, string]> = [
      [bad({ state: 'ajar' }), 'circuitBreaker.snapshot.state'],
      [bad({ version: 2 }), 'circuitBreaker.snapshot.version'],
      [bad({ generation: -1 }), 'circuitBreaker.snapshot.generation'],
      [bad({ openUntil: 'soon' }), 'circuitBreaker.snapshot.openUntil'],
      [bad({ window: { kind: 'ring' } }), 'circuitBreaker.snapshot.window.kind'],
      [{ snapshot: 'open' as unknown as BreakerSnapshot }, 'circuitBreaker.snapshot'],
    ];
    for (const [options, option] of cases) {
      expect(() => circuitBreaker({ consecutive: 1 }, options), option).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION', option }));
    }
  });
});

describe('options', () => {
  it('rejects invalid options eagerly, naming the option', () => {
    const cases: Array<[unknown, CircuitBreakerOptions, string]> = [
      [{ consecutive: 0 }, {}, 'circuitBreaker.consecutive'],
      [{ consecutive: 1.5 }, {}, 'circuitBreaker.consecutive'],
      [{}, {}, 'circuitBreaker.strategy'],
      [null, {}, 'circuitBreaker.strategy'],
      [{ consecutive: 3, failureRate: 0.5, minimumCalls: 1 }, {}, 'circuitBreaker.strategy'],
      [{ failureRate: 0, minimumCalls: 1 }, {}, 'circuitBreaker.failureRate'],
      [{ failureRate: 1.1, minimumCalls: 1 }, {}, 'circuitBreaker.failureRate'],
      [{ failureRate: 0.5 }, {}, 'circuitBreaker.minimumCalls'],
      [{ failureRate: 0.5, minimumCalls: 0 }, {}, 'circuitBreaker.minimumCalls'],
      [{ failureRate: 0.5, minimumCalls: 11, windowSize: 10 }, {}, 'circuitBreaker.minimumCalls'],
      [{ failureRate: 0.5, minimumCalls: 1, windowSize: 10, windowMs: 1_000 }, {}, 'circuitBreaker.windowSize'],
      [{ failureRate: 0.5, minimumCalls: 1, windowSize: 10, buckets: 5 }, {}, 'circuitBreaker.buckets'],
      [{ failureRate: 0.5, minimumCalls: 1, windowSize: 0 }, {}, 'circuitBreaker.windowSize'],
      [{ failureRate: 0.5, minimumCalls: 1, windowMs: 0 }, {}, 'circuitBreaker.windowMs'],
      [{ failureRate: 0.5, minimumCalls: 1, buckets: 0 }, {}, 'circuitBreaker.buckets'],
      [{ failureRate: 0.5, minimumCalls: 1, slowCallMs: -1 }, {}, 'circuitBreaker.slowCallMs'],
      [{ failureRate: 0.5, minimumCalls: 1, slowCallMs: 10, slowCallRate: 2 }, {}, 'circuitBreaker.slowCallRate'],
      [{ failureRate: 0.5, minimumCalls: 1, slowCallRate: 0.5 }, {}, 'circuitBreaker.slowCallRate'],
      [{ consecutive: 1 }, { openMs: -5 }, 'circuitBreaker.openMs'],
      [{ consecutive: 1 }, { openMs: '5 parsecs' }, 'circuitBreaker.openMs'],
      [{ consecutive: 1 }, { openMs: {} as never }, 'circuitBreaker.openMs'],
      [{ consecutive: 1 }, { halfOpenProbes: 0 }, 'circuitBreaker.halfOpenProbes'],
      [{ consecutive: 1 }, { halfOpenMaxWaitMs: 0 }, 'circuitBreaker.halfOpenMaxWaitMs'],
      [{ consecutive: 1 }, { classify: 'strict' as never }, 'circuitBreaker.classify'],
      [{ consecutive: 1 }, { clock: {} as never }, 'circuitBreaker.clock'],
      [{ consecutive: 1 }, { random: 4 as never }, 'circuitBreaker.random'],
      [{ consecutive: 1 }, { name: 7 as never }, 'circuitBreaker.name'],
    ];
    for (const [strategy, options, option] of cases) {
      expect(() => circuitBreaker(strategy as BreakerStrategy, options), option).toThrow(
        expect.objectContaining({ code: 'WEIR_INVALID_OPTION', option }),
      );
    }
  });

  it('accepts duration strings and uses documented defaults', async () => {
    const clock = new FakeClock();
    const b = circuitBreaker({ consecutive: 1 }, { clock });
    await b.executeOutcome(fail);
    expect(b.retryAfterMs()).toBe(30_000);
    const c = circuitBreaker({ consecutive: 1 }, { clock, openMs: '2m', halfOpenMaxWaitMs: '5s' });
    await c.executeOutcome(fail);
    expect(c.retryAfterMs()).toBe(120_000);
  });
});

describe('events and diagnostics', () => {
  it('emits typed events, stops after dispose, and publishes to the diagnostics channel', async () => {
    const clock = new FakeClock();
    const b = circuitBreaker({ consecutive: 1 }, { clock, openMs: 1_000, name: 'esp' });
    const log: string[] = [];
    const subs = [
      b.onBreak((e) => log.push(`break:${e.reason}:${e.openMs}:${e.reopenCount}`)),
      b.onHalfOpen((e) => log.push(`half-open:${e.generation}`)),
      b.onReset((e) => log.push(`reset:${e.reason}`)),
      b.onReject((e) => log.push(`reject:${e.state}:${e.retryAfterMs}`)),
    ];
    const published: BreakerStateChange[] = [];
    const onMessage = (message: unknown): void => void published.push(message as BreakerStateChange);
    diagnostics_channel.subscribe(BREAKER_CHANNEL, onMessage);
    try {
      await b.executeOutcome(fail);
      await b.executeOutcome(() => 1);
      await clock.advance(1_000);
      await b.executeOutcome(() => 1);
    } finally {
      diagnostics_channel.unsubscribe(BREAKER_CHANNEL, onMessage);
    }
    expect(log).toEqual(['break:consecutive:1000:0', 'reject:open:1000', 'half-open:2', 'reset:probes-succeeded']);
    expect(published.map((m) => [m.name, m.from, m.to])).toEqual([
      ['esp', 'closed', 'open'],
      ['esp', 'open', 'half-open'],
      ['esp', 'half-open', 'closed'],
    ]);
    for (const sub of subs) sub.dispose();
    await b.executeOutcome(fail);
    expect(log).toHaveLength(4);
  });
});

describe('a million calls', () => {
  it('leaves no listener, timer or heap growth behind', async () => {
    const clock = new FakeClock();
    const b = circuitBreaker({ failureRate: 0.5, minimumCalls: 20, windowSize: 100 }, { clock, openMs: 50, halfOpenProbes: 3 });
    const controller = new AbortController();
    const options = { signal: controller.signal };
    const breaks: number[] = [];
    b.onBreak(() => breaks.push(1));
    let i = 0;
    const flaky = new Error('flaky');
    const ok = (): number => i;
    const okLater = (): Promise<number> => Promise.resolve(i);
    const bad = (): never => {
      throw flaky;
    };
    const badLater = (): Promise<never> => Promise.reject(flaky);
    const batch = async (n: number): Promise<void> => {
      const pending: Array<Promise<unknown>> = [];
      for (let k = 0; k < n; k++, i++) {
        // One call in 7 fails (below the 50 % rate), plus a burst of failures every 50 000 calls that trips the breaker.
        const failing = i % 50_000 < 60 || i % 7 === 3;
        const later = i % 3 === 0;
        pending.push(b.executeOutcome(failing ? (later ? badLater : bad) : later ? okLater : ok, options));
      }
      await Promise.all(pending);
      await clock.advance(60); // past openMs: the next batch starts half-open if the breaker opened
    };
    const gc = exposeGc();
    for (let r = 0; r < 100; r++) await batch(1_000); // warm up
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let r = 0; r < 1_000; r++) await batch(1_000);
    gc();
    const after = process.memoryUsage().heapUsed;
    expect(i).toBe(1_100_000);
    expect(breaks.length).toBeGreaterThan(10); // the breaker really cycled through its states
    expect(after - before).toBeLessThan(8 * 1024 * 1024);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
    expect(schedulerFor(clock).pending).toBe(0);
    expect(b.inFlight).toBe(0);
    const internals = b as unknown as { changes: { size: number }; rejects: { size: number }; config: { window: CountWindow } };
    expect([internals.changes.size, internals.rejects.size]).toEqual([0, 0]);
    expect(internals.config.window.capacity).toBe(100);
  });
});

/** `global.gc` when the process was started with it; otherwise turns it on for this isolate. */
function exposeGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing !== undefined) return existing;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}
