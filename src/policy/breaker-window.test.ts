import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CountWindow, TimeWindow } from './breaker-window.js';

const T0 = Date.UTC(2026, 0, 1);

describe('CountWindow', () => {
  it('keeps running totals of the last `size` calls', () => {
    const w = new CountWindow(3);
    w.record(0, true, false);
    w.record(0, false, true);
    expect([w.calls, w.failures, w.slow]).toEqual([2, 1, 1]);
    w.record(0, false, false);
    w.record(0, false, false); // pushes out the failure
    expect([w.calls, w.failures, w.slow]).toEqual([3, 0, 1]);
    w.record(0, false, false); // pushes out the slow call
    expect([w.calls, w.failures, w.slow]).toEqual([3, 0, 0]);
    expect(w.capacity).toBe(3);
  });

  it('matches a brute-force model for any sequence', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.tuple(fc.boolean(), fc.boolean()), { maxLength: 100 }), (size, calls) => {
        const w = new CountWindow(size);
        calls.forEach(([failure, slow], i) => {
          w.record(0, failure, slow);
          const last = calls.slice(Math.max(0, i + 1 - size), i + 1);
          expect(w.calls).toBe(last.length);
          expect(w.failures).toBe(last.filter(([f]) => f).length);
          expect(w.slow).toBe(last.filter(([, s]) => s).length);
        });
      }),
    );
  });

  it('round-trips through toJSON() and restore()', () => {
    const w = new CountWindow(4);
    for (const [f, s] of [[true, false], [false, false], [false, true], [true, true], [false, false]] as const) w.record(0, f, s);
    const copy = new CountWindow(4);
    expect(copy.restore(JSON.parse(JSON.stringify(w.toJSON())))).toBe(true);
    expect(copy.toJSON()).toEqual(w.toJSON());
    // Same future: the next record pushes out the same oldest call in both.
    w.record(0, false, false);
    copy.record(0, false, false);
    expect(copy.toJSON()).toEqual(w.toJSON());
  });

  it('refuses a snapshot of another shape and stays empty', () => {
    const w = new CountWindow(4);
    w.record(0, true, false);
    const other = new CountWindow(5);
    other.record(0, true, false);
    expect(other.restore(w.toJSON())).toBe(false);
    expect(other.calls).toBe(0);
    expect(other.restore({ kind: 'count', size: 5, calls: 1, failures: 0, slow: 0, outcomes: '9' })).toBe(false);
    expect(other.restore({ kind: 'consecutive', failures: 2 })).toBe(false);
  });
});

describe('TimeWindow', () => {
  it('forgets buckets older than the window, one bucket at a time', () => {
    const w = new TimeWindow(1_000, 10); // buckets of 100 ms
    w.record(T0, true, false);
    w.record(T0 + 500, false, true);
    w.advance(T0 + 999);
    expect([w.calls, w.failures, w.slow]).toEqual([2, 1, 1]);
    w.advance(T0 + 1_000); // the bucket of T0 rotates out
    expect([w.calls, w.failures, w.slow]).toEqual([1, 0, 1]);
    w.advance(T0 + 1_500);
    expect([w.calls, w.failures, w.slow]).toEqual([0, 0, 0]);
  });

  it('clears everything after a long gap and tolerates a clock going backwards', () => {
    const w = new TimeWindow(1_000, 4);
    w.record(T0, true, false);
    w.record(T0 + 10_000_000, false, false);
    expect([w.calls, w.failures]).toEqual([1, 0]);
    w.record(T0 + 5_000, true, false); // backwards: counted in the newest bucket
    expect([w.calls, w.failures]).toEqual([2, 1]);
  });

  it('matches a brute-force model for any sequence', () => {
    const windowMs = 1_000;
    const buckets = 5;
    const bucketMs = windowMs / buckets;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 700 }), fc.boolean(), fc.boolean()), { maxLength: 80 }), (steps) => {
        const w = new TimeWindow(windowMs, buckets);
        const events: Array<{ bucket: number; failure: boolean; slow: boolean }> = [];
        let now = T0;
        for (const [dt, failure, slow] of steps) {
          now += dt;
          w.record(now, failure, slow);
          const current = Math.floor(now / bucketMs);
          events.push({ bucket: current, failure, slow });
          const live = events.filter((e) => e.bucket > current - buckets);
          expect(w.calls).toBe(live.length);
          expect(w.failures).toBe(live.filter((e) => e.failure).length);
          expect(w.slow).toBe(live.filter((e) => e.slow).length);
        }
      }),
    );
  });

  it('round-trips through toJSON() and restore(), and refuses another shape', () => {
    const w = new TimeWindow(1_000, 10);
    w.record(T0, true, false);
    w.record(T0 + 300, false, true);
    const snapshot = JSON.parse(JSON.stringify(w.toJSON()));
    const copy = new TimeWindow(1_000, 10);
    expect(copy.restore(snapshot)).toBe(true);
    expect(copy.toJSON()).toEqual(w.toJSON());
    copy.advance(T0 + 1_000);
    expect([copy.calls, copy.slow]).toEqual([1, 1]);
    expect(new TimeWindow(2_000, 10).restore(snapshot)).toBe(false);
    expect(new TimeWindow(1_000, 10).restore({ ...snapshot, counts: snapshot.counts.slice(1) })).toBe(false);
  });
});
