/**
 * Sliding windows for the failure-rate mode of `circuitBreaker()`. Both keep running totals, so
 * recording a call and reading the rate cost O(1) whatever the window size: no array is sorted,
 * copied or scanned on the call path (opossum re-sorts its whole latency window on every failure).
 *
 * - {@link CountWindow}: the last `size` calls, in a ring of one byte per call.
 * - {@link TimeWindow}: the last `windowMs`, as `buckets` fixed buckets rotated lazily by time
 *   (no timer); a rotation clears at most `buckets` buckets, so the cost is O(1) amortised.
 *
 * Internal to `weir/policy`; the breaker's `toJSON()` exposes their {@link WindowSnapshot}.
 */

/** One recorded call in a {@link CountWindow} slot: bit 0 = a call is stored, bit 1 = failure, bit 2 = slow. */
const CALL = 1;
const FAILURE = 2;
const SLOW = 4;

/** The serialisable state of a breaker's window (part of `BreakerSnapshot`). */
export type WindowSnapshot =
  | { readonly kind: 'consecutive'; readonly failures: number }
  | {
      readonly kind: 'count';
      readonly size: number;
      readonly calls: number;
      readonly failures: number;
      readonly slow: number;
      /** The stored calls, oldest first, one digit each: bit 1 = failure, bit 2 = slow (`'1'` success, `'3'` failure, …). */
      readonly outcomes: string;
    }
  | {
      readonly kind: 'time';
      readonly windowMs: number;
      readonly buckets: number;
      readonly calls: number;
      readonly failures: number;
      readonly slow: number;
      /** Index of the newest bucket: `floor(epochMs / (windowMs / buckets))`. */
      readonly head: number;
      /** `[calls, failures, slow]` per bucket slot (slot = bucket index modulo `buckets`), flattened. */
      readonly counts: readonly number[];
    };

/** A sliding window of call outcomes with running totals. */
export interface SlidingWindow {
  /** Calls in the window (as of the last `record` or `advance`). */
  readonly calls: number;
  readonly failures: number;
  readonly slow: number;
  /** True when `record` and `advance` need the current time (time windows). */
  readonly timed: boolean;
  /** Records one counted call at `now` (ignored by count windows). */
  record(now: number, failure: boolean, slow: boolean): void;
  /** Forgets what fell out of the window by `now` (a no-op for count windows). */
  advance(now: number): void;
  clear(): void;
  toJSON(): WindowSnapshot;
  /** Restores a snapshot taken from a window of the same shape; returns false (and stays empty) otherwise. */
  restore(snapshot: WindowSnapshot): boolean;
}

/** The last `size` calls. */
export class CountWindow implements SlidingWindow {
  calls = 0;
  failures = 0;
  slow = 0;
  readonly timed = false;
  private readonly ring: Uint8Array;
  private pos = 0;

  constructor(readonly size: number) {
    this.ring = new Uint8Array(size);
  }

  record(_now: number, failure: boolean, slow: boolean): void {
    const pos = this.pos;
    const old = this.ring[pos] as number;
    if (old !== 0) {
      this.calls--;
      if ((old & FAILURE) !== 0) this.failures--;
      if ((old & SLOW) !== 0) this.slow--;
    }
    this.ring[pos] = CALL | (failure ? FAILURE : 0) | (slow ? SLOW : 0);
    this.calls++;
    if (failure) this.failures++;
    if (slow) this.slow++;
    this.pos = pos + 1 === this.size ? 0 : pos + 1;
  }

  advance(_now: number): void {}

  clear(): void {
    if (this.calls === 0) return;
    this.ring.fill(0);
    this.pos = 0;
    this.calls = this.failures = this.slow = 0;
  }

  /** Bytes held by the ring (constant; for leak tests). */
  get capacity(): number {
    return this.ring.length;
  }

  toJSON(): WindowSnapshot {
    let outcomes = '';
    for (let i = 0; i < this.size; i++) {
      const slot = this.ring[(this.pos + i) % this.size] as number;
      if (slot !== 0) outcomes += String(slot);
    }
    return { kind: 'count', size: this.size, calls: this.calls, failures: this.failures, slow: this.slow, outcomes };
  }

