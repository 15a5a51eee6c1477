import { describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { ClockSkew } from './side-http.js';

/** A server whose clock is `skewMs` ahead of ours answering one call: sent now, answered after `rttMs / 2`, arrived after `rttMs`. */
async function call(clock: FakeClock, skew: ClockSkew, skewMs: number, rttMs: number, date?: (serverNow: number) => string): Promise<void> {
  const sent = clock.now();
  await clock.advance(rttMs / 2);
  const header = date === undefined ? new Date(clock.now() + skewMs).toUTCString() : date(clock.now() + skewMs);
  await clock.advance(rttMs / 2);
  skew.observe(header, sent);
}

/** Calls spread over a few seconds at uneven sub-second phases (137 ms apart plus `rttMs`). */
async function calls(clock: FakeClock, skew: ClockSkew, n: number, skewMs: number, rttMs = 4): Promise<void> {
  for (let i = 0; i < n; i++) {
    await call(clock, skew, skewMs, rttMs);
    await clock.advance(137);
  }
}

const within = (e: { offsetMs: number; uncertaintyMs: number }, truth: number): boolean => Math.abs(e.offsetMs - truth) <= e.uncertaintyMs;

describe('ClockSkew', () => {
  it('without samples: offset 0, half a second of uncertainty; a missing or unparsable Date is no sample', () => {
    const skew = new ClockSkew(new FakeClock());
    skew.observe(undefined);
    skew.observe('yesterday-ish');
    expect(skew.estimate()).toEqual({ offsetMs: 0, uncertaintyMs: 500, samples: 0 });
  });

  it('one sample: the offset is known to the second plus the round trip, and the bound holds the true offset', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 0, 730));
    const skew = new ClockSkew(clock);
    await call(clock, skew, 15_000, 40);
    const e = skew.estimate();
    expect(e.samples).toBe(1);
    expect(e.uncertaintyMs).toBe(520); // (1000 + 40) / 2
    expect(within(e, 15_000)).toBe(true);
  });

  it('16 samples at different sub-second phases narrow a second’s resolution to well under it, around the true offset', async () => {
    for (const truth of [15_000, -20_000, 60_000 + 417, -3_251]) {
      const clock = new FakeClock(Date.UTC(2026, 0, 1) + 311);
      const skew = new ClockSkew(clock);
      await calls(clock, skew, 16, truth);
      const e = skew.estimate();
      expect(e.samples).toBe(16);
      expect(within(e, truth), JSON.stringify({ truth, e })).toBe(true);
      expect(e.uncertaintyMs).toBeLessThan(150);
    }
  });

  it('a sample that disagrees with the others (a cached response an hour old) is outvoted, not averaged in', async () => {
    const clock = new FakeClock();
    const skew = new ClockSkew(clock);
    await calls(clock, skew, 8, 15_000);
    await call(clock, skew, 15_000, 4, (serverNow) => new Date(serverNow - 3_600_000).toUTCString());
    await calls(clock, skew, 7, 15_000);
    const e = skew.estimate();
    expect(e.samples).toBe(15);
    expect(within(e, 15_000)).toBe(true);
    expect(e.uncertaintyMs).toBeLessThan(250);
  });

  it('the newest sample alone disagreeing widens the estimate to cover it; the next agreeing one narrows it again', async () => {
    const clock = new FakeClock();
    const skew = new ClockSkew(clock);
    await calls(clock, skew, 10, 15_000);
    await call(clock, skew, 15_000, 4, (serverNow) => new Date(serverNow + 60_000).toUTCString());
    expect(skew.estimate().uncertaintyMs).toBeGreaterThan(29_000);
    expect(within(skew.estimate(), 15_000)).toBe(true);
    await calls(clock, skew, 1, 15_000);
    expect(skew.estimate().uncertaintyMs).toBeLessThan(250);
  });

  it('a stepped server clock: the estimate spans both offsets until the new one has as many samples, then it is the new one', async () => {
    const clock = new FakeClock();
    const skew = new ClockSkew(clock);
    await calls(clock, skew, 16, 15_000);
    await calls(clock, skew, 7, 25_000);
    const spanning = skew.estimate();
    expect(spanning.samples).toBe(9);
    expect(within(spanning, 15_000) && within(spanning, 25_000), JSON.stringify(spanning)).toBe(true);
    await calls(clock, skew, 1, 25_000); // 8 and 8: a tie, the newest sample's side
    expect(within(skew.estimate(), 25_000)).toBe(true);
    expect(skew.estimate().uncertaintyMs).toBeLessThan(250);
    await calls(clock, skew, 8, 25_000);
    expect(skew.estimate()).toMatchObject({ samples: 16 });
    expect(within(skew.estimate(), 25_000)).toBe(true);
  });

  it('without a send time the bound is one second wide, as the header alone says', () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 0, 250));
    const skew = new ClockSkew(clock);
    skew.observe(new Date(clock.now() + 5_000).toUTCString());
    expect(skew.estimate()).toEqual({ offsetMs: 4_750 + 500, uncertaintyMs: 500, samples: 1 });
  });
});
