import { type Clock, type Timer, sleepWith } from '../internal/clock.js';

interface FakeTimer extends Timer {
  readonly due: number;
  readonly seq: number;
  readonly callback: () => void;
  active: boolean;
}

/**
 * A clock that only moves when told to. Timers fire in due order (ties in creation order), and
 * between two timers the microtask queue is drained, so async code that reacts to one timer can
 * schedule the next before time moves on.
 *
 * @example
 * ```ts
 * const clock = new FakeClock();
 * const p = retry({ attempts: 3, clock }).execute(flaky);
 * await clock.advance(10_000);
 * ```
 */
export class FakeClock implements Clock {
  private current: number;
  private seq = 0;
  private timers: FakeTimer[] = [];

  /** @param start epoch ms the clock starts at (default 2026-01-01T00:00:00Z). */
  constructor(start: number = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(ms: number, callback: () => void): Timer {
    const timer: FakeTimer = {
      due: this.current + Math.max(0, ms),
      seq: this.seq++,
      callback,
      active: true,
      close: () => {
        timer.active = false;
      },
      ref: () => timer,
      unref: () => timer,
    };
    this.timers.push(timer);
    return timer;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepWith((delay, cb) => this.setTimer(delay, cb), ms, signal);
  }

  /** Timers not yet fired or closed. */
  get pendingTimers(): number {
    return this.timers.filter((t) => t.active).length;
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    for (;;) {
      await flushMicrotasks();
      const next = this.nextTimer();
      if (next === undefined || next.due > target) break;
      this.current = Math.max(this.current, next.due);
      next.active = false;
      next.callback();
    }
    this.current = target;
    await flushMicrotasks();
  }

  /** Jumps to the next pending timer and fires it (and any due at the same instant). Returns false when none is pending. */
  async next(): Promise<boolean> {
    await flushMicrotasks();
    const next = this.nextTimer();
    if (next === undefined) return false;
    await this.advance(next.due - this.current);
    return true;
  }

  /** Fires timers until none is left (or `limit` were fired, to stop runaway loops). */
  async runAll(limit = 10_000): Promise<void> {
    for (let i = 0; i < limit; i++) if (!(await this.next())) return;
    throw new Error(`FakeClock.runAll: still pending after ${limit} timers`);
  }

  /** Sets the clock to an absolute time without firing timers (a wall-clock jump). */
  set(epochMs: number): void {
    this.current = epochMs;
  }

  private nextTimer(): FakeTimer | undefined {
    this.timers = this.timers.filter((t) => t.active);
    let best: FakeTimer | undefined;
    for (const t of this.timers) if (best === undefined || t.due < best.due || (t.due === best.due && t.seq < best.seq)) best = t;
    return best;
  }
}

/** Lets every queued microtask (and the promise chains they start) run. */
export function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