  restore(snapshot: WindowSnapshot): boolean {
    this.clear();
    if (snapshot.kind !== 'count' || snapshot.size !== this.size || typeof snapshot.outcomes !== 'string') return false;
    if (!/^[1357]*$/.test(snapshot.outcomes) || snapshot.outcomes.length > this.size) return false;
    for (const ch of snapshot.outcomes) {
      const slot = Number(ch);
      this.record(0, (slot & FAILURE) !== 0, (slot & SLOW) !== 0);
    }
    return true;
  }
}

/** The last `windowMs`, in `buckets` buckets of `windowMs / buckets` each. */
export class TimeWindow implements SlidingWindow {
  calls = 0;
  failures = 0;
  slow = 0;
  readonly timed = true;
  private readonly bucketMs: number;
  /** `[calls, failures, slow]` per slot. Float64 so no count can overflow. */
  private readonly counts: Float64Array;
  /** Index of the newest bucket; -Infinity while empty. */
  private head = Number.NEGATIVE_INFINITY;
  /** Epoch ms at which the newest bucket ends. */
  private headEnd = Number.NEGATIVE_INFINITY;

  constructor(
    readonly windowMs: number,
    readonly buckets: number,
  ) {
    this.bucketMs = windowMs / buckets;
    this.counts = new Float64Array(buckets * 3);
  }

  record(now: number, failure: boolean, slow: boolean): void {
    this.advance(now);
    const base = this.slotOf(this.head) * 3;
    const counts = this.counts;
    counts[base] = (counts[base] as number) + 1;
    this.calls++;
    if (failure) {
      counts[base + 1] = (counts[base + 1] as number) + 1;
      this.failures++;
    }
    if (slow) {
      counts[base + 2] = (counts[base + 2] as number) + 1;
      this.slow++;
    }
  }

  advance(now: number): void {
    // Same bucket (the common case: no division), or the clock went backwards: keep counting into the newest bucket.
    if (now < this.headEnd) return;
    const index = Math.floor(now / this.bucketMs);
    if (index <= this.head) return;
    const steps = index - this.head;
    if (steps >= this.buckets) {
      if (this.calls !== 0) this.clearCounts();
    } else {
      const counts = this.counts;
      for (let i = 1; i <= steps; i++) {
        const base = this.slotOf(this.head + i) * 3;
        this.calls -= counts[base] as number;
        this.failures -= counts[base + 1] as number;
        this.slow -= counts[base + 2] as number;
        counts[base] = counts[base + 1] = counts[base + 2] = 0;
      }
    }
    this.setHead(index);
  }

  clear(): void {
    this.clearCounts();
    this.setHead(Number.NEGATIVE_INFINITY);
  }

  toJSON(): WindowSnapshot {
    return {
      kind: 'time',
      windowMs: this.windowMs,
      buckets: this.buckets,
      calls: this.calls,
      failures: this.failures,
      slow: this.slow,
      head: Number.isFinite(this.head) ? this.head : 0,
      counts: Array.from(this.counts),
    };
  }

  restore(snapshot: WindowSnapshot): boolean {
    this.clear();
    if (snapshot.kind !== 'time' || snapshot.windowMs !== this.windowMs || snapshot.buckets !== this.buckets) return false;
    const { counts, head } = snapshot;
    if (!Array.isArray(counts) || counts.length !== this.counts.length || !Number.isInteger(head)) return false;
    if (!counts.every((n) => Number.isInteger(n) && n >= 0)) return false;
    for (let slot = 0; slot < this.buckets; slot++) {
      const [c, f, s] = [counts[slot * 3] as number, counts[slot * 3 + 1] as number, counts[slot * 3 + 2] as number];
      if (f > c || s > c) {
        this.clear();
        return false;
      }
      this.counts.set([c, f, s], slot * 3);
      this.calls += c;
      this.failures += f;
      this.slow += s;
    }
    this.setHead(head);
    return true;
  }

  private setHead(index: number): void {
    this.head = index;
    this.headEnd = (index + 1) * this.bucketMs;
  }

  private slotOf(index: number): number {
    const slot = index % this.buckets;
    return slot < 0 ? slot + this.buckets : slot;
  }

  private clearCounts(): void {
    this.counts.fill(0);
    this.calls = this.failures = this.slow = 0;
  }
}
