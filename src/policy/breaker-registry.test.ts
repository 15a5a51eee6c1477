import { describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { keyedCircuitBreakers } from './breaker-registry.js';
import { circuitBreaker, type CircuitBreakerPolicy } from './circuit-breaker.js';
import { wrap } from './wrap.js';

const fail = (): never => {
  throw new Error('down');
};

function setup(idleMs = 1_000) {
  const clock = new FakeClock();
  const created: string[] = [];
  const breakers = keyedCircuitBreakers(
    (key) => {
      created.push(key);
      return circuitBreaker({ consecutive: 1 }, { clock, openMs: 10_000, name: key });
    },
    { idleMs, clock },
  );
  return { clock, created, breakers };
}

describe('keyedCircuitBreakers', () => {
  it('gives each key its own breaker, created once', async () => {
    const { breakers, created } = setup();
    const a = breakers.get('a');
    expect(breakers.get('a')).toBe(a);
    expect(breakers.get('b')).not.toBe(a);
    await breakers.executeOutcome(fail, { key: 'a' });
    expect(breakers.get('a').state).toBe('open');
    expect(await breakers.execute(() => 'fine', { key: 'b' })).toBe('fine');
    expect(created).toEqual(['a', 'b']);
    expect(breakers.keys()).toEqual(['a', 'b']);
  });

  it('requires a key', async () => {
    const { breakers } = setup();
    await expect(breakers.execute(() => 1)).rejects.toMatchObject({ code: 'WEIR_INVALID_OPTION', option: 'keyedCircuitBreakers.key' });
    expect(() => breakers.get(undefined as unknown as string)).toThrow(expect.objectContaining({ option: 'keyedCircuitBreakers.key' }));
  });

  it('takes the key from an outer policy context inside wrap()', async () => {
    const { breakers } = setup();
    await wrap(breakers).executeOutcome(fail, { key: 'crm' });
    expect(breakers.get('crm').state).toBe('open');
  });

  it('drops a closed breaker idle for longer than idleMs, lazily on a later call', async () => {
    const { breakers, clock, created } = setup(1_000);
    const a = breakers.get('a');
    await clock.advance(1_000);
    breakers.get('b');
    expect(breakers.keys()).toEqual(['a', 'b']); // idle exactly idleMs: kept
    await clock.advance(1);
    breakers.get('b');
    expect(breakers.keys()).toEqual(['b']);
    expect(breakers.get('a')).not.toBe(a);
    expect(created).toEqual(['a', 'b', 'a']);
    expect(clock.pendingTimers).toBe(0);
  });

  it('keeps a breaker that was used recently, even if used within the move-to-back slack', async () => {
    const { breakers, clock } = setup(1_000);
    breakers.get('a');
    await clock.advance(50); // within idleMs / 16 of placement: not moved
    breakers.get('a');
    await clock.advance(951); // 1001 since placement, 951 since use
    expect(breakers.keys()).toEqual(['a']);
    await clock.advance(50); // 1001 since use
    expect(breakers.keys()).toEqual([]);
  });

  it('keeps open breakers and breakers with calls in flight', async () => {
    const { breakers, clock } = setup(1_000);
    await breakers.executeOutcome(fail, { key: 'open' });
    let finish!: () => void;
    const running = breakers.execute(() => new Promise<void>((resolve) => (finish = resolve)), { key: 'busy' });
    await clock.advance(5_000);
    expect(breakers.size).toBe(2);
    finish();
    await running;
    await clock.advance(1_001);
    expect(breakers.keys()).toEqual(['open']); // still open (10 s)
    await clock.advance(10_000);
    expect(breakers.keys()).toEqual(['open']); // half-open now, so still kept
    await breakers.execute(() => 'probe', { key: 'open' });
    await clock.advance(1_001);
    expect(breakers.size).toBe(0);
  });

  it('evicts many idle keys amortised over later calls', async () => {
    const { breakers, clock } = setup(1_000);
    for (let i = 0; i < 1_000; i++) breakers.get(`k${i}`);
    await clock.advance(2_000);
    breakers.get('fresh'); // examines only a few entries
    const internal = breakers as unknown as { entries: Map<string, CircuitBreakerPolicy> };
    expect(internal.entries.size).toBeGreaterThan(900);
    for (let i = 0; i < 200; i++) breakers.get('fresh');
    expect(internal.entries.size).toBe(1);
  });

  it('validates its options and the factory result', () => {
    expect(() => keyedCircuitBreakers('nope' as never)).toThrow(expect.objectContaining({ option: 'keyedCircuitBreakers.factory' }));
    expect(() => keyedCircuitBreakers(() => circuitBreaker({ consecutive: 1 }), { idleMs: -1 })).toThrow(
      expect.objectContaining({ code: 'WEIR_INVALID_OPTION', option: 'keyedCircuitBreakers.idleMs' }),
    );
    const broken = keyedCircuitBreakers(() => ({}) as CircuitBreakerPolicy);
    expect(() => broken.get('x')).toThrow(expect.objectContaining({ option: 'keyedCircuitBreakers.factory' }));
  });
});
